"""Add/Edit node dialog with inline validation in words; OK stays disabled while the node is invalid."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.nodes import RETRIEVE_METHODS, Node, validate_node
from app.ui.widgets import finish_form, seconds_box, show_problems


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
        self.connect_timeout = seconds_box(base.connect_timeout_s)
        self.acse_timeout = seconds_box(base.acse_timeout_s)
        self.dimse_timeout = seconds_box(base.dimse_timeout_s)
        self.storage_commitment = QCheckBox("Supports storage commitment")
        self.storage_commitment.setChecked(base.storage_commitment)
        self.notes = QPlainTextEdit(base.notes)
        self.notes.setFixedHeight(60)
        self.tls = QGroupBox("DICOM TLS (PS3.15)")
        self.tls.setCheckable(True)
        self.tls.setChecked(base.tls)
        self.tls_ca = QLineEdit(base.tls_ca_file)
        self.tls_ca.setPlaceholderText("the system's CAs")
        self.tls_cert = QLineEdit(base.tls_cert_file)
        self.tls_cert.setPlaceholderText("none (only if the node asks for one)")
        self.tls_key = QLineEdit(base.tls_key_file)
        tls_form = QFormLayout(self.tls)
        tls_form.addRow("CA certificate", self._with_browse(self.tls_ca, "CA certificate"))
        tls_form.addRow("Our certificate", self._with_browse(self.tls_cert, "our certificate"))
        tls_form.addRow("Our key", self._with_browse(self.tls_key, "our private key"))
        self.username = QLineEdit(base.username)
        self.username.setPlaceholderText("none")
        self.passcode = QLineEdit(base.passcode)
        self.passcode.setEchoMode(QLineEdit.EchoMode.Password)
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
        form.addRow(self.tls)
        form.addRow("User name", self.username)
        form.addRow("Passcode", self.passcode)
        form.addRow("Notes", self.notes)
        self.problems, self.buttons = finish_form(self, form)
        for edit in (
            self.name, self.ae_title, self.host, self.tls_ca, self.tls_cert, self.tls_key, self.username,
            self.passcode,
        ):  # fmt: skip
            edit.textChanged.connect(self.revalidate)
        self.tls.toggled.connect(self.revalidate)
        for spin in (self.port, self.max_pdu):
            spin.valueChanged.connect(self.revalidate)
        for dspin in (self.connect_timeout, self.acse_timeout, self.dimse_timeout):
            dspin.valueChanged.connect(self.revalidate)
        self.revalidate()

    def _with_browse(self, edit: QLineEdit, what: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(edit, what))
        layout.addWidget(browse)
        return row

    def _browse(self, edit: QLineEdit, what: str) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, f"Choose the {what}", edit.text(), "PEM files (*.pem *.crt *.key);;All files (*)"
        )
        if path:
            edit.setText(path)

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
            tls=self.tls.isChecked(),
            tls_ca_file=self.tls_ca.text().strip(),
            tls_cert_file=self.tls_cert.text().strip(),
            tls_key_file=self.tls_key.text().strip(),
            username=self.username.text().strip(),
            passcode=self.passcode.text(),
        )

    def problem_list(self) -> list[str]:
        return validate_node(self.node(), self.other_names)

    def revalidate(self) -> None:
        problems = self.problem_list()
        show_problems(self.problems, self.buttons, problems)
