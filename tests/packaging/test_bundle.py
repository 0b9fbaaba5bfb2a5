"""Courier as people who do not use pip get it: the wheel and sdist, and the PyInstaller bundle that
opens the window, answers DCMTK's echoscu with its built-in listener and quits cleanly on SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from app import __version__
from tests.peers import dcmtk_env, free_port, require_binary, wait_for_port

pytestmark = [pytest.mark.packaging, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "courier"
EXE = BUNDLE / ("courier.exe" if sys.platform == "win32" else "courier")


def source_hash() -> str:
    """What the bundle is built from: a rebuild is needed only when this changes."""
    digest = hashlib.sha256()
    for path in sorted([ROOT / "pyproject.toml", ROOT / "packaging" / "courier.spec",
                        *ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("app", "resources").glob("*")]):  # fmt: skip
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def bundle() -> Path:
    stamp = BUNDLE / ".source-hash"
    wanted = source_hash()
    if not (EXE.exists() and stamp.exists() and stamp.read_text() == wanted):
        built = subprocess.run([str(ROOT / "packaging" / "build-bundle.sh")], capture_output=True, text=True,
                               timeout=1500, check=False)  # fmt: skip
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        stamp.write_text(wanted)
    return EXE


def test_the_wheel_and_sdist_hold_the_code_and_the_icons(tmp_path: Path) -> None:
    from setuptools import build_meta  # noqa: PLC0415

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        wheel = tmp_path / build_meta.build_wheel(str(tmp_path))
        sdist = tmp_path / build_meta.build_sdist(str(tmp_path))
    finally:
        os.chdir(cwd)
    names = zipfile.ZipFile(wheel).namelist()
    assert "app/resources/courier-256.png" in names and "app/net/association.py" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    assert sdist.stat().st_size > 0
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "app.cli.main", "--version"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path, check=False)  # fmt: skip
    assert out.stdout.strip() == f"courier {__version__}"


def test_the_bundle_prints_its_version_and_help_without_qt(bundle: Path) -> None:
    version = subprocess.run(
        [str(bundle), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0 and version.stdout.strip() == f"courier {__version__}"
    usage = subprocess.run([str(bundle), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert usage.returncode == 0
    for command in ("echo", "store", "find", "get", "move", "serve"):
        assert command in usage.stdout


def test_the_bundle_opens_the_window_answers_echoscu_and_quits_cleanly(bundle: Path, tmp_path: Path) -> None:
    echoscu = require_binary("echoscu", package="dcmtk")
    port = free_port()
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text(
        json.dumps({"listener_port": port, "storage_folder": str(tmp_path / "archive")})
    )
    log = tmp_path / "bundle.log"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "COURIER_CONFIG_DIR": str(config)}
    with log.open("wb") as out:
        proc = subprocess.Popen([str(bundle)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, proc, timeout=120)
        deadline = time.monotonic() + 60
        while "window open" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text(errors="replace")
            time.sleep(0.1)  # polling the bundle's log
        echo = subprocess.run([echoscu, "-aec", "COURIER", "127.0.0.1", str(port)], capture_output=True, text=True,
                              env=dcmtk_env(), timeout=60, check=False)  # fmt: skip
        assert echo.returncode == 0, echo.stdout + echo.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Fatal" not in log.read_text(errors="replace")


def test_the_bundle_size_is_reported_and_reasonable(bundle: Path) -> None:
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file())
    print(f"\nbundle: {size / 2**20:.0f} MB in {BUNDLE}")
    assert size < 400 * 2**20  # PySide6-Essentials and numpy make most of it
