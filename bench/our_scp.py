"""Courier's storage/find/echo SCP for the benchmark, in its own process.

Usage: our_scp.py PORT OUT_DIR REPORT_JSON [FIND_MATCHES] [adaptive|thread|inline]
The last argument is ``Handlers.disk_io``: where the files are written (default: the engine's own).
Writes each received data set straight into OUT_DIR (no fsync, like storescp), measures its own
event-loop lag, and on SIGTERM writes {"lag_max_ms", "lag_p99_ms", "peak_rss_mb"} to REPORT_JSON.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from pydicom.dataset import Dataset

from app.net.ae import ApplicationEntity
from app.net.dimse.framing import FileSink
from app.net.scp import Handlers, Request, StoreInfo
from bench.memory import peak_rss_mb

PDU = 131072


class Lag:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.samples, self._due = interval, [], 0.0

    def start(self) -> None:
        self._due = time.monotonic() + self.interval
        asyncio.get_running_loop().call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self.samples.append(max(0.0, time.monotonic() - self._due))
        self.start()


async def main(port: int, out: Path, report: Path, matches: int, disk_io: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    answers = []
    for n in range(matches):
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.8.{n}"
        ds.PatientID = f"P{n:05d}"
        ds.PatientName = f"BENCH^{n:05d}"
        ds.StudyDate = "20240101"
        answers.append(ds)

    def sink(info: StoreInfo) -> FileSink:
        return FileSink(out / f"{info.sop_instance_uid}.dcm")

    def find(request: Request):
        return answers

    ae = ApplicationEntity("OURSCP", max_pdu_length=PDU)
    server = await ae.start_server(
        Handlers(store=lambda request: 0, store_sink=sink, find=find, disk_io=disk_io),
        host="127.0.0.1", port=port,
        policy=ae.acceptor_policy(max_operations_performed=16),
    )  # fmt: skip
    lag = Lag()
    lag.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await server.close(grace=1)
    ordered = sorted(lag.samples) or [0.0]
    report.write_text(
        json.dumps(
            {
                "lag_max_ms": ordered[-1] * 1000,
                "lag_p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]),
            Path(sys.argv[2]),
            Path(sys.argv[3]),
            int(sys.argv[4]) if len(sys.argv) > 4 else 0,
            sys.argv[5] if len(sys.argv) > 5 else "adaptive",
        )
    )
