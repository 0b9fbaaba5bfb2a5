"""The Linux desktop integration files: a valid desktop entry and AppStream metadata, icons at every size."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from app.resources import ICON_SIZES, resource

LINUX = Path(__file__).resolve().parents[2] / "packaging" / "linux"


def test_the_desktop_entry_names_the_command_and_the_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(LINUX / "courier.desktop")
    desktop = entry["Desktop Entry"]
    assert (desktop["Type"], desktop["Exec"], desktop["Icon"], desktop["Terminal"]) == ("Application", "courier", "courier", "false")
    assert "MedicalSoftware" in desktop["Categories"]


def test_icons_exist_at_the_usual_sizes() -> None:
    for size in ICON_SIZES:
        png = resource(f"courier-{size}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert resource("courier.svg").read_text().lstrip().startswith("<svg")


def test_the_appstream_metadata_validates() -> None:
    appstreamcli = shutil.which("appstreamcli")
    if appstreamcli is None:
        pytest.skip("appstreamcli is not installed (Debian package 'appstream')")
    result = subprocess.run([appstreamcli, "validate", "--no-net", str(LINUX / "io.github.courier.Courier.metainfo.xml")],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
