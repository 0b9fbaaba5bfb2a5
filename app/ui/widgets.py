"""Small widgets the dialogs share."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QVBoxLayout


def seconds_box(value: float, minimum: float = 0.0) -> QDoubleSpinBox:
    """A duration in seconds, to a tenth, up to a day."""
    box = QDoubleSpinBox()
    box.setRange(minimum, 86400)
    box.setDecimals(1)
    box.setSuffix(" s")
    box.setValue(value)
    return box


def finish_form(dialog: QDialog, form: QFormLayout) -> tuple[QLabel, QDialogButtonBox]:
    """Lay out ``form`` above a label for problems in words and OK/Cancel; returns (label, buttons)."""
    problems = QLabel()
    problems.setObjectName("problems")
    problems.setWordWrap(True)
    problems.setStyleSheet("color: #b00020;")
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addLayout(form)
    layout.addWidget(problems)
    layout.addWidget(buttons)
    return problems, buttons


def show_problems(label: QLabel, buttons: QDialogButtonBox, problems: list[str]) -> None:
    """Say what is wrong; OK stays disabled until nothing is."""
    label.setText("\n".join(problems))
    label.setVisible(bool(problems))
    buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
