"""The settings dialog: our AE title, the listener, the storage folder, timeouts, access and demo."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.net.negotiation import check_ae_title
from app.settings import Settings
from app.ui.widgets import finish_form, seconds_box, show_problems


def settings_problems(settings: Settings) -> list[str]:
    """What is wrong with ``settings``, in words; empty when they can be used."""
    problems: list[str] = []
    try:
        check_ae_title(settings.ae_title, "local AE title")
    except ValueError as exc:
        problems.append(str(exc)[0].upper() + str(exc)[1:])
    if not 1 <= settings.listener_port <= 65535:
        problems.append("The listener port must be between 1 and 65535")
    if not str(settings.storage_folder).strip():
        problems.append("Choose a storage folder")
    if settings.max_pdu != 0 and settings.max_pdu < 4096:
        problems.append("Max PDU must be 0 (unlimited) or at least 4096 bytes")
    return problems


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Courier settings")
        self.setMinimumWidth(480)
        self.base = settings
        self.ae_title = QLineEdit(settings.ae_title)
        self.listener_enabled = QCheckBox("Listen for other nodes (C-ECHO, C-STORE, Query/Retrieve)")
        self.listener_enabled.setChecked(settings.listener_enabled)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(settings.listener_port)
        self.folder = QLineEdit(str(settings.storage_folder))
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda _checked=False: self._browse())
        folder_row = QWidget()
        folder_layout = QHBoxLayout(folder_row)
        folder_layout.setContentsMargins(0, 0, 0, 0)
        folder_layout.addWidget(self.folder)
        folder_layout.addWidget(browse)
        self.max_pdu = QSpinBox()
        self.max_pdu.setRange(0, 2**31 - 1)
        self.max_pdu.setSingleStep(16384)
        self.max_pdu.setValue(settings.max_pdu)
        self.connect_timeout = seconds_box(settings.connect_timeout_s, minimum=0.1)
        self.acse_timeout = seconds_box(settings.acse_timeout_s, minimum=0.1)
        self.dimse_timeout = seconds_box(settings.dimse_timeout_s, minimum=0.1)
        self.retrieve_timeout = seconds_box(settings.retrieve_timeout_s, minimum=0.1)
        self.known_only = QCheckBox("Accept only calling AE titles in the node list")
        self.known_only.setChecked(settings.accept_only_known_calling_aes)
        self.demo = QCheckBox("Demo mode: fill an empty archive with synthetic studies")
        self.demo.setChecked(settings.demo_mode)
        form = QFormLayout()
        form.addRow("Local AE title", self.ae_title)
        form.addRow("", self.listener_enabled)
        form.addRow("Listener port", self.port)
        form.addRow("Storage folder", folder_row)
        form.addRow("Max PDU (bytes)", self.max_pdu)
        form.addRow("Connect timeout", self.connect_timeout)
        form.addRow("ACSE timeout", self.acse_timeout)
        form.addRow("DIMSE timeout", self.dimse_timeout)
        form.addRow("Retrieve timeout", self.retrieve_timeout)
        form.addRow("", self.known_only)
        form.addRow("", self.demo)
        self.problems, self.buttons = finish_form(self, form)
        self.ae_title.textChanged.connect(self.revalidate)
        self.folder.textChanged.connect(self.revalidate)
        self.port.valueChanged.connect(self.revalidate)
        self.max_pdu.valueChanged.connect(self.revalidate)
        self.revalidate()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Storage folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def settings(self) -> Settings:
        return replace(
            self.base,
            ae_title=self.ae_title.text().strip(),
            listener_enabled=self.listener_enabled.isChecked(),
            listener_port=self.port.value(),
            storage_folder=Path(self.folder.text().strip()),
            max_pdu=self.max_pdu.value(),
            connect_timeout_s=self.connect_timeout.value(),
            acse_timeout_s=self.acse_timeout.value(),
            dimse_timeout_s=self.dimse_timeout.value(),
            retrieve_timeout_s=self.retrieve_timeout.value(),
            accept_only_known_calling_aes=self.known_only.isChecked(),
            demo_mode=self.demo.isChecked(),
        )

    def revalidate(self) -> None:
        problems = settings_problems(self.settings())
        show_problems(self.problems, self.buttons, problems)
