"""The Troubleshooting pane: the live association log (inbound and outbound), each association's
details and PDU trace, "Probe node", copy/save for a support ticket, and the event-loop lag.

Wire with ``TroubleshootPane(log, registry, settings, events=bus, lag_meter=meter)``: ``log`` is an
``AssociationLog`` on the bus every association of the workstation reports to.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.assoc_log import AssociationLog, AssociationRecord
from app.net.errors import DicomNetworkError
from app.net.events import EventBus
from app.net.tls import TlsConfigurationError
from app.nodes import NodeRegistry
from app.probe import ProbeRow, probe_node, summary
from app.settings import Settings
from app.ui.loop_lag import LoopLagMeter

LOG_COLUMNS = ("Time", "Direction", "Local AE", "Remote AE", "Peer", "Outcome", "Duration")
FAILED = QBrush(QColor("#b00020"))


class TroubleshootPane(QWidget):
    def __init__(
        self,
        log: AssociationLog,
        registry: NodeRegistry,
        settings: Settings,
        *,
        events: EventBus | None = None,
        lag_meter: LoopLagMeter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.log = log
        self.registry = registry
        self.settings = settings
        self.events = events
        self.lag_meter = lag_meter
        self.probe_task: asyncio.Task[None] | None = None
        self._ids: list[int] = []
        self._dirty = False
        tabs = QTabWidget()
        tabs.addTab(self._build_log(), "Associations")
        tabs.addTab(self._build_probe(), "Probe node")
        self.tabs = tabs
        self.lag_label = QLabel()
        self.lag_label.setObjectName("loopLag")
        layout = QVBoxLayout(self)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.lag_label)
        self._timer = QTimer(self)
        self._timer.setInterval(250)  # coalesce bursts of events (every DIMSE message is one)
        self._timer.timeout.connect(self._flush)
        self._timer.start()
        log.on_change(self._mark_dirty)
        registry.subscribe(self.reload_nodes)
        self.reload_nodes()
        self.refresh()

    # -- the log ------------------------------------------------------------------------------------

    def _build_log(self) -> QWidget:
        self.table = QTableWidget(0, len(LOG_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(LOG_COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self.show_selected)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setObjectName("associationDetails")
        self.trace = QPlainTextEdit()
        self.trace.setReadOnly(True)
        self.trace.setObjectName("pduTrace")
        self.trace.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        for text in (self.details, self.trace):
            text.setStyleSheet("font-family: monospace;")
        detail_tabs = QTabWidget()
        detail_tabs.addTab(self.details, "Details")
        detail_tabs.addTab(self.trace, "PDU trace")
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the selected association for a support ticket (Ctrl+Shift+C)")
        copy.clicked.connect(lambda _checked=False: self.copy_selected())
        QShortcut(QKeySequence("Ctrl+Shift+C"), self).activated.connect(self.copy_selected)
        save = QPushButton("Save log…")
        save.clicked.connect(lambda _checked=False: self.save_log())
        clear = QPushButton("Clear")
        clear.clicked.connect(lambda _checked=False: self.clear())
        buttons = QHBoxLayout()
        buttons.addWidget(copy)
        buttons.addWidget(save)
        buttons.addStretch(1)
        buttons.addWidget(clear)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(detail_tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        return page

    def _mark_dirty(self, _record: AssociationRecord) -> None:
        self._dirty = True

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh()
        if self.lag_meter is not None:
            self.lag_label.setText(self.lag_meter.snapshot().describe())

    def refresh(self) -> None:
        selected = self.selected_record()
        records = self.log.records()
        self._ids = [r.association_id for r in records]
        self.table.setRowCount(len(records))
        for row, record in enumerate(records):
            duration = f"{record.duration_s * 1000:.0f} ms" if record.duration_s is not None else "open"
            outcome = record.outcome + (f": {record.error}" if record.error else "")
            cells = (record.title().split(" ")[0], record.direction, record.local_ae, record.remote_ae,
                     record.peer, outcome, duration)  # fmt: skip
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(record.error or record.title())
                if record.failed:
                    item.setForeground(FAILED)
                self.table.setItem(row, column, item)
        if selected is not None and selected.association_id in self._ids:
            self.table.selectRow(self._ids.index(selected.association_id))
        elif records and self.table.currentRow() < 0:
            self.table.selectRow(0)
        self.show_selected()

    def selected_record(self) -> AssociationRecord | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self._ids):
            return None
        wanted = self._ids[rows[0].row()]
        return next((r for r in self.log.records() if r.association_id == wanted), None)

    def show_selected(self) -> None:
        record = self.selected_record()
        if record is None:
            self.details.setPlainText("Associations made or received by this workstation appear here.")
            self.trace.setPlainText("")
            return
        text = record.to_text()
        self.details.setPlainText(text.split("\n  PDU trace:")[0])
        self.trace.setPlainText("\n".join(record.pdus) or "(no PDUs recorded)")

    def copy_selected(self) -> None:
        record = self.selected_record()
        if record is not None:
            QGuiApplication.clipboard().setText(record.to_text())

    def save_log(self, path: Path | None = None) -> Path | None:
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save the association log", "courier-associations.txt"
            )
            if not chosen:
                return None
            path = Path(chosen)
        path.write_text(self.log.to_text() + "\n", encoding="utf-8")
        return path

    def clear(self) -> None:
        self.log.clear()
        self.refresh()

    # -- probe ------------------------------------------------------------------------------------------

    def _build_probe(self) -> QWidget:
        box = QGroupBox("Which SOP classes and transfer syntaxes does a node accept?")
        self.probe_node_choice = QComboBox()
        self.probe_node_choice.setMinimumWidth(200)
        self.probe_button = QPushButton("Probe node")
        self.probe_button.clicked.connect(lambda _checked=False: self.probe())
        self.probe_status = QLabel("Choose a node and press Probe node.")
        self.probe_status.setObjectName("probeStatus")
        self.probe_status.setWordWrap(True)
        self.probe_table = QTableWidget(0, 3)
        self.probe_table.setHorizontalHeaderLabels(["SOP class", "Transfer syntax", "Result"])
        self.probe_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.probe_table.verticalHeader().setVisible(False)
        self.probe_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.probe_table.horizontalHeader().setStretchLastSection(True)
        self.probe_table.setSortingEnabled(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Node"))
        top.addWidget(self.probe_node_choice)
        top.addWidget(self.probe_button)
        top.addWidget(self.probe_status, 1)
        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.probe_table, 1)
        return box

    def reload_nodes(self) -> None:
        current = self.probe_node_choice.currentText()
        self.probe_node_choice.clear()
        self.probe_node_choice.addItems([n.name for n in self.registry.list()])
        if current:
            self.probe_node_choice.setCurrentText(current)

    def probe(self) -> asyncio.Task[None] | None:
        node = self.registry.get(self.probe_node_choice.currentText())
        if node is None or (self.probe_task is not None and not self.probe_task.done()):
            return None
        self.probe_button.setEnabled(False)
        self.probe_status.setText(f"Probing {node.name}…")
        self.probe_task = asyncio.ensure_future(self._probe(node.name))
        return self.probe_task

    async def _probe(self, name: str) -> None:
        node = self.registry.get(name)
        try:
            assert node is not None
            rows = await probe_node(node, self.settings, events=self.events)
            self.show_probe(rows)
            self.probe_status.setText(f"{node.name}: {summary(rows)}")
        except (DicomNetworkError, TlsConfigurationError) as exc:
            self.probe_status.setText(f"Probe of {name} failed: {exc}")
        finally:
            self.probe_button.setEnabled(True)

    def show_probe(self, rows: list[ProbeRow]) -> None:
        self.probe_table.setSortingEnabled(False)
        self.probe_table.setRowCount(len(rows))
        for row, result in enumerate(rows):
            cells = (result.sop_class_name, result.transfer_syntax_name, result.result)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if not result.accepted:
                    item.setForeground(FAILED)
                self.probe_table.setItem(row, column, item)
        self.probe_table.setSortingEnabled(True)
