"""The side-by-side benchmark: ``python -m bench.run [--quick] [--write docs/performance.md]``.

Every workload runs in one go on loopback for Courier (our SCU to our SCP), DCMTK (storescu to
storescp, both with TCP_NODELAY=1) and pynetdicom (its SCU to its SCP), with the same maximum PDU
(131072, DCMTK's largest) and Explicit VR Little Endian; receivers run in their own processes and
write files into a fresh folder (none of them fsyncs): a tmpfs one unless ``--receivers-on-disk``,
with workload 1 repeated on disk.  Python senders report their own elapsed time from before they scan
the folder (the interpreter's start-up is left out); DCMTK's storescu is timed from the outside (its
start-up is a few milliseconds).  Workloads 1-3 run several rounds, Courier and DCMTK back to back,
and report medians.  The machine is shared: compare the ratios of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from bench.memory import peak_rss_mb

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


def start_receiver(kind: str, work: Path, matches: int = 0, *, streaming: bool = False) -> Receiver:
    """``streaming``: each peer's own mode for instances too large for memory (Courier always streams;
    DCMTK's storescp ``+B`` writes the data set straight to file; pynetdicom's
    ``STORE_RECV_CHUNKED_DATASET`` writes it to a temporary file)."""
    port = free_port()
    out = work / f"{kind}-received-{port}"
    out.mkdir(parents=True)
    report = None
    if kind in ("courier", "courier-thread"):
        report = work / f"courier-report-{port}.json"
        argv = [
            sys.executable,
            str(ROOT / "bench/our_scp.py"),
            str(port),
            str(out),
            str(report),
            str(matches),
        ]
        if kind == "courier-thread":
            argv.append("thread")
    elif kind == "dcmtk":
        argv = [shutil.which("storescp") or "storescp", "-pm", "-pdu", str(PDU), "-od", str(out), str(port)]
        if streaming:
            argv.insert(1, "+B")
    else:
        argv = [sys.executable, str(ROOT / "bench/pyn_scp.py"), str(port), str(out), str(matches)]
        if streaming:
            argv.append("chunked")
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
    script = ROOT / ("bench/pyn_scu.py" if kind == "pynetdicom" else "bench/our_scu.py")
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
    # Courier / DCMTK round by round (each pair measured back to back): the spread the noise leaves.
    rounds_vs_dcmtk: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class StoreLoad:
    """One C-STORE workload: a folder of ``count`` instances holding ``total_bytes`` of pixel data."""

    name: str
    folder: Path
    total_bytes: int
    count: int
    unit: str  # "MB/s" or "instances/s"

    def rate(self, seconds: float) -> float:
        return self.total_bytes / seconds / 1e6 if self.unit == "MB/s" else self.count / seconds


def store_once(load: StoreLoad, peer: str, work: Path) -> tuple[float, dict[str, float]]:
    """One transfer of ``load`` to ``peer``'s receiver: the rate and the receiver's report."""
    receiver = start_receiver(peer, work)
    try:
        result = run_sender(peer, "store", receiver.port, str(load.folder))
    finally:
        report = receiver.stop()
    received = len(list(receiver.out.iterdir()))
    shutil.rmtree(receiver.out)
    if received != load.count:
        raise RuntimeError(f"{peer}: {received} of {load.count} instances arrived")
    return load.rate(result["seconds"]), report


def store_workload(
    load: StoreLoad, work: Path, peers: list[str], rounds: int, pynetdicom_rounds: int = 1
) -> tuple[Row, dict[str, float]]:
    """Courier and DCMTK ``rounds`` times, back to back, and the median of each; pynetdicom
    ``pynetdicom_rounds`` times (once where it takes a minute).  Also the worst lag Courier's receiver
    reported."""
    rates: dict[str, list[float]] = {peer: [] for peer in peers}
    lag: dict[str, float] = {}
    for round_number in range(rounds):
        for peer in peers:
            if peer == "pynetdicom" and round_number >= pynetdicom_rounds:
                continue
            rate, report = store_once(load, peer, work)
            rates[peer].append(rate)
            if peer.startswith("courier"):
                lag = {key: max(value, lag.get(key, 0.0)) for key, value in report.items()}
    ours = next((r for peer, r in rates.items() if peer.startswith("courier")), [])
    theirs = rates.get("dcmtk", [])
    paired = [a / b for a, b in zip(ours, theirs, strict=True)] if ours and theirs else []
    # A variant of Courier ("courier-thread") takes Courier's column.
    values = {
        ("courier" if p.startswith("courier") else p): statistics.median(v) for p, v in rates.items() if v
    }
    row = Row(load.name, load.unit, values, rounds_vs_dcmtk=paired)
    return row, lag


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


def find_workload(matches: int, work: Path, rounds: int) -> Row:
    """The median matches/s of ``rounds`` queries each, Courier and pynetdicom taking turns."""
    rates: dict[str, list[float]] = {"courier": [], "pynetdicom": []}
    for _ in range(rounds):
        for peer, peer_rates in rates.items():
            receiver = start_receiver(peer, work, matches=matches)
            try:
                result = run_sender(peer, "find", receiver.port)
            finally:
                receiver.stop()
            if int(result["count"]) != matches:
                raise RuntimeError(f"{peer}: {result['count']} of {matches} matches")
            peer_rates.append(matches / result["seconds"])
    values: dict[str, float | None] = {"dcmtk": None, **{p: statistics.median(r) for p, r in rates.items()}}
    return Row(f"5. C-FIND, {matches:,} study matches", "matches/s", values,
               note="DCMTK: no ready SCP answering 10,000 matches from memory; left out")  # fmt: skip


def memory_workload(folder: Path, total_bytes: int, work: Path, peers: list[str]) -> tuple[Row, float]:
    """Workload 6: each receiver's peak memory while one very large instance arrives (lower is better).
    Also returns the peak memory of Courier's sender."""
    values: dict[str, float | None] = {}
    sender_peak = 0.0
    for peer in peers:
        receiver = start_receiver(peer, work, streaming=True)
        try:
            result = run_sender(peer, "store", receiver.port, str(folder))
            values[peer] = peak_rss_mb(receiver.proc.pid)
        finally:
            receiver.stop()
        received = sum(f.stat().st_size for f in receiver.out.iterdir())
        if received < total_bytes:
            raise RuntimeError(f"{peer}: {received} of {total_bytes} bytes arrived")
        if peer == "courier":
            sender_peak = float(result.get("peak_rss_mb", 0))
        shutil.rmtree(receiver.out)
    name = f"6. receiver's peak memory, one {total_bytes / 1e9:.2f} GB instance"
    return Row(name, "MB", values, lower_is_better=True), sender_peak


