"""Small widgets the dialogs share."""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox


def seconds_box(value: float, minimum: float = 0.0) -> QDoubleSpinBox:
    """A duration in seconds, to a tenth, up to a day."""
    box = QDoubleSpinBox()
    box.setRange(minimum, 86400)
    box.setDecimals(1)
    box.setSuffix(" s")
    box.setValue(value)
    return box
