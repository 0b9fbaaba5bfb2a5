"""The side-by-side benchmark: ``python -m bench.run [--quick] [--write docs/performance.md]``.

Every workload runs in one go on loopback for Courier (our SCU to our SCP), DCMTK (storescu to
storescp, both with TCP_NODELAY=1) and pynetdicom (its SCU to its SCP), with the same maximum PDU
(131072, DCMTK's largest) and Explicit VR Little Endian; receivers run in their own processes and
write files into a fresh folder (none of them fsyncs).  Python senders report their own elapsed time
(the interpreter's start-up is left out); DCMTK's storescu is timed from the outside (its start-up is
a few milliseconds).  The machine is shared: compare the ratios of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[1]
PDU = 131072
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TCP_NODELAY": "1"}


# ------------------------------------------------------------------------------------------------
# Data


def write_instances(folder: Path, count: int, rows: int, frames: int = 1) -> int:
    """``count`` CT instances of rows x rows x 16 bits (x frames); returns the total pixel bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = (np.arange(rows * rows * frames, dtype=np.uint16) % 4096).tobytes()
    study, series = generate_uid(), generate_uid()
    for n in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.PatientID = "BENCH"
        ds.Modality = "CT"
        ds.Rows = ds.Columns = rows
        if frames > 1:
            ds.NumberOfFrames = frames
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = pixels
        ds.save_as(folder / f"{n:05d}.dcm", enforce_file_format=True)
    return count * len(pixels)


# ------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    import socket  # noqa: PLC0415

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} ended before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"{proc.args} did not listen on {port}")


@dataclass
class Receiver:
    proc: subprocess.Popen[bytes]
    port: int
    out: Path
    report: Path | None = None

    def stop(self) -> dict[str, float]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.report is not None and self.report.exists():
            return dict(json.loads(self.report.read_text()))
        return {}


def start_receiver(kind: str, work: Path, matches: int = 0) -> Receiver:
    port = free_port()
    out = work / f"{kind}-received-{port}"
    out.mkdir(parents=True)
    report = None
    if kind == "courier":
        report = work / f"courier-report-{port}.json"
        argv = [
            sys.executable,
            str(ROOT / "bench/our_scp.py"),
            str(port),
            str(out),
            str(report),
            str(matches),
        ]
    elif kind == "dcmtk":
        argv = [shutil.which("storescp") or "storescp", "-pm", "-pdu", str(PDU), "-od", str(out), str(port)]
    else:
        argv = [sys.executable, str(ROOT / "bench/pyn_scp.py"), str(port), str(out), str(matches)]
    proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return Receiver(proc, port, out, report)


