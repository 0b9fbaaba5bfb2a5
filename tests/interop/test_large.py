"""A 1 GB instance sent from a file and received straight into a file: neither side holds it in memory.

Sender (`courier store`) and receiver (tests/interop/large_receiver.py) run in their own processes;
the test reads each one's own peak resident memory (VmHWM; see peak_memory.py for why not
ru_maxrss) and compares the received file with the one sent.
"""

from __future__ import annotations

import hashlib
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from bench.memory import peak_rss_mb

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
FRAMES, ROWS = 2048, 512  # 2048 frames of 512 x 512 x 16 bits = 1 GiB of pixel data
PIXEL_BYTES = FRAMES * ROWS * ROWS * 2
LIMIT = 150 * 1024 * 1024


def write_one_gigabyte_instance(path: Path) -> str:
    """The header with pydicom, then the pixel data appended in 8 MB chunks; returns the SHA-256."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.999.1"
    ds.PatientID = "BIG"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.999"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.999.0"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = ROWS
    ds.NumberOfFrames = FRAMES
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.save_as(path, enforce_file_format=True)
    digest = hashlib.sha256()
    chunk = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    with path.open("ab") as out:
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, PIXEL_BYTES))
        for _ in range(PIXEL_BYTES // len(chunk)):
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def pixel_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as received:
        received.seek(path.stat().st_size - PIXEL_BYTES)
        while block := received.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def test_one_gigabyte_is_received_in_under_150_mb_and_sent_without_being_loaded(tmp_path: Path) -> None:
    source = tmp_path / "big.dcm"
    expected = write_one_gigabyte_instance(source)
    out = tmp_path / "received"
    out.mkdir()
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    receiver = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/interop/large_receiver.py"), str(out), str(port_file)], env=env
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            assert time.monotonic() < deadline and receiver.poll() is None, "the receiver did not start"
            time.sleep(0.05)  # polling for the receiver's port file
        sender_report = tmp_path / "sender-peak"
        sender = subprocess.run(
            [sys.executable, str(ROOT / "tests/interop/peak_memory.py"), str(sender_report), "app.cli.main",
             "store", "127.0.0.1", port_file.read_text(), "-aec", "BIGSCP", "-td", "600", str(source)],
            check=False, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert sender.returncode == 0, sender.stdout + sender.stderr
        receiver_peak = peak_rss_mb(receiver.pid) * 1e6
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=30)
    sender_peak = float(sender_report.read_text()) * 1e6
    print(f"\n1 GB: sender peak {sender_peak / 2**20:.0f} MB, receiver peak {receiver_peak / 2**20:.0f} MB")
    [received] = list(out.glob("*.dcm"))
    assert pixel_digest(received) == expected
    assert receiver_peak < LIMIT  # the requirement: the SCP receiving 1 GB stays under 150 MB
    assert sender_peak < LIMIT  # the sender streams from the file: it never holds the instance either
