"""Real DICOM peers for interop tests: DCMTK tools, Orthanc and pynetdicom, on free loopback ports.

Every peer is a child process started here and ended here by its own process id.  A missing peer
skips the test with the reason, except under ``CI=true`` where it fails: CI must exercise the peers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def require_binary(name: str, *, package: str) -> str:
    """The path of a peer's executable; skip (or fail under CI) when it is not installed."""
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if path:
        return path
    reason = f"{name} is not installed (Debian package '{package}'); ./test installs it when run as root"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and a required interop peer is missing: {reason}")
    pytest.skip(reason)


def dcmtk_env() -> dict[str, str]:
    """DCMTK's environment: TCP_NODELAY=1 or every message waits on Nagle's algorithm (~44 ms)."""
    env = dict(os.environ)
    env["TCP_NODELAY"] = "1"
    return env


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = READY_TIMEOUT
) -> None:
    """Block until something accepts on 127.0.0.1:port (polling connect), or fail with the peer's output."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited with status {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return
        except OSError:
            time.sleep(delay)  # polling a child's readiness, not waiting for behaviour under test
            delay = min(delay * 2, 0.1)
    raise TimeoutError(f"nothing listened on {LOOPBACK}:{port} within {timeout} s")


@dataclass
class PeerProcess:
    """A peer started by a test; ``stop()`` ends exactly this process."""

    name: str
    argv: list[str]
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, object] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def start_peer(
    name: str,
    argv: Sequence[str],
    port: int,
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> PeerProcess:
    """Start a peer process with its output in ``workdir/<name>.log`` and wait until it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    log.close()
    peer = PeerProcess(name, list(argv), port, proc, log_path)
    if wait:
        try:
            wait_for_port(port, proc)
        except Exception:
            peer.stop()
            raise RuntimeError(f"{name} did not start: {peer.output()[-2000:]}") from None
    return peer


def run_tool(
    argv: Sequence[str], *, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a DCMTK (or other) command-line tool to completion with TCP_NODELAY set."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, env=dcmtk_env(), cwd=cwd, check=False
    )


# ------------------------------------------------------------------------------------------------
# DCMTK


def start_storescp(workdir: Path, *, aet: str = "STORESCP", extra: Sequence[str] = ()) -> PeerProcess:
    binary = require_binary("storescp", package="dcmtk")
    port = free_port()
    out = workdir / "received"
    out.mkdir(parents=True, exist_ok=True)
    argv = [binary, "-aet", aet, "-od", str(out), *extra, str(port)]
    peer = start_peer("storescp", argv, port, workdir, env=dcmtk_env())
    peer.extra["out"] = out
    return peer


# ------------------------------------------------------------------------------------------------
# Orthanc


@dataclass
class Orthanc:
    """A private Orthanc on free ports with its REST API at ``http``."""

    peer: PeerProcess
    http_port: int
    aet: str

    @property
    def port(self) -> int:
        return self.peer.port

    def rest(self, path: str, body: object | None = None, method: str | None = None) -> object:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(f"http://{LOOPBACK}:{self.http_port}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def upload(self, dicom_file: Path) -> object:
        return self.rest("/instances", dicom_file.read_bytes(), method="POST")

    def stop(self) -> None:
        self.peer.stop()


def start_orthanc(
    workdir: Path, *, aet: str = "ORTHANC", modalities: dict[str, tuple[str, str, int]] | None = None
) -> Orthanc:
    binary = require_binary("Orthanc", package="orthanc")
    dicom_port, http_port = free_port(), free_port()
    storage = workdir / "orthanc-storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "TESTPACS",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "DicomAet": aet,
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomModalities": {k: list(v) for k, v in (modalities or {}).items()},
        "Plugins": [],
        "StableAge": 1,
    }
    config_path = workdir / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    peer = start_peer("orthanc", [binary, str(config_path)], dicom_port, workdir)
    orthanc = Orthanc(peer, http_port, aet)
    wait_for_port(http_port, peer.proc)
    return orthanc


# ------------------------------------------------------------------------------------------------
# pynetdicom (tests and benchmarks only)


def start_pynetdicom(workdir: Path, script: str, *args: str) -> PeerProcess:
    """Run one of tests/pynetdicom_peers/*.py as a peer; it listens on the port passed as its first argument."""
    pytest.importorskip("pynetdicom", reason="pynetdicom is a test dependency: ./test installs it")
    port = free_port()
    path = Path(__file__).parent / "pynetdicom_peers" / script
    return start_peer(f"pynetdicom-{path.stem}", [sys.executable, str(path), str(port), *args], port, workdir)