def workstation_lag(folders: list[Path]) -> dict[str, float]:
    """Workload 7: the GUI thread's lag while the workstation receives ``folders`` and draws thumbnails."""
    env = {**ENV, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(  # its stderr passes through: COURIER_EXPLAIN_LAG reports land there
        [sys.executable, str(ROOT / "bench/workstation_lag.py"), sys.executable, *map(str, folders)],
        env=env, check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


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
        spread = (f" ({min(row.rounds_vs_dcmtk):.2f}-{max(row.rounds_vs_dcmtk):.2f})"
                  if len(row.rounds_vs_dcmtk) > 1 else "")  # fmt: skip
        lines.append(f"| {row.workload} | {row.unit} | {' | '.join(cells)} | "
                     f"{ratio(row.values, 'dcmtk', row.lower_is_better)}{spread} | "
                     f"{ratio(row.values, 'pynetdicom', row.lower_is_better)} |")  # fmt: skip
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {system}"


@dataclass
class Results:
    rows: list[Row]
    scp_lag: dict[str, float]  # the bench SCP's own loop, worst of workloads 1 and 2
    sender_peak_mb: float  # Courier's sender in workload 6
    gui: dict[str, float]  # workload 7
    ceiling_mb_s: float
    receive_root: Path | None  # where receivers of workloads 1-5 wrote (None: the disk, with the data)


def memory_folder() -> Path | None:
    """A tmpfs folder for the receivers, when the machine has one."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def store_rows(work: Path, rx: Path, quick: bool, on_disk: bool) -> tuple[list[Row], dict[str, float]]:
    """Workloads 1-3 (data in ``work``, receivers in ``rx``; ``on_disk``: also workload 1 into ``work``)
    and the worst loop lag Courier's receiver saw in workloads 1 and 2."""
    peers, rounds = ["courier", "dcmtk", "pynetdicom"], 3 if quick else 5
    ct_count, small_count = (40, 200) if quick else (200, 1000)
    big_count, big_frames = (1, 50) if quick else (2, 200)
    print("building data…", file=sys.stderr)
    ct_bytes = write_instances(work / "ct", ct_count, 512)
    small_bytes = write_instances(work / "small", small_count, 64)
    big_bytes = write_instances(work / "big", big_count, 512, frames=big_frames)
    print("1. CT instances…", file=sys.stderr)
    ct = StoreLoad(f"1. C-STORE {ct_count} CT 512x512x16", work / "ct", ct_bytes, ct_count, "MB/s")
    row, lag_ct = store_workload(ct, rx, peers, rounds, pynetdicom_rounds=3)
    per_instance = ct_bytes / ct_count / 1e6
    per_second = {p: (v or 0) / per_instance for p, v in row.values.items()}
    rows = [row, Row(ct.name, "instances/s", per_second, rounds_vs_dcmtk=row.rounds_vs_dcmtk)]
    print("1. CT instances, Courier writing in its disk thread…", file=sys.stderr)
    threaded = replace(ct, name=f"{ct.name} (Courier's files always written in its disk thread)")
    rows.append(store_workload(threaded, rx, ["courier-thread", "dcmtk"], rounds)[0])
    if on_disk:
        print("1. CT instances, receivers on disk…", file=sys.stderr)
        disk = replace(ct, name=f"{ct.name} (receivers on disk)")
        rows.append(store_workload(disk, work, ["courier", "dcmtk"], rounds)[0])
    print("2. small instances…", file=sys.stderr)
    name = f"2. C-STORE {small_count} small 64x64"
    row, lag_small = store_workload(StoreLoad(name, work / "small", small_bytes, small_count, "instances/s"),
                                    rx, peers, rounds)  # fmt: skip
    rows.append(row)
    print("3. large multi-frame…", file=sys.stderr)
    name = f"3. C-STORE {big_count} x {big_bytes // big_count // 1_000_000} MB multi-frame"
    big = StoreLoad(name, work / "big", big_bytes, big_count, "MB/s")
    rows.append(store_workload(big, rx, peers, rounds, pynetdicom_rounds=3)[0])
    threaded = replace(big, name=f"{name} (Courier's files always written in its disk thread)")
    rows.append(store_workload(threaded, rx, ["courier-thread", "dcmtk"], rounds)[0])
    shutil.rmtree(work / "big")
    lag = {key: max(lag_ct.get(key, 0), lag_small.get(key, 0))
           for key in ("lag_max_ms", "lag_p99_ms", "peak_rss_mb")}  # fmt: skip
    return rows, lag


def run_all(quick: bool, receive_root: Path | None) -> Results:
    with (
        tempfile.TemporaryDirectory(prefix="courier-bench-") as tmp,
        tempfile.TemporaryDirectory(prefix="courier-bench-rx-", dir=receive_root) as rx_tmp,
    ):
        work, rx = Path(tmp), Path(rx_tmp)
        rows, scp_lag = store_rows(work, rx, quick, on_disk=receive_root is not None)
        print("4. echo…", file=sys.stderr)
        rows.append(echo_workload(50 if quick else 200, rx))
        print("5. find…", file=sys.stderr)
        rows.append(find_workload(2000 if quick else 10000, rx, 3))
        # Workload 7 before 6: after 6 moves GBs through the page cache, this VM's kernel takes 0.2-0.5 s
        # to hand out memory again for a while (seen as one recv() of the GUI thread that long).
        print("7. workstation event loop…", file=sys.stderr)
        gui = workstation_lag([work / "ct", work / "small"])
        print("6. one very large instance…", file=sys.stderr)
        huge_frames = 512 if quick else 2048  # 512 x 512 x 16 bits a frame: 256 MiB or 1 GiB
        huge_bytes = write_instances(work / "huge", 1, 512, frames=huge_frames)
        row, sender_peak = memory_workload(
            work / "huge", huge_bytes, work, ["courier", "dcmtk", "pynetdicom"]
        )
        rows.append(row)
        shutil.rmtree(work / "huge")
        ceiling = asyncio.run(_socket_ceiling((256 if quick else 1024) * 1024 * 1024))
    return Results(rows, scp_lag, sender_peak, gui, ceiling, receive_root)


def report(results: Results, quick: bool) -> str:
    gui, scp = results.gui, results.scp_lag
    return "\n".join([
        f"Measured {date.today().isoformat()} on {machine()}{' (--quick)' if quick else ''}. Workloads 1-3: "
        "the median of several rounds of Courier and DCMTK back to back (the spread of Courier/DCMTK over "
        "the rounds in brackets), pynetdicom three times (once for workload 2). "
        + (f"Receivers of workloads 1-5 write into {results.receive_root} (tmpfs), so that the table "
           "compares the DICOM stacks rather than the disk's file creation, which both pay alike; the "
           "'on disk' row repeats workload 1 with receivers on disk. Workload 6 receives onto disk."
           if results.receive_root else "Receivers write onto disk."),
        "",
        table(results.rows),
        "",
        f"6. Courier's sender of that instance peaked at {results.sender_peak_mb:.0f} MB. Receivers in their "
        "streaming modes: storescp +B, pynetdicom STORE_RECV_CHUNKED_DATASET.",
        f"7. The workstation's event loop (its GUI thread) while its listener received workloads 1 and 2 "
        f"and Local Images drew {gui['thumbnail_sets']:.0f} sets of thumbnails: lag max "
        f"{gui['lag_max_ms']:.1f} ms, p99 {gui['lag_p99_ms']:.1f} ms ({gui['samples']:.0f} samples "
        f"every 5 ms over {gui['seconds']:.1f} s).",
        "Courier's bench SCP (no GUI) while receiving workloads 1 and 2: "
        f"lag max {scp['lag_max_ms']:.1f} ms, p99 {scp['lag_p99_ms']:.1f} ms, "
        f"peak RSS {scp['peak_rss_mb']:.0f} MB.",
        f"Python asyncio socket ceiling on loopback (one connection, 1 MB writes): "
        f"{results.ceiling_mb_s:,.0f} MB/s.",
    ])  # fmt: skip


def write_into(path: Path, text: str) -> None:
    """Replace the block between the bench markers in ``path`` (or append one)."""
    old = path.read_text() if path.exists() else ""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    block = f"{start}\n{text}\n{end}"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) :]
    else:
        new = old + "\n" + block + "\n"
    path.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a minute or so)")
    parser.add_argument("--write", type=Path, help="also write the table into this Markdown file")
    parser.add_argument("--receivers-on-disk", action="store_true",
                        help="receivers write onto disk for every workload, not into tmpfs")  # fmt: skip
    args = parser.parse_args()
    receive_root = None if args.receivers_on_disk else memory_folder()
    text = report(run_all(args.quick, receive_root), args.quick)
    print(text)
    if args.write:
        write_into(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
