"""pynetdicom's storage/find/echo SCP for the benchmark (writes files like storescp).

Usage: pyn_scp.py PORT OUT_DIR [FIND_MATCHES] [chunked]
With ``chunked``, pynetdicom streams each received data set into a temporary file
(``STORE_RECV_CHUNKED_DATASET``, its mode for large instances) instead of memory.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, _config, evt
from pynetdicom import sop_class as sop

PORT, OUT = int(sys.argv[1]), Path(sys.argv[2])
MATCHES = int(sys.argv[3]) if len(sys.argv) > 3 else 0
CHUNKED = "chunked" in sys.argv[4:]
_config.STORE_RECV_CHUNKED_DATASET = CHUNKED
OUT.mkdir(parents=True, exist_ok=True)
ANSWERS = []
for n in range(MATCHES):
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.8.{n}"
    ds.PatientID = f"P{n:05d}"
    ds.PatientName = f"BENCH^{n:05d}"
    ds.StudyDate = "20240101"
    ANSWERS.append(ds)


def on_store(event):
    if CHUNKED:  # already a Part-10 file on disk: move it into place
        shutil.move(event.dataset_path, OUT / f"{event.request.AffectedSOPInstanceUID}.dcm")
        return 0x0000
    # pynetdicom's fastest documented path: write the raw encoded data set with its file meta.
    with open(OUT / f"{event.request.AffectedSOPInstanceUID}.dcm", "wb") as f:
        f.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(f, event.file_meta, enforce_standard=False)
        f.write(event.request.DataSet.getvalue())
    return 0x0000


def on_find(event):
    for ds in ANSWERS:
        yield 0xFF00, ds


ae = AE(ae_title="PYNSCP")
ae.maximum_pdu_size = 131072
for context in StoragePresentationContexts:
    ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
ae.add_supported_context(sop.Verification)
ae.add_supported_context(sop.StudyRootQueryRetrieveInformationModelFind)
print("ready", flush=True)
ae.start_server(
    ("127.0.0.1", PORT), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_C_FIND, on_find)]
)
