"""pynetdicom's SCU for the benchmark: store a folder, echo N times, or find; prints seconds as JSON.

Usage: pyn_scu.py store PORT FOLDER | echo PORT COUNT | find PORT
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom import sop_class as sop

mode, port = sys.argv[1], int(sys.argv[2])
ae = AE(ae_title="PYNSCU")
ae.maximum_pdu_size = 131072
if mode == "store":
    files = sorted(Path(sys.argv[3]).iterdir())
    classes = {dcmread(f, stop_before_pixels=True).SOPClassUID for f in files[:1]}
    for uid in classes:
        ae.add_requested_context(uid)
    started = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port)
    for f in files:
        status = assoc.send_c_store(f)  # pynetdicom reads the file itself
    assoc.release()
    print(json.dumps({"seconds": time.perf_counter() - started, "count": len(files)}))
elif mode == "echo":
    count = int(sys.argv[3])
    ae.add_requested_context(sop.Verification)
    started = time.perf_counter()
    for _ in range(count):
        assoc = ae.associate("127.0.0.1", port)
        assoc.send_c_echo()
        assoc.release()
    print(json.dumps({"seconds": time.perf_counter() - started, "count": count}))
elif mode == "find":
    ae.add_requested_context(sop.StudyRootQueryRetrieveInformationModelFind)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    started = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port)
    matches = sum(
        1
        for status, identifier in assoc.send_c_find(query, sop.StudyRootQueryRetrieveInformationModelFind)
        if identifier is not None
    )
    assoc.release()
    print(json.dumps({"seconds": time.perf_counter() - started, "count": matches}))
