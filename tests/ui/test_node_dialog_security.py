"""The node dialog's DICOM TLS and user identity fields: what a technologist types becomes the node."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from app.nodes import Node
from app.ui.node_dialog import NodeDialog

pytestmark = pytest.mark.gui

PACS = Node(name="PACS", ae_title="ORTHANC", host="10.0.0.5", port=2762)


def ok_enabled(dialog: NodeDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_tls_settings_typed_in_become_the_nodes(qtbot, tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "me.pem", "me.key"))
    for path in (ca, cert, key):
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    dialog = NodeDialog(PACS, set())
    qtbot.addWidget(dialog)
    assert not dialog.tls.isChecked()
    dialog.tls.setChecked(True)
    dialog.tls_ca.setText(str(ca))
    dialog.tls_cert.setText(str(cert))
    dialog.tls_key.setText(str(key))
    dialog.username.setText("tech")
    dialog.passcode.setText("s3cret")
    assert ok_enabled(dialog)
    node = dialog.node()
    assert (node.tls, node.tls_ca_file, node.tls_cert_file, node.tls_key_file) == (
        True,
        str(ca),
        str(cert),
        str(key),
    )
    assert (node.username, node.passcode) == ("tech", "s3cret")


def test_a_missing_tls_file_is_named_and_ok_stays_disabled(qtbot, tmp_path: Path) -> None:
    dialog = NodeDialog(PACS, set())
    qtbot.addWidget(dialog)
    dialog.tls.setChecked(True)
    dialog.tls_ca.setText(str(tmp_path / "nowhere.pem"))
    assert not ok_enabled(dialog)
    assert "TLS CA file not found" in dialog.problems.text()
    dialog.tls.setChecked(False)  # TLS off: its files no longer matter
    assert ok_enabled(dialog)


def test_the_passcode_is_not_shown(qtbot) -> None:
    dialog = NodeDialog(PACS, set())
    qtbot.addWidget(dialog)
    assert dialog.passcode.echoMode() == dialog.passcode.EchoMode.Password