def run_sender(kind: str, mode: str, port: int, *args: str) -> dict[str, float]:
    if kind == "dcmtk":
        started = time.perf_counter()
        argv = [
            shutil.which("storescu") or "storescu",
            "-pdu",
            str(PDU),
            "-aec",
            "ANY-SCP",
            "+sd",
            "127.0.0.1",
            str(port),
            *args,
        ]
        subprocess.run(argv, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return {"seconds": time.perf_counter() - started}
    script = ROOT / ("bench/our_scu.py" if kind == "courier" else "bench/pyn_scu.py")
    done = subprocess.run([sys.executable, str(script), mode, str(port), *args], env=ENV, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------------------
# Workloads


@dataclass
class Row:
    workload: str
    unit: str
    values: dict[str, float | None]  # peer -> value (higher is better unless lower_is_better)
    lower_is_better: bool = False
    note: str = ""


def store_workload(  # noqa: PLR0917 - a workload is these seven things
    name: str, folder: Path, total_bytes: int, count: int, work: Path, peers: list[str], unit: str
) -> tuple[Row, dict[str, float]]:
    values: dict[str, float | None] = {}
    lag: dict[str, float] = {}
    for peer in peers:
        receiver = start_receiver(peer, work)
        try:
            result = run_sender(peer, "store", receiver.port, str(folder))
        finally:
            report = receiver.stop()
        received = len(list(receiver.out.iterdir()))
        if received != count:
            raise RuntimeError(f"{peer}: {received} of {count} instances arrived")
        seconds = result["seconds"]
        values[peer] = total_bytes / seconds / 1e6 if unit == "MB/s" else count / seconds
        if peer == "courier":
            lag = report
        shutil.rmtree(receiver.out)
    return Row(name, unit, values), lag


def echo_workload(count: int, work: Path) -> Row:
    values: dict[str, float | None] = {"dcmtk": None}
    for peer in ("courier", "pynetdicom"):
        receiver = start_receiver(peer, work)
        try:
            result = run_sender(peer, "echo", receiver.port, str(count))
        finally:
            receiver.stop()
        values[peer] = result["seconds"] / count * 1000
    return Row("4. association + C-ECHO + release", "ms each", values, lower_is_better=True,
               note="DCMTK's echoscu is one process per echo: not comparable, left out")  # fmt: skip


def find_workload(matches: int, work: Path) -> Row:
    values: dict[str, float | None] = {"dcmtk": None}
    for peer in ("courier", "pynetdicom"):
        receiver = start_receiver(peer, work, matches=matches)
        try:
            result = run_sender(peer, "find", receiver.port)
        finally:
            receiver.stop()
        if int(result["count"]) != matches:
            raise RuntimeError(f"{peer}: {result['count']} of {matches} matches")
        values[peer] = matches / result["seconds"]
    return Row(f"5. C-FIND, {matches:,} study matches", "matches/s", values,
               note="DCMTK: no ready SCP answering 10,000 matches from memory; left out")  # fmt: skip


async def _socket_ceiling(total: int) -> float:
    received = 0
    done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        while chunk := await reader.read(1 << 20):
            received += len(chunk)
        done.set()
        writer.close()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    block = b"\0" * (1 << 20)
    started = time.perf_counter()
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(total // len(block)):
        writer.write(block)
        await writer.drain()
    writer.close()
    await done.wait()
    seconds = time.perf_counter() - started
    server.close()
    return received / seconds / 1e6


# ------------------------------------------------------------------------------------------------
# Report


def ratio(values: dict[str, float | None], other: str, lower_is_better: bool) -> str:
    ours, theirs = values.get("courier"), values.get(other)
    if not ours or not theirs:
        return "-"
    return f"{(theirs / ours) if lower_is_better else (ours / theirs):.2f}x"


def table(rows: list[Row]) -> str:
    lines = ["| Workload | Unit | Courier | DCMTK | pynetdicom | Courier vs DCMTK | Courier vs pynetdicom |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        cells = [f"{row.values.get(p):,.1f}" if row.values.get(p) is not None else "-"
                 for p in ("courier", "dcmtk", "pynetdicom")]  # fmt: skip
        lines.append(f"| {row.workload} | {row.unit} | {' | '.join(cells)} | "
                     f"{ratio(row.values, 'dcmtk', row.lower_is_better)} | "
                     f"{ratio(row.values, 'pynetdicom', row.lower_is_better)} |")  # fmt: skip
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib_suppress():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {system}"


class contextlib_suppress:  # noqa: N801 - a tiny local stand-in, keeps this module's imports plain
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a minute or so)")
    parser.add_argument("--write", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args()
    quick = args.quick
    peers = ["courier", "dcmtk", "pynetdicom"]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="courier-bench-") as tmp:
        work = Path(tmp)
        ct_count = 40 if quick else 200
        small_count = 200 if quick else 1000
        big_count, big_frames = (1, 50) if quick else (2, 200)
        print("building data…", file=sys.stderr)
        ct_bytes = write_instances(work / "ct", ct_count, 512)
        small_bytes = write_instances(work / "small", small_count, 64)
        big_bytes = write_instances(work / "big", big_count, 512, frames=big_frames)
        print("1. CT instances…", file=sys.stderr)
        row, lag_ct = store_workload(
            f"1. C-STORE {ct_count} CT 512x512x16", work / "ct", ct_bytes, ct_count, work, peers, "MB/s"
        )
        rows.append(row)
        row_ips = Row(f"1. C-STORE {ct_count} CT 512x512x16", "instances/s",
                      {p: (v or 0) * 1e6 / (ct_bytes / ct_count) for p, v in row.values.items()})  # fmt: skip
        rows.append(row_ips)
        print("2. small instances…", file=sys.stderr)
        row, lag_small = store_workload(
            f"2. C-STORE {small_count} small 64x64",
            work / "small",
            small_bytes,
            small_count,
            work,
            peers,
            "instances/s",
        )
        rows.append(row)
        print("3. large multi-frame…", file=sys.stderr)
        row, _ = store_workload(
            f"3. C-STORE {big_count} x {big_bytes // big_count // 1_000_000} MB multi-frame",
            work / "big",
            big_bytes,
            big_count,
            work,
            peers,
            "MB/s",
        )
        rows.append(row)
        print("4. echo…", file=sys.stderr)
        rows.append(echo_workload(50 if quick else 200, work))
        print("5. find…", file=sys.stderr)
        rows.append(find_workload(2000 if quick else 10000, work))
        ceiling = asyncio.run(_socket_ceiling((256 if quick else 1024) * 1024 * 1024))
    lag_max = max(lag_ct.get("lag_max_ms", 0), lag_small.get("lag_max_ms", 0))
    lag_p99 = max(lag_ct.get("lag_p99_ms", 0), lag_small.get("lag_p99_ms", 0))
    peak = max(lag_ct.get("peak_rss_mb", 0), lag_small.get("peak_rss_mb", 0))
    report = "\n".join([
        f"Measured {date.today().isoformat()} on {machine()}{' (--quick)' if quick else ''}.",
        "",
        table(rows),
        "",
        f"7. Courier SCP event-loop lag while receiving workloads 1 and 2: max {lag_max:.1f} ms, "
        f"p99 {lag_p99:.1f} ms (receiver peak RSS {peak:.0f} MB).",
        f"Python asyncio socket ceiling on loopback (one connection, 1 MB writes): {ceiling:,.0f} MB/s.",
    ])  # fmt: skip
    print(report)
    if args.write:
        text = args.write.read_text() if args.write.exists() else ""
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        block = f"{start}\n{report}\n{end}"
        if start in text and end in text:
            text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
        else:
            text = text + "\n" + block + "\n"
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
