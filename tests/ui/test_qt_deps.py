"""packaging/qt-deps.sh with a fake `ldd` on PATH: missing libraries map to Debian packages."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "qt-deps.sh"
LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-icccm.so.4 => not found
\tlibEGL.so.1 => not found
\tlibweird.so.9 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def fake_env(tmp_path: Path, ldd_output: str, display: str | None = ":99") -> tuple[Path, dict[str, str]]:
    venv = tmp_path / "venv"
    plugin_dir = venv / "lib/python3.11/site-packages/PySide6/Qt/plugins/platforms"
    plugin_dir.mkdir(parents=True)
    (plugin_dir / "libqxcb.so").write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "ldd.out").write_text(ldd_output)
    (bin_dir / "ldd").write_text(f"#!/bin/sh\ncat {tmp_path / 'ldd.out'}\n")
    (bin_dir / "ldd").chmod(0o755)
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")  # act as a normal user: print, never install
    (bin_dir / "id").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    if display:
        env["DISPLAY"] = display
    return venv, env


def run(venv: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), str(venv)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_missing_libraries_become_one_apt_get_line(tmp_path: Path) -> None:
    result = run(*fake_env(tmp_path, LDD_OUTPUT))
    assert result.returncode == 1
    assert (
        result.stdout.strip()
        == "sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libegl1"
    )
    assert "missing: libxcb-cursor.so.0" in result.stderr
    assert "no known Debian package for: libweird.so.9" in result.stderr


def test_nothing_missing_is_silent_success(tmp_path: Path) -> None:
    result = run(*fake_env(tmp_path, "\tlibc.so.6 => /lib/libc.so.6 (0x1)\n"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(("display", "platform"), [(None, None), (":99", "offscreen")])
def test_no_display_means_no_check(tmp_path: Path, display: str | None, platform: str | None) -> None:
    venv, env = fake_env(tmp_path, LDD_OUTPUT, display)
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    assert run(venv, env).returncode == 0
