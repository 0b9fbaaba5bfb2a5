"""Workload 7: the workstation's event loop (the GUI thread) while its listener receives and its browser
draws thumbnails.

Usage: workstation_lag.py PYTHON FOLDER [FOLDER ...]
Runs the real workstation (offscreen Qt, the qasync loop, the demo archive), then has Courier's SCU,
in another process, send each FOLDER to the workstation's listener one after the other.  Meanwhile
the Local Images pane is driven as a user would: it selects one study after another, each selection
making the series' thumbnails in worker threads, while live updates refresh the study being received.
A timer every 5 ms measures how late the loop runs it.  Prints one JSON line: lag max and p99 in
milliseconds, the samples, the thumbnails made and the instances received.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class StallWatch:
    """With COURIER_EXPLAIN_LAG=MS: a thread that prints the GUI thread's stack whenever the loop has
    not ticked for MS milliseconds (what was it doing?)."""

    def __init__(self, threshold_ms: float) -> None:
        self.threshold = threshold_ms / 1000
        self.beat = time.monotonic()
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        def tick() -> None:
            self.beat = time.monotonic()
            if not self._stop.is_set():
                loop.call_later(0.002, tick)

        tick()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        reported = 0.0
        while not self._stop.wait(0.005):
            late = time.monotonic() - self.beat
            if late > self.threshold and self.beat != reported:
                reported = self.beat
                frame = sys._current_frames().get(self._main or 0)
                stack = "".join(traceback.format_stack(frame)) if frame else "?"
                print(f"--- GUI thread {late * 1000:.0f} ms late, at:\n{stack}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def drive_browser(workstation: object, stop: asyncio.Event) -> int:
    """Select the studies in turn, each time until its thumbnails are drawn; returns how many sets."""
    pane = workstation.browser_pane  # type: ignore[attr-defined]
    drawn = 0
    row = 0
    while not stop.is_set():
        count = pane.table.rowCount()
        if count:
            pane.table.selectRow(row % count)
            row += 1
            try:
                await asyncio.wait_for(pane.thumbnails_done.wait(), 10)
                drawn += 1
            except TimeoutError:
                pass
        await asyncio.sleep(0.02)  # a user's next click, not a busy loop
    return drawn


async def measure(python: str, folders: list[Path], work: Path) -> dict[str, float]:
    from app.nodes import NodeRegistry  # noqa: PLC0415 - after the environment is set
    from app.settings import Settings  # noqa: PLC0415
    from app.ui.loop_lag import LoopLagMeter  # noqa: PLC0415
    from app.ui.workstation import Workstation  # noqa: PLC0415

    port = free_port()
    settings = Settings(storage_folder=work / "archive", listener_port=port, demo_mode=True)
    workstation = Workstation(settings, NodeRegistry(work / "nodes.json"))
    workstation.window.show()
    await workstation.start()
    await workstation.browser_pane.reload()
    while workstation.browser_pane.table.rowCount() == 0:  # the demo archive is seeded at start
        await asyncio.sleep(0.05)
        await workstation.browser_pane.reload()
    meter = LoopLagMeter(interval_s=0.005, window=1_000_000)
    meter.start(asyncio.get_running_loop())
    watch = (
        StallWatch(float(os.environ["COURIER_EXPLAIN_LAG"]))
        if os.environ.get("COURIER_EXPLAIN_LAG")
        else None
    )
    if watch is not None:
        watch.start(asyncio.get_running_loop())
    stop = asyncio.Event()
    browsing = asyncio.ensure_future(drive_browser(workstation, stop))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    received = 0
    started = time.perf_counter()
    for folder in folders:
        sender = await asyncio.create_subprocess_exec(
            python, str(ROOT / "bench/our_scu.py"), "store", str(port), str(folder),
            env=env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await sender.communicate()
        result = json.loads(out.decode().strip().splitlines()[-1])
        if result["failed"]:
            raise RuntimeError(f"{result['failed']} instances of {folder} were refused")
        received += int(result["count"])
    seconds = time.perf_counter() - started
    stop.set()
    drawn = await browsing
    meter.stop()
    if watch is not None:
        watch.stop()
    stats = meter.snapshot()
    await workstation.stop()
    return {
        "lag_max_ms": stats.max_ms,
        "lag_p99_ms": stats.p99_ms,
        "samples": stats.samples,
        "thumbnail_sets": drawn,
        "received": received,
        "seconds": seconds,
    }


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    python, folders = sys.argv[1], [Path(a) for a in sys.argv[2:]]
    with tempfile.TemporaryDirectory(prefix="courier-ws-lag-") as tmp:
        os.environ["COURIER_CONFIG_DIR"] = str(Path(tmp) / "config")
        import qasync  # noqa: PLC0415

        from app.ui.app import application, leave_without_finalizing  # noqa: PLC0415

        app = application([])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            report = loop.run_until_complete(measure(python, folders, Path(tmp)))
        print(json.dumps(report), flush=True)
    leave_without_finalizing(0)


if __name__ == "__main__":
    main()
