"""The Query/Retrieve pane: find studies on a PACS by point-and-click and bring them to the workstation.

The form becomes a Study Root C-FIND (``app.query``); matches stream into the table as the PACS sends
them; Cancel sends C-CANCEL.  Expanding a study asks for its series.  Retrieve queues the selected
studies or series (``app.retrieve_jobs``); the job list shows their progress.  All network work runs
as asyncio tasks on the GUI's qasync loop: the window never waits for the PACS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import date

from PySide6.QtCore import QDate, QModelIndex, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.net.dimse.status import describe_status
from app.net.errors import DicomNetworkError
from app.net.events import EventBus
from app.net.scu import Operation
from app.net.sop import query_sop_class
from app.net.tls import TlsConfigurationError
from app.nodes import Node, NodeRegistry
from app.query import DATE_PRESETS, StudyQuery, series_identifier, study_identifier
from app.retrieve_jobs import JobState, RetrieveJob, RetrieveQueue
from app.settings import Settings
from app.ui.query_model import KIND_ROLE, UID_ROLE, ResultsFilter, StudyResultsModel
from app.verify import node_ae

JOB_COLUMNS = ("What", "From", "State", "Progress", "Details")


class QueryPane(QWidget):
    """Wire with ``QueryPane(registry, settings, retrieve_queue)``; the queue brings what is retrieved
    into the archive (C-GET) or our listener receives it (C-MOVE)."""

    def __init__(
        self,
        registry: NodeRegistry,
        settings: Settings,
        queue: RetrieveQueue,
        parent: QWidget | None = None,
        *,
        events: EventBus | None = None,
    ):
        super().__init__(parent)
        self.events = events  # where our associations report (the troubleshooting log)
        self.registry = registry
        self.settings = settings
        self.queue = queue
        self.query_task: asyncio.Task[None] | None = None
        self.operation: Operation | None = None
        self.series_tasks: dict[str, asyncio.Task[None]] = {}
        self._job_rows: dict[int, int] = {}
        self._background: set[asyncio.Future[None]] = set()
        self._build_form()
        self._build_results()
        self._build_jobs()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.results_box)
        splitter.addWidget(self.jobs_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form_box)
        layout.addWidget(splitter, 1)
        registry.subscribe(self.reload_nodes)
        queue.on_change(self.show_job)
        self.reload_nodes()
        self._update_buttons()
        self.shortcuts = [
            QShortcut(QKeySequence("Ctrl+R"), self),
            QShortcut(QKeySequence(Qt.Key.Key_Escape), self),
        ]
        self.shortcuts[0].activated.connect(self.retrieve_selected)
        self.shortcuts[1].activated.connect(self.cancel_query)

    # -- form --------------------------------------------------------------------------------------

    def _build_form(self) -> None:  # noqa: PLR0915 - one flat form reads best top to bottom
        self.form_box = QGroupBox("Find studies")
        self.node_choice = QComboBox()
        self.node_choice.setMinimumWidth(180)
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("e.g. smith or SMITH^J*")
        self.patient_id = QLineEdit()
        self.birth_date = QLineEdit()
        self.birth_date.setPlaceholderText("YYYY-MM-DD")
        self.accession = QLineEdit()
        self.date_preset = QComboBox()
        self.date_preset.addItems(list(DATE_PRESETS))
        self.date_from = QDateEdit(QDate.currentDate().addDays(-7))
        self.date_to = QDateEdit(QDate.currentDate())
        for date_edit in (self.date_from, self.date_to):
            date_edit.setCalendarPopup(True)
            date_edit.setDisplayFormat("yyyy-MM-dd")
        self.modalities = QLineEdit()
        self.modalities.setPlaceholderText("e.g. CT MR")
        self.description = QLineEdit()
        self.referring = QLineEdit()
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.setToolTip("Run the query (Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running query with C-CANCEL (Esc)")
        self.search_button.clicked.connect(lambda _checked=False: self.search())
        self.cancel_button.clicked.connect(lambda _checked=False: self.cancel_query())
        self.date_preset.currentTextChanged.connect(self._update_buttons)
        for edit in (self.patient_name, self.patient_id, self.birth_date, self.accession, self.modalities,
                     self.description, self.referring):  # fmt: skip
            edit.returnPressed.connect(self.search)
        dates = QHBoxLayout()
        dates.addWidget(self.date_preset)
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        left, right = QFormLayout(), QFormLayout()
        left.addRow("Node", self.node_choice)
        left.addRow("Patient name", self.patient_name)
        left.addRow("Patient ID", self.patient_id)
        left.addRow("Birth date", self.birth_date)
        left.addRow("Accession number", self.accession)
        right.addRow("Study date", dates)
        right.addRow("Modalities", self.modalities)
        right.addRow("Study description", self.description)
        right.addRow("Referring physician", self.referring)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.search_button)
        right.addRow(buttons)
        grid = QGridLayout(self.form_box)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)

    def reload_nodes(self) -> None:
        current = self.node_choice.currentText()
        self.node_choice.clear()
        for node in self.registry.list():
            self.node_choice.addItem(node.name)
        if current:
            self.node_choice.setCurrentText(current)
        self._update_buttons()

    def selected_node(self) -> Node | None:
        return self.registry.get(self.node_choice.currentText())

    def study_query(self) -> StudyQuery:
        """What the form asks; ``ValueError`` in words for a date that is not one."""
        birth = self.birth_date.text().strip()
        birth_date = None
        if birth:
            try:
                birth_date = date.fromisoformat(
                    birth if "-" in birth else f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"
                )
            except ValueError:
                raise ValueError(f"Birth date {birth!r} is not a date: write it as YYYY-MM-DD") from None
        modalities = tuple(m.upper() for m in self.modalities.text().replace(",", " ").split())
        return StudyQuery(
            patient_name=self.patient_name.text(),
            patient_id=self.patient_id.text(),
            birth_date=birth_date,
            accession_number=self.accession.text(),
            date_preset=self.date_preset.currentText(),
            date_from=self.date_from.date().toPython(),  # type: ignore[arg-type]
            date_to=self.date_to.date().toPython(),  # type: ignore[arg-type]
            modalities=modalities,
            study_description=self.description.text(),
            referring_physician=self.referring.text(),
        )

    # -- results -----------------------------------------------------------------------------------

    def _build_results(self) -> None:
        self.results_box = QGroupBox("Studies")
        # Parented to the pane: Qt, not Python's garbage collector, decides when the view's models go.
        self.model = StudyResultsModel(self)
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.tree.header().setStretchLastSection(True)
        self.tree.expanded.connect(self._expanded)
        self.tree.doubleClicked.connect(lambda _index: self.retrieve_selected())
        self.tree.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter the results…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.status = QLabel("Choose a node and press Search.")
        self.status.setObjectName("queryStatus")
        self.status.setWordWrap(True)
        self.retrieve_button = QPushButton("Retrieve selected")
        self.retrieve_button.setToolTip("Bring the selected studies or series into Local images (Ctrl+R)")
        self.retrieve_button.clicked.connect(lambda _checked=False: self.retrieve_selected())
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.retrieve_button)
        layout = QVBoxLayout(self.results_box)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.status)

    def _update_buttons(self, *_: object) -> None:
        running = self.query_task is not None and not self.query_task.done()
        custom = self.date_preset.currentText() == "Custom range"
        self.date_from.setEnabled(custom)
        self.date_to.setEnabled(custom)
        self.search_button.setEnabled(not running and self.selected_node() is not None)
        self.cancel_button.setEnabled(running)
        self.retrieve_button.setEnabled(bool(self.selected_targets()))

    def search(self) -> asyncio.Task[None] | None:
        """Run the query on the chosen node (Enter); results stream in as they arrive."""
        node = self.selected_node()
        if node is None or (self.query_task is not None and not self.query_task.done()):
            return None
        try:
            query = self.study_query()
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        self.model.clear_results()
        self.status.setText(f"Searching {node.name}…")
        self.query_task = asyncio.ensure_future(self._search(node, query))
        self._update_buttons()
        return self.query_task

    async def _search(self, node: Node, query: StudyQuery) -> None:
        started = time.perf_counter()
        ended = "done"
        try:
            async with node_ae(node, self.settings, self.events).associate(
                node.host, node.port, called_ae_title=node.ae_title,
                contexts=[query_sop_class("find", "study")], **node.association_options(),
            ) as client:  # fmt: skip
                self.operation = client.find(study_identifier(query), "study")
                async for status, identifier in self.operation:
                    if identifier is not None:
                        self.model.add_study(identifier)
                        self.status.setText(
                            f"Searching {node.name}… {self.model.study_count()} studies so far"
                        )
                    elif int(status.Status) == 0xFE00:
                        ended = "cancelled"
                    elif int(status.Status) not in (0x0000, 0xFF00, 0xFF01):
                        comment = status.get("ErrorComment")
                        ended = f"failed: {describe_status(int(status.Status), 'C-FIND')}" + (
                            f": {comment}" if comment else ""
                        )
            seconds = time.perf_counter() - started
            count = self.model.study_count()
            words = {"done": "", "cancelled": " (cancelled)"}.get(ended, f" — the query {ended}")
            self.status.setText(
                f"{count} stud{'y' if count == 1 else 'ies'} from {node.name} in {seconds:.1f} s{words}"
            )
        except (DicomNetworkError, TlsConfigurationError) as exc:
            self.status.setText(f"Query of {node.name} failed: {exc}")
        finally:
            self.operation = None
            self.query_task = None  # this task is ending: the form is free again
            self._update_buttons()

    def cancel_query(self) -> None:
        if self.operation is not None:
            self.status.setText("Cancelling…")
            self._keep(asyncio.ensure_future(self._cancel(self.operation)))

    def _keep(self, task: asyncio.Future[None]) -> None:
        """Hold a fire-and-forget task until it ends (the loop keeps only weak references)."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _cancel(operation: Operation) -> None:
        with contextlib.suppress(DicomNetworkError):
            await operation.cancel()

    def _expanded(self, proxy_index: QModelIndex) -> None:
        index = self.proxy.mapToSource(proxy_index)
        item = self.model.itemFromIndex(index.siblingAtColumn(0))
        if item is None or item.data(KIND_ROLE) != "study":
            return
        uid = str(item.data(UID_ROLE))
        node = self.selected_node()
        if node is None or self.model.series_loaded(uid) or uid in self.series_tasks:
            return
        self.model.set_series_message(uid, "Loading the series…")
        self.series_tasks[uid] = asyncio.ensure_future(self._load_series(node, uid))

    async def _load_series(self, node: Node, uid: str) -> None:
        try:
            async with node_ae(node, self.settings, self.events).associate(
                node.host, node.port, called_ae_title=node.ae_title,
                contexts=[query_sop_class("find", "study")], **node.association_options(),
            ) as client:  # fmt: skip
                results = await client.find(series_identifier(uid), "study").collect()
            self.model.set_series(uid, [match for _status, match in results if match is not None])
        except (DicomNetworkError, TlsConfigurationError) as exc:
            self.model.set_series_message(uid, f"Could not load the series: {exc}")
        finally:
            self.series_tasks.pop(uid, None)

    # -- retrieve ------------------------------------------------------------------------------------

    def selected_targets(self) -> list[tuple[str, str | None, str]]:
        """(study UID, series UID or None, description) of each selected study or series row."""
        targets: list[tuple[str, str | None, str]] = []
        for proxy_index in self.tree.selectionModel().selectedRows(0):
            item = self.model.itemFromIndex(self.proxy.mapToSource(proxy_index))
            kind = item.data(KIND_ROLE) if item is not None else None
            if kind == "study":
                targets.append((str(item.data(UID_ROLE)), None, f"{item.text()}: {self._row_text(item, 5)}"))
            elif kind == "series":
                study = item.parent()
                targets.append(
                    (str(study.data(UID_ROLE)), str(item.data(UID_ROLE)), f"{study.text()}: {item.text()}")
                )
        return targets

    def _row_text(self, item: object, column: int) -> str:
        index = self.model.indexFromItem(item).siblingAtColumn(column)  # type: ignore[arg-type]
        return str(self.model.data(index) or "")

    def retrieve_selected(self) -> list[RetrieveJob]:
        node = self.selected_node()
        if node is None:
            return []
        jobs = [
            self.queue.add(RetrieveJob(node, study, series, description))
            for study, series, description in self.selected_targets()
        ]
        return jobs

    def _build_jobs(self) -> None:
        self.jobs_box = QGroupBox("Retrieves")
        self.jobs_table = QTableWidget(0, len(JOB_COLUMNS))
        self.jobs_table.setHorizontalHeaderLabels(list(JOB_COLUMNS))
        self.jobs_table.horizontalHeader().setStretchLastSection(True)
        self.jobs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.jobs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.jobs_table.verticalHeader().setVisible(False)
        for column, width in enumerate((300, 140, 90, 160)):
            self.jobs_table.setColumnWidth(column, width)
        self.cancel_job_button = QPushButton("Cancel retrieve")
        self.cancel_job_button.clicked.connect(lambda _checked=False: self.cancel_selected_job())
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_job_button)
        layout = QVBoxLayout(self.jobs_box)
        layout.addWidget(self.jobs_table)
        layout.addLayout(buttons)

    def show_job(self, job: RetrieveJob) -> None:
        row = self._job_rows.get(job.id)
        if row is None:
            row = self.jobs_table.rowCount()
            self.jobs_table.insertRow(row)
            self._job_rows[job.id] = row
            new_bar = QProgressBar()
            new_bar.setTextVisible(True)
            self.jobs_table.setCellWidget(row, 3, new_bar)
        what = job.description or f"{job.level.title()} {job.series_instance_uid or job.study_instance_uid}"
        for column, text in ((0, what), (1, job.node.name), (2, job.state.value), (4, job.message)):
            cell = QTableWidgetItem(text)
            cell.setData(Qt.ItemDataRole.UserRole, job.id)
            cell.setToolTip(text)
            self.jobs_table.setItem(row, column, cell)
        bar = self.jobs_table.cellWidget(row, 3)
        if isinstance(bar, QProgressBar):
            total = job.total
            bar.setRange(0, total or 0 if job.state is JobState.RUNNING else max(total or 1, 1))
            bar.setValue(job.completed + job.warning + job.failed)
            bar.setFormat(job.progress_text())
            if job.finished and not total:
                bar.setRange(0, 1)
                bar.setValue(1 if job.state is JobState.DONE else 0)

    def job_for_row(self, row: int) -> RetrieveJob | None:
        ids = {row_: job_id for job_id, row_ in self._job_rows.items()}
        return next((job for job in self.queue.jobs if job.id == ids.get(row)), None)

    def cancel_selected_job(self) -> None:
        for index in self.jobs_table.selectionModel().selectedRows():
            job = self.job_for_row(index.row())
            if job is not None and not job.finished:
                self._keep(asyncio.ensure_future(self.queue.cancel(job)))
