"""Add/Edit node dialog with inline validation in words; OK stays disabled while the node is invalid."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.nodes import RETRIEVE_METHODS, Node, validate_node


class NodeDialog(QDialog):
    def __init__(self, node: Node | None, other_names: set[str], parent: QWidget | None = None) -> None:  # noqa: PLR0915
        super().__init__(parent)
        self.setWindowTitle("Edit node" if node else "Add node")
        self.setMinimumWidth(460)
        self.other_names = other_names
        base = node or Node(name="", ae_title="", host="")
        self.name = QLineEdit(base.name)
        self.ae_title = QLineEdit(base.ae_title)
        self.ae_title.setMaxLength(
            64
        )  # longer than 16 so the message explains instead of silently truncating
        self.host = QLineEdit(base.host)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(base.port)
        self.retrieve = QComboBox()
        self.retrieve.addItems(list(RETRIEVE_METHODS))
        self.retrieve.setCurrentText(base.retrieve_method)
        self.max_pdu = QSpinBox()
        self.max_pdu.setRange(0, 2**31 - 1)
        self.max_pdu.setSingleStep(16384)
        self.max_pdu.setValue(base.max_pdu)
        self.connect_timeout = self._seconds(base.connect_timeout_s)
        self.acse_timeout = self._seconds(base.acse_timeout_s)
        self.dimse_timeout = self._seconds(base.dimse_timeout_s)
        self.storage_commitment = QCheckBox("Supports storage commitment")
        self.storage_commitment.setChecked(base.storage_commitment)
        self.notes = QPlainTextEdit(base.notes)
        self.notes.setFixedHeight(60)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("AE title", self.ae_title)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Retrieve with", self.retrieve)
        form.addRow("Max PDU (bytes)", self.max_pdu)
        form.addRow("Connect timeout", self.connect_timeout)
        form.addRow("ACSE timeout", self.acse_timeout)
        form.addRow("DIMSE timeout", self.dimse_timeout)
        form.addRow("", self.storage_commitment)
        form.addRow("Notes", self.notes)
        self.problems = QLabel()
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b00020;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problems)
        layout.addWidget(self.buttons)
        for edit in (self.name, self.ae_title, self.host):
            edit.textChanged.connect(self.revalidate)
        for spin in (self.port, self.max_pdu):
            spin.valueChanged.connect(self.revalidate)
        for dspin in (self.connect_timeout, self.acse_timeout, self.dimse_timeout):
            dspin.valueChanged.connect(self.revalidate)
        self.revalidate()

    @staticmethod
    def _seconds(value: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(0, 86400)
        box.setDecimals(1)
        box.setSuffix(" s")
        box.setValue(value)
        return box

    def node(self) -> Node:
        return Node(
            name=self.name.text().strip(),
            ae_title=self.ae_title.text().strip(),
            host=self.host.text().strip(),
            port=self.port.value(),
            retrieve_method=self.retrieve.currentText(),
            max_pdu=self.max_pdu.value(),
            connect_timeout_s=self.connect_timeout.value(),
            acse_timeout_s=self.acse_timeout.value(),
            dimse_timeout_s=self.dimse_timeout.value(),
            notes=self.notes.toPlainText(),
            storage_commitment=self.storage_commitment.isChecked(),
        )

    def problem_list(self) -> list[str]:
        return validate_node(self.node(), self.other_names)

    def revalidate(self) -> None:
        problems = self.problem_list()
        self.problems.setText("\n".join(problems))
        self.problems.setVisible(bool(problems))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
