"""The Nodes pane: the remote AEs in a table, with add/edit/duplicate/remove/import/export/verify."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.nodes import Node, NodeRegistry
from app.settings import Settings
from app.ui.node_dialog import NodeDialog
from app.verify import VerifyResult, verify_node

Verifier = Callable[[Node, Settings], Awaitable[VerifyResult]]
COLUMNS = ("Name", "AE title", "Host:port", "Retrieve", "Notes")


class NodesPane(QWidget):
    def __init__(  # noqa: PLR0915 - one flat widget layout reads best top to bottom
        self,
        registry: NodeRegistry,
        settings: Settings,
        verifier: Verifier = verify_node,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        self.settings = settings
        self.verifier = verifier
        self.verify_task: asyncio.Task[None] | None = None
        self.drop_handler: Callable[[str, list[Path]], object] | None = None
        # Seams for tests: dialogs are created/asked through these so tests need no modal event loop.
        self.dialog_factory: Callable[[Node | None, set[str]], NodeDialog] = lambda n, o: NodeDialog(
            n, o, self
        )
        self.confirm: Callable[[str], bool] = self._confirm_with_box
        self.choose_open_path: Callable[[], Path | None] = self._open_path
        self.choose_save_path: Callable[[], Path | None] = self._save_path

        title = QLabel("Remote nodes")
        title.setStyleSheet("font-size: 14pt; font-weight: 600;")
        subtitle = QLabel("DICOM applications this workstation queries, retrieves from and sends to.")
        subtitle.setStyleSheet("color: #505050;")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(False)
        header = self.table.horizontalHeader()
        for column, width in enumerate((180, 130, 200, 90)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(column, width)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.doubleClicked.connect(lambda _index: self.edit_selected())
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.add_button = self._button("Add…", self.add_node, "Add a node (Ctrl+N)")
        self.edit_button = self._button("Edit…", self.edit_selected, "Edit the selected node (Enter, F2)")
        self.duplicate_button = self._button("Duplicate", self.duplicate_selected, "Copy the selected node")
        self.remove_button = self._button("Remove…", self.remove_selected, "Remove the selected node (Del)")
        self.import_button = self._button("Import…", self.import_nodes, "Merge nodes from a JSON file")
        self.export_button = self._button("Export…", self.export_nodes, "Save all nodes to a JSON file")
        self.verify_button = self._button("Verify", self.verify_selected, "C-ECHO the selected node (Ctrl+E)")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.duplicate_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addSpacing(16)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(self.verify_button)

        self.result_title = QLabel("Select a node and press Verify to test the connection.")
        self.result_title.setObjectName("verifySummary")
        self.result_title.setWordWrap(True)
        self.result_details = QPlainTextEdit()
        self.result_details.setReadOnly(True)
        self.result_details.setMaximumHeight(120)
        self.result_details.setPlaceholderText("Verification details appear here.")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.setSpacing(8)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.result_title)
        layout.addWidget(self.result_details)

        self._shortcut("Ctrl+N", self.add_node)
        self._shortcut(Qt.Key.Key_Return, self.edit_selected)
        self._shortcut(Qt.Key.Key_Enter, self.edit_selected)
        self._shortcut(Qt.Key.Key_F2, self.edit_selected)
        self._shortcut(QKeySequence.StandardKey.Delete, self.remove_selected)
        self._shortcut("Ctrl+E", self.verify_selected)
        # The table handles the keys itself too: item views eat Enter/F2/Del before shortcuts see them.
        self.table.installEventFilter(self)
        self._unsubscribe = registry.subscribe(self.reload)
        self.reload()

    # -- building blocks
    def _button(self, text: str, slot: Callable[[], object], tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _shortcut(self, key: object, slot: Callable[[], object]) -> None:
        shortcut = QShortcut(QKeySequence(key), self)  # type: ignore[call-overload]
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)

    def set_drop_handler(self, handler: Callable[[str, list[Path]], object]) -> None:
        """Files or folders dropped on a node's row are given to ``handler(node_name, paths)``
        (the workstation queues them for sending to that node)."""
        self.drop_handler = handler
        self.table.setAcceptDrops(True)
        self.table.viewport().setAcceptDrops(True)
        self.table.viewport().installEventFilter(self)

    def node_at(self, position: QPoint) -> str | None:
        item = self.table.itemAt(position)
        if item is None:
            return None
        name_item = self.table.item(item.row(), 0)
        return name_item.text() if name_item is not None else None

    def drop_files(self, position: QPoint, paths: list[Path]) -> str | None:
        """Send ``paths`` to the node at ``position`` (viewport coordinates); returns its name."""
        name = self.node_at(position)
        if name is None or self.drop_handler is None or not paths:
            return None
        self.drop_handler(name, paths)
        self.show_result(
            f"{len(paths)} item{'s' if len(paths) != 1 else ''} queued for {name} (Send Queue)", []
        )
        return name

    def _drop_event(self, event: QEvent) -> bool:
        if isinstance(event, QDragEnterEvent | QDragMoveEvent):
            if event.mimeData().hasUrls() and self.node_at(event.position().toPoint()) is not None:
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if isinstance(event, QDropEvent):
            paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
            if self.drop_files(event.position().toPoint(), paths):
                event.acceptProposedAction()
            return True
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if self.drop_handler is not None and watched is self.table.viewport() and self._drop_event(event):
            return True
        if watched is self.table and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            action = self._key_action(event)
            if action is not None:
                action()
                return True
        return super().eventFilter(watched, event)

    def _key_action(self, event: QKeyEvent) -> Callable[[], object] | None:
        key, ctrl = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if ctrl and key == Qt.Key.Key_N:
            return self.add_node
        if ctrl and key == Qt.Key.Key_E:
            return self.verify_selected
        if not ctrl and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_F2):
            return self.edit_selected
        if not ctrl and key == Qt.Key.Key_Delete:
            return self.remove_selected
        return None

    # -- table
    def reload(self) -> None:
        selected = self.selected_name()
        nodes = self.registry.list()
        self.table.setRowCount(len(nodes))
        for row, node in enumerate(nodes):
            values = (
                node.name,
                node.ae_title,
                node.address,
                node.retrieve_method,
                node.notes.replace("\n", " "),
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, node.name)
                self.table.setItem(row, column, item)
        self.select(selected)
        self._update_buttons()

    def select(self, name: str | None) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if name is not None and item is not None and item.text() == name:
                self.table.selectRow(row)
                return

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item else None

    def selected_node(self) -> Node | None:
        name = self.selected_name()
        return self.registry.get(name) if name else None

    def _update_buttons(self) -> None:
        has = self.selected_name() is not None
        running = self.verify_task is not None and not self.verify_task.done()
        for button in (self.edit_button, self.duplicate_button, self.remove_button):
            button.setEnabled(has)
        self.verify_button.setEnabled(has and not running)
        self.export_button.setEnabled(len(self.registry) > 0)

    # -- actions
    def add_node(self) -> None:
        dialog = self.dialog_factory(None, {n.name for n in self.registry.list()})
        if dialog.exec() == QDialog.DialogCode.Accepted:
            node = self.registry.add(dialog.node())
            self.select(node.name)

    def edit_selected(self) -> None:
        node = self.selected_node()
        if node is None:
            return
        others = {n.name for n in self.registry.list()} - {node.name}
        dialog = self.dialog_factory(node, others)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            updated = self.registry.update(node.name, dialog.node())
            self.select(updated.name)

    def duplicate_selected(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.select(self.registry.duplicate(name).name)

    def remove_selected(self) -> None:
        name = self.selected_name()
        if name is not None and self.confirm(f"Remove the node {name!r}? Stored images are not affected."):
            self.registry.remove(name)

    def import_nodes(self) -> None:
        path = self.choose_open_path()
        if path is None:
            return
        result = self.registry.import_json(path)
        lines = [*result.invalid, *(f"{old} imported as {new}" for old, new in result.renamed)]
        self.show_result(f"Import from {path.name}: {result.summary()}.", lines)

    def export_nodes(self) -> None:
        path = self.choose_save_path()
        if path is None:
            return
        try:
            self.registry.export_json(path)
        except OSError as exc:
            self.show_result(f"Could not export nodes to {path}: {exc.strerror or exc}", [])
            return
        self.show_result(f"Exported {len(self.registry)} nodes to {path}.", [])

    def verify_selected(self) -> asyncio.Task[None] | None:
        node = self.selected_node()
        if node is None or (self.verify_task is not None and not self.verify_task.done()):
            return None
        self.show_result(f"Verifying {node.name} ({node.ae_title} at {node.address})…", [])
        self.verify_task = asyncio.ensure_future(self._verify(node))
        self._update_buttons()
        return self.verify_task

    async def _verify(self, node: Node) -> None:
        try:
            result = await self.verifier(node, self.settings)
        except Exception as exc:
            self.show_result(f"Verify of {node.name} failed: {exc}", [type(exc).__name__], ok=False)
        else:
            self.show_result(result.summary, list(result.details), ok=result.ok)
        finally:
            self.verify_task = None
            self._update_buttons()

    def show_result(self, summary: str, details: list[str], ok: bool | None = None) -> None:
        colour = {True: "#1b7f3b", False: "#b00020", None: ""}[ok]
        mark = {True: "✔ ", False: "✖ ", None: ""}[ok]
        self.result_title.setStyleSheet(f"color: {colour}; font-weight: 600;" if colour else "")
        self.result_title.setText(mark + summary)
        self.result_details.setPlainText("\n".join(details))

    # -- default dialogs
    def _confirm_with_box(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Remove node", question)
        return answer == QMessageBox.StandardButton.Yes

    def _open_path(self) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self, "Import nodes", "", "Node lists (*.json)")
        return Path(name) if name else None

    def _save_path(self) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self, "Export nodes", "nodes.json", "Node lists (*.json)")
        return Path(name) if name else None
