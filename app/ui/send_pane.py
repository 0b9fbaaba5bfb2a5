"""The Send Queue pane: drop files or folders to send them to a node; watch, pause, resume, cancel.

Wire with ``SendPane(queue, registry)``.  ``drop_on_node(queue, node_name, paths)`` is the same action
for drops on a node in the Nodes pane and for "Send to…" in the browser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.nodes import NodeRegistry
from app.send_queue import ACTIVE, JobState, JobView, SendQueue

COLUMNS = ("Job", "Node", "Instances", "Size", "Progress", "Rate", "State", "Details")


def megabytes(size: float) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def drop_on_node(queue: SendQueue, node_name: str, paths: Iterable[Path | str]) -> asyncio.Task[int]:
    """Queue ``paths`` for ``node_name`` (files are read in a worker); returns the task giving the job id."""
    return asyncio.ensure_future(queue.add_paths(node_name, list(paths)))


class SendPane(QWidget):
    def __init__(self, queue: SendQueue, registry: NodeRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.registry = registry
        self.setAcceptDrops(True)
        self.node_choice = QComboBox()
        self.node_choice.setMinimumWidth(200)
        self.add_button = QPushButton("Add files…")
        self.add_button.clicked.connect(lambda _checked=False: self.choose_files())
        self.hint = QLabel("Drop files or folders here to send them to the chosen node.")
        self.hint.setObjectName("dropHint")
        top = QHBoxLayout()
        top.addWidget(QLabel("Send to"))
        top.addWidget(self.node_choice)
        top.addWidget(self.add_button)
        top.addWidget(self.hint, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        buttons = self._build_buttons()
        lower = self._build_failures()
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(self.table)
        upper_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.status = QLabel("")
        self.status.setObjectName("sendStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self._tasks: set[asyncio.Future[object]] = set()
        registry.subscribe(self.reload_nodes)
        queue.on_change(self.refresh)
        self.reload_nodes()
        self.refresh()

    def _build_buttons(self) -> QHBoxLayout:
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.retry_button = QPushButton("Retry")
        self.clear_button = QPushButton("Remove finished")
        for button, slot, key in (
            (self.pause_button, self.pause, "Ctrl+P"),
            (self.resume_button, self.resume, "Ctrl+Shift+P"),
            (self.cancel_button, self.cancel, "Del"),
            (self.retry_button, self.retry, "Ctrl+Shift+R"),
            (self.clear_button, self.queue.remove_finished, None),
        ):
            button.clicked.connect(lambda _checked=False, run=slot: run())  # not clicked(bool) into slot
            if key:
                button.setToolTip(f"{button.text()} ({key})")
                QShortcut(QKeySequence(key), self).activated.connect(slot)
        buttons = QHBoxLayout()
        for button in (self.pause_button, self.resume_button, self.cancel_button, self.retry_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)

        return buttons

    def _build_failures(self) -> QWidget:
        self.failures = QListWidget()
        self.failures.setObjectName("failedInstances")
        self.failures_label = QLabel("Instances that could not be sent")
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.failures_label)
        lower_layout.addWidget(self.failures)
        return lower

    # -- nodes and drops ----------------------------------------------------------------------------

    def reload_nodes(self) -> None:
        current = self.node_choice.currentText()
        self.node_choice.clear()
        self.node_choice.addItems([n.name for n in self.registry.list()])
        if current:
            self.node_choice.setCurrentText(current)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.send_paths(paths)

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Files to send")
        if files:
            self.send_paths([Path(f) for f in files])

    def send_paths(self, paths: list[Path]) -> asyncio.Future[object] | None:
        node = self.node_choice.currentText()
        if not node:
            self.status.setText("Add a node first (Nodes pane), then drop the files again.")
            return None
        self.status.setText(f"Reading {len(paths)} dropped item{'s' if len(paths) != 1 else ''}…")
        task: asyncio.Future[object] = asyncio.ensure_future(self._add(node, paths))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _add(self, node: str, paths: list[Path]) -> None:
        try:
            job = await self.queue.add_paths(node, paths)
        except (KeyError, ValueError) as exc:
            self.status.setText(str(exc))
            return
        view = self.queue.job(job)
        self.status.setText(f"Job {job}: {view.total if view else '?'} instances queued for {node}.")

    # -- the table ------------------------------------------------------------------------------------

    def selected_job(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def refresh(self) -> None:
        selected = self.selected_job()
        jobs = self.queue.jobs()
        self.table.setRowCount(len(jobs))
        for row, job in enumerate(jobs):
            self._show(row, job)
            if job.id == selected:
                self.table.selectRow(row)
        self._selection_changed()

    def _show(self, row: int, job: JobView) -> None:
        rate = (
            f"{megabytes(job.rate_bytes_per_s)}/s"
            if job.state is JobState.SENDING and job.rate_bytes_per_s
            else ""
        )
        cells = (str(job.id), job.node, f"{job.sent + job.failed} / {job.total}",
                 megabytes(job.total_bytes), None, rate, job.state.value, job.message)  # fmt: skip
        for column, text in enumerate(cells):
            if text is None:
                continue
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            item.setToolTip(job.message)
            self.table.setItem(row, column, item)
        bar = self.table.cellWidget(row, 4)
        if not isinstance(bar, QProgressBar):
            bar = QProgressBar()
            self.table.setCellWidget(row, 4, bar)
        bar.setRange(0, max(job.total, 1))
        bar.setValue(job.sent + job.failed)
        committed = f", {job.committed} committed" if job.commitment else ""
        bar.setFormat(f"{job.sent} sent{f', {job.failed} failed' if job.failed else ''}{committed}")

    def _selection_changed(self) -> None:
        job_id = self.selected_job()
        job = self.queue.job(job_id) if job_id is not None else None
        state = job.state if job else None
        self.pause_button.setEnabled(state in ACTIVE)
        self.resume_button.setEnabled(state is JobState.PAUSED)
        self.cancel_button.setEnabled(state in (*ACTIVE, JobState.PAUSED))
        self.retry_button.setEnabled(state in (JobState.FAILED, JobState.CANCELLED))
        self.failures.clear()
        if job_id is not None:
            for item in self.queue.failed_items(job_id):
                self.failures.addItem(f"{Path(item.path).name}  {item.sop_instance_uid}: {item.reason}")
        self.failures_label.setText(
            f"Instances that could not be sent ({self.failures.count()})" if self.failures.count()
            else "Instances that could not be sent"
        )  # fmt: skip

    def pause(self) -> None:
        if (job := self.selected_job()) is not None:
            self.queue.pause(job)

    def resume(self) -> None:
        if (job := self.selected_job()) is not None:
            self.queue.resume(job)

    def cancel(self) -> None:
        if (job := self.selected_job()) is not None:
            self.queue.cancel(job)

    def retry(self) -> None:
        if (job := self.selected_job()) is not None:
            self.queue.retry(job)
