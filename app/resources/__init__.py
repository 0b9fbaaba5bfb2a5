"""The application's icons, found the same way from a source checkout, an installed wheel and a
PyInstaller bundle (they travel as package data next to this file).  ``resources/`` at the
repository root holds their source (``courier.svg``) and ``make_icons.py``, which renders them here."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ICON_SIZES = (16, 32, 48, 64, 128, 256)


def resource(name: str) -> Path:
    """The path of a bundled resource file, e.g. ``resource("courier.svg")``."""
    return HERE / name
