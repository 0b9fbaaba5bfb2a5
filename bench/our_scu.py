"""Courier's SCU for the benchmark: store a folder, echo N times, or find; prints seconds as JSON.

Usage: our_scu.py store PORT FOLDER [WINDOW] | echo PORT COUNT | find PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from pydicom.dataset import Dataset

from app.net.ae import ApplicationEntity, storage_contexts_for
from app.net.contexts import VERIFICATION
from app.net.scu import StoreSource
from app.net.sop import query_sop_class
from bench.memory import peak_rss_mb


async def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    ae = ApplicationEntity("OURSCU", max_pdu_length=131072)
    if mode == "store":
        window = int(sys.argv[4]) if len(sys.argv) > 4 else 16
        started = time.perf_counter()  # scanning the folder counts, as it does for storescu
        sources = [StoreSource.from_file(f) for f in sorted(Path(sys.argv[3]).iterdir())]
        async with ae.associate(
            "127.0.0.1", port, contexts=storage_contexts_for(sources),
            async_operations=(window, 1) if window > 1 else None,
        ) as client:  # fmt: skip
            results = await client.store_many(sources)
        failed = sum(1 for _s, r in results if isinstance(r, Exception) or int(r.Status) != 0)
        seconds = time.perf_counter() - started
        peak_mb = peak_rss_mb()
        print(
            json.dumps({"seconds": seconds, "count": len(sources), "failed": failed, "peak_rss_mb": peak_mb})
        )
    elif mode == "echo":
        count = int(sys.argv[3])
        started = time.perf_counter()
        for _ in range(count):
            async with ae.associate("127.0.0.1", port, contexts=[VERIFICATION]) as client:
                await client.echo()
        print(json.dumps({"seconds": time.perf_counter() - started, "count": count}))
    elif mode == "find":
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ""
        started = time.perf_counter()
        async with ae.associate("127.0.0.1", port, contexts=[query_sop_class("find", "study")]) as client:
            matches = 0
            async for _status, identifier in client.find(query, "study"):
                matches += identifier is not None
        print(json.dumps({"seconds": time.perf_counter() - started, "count": matches}))


asyncio.run(main())
