"""The Nodes pane: table, dialog add/edit/duplicate/remove, import/export, verify with a fake verifier."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.nodes import Node, NodeRegistry
from app.settings import Settings
from app.ui.node_dialog import NodeDialog
from app.ui.nodes_pane import NodesPane
from app.verify import VerifyResult

pytestmark = pytest.mark.gui


def scripted_dialog(fill: dict[str, str | int], seen: list[NodeDialog]):
    """A dialog factory whose exec() types `fill` into the fields and presses OK only if it is enabled."""

    def factory(node: Node | None, others: set[str]) -> NodeDialog:
        dialog = NodeDialog(node, others)
        seen.append(dialog)

        def exec_() -> int:
            for field, value in fill.items():
                widget = getattr(dialog, field)
                if isinstance(value, int):
                    widget.setValue(value)
                else:
                    widget.setText(value)
            ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
            return QDialog.DialogCode.Accepted if ok.isEnabled() else QDialog.DialogCode.Rejected

        dialog.exec = exec_  # type: ignore[method-assign]
        return dialog

    return factory


def shown(qtbot: QtBot, pane: NodesPane) -> NodesPane:
    """Shortcuts only fire in an active window, as for a technologist at the keyboard."""
    qtbot.addWidget(pane)
    pane.show()
    pane.activateWindow()
    qtbot.waitActive(pane)
    pane.table.setFocus()
    return pane


def table_names(pane: NodesPane) -> list[str]:
    return [pane.table.item(row, 0).text() for row in range(pane.table.rowCount())]


def test_table_lists_nodes_with_address_and_method(
    qtbot: QtBot, registry: NodeRegistry, settings: Settings
) -> None:
    pane = NodesPane(registry, settings)
    qtbot.addWidget(pane)
    assert table_names(pane) == ["CT scanner", "Main PACS"]
    assert pane.table.item(1, 2).text() == "10.0.0.5:4242"
    assert pane.table.item(0, 3).text() == "C-GET"
    assert not pane.edit_button.isEnabled() and not pane.verify_button.isEnabled()


def test_add_through_the_dialog(qtbot: QtBot, registry: NodeRegistry, settings: Settings) -> None:
    pane = shown(qtbot, NodesPane(registry, settings))
    seen: list[NodeDialog] = []
    pane.dialog_factory = scripted_dialog(
        {"name": "MR", "ae_title": "MR01", "host": "mr", "port": 11112}, seen
    )
    qtbot.keyClick(pane.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert registry.get("MR") == Node(name="MR", ae_title="MR01", host="mr", port=11112)
    assert pane.selected_name() == "MR"


def test_invalid_input_is_explained_and_ok_disabled(
    qtbot: QtBot, registry: NodeRegistry, settings: Settings
) -> None:
    pane = NodesPane(registry, settings)
    qtbot.addWidget(pane)
    seen: list[NodeDialog] = []
    pane.dialog_factory = scripted_dialog(
        {"name": "Main PACS", "ae_title": "WAY_TOO_LONG_AE_TITLE", "host": "", "port": 0}, seen
    )
    pane.add_node()
    text = seen[0].problems.text()
    for message in (
        "A node named 'Main PACS' already exists",
        "AE title must be 1-16 characters",
        "Host is empty",
        "Port must be between 1 and 65535",
    ):
        assert message in text
    assert not seen[0].buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    assert len(registry) == 2


def test_edit_with_f2_then_duplicate_then_remove(
    qtbot: QtBot, registry: NodeRegistry, settings: Settings
) -> None:
    pane = shown(qtbot, NodesPane(registry, settings))
    pane.select("Main PACS")
    seen: list[NodeDialog] = []
    pane.dialog_factory = scripted_dialog({"host": "10.0.0.9"}, seen)
    qtbot.keyClick(pane.table, Qt.Key.Key_F2)
    assert seen[0].name.text() == "Main PACS"  # the dialog opened on the selected node
    assert registry.get("Main PACS").host == "10.0.0.9"  # type: ignore[union-attr]
    pane.duplicate_button.click()
    assert "Main PACS (copy)" in table_names(pane)
    questions: list[str] = []
    pane.confirm = lambda q: questions.append(q) or False
    qtbot.keyClick(pane.table, Qt.Key.Key_Delete)
    assert "Main PACS (copy)" in registry  # declined
    pane.confirm = lambda q: True
    pane.remove_button.click()
    assert "Main PACS (copy)" not in registry and questions


def test_export_then_import_round_trip(
    qtbot: QtBot, registry: NodeRegistry, settings: Settings, tmp_path: Path
) -> None:
    pane = NodesPane(registry, settings)
    qtbot.addWidget(pane)
    exported = tmp_path / "export.json"
    pane.choose_save_path = lambda: exported
    pane.export_button.click()
    assert "Exported 2 nodes" in pane.result_title.text()
    other = NodeRegistry(tmp_path / "other.json")
    other_pane = NodesPane(other, settings)
    qtbot.addWidget(other_pane)
    other_pane.choose_open_path = lambda: exported
    other_pane.import_button.click()
    assert table_names(other_pane) == ["CT scanner", "Main PACS"]
    assert "2 added" in other_pane.result_title.text()


def test_verify_shows_the_result_and_disables_the_button_while_running(
    qtbot: QtBot, registry: NodeRegistry, settings: Settings, loop: asyncio.AbstractEventLoop
) -> None:
    release = asyncio.Event()
    calls: list[Node] = []

    async def fake_verifier(node: Node, _settings: Settings) -> VerifyResult:
        calls.append(node)
        await release.wait()
        return VerifyResult(True, "Connected and verified in 4 ms", ["Association accepted"], 4.0)

    pane = NodesPane(registry, settings, verifier=fake_verifier)
    qtbot.addWidget(pane)
    pane.select("Main PACS")

    async def scenario() -> None:
        task = pane.verify_selected()
        assert task is not None
        await asyncio.sleep(0)
        assert not pane.verify_button.isEnabled()
        assert "Verifying Main PACS" in pane.result_title.text()
        release.set()
        await task

    loop.run_until_complete(scenario())
    assert calls[0].name == "Main PACS"
    assert "Connected and verified in 4 ms" in pane.result_title.text()
    assert "Association accepted" in pane.result_details.toPlainText()
    assert pane.verify_button.isEnabled()


def test_verify_errors_are_shown_not_raised(
    qtbot: QtBot, registry: NodeRegistry, settings: Settings, loop: asyncio.AbstractEventLoop
) -> None:
    async def broken(node: Node, _settings: Settings) -> VerifyResult:
        raise ConnectionRefusedError("nothing listens on 10.0.0.5:4242")

    pane = NodesPane(registry, settings, verifier=broken)
    qtbot.addWidget(pane)
    pane.select("Main PACS")
    task = pane.verify_selected()
    assert task is not None
    loop.run_until_complete(task)
    assert "failed: nothing listens on 10.0.0.5:4242" in pane.result_title.text()
    assert pane.verify_button.isEnabled()
