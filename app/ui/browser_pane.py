"""Local Images: the archive's studies (search, live updates), thumbnails per series, the viewer, the
tag viewer, import by drop, delete, export and "Send to…".

Wire with ``BrowserPane(archive, send_callback)``: ``send_callback(node_name, paths)`` queues files
for a node (the send queue); ``node_names`` lists the nodes to offer.  Everything that touches the
disk (SQLite, files, decoding) runs in worker threads; archive notifications arrive from any thread
and are marshalled to the GUI thread by a Qt signal.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path

import shiboken6
from PySide6.QtCore import QMimeData, QSize, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.archive import Archive, ArchiveChange, ImportProgress, SeriesSummary, StudySummary
from app.imaging import ImageUnavailable, thumbnail
from app.ui.tag_view import TagView
from app.ui.viewer import Viewer, to_qimage

STUDY_COLUMNS = ("Patient", "Patient ID", "Study date", "Modalities", "Description", "Series", "Images")
THUMB = 128
SendCallback = Callable[[str, list[Path]], object]


PATHS_ROLE = Qt.ItemDataRole.UserRole + 1  # the series' instance files, for drag and drop


class SeriesList(QListWidget):
    """Series thumbnails; dragging them out carries their files (drop on the Send Queue or a node)."""

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData:  # noqa: N802 - Qt override
        mime = QMimeData()
        paths = [path for item in items for path in (item.data(PATHS_ROLE) or [])]
        mime.setUrls([QUrl.fromLocalFile(path) for path in paths])
        return mime


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 else text


class BrowserPane(QWidget):
    def __init__(  # noqa: PLR0915 - one flat widget layout reads best top to bottom
        self,
        archive: Archive,
        send_callback: SendCallback | None = None,
        node_names: Callable[[], list[str]] = list,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.archive = archive
        self.send_callback = send_callback
        self.node_names = node_names
        self.setAcceptDrops(True)
        self.studies: list[StudySummary] = []
        self.series: list[SeriesSummary] = []
        self.tasks: set[asyncio.Future[object]] = set()
        self.windows: list[QWidget] = []  # open viewers and tag views
        self.import_cancel: threading.Event | None = None
        self.thumbnails_done = asyncio.Event()
        self._generation = 0
        self._reload_pending: asyncio.Future[object] | None = None
        self._reload_again = False
        self._counts = ""
        self._message = ""

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, patient ID, accession, description…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self.reload())
        self.table = QTableWidget(0, len(STUDY_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(STUDY_COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self.study_selected)
        self.thumbs = SeriesList()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setDragEnabled(True)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setIconSize(QSize(THUMB, THUMB))
        self.thumbs.setGridSize(QSize(THUMB + 40, THUMB + 48))
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setWordWrap(True)
        self.thumbs.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.thumbs.itemDoubleClicked.connect(lambda item: self.open_viewer(self.thumbs.row(item)))
        self.status = QLabel("")
        self.status.setObjectName("browserStatus")
        buttons = QHBoxLayout()
        actions = (
            ("Import…", self.choose_import),
            ("View", self.view_selected),
            ("Tags", self.tags_selected),
            ("Send to…", self.send_selected),
            ("Export…", self.export_selected),
            ("Delete", self.delete_selected),
        )
        for text, slot in actions:  # fmt: skip
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, run=slot: run())  # not clicked(bool) into slot
            buttons.addWidget(button)
            setattr(self, f"{text.rstrip('.…').lower().replace(' ', '_')}_button", button)
        buttons.addStretch(1)
        self.send_to_button.setVisible(send_callback is not None)  # type: ignore[attr-defined]
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.thumbs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        # Archive notifications come from whichever thread made the change; the loop (the GUI thread
        # under qasync) takes them over.  (A Qt signal emitted from a worker thread would do too, but
        # PySide6 6.x mis-counts references on that path and crashes at exit.)
        self._loop = asyncio.get_event_loop()
        self._unsubscribe = archive.subscribe(self._archive_changed)
        self.reload()

    # -- background work ------------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[object, object, object]) -> asyncio.Future[object]:
        task: asyncio.Future[object] = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def shutdown(self) -> None:
        """Stop listening to the archive and let work in flight finish (its worker threads use the
        archive, which must not be closed under them)."""
        self._unsubscribe()
        if self.import_cancel is not None:
            self.import_cancel.set()
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def say(self, message: str) -> None:
        """The outcome of the last action, shown after the archive's counts (a reload keeps it)."""
        self._message = message
        self._show_status()

    def _show_status(self) -> None:
        self.status.setText(f"{self._message} — {self._counts}" if self._message else self._counts)

    def _archive_changed(self, _change: ArchiveChange) -> None:
        """Any thread: hand the news to the loop."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_archive_changed)

    def _on_archive_changed(self) -> None:
        if not shiboken6.isValid(self):  # the pane is gone: stop listening
            self._unsubscribe()
            return
        self.reload()

    # -- studies ------------------------------------------------------------------------------------------

    def reload(self) -> asyncio.Future[object]:
        """Re-read the studies; a burst of changes (a study arriving) becomes one reload."""
        if self._reload_pending is not None and not self._reload_pending.done():
            self._reload_again = True
            return self._reload_pending
        self._reload_pending = self._spawn(self._reload_until_settled())
        return self._reload_pending

    async def _reload_until_settled(self) -> None:
        self._reload_again = True
        while self._reload_again:
            self._reload_again = False
            await self._reload()

    async def _reload(self) -> None:
        selected = self.selected_study()
        studies = await asyncio.to_thread(self.archive.studies, self.search.text().strip())
        self.studies = studies
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(studies))
        for row, study in enumerate(studies):
            cells = (study.patient_name.replace("^", " "), study.patient_id, _date(study.study_date),
                     ", ".join(study.modalities), study.study_description, str(study.number_of_series),
                     str(study.number_of_instances))  # fmt: skip
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, study.study_instance_uid)
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        total = sum(s.number_of_instances for s in studies)
        self._counts = f"{len(studies)} studies, {total} images"
        self._show_status()
        if selected is not None:
            for row in range(self.table.rowCount()):
                cell = self.table.item(row, 0)
                if cell is not None and cell.data(Qt.ItemDataRole.UserRole) == selected.study_instance_uid:
                    self.table.selectRow(row)
                    # The same study stays selected (no selection signal) but may have new series or
                    # images: show them.
                    self.study_selected()
                    break
        elif studies and not self.table.selectionModel().selectedRows():
            self.table.selectRow(0)

    def selected_study(self) -> StudySummary | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        cell = self.table.item(rows[0].row(), 0)
        uid = cell.data(Qt.ItemDataRole.UserRole) if cell is not None else None
        return next((s for s in self.studies if s.study_instance_uid == uid), None)

    def study_selected(self) -> None:
        study = self.selected_study()
        if study is not None:
            self._spawn(self._show_series(study.study_instance_uid))

    # -- series and thumbnails ---------------------------------------------------------------------------

    async def _show_series(self, study_uid: str) -> None:
        # Selections can follow each other faster than the disk answers: only the latest one draws.
        self._generation += 1
        generation = self._generation
        self.thumbnails_done.clear()
        series = await asyncio.to_thread(self.archive.series_of, study_uid)
        if generation != self._generation:
            return
        self.series = series
        self.thumbs.clear()
        placeholder = QPixmap(THUMB, THUMB)
        placeholder.fill(Qt.GlobalColor.black)
        for summary in series:
            number = summary.series_number if summary.series_number is not None else ""
            count = f"{summary.number_of_instances} images"
            label = f"{summary.modality} {number}\n{summary.series_description}\n{count}"
            item = QListWidgetItem(QIcon(placeholder), label)
            item.setData(Qt.ItemDataRole.UserRole, summary.series_instance_uid)
            self.thumbs.addItem(item)
        await asyncio.gather(*(self._thumbnail(row, s) for row, s in enumerate(series)))
        if generation == self._generation:
            self.thumbnails_done.set()

    async def _thumbnail(self, row: int, summary: SeriesSummary) -> None:
        instances = await asyncio.to_thread(self.archive.instances_of, summary.series_instance_uid)
        if not instances:
            return
        ordered = sorted(instances, key=lambda i: i.instance_number or 0)
        middle = ordered[len(ordered) // 2]
        item = self._thumb_item(row, summary)
        if item is not None:
            item.setData(PATHS_ROLE, [str(i.path) for i in ordered])
        try:
            frame = await asyncio.to_thread(thumbnail, middle.path, THUMB)
        except ImageUnavailable as exc:
            item = self._thumb_item(row, summary)
            if item is not None:
                item.setToolTip(str(exc))
                item.setText(item.text() + "\n(no preview)")
            return
        item = self._thumb_item(row, summary)
        if item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(to_qimage(frame))))

    def _thumb_item(self, row: int, summary: SeriesSummary) -> QListWidgetItem | None:
        """The list item of ``summary``, fetched anew after every wait: a later selection clears the
        list, and touching an item it deleted would raise."""
        item = self.thumbs.item(row)
        if item is None or item.data(Qt.ItemDataRole.UserRole) != summary.series_instance_uid:
            return None
        return item

    def selected_series(self) -> list[SeriesSummary]:
        rows = sorted({self.thumbs.row(item) for item in self.thumbs.selectedItems()})
        return [self.series[r] for r in rows if r < len(self.series)]

    async def _paths(self, series: list[SeriesSummary]) -> list[Path]:
        def collect() -> list[Path]:
            return [i.path for s in series for i in sorted(self.archive.instances_of(s.series_instance_uid),
                                                          key=lambda i: i.instance_number or 0)]  # fmt: skip

        return await asyncio.to_thread(collect)

    def _targets(self) -> list[SeriesSummary]:
        """The selected series, or every series of the selected study."""
        return self.selected_series() or list(self.series)

    # -- viewer and tags ----------------------------------------------------------------------------------

    def open_viewer(self, row: int) -> asyncio.Future[object] | None:
        if not 0 <= row < len(self.series):
            return None
        viewer = Viewer()
        summary = self.series[row]
        viewer.setWindowTitle(f"{summary.modality} {summary.series_description}".strip())
        viewer.resize(700, 700)
        self.windows.append(viewer)
        viewer.show()

        async def load() -> None:
            await viewer.open(await self._paths([summary]))

        return self._spawn(load())

    def view_selected(self) -> None:
        rows = [self.thumbs.row(i) for i in self.thumbs.selectedItems()] or [0]
        self.open_viewer(rows[0])

    def tags_selected(self) -> asyncio.Future[object] | None:
        targets = self._targets()
        if not targets:
            return None

        async def show() -> None:
            from pydicom import dcmread  # noqa: PLC0415 - only when asked

            paths = await self._paths(targets[:1])
            if not paths:
                return
            ds = await asyncio.to_thread(dcmread, paths[0])
            view = TagView(ds, f"Tags of {paths[0].name}")
            self.windows.append(view)
            view.show()

        return self._spawn(show())

    # -- import, export, delete, send -----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)

    def choose_import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder (DICOM files and DICOMDIRs)")
        if folder:
            self.import_paths([Path(folder)])

    def import_paths(self, paths: list[Path]) -> asyncio.Future[object]:
        cancel = threading.Event()
        self.import_cancel = cancel
        loop = asyncio.get_event_loop()  # the qasync loop, also when called from a Qt event handler

        def progress(p: ImportProgress) -> None:  # worker thread: hop to the loop to touch widgets
            loop.call_soon_threadsafe(self.say, f"Importing {p.done} of {p.total}…")

        async def run() -> None:
            report = await asyncio.to_thread(
                self.archive.import_paths, paths, progress=progress, cancel=cancel
            )
            words = f"Imported {report.imported}"
            if report.duplicates:
                words += f", {report.duplicates} already here"
            if report.skipped_non_dicom:
                words += f", {report.skipped_non_dicom} non-DICOM files skipped"
            if report.failed:
                words += f", {len(report.failed)} broken files refused"
            await self._reload()
            self.say(words + (" (cancelled)" if report.cancelled else ""))

        return self._spawn(run())

    def export_selected(self, folder: Path | None = None) -> asyncio.Future[object] | None:
        targets = self._targets()
        if not targets:
            return None
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, "Export to folder")
            if not chosen:
                return None
            folder = Path(chosen)
        uids = [s.series_instance_uid for s in targets]

        async def run() -> None:
            report = await asyncio.to_thread(lambda: self.archive.export(folder, series=uids))
            self.say(f"Exported {len(report.exported)} files to {folder}"
                                + (f"; {len(report.failed)} failed" if report.failed else ""))  # fmt: skip

        return self._spawn(run())

    def delete_selected(self, confirm: bool = True) -> asyncio.Future[object] | None:
        study = self.selected_study()
        targets = self.selected_series()
        if study is None:
            return None
        what = f"{len(targets)} series" if targets else f"the study of {study.patient_name.replace('^', ' ')}"
        if confirm and QMessageBox.question(self, "Delete", f"Delete {what} from this workstation?") != (
            QMessageBox.StandardButton.Yes
        ):
            return None

        async def run() -> None:
            if targets:
                count = await asyncio.to_thread(
                    lambda: self.archive.delete(series=[s.series_instance_uid for s in targets])
                )
            else:
                count = await asyncio.to_thread(
                    lambda: self.archive.delete(studies=[study.study_instance_uid])
                )
            await self._reload()
            self.say(f"Deleted {count} instances")

        return self._spawn(run())

    def send_selected(self, node_name: str | None = None) -> asyncio.Future[object] | None:
        if self.send_callback is None:
            return None
        names = self.node_names()
        if node_name is None:
            if not names:
                self.say("Add a node first (Nodes pane) to send images to it.")
                return None
            node_name, ok = QInputDialog.getItem(self, "Send to", "Node", names, 0, False)
            if not ok:
                return None
        targets = self._targets()
        callback = self.send_callback

        async def run() -> None:
            paths = await self._paths(targets)
            callback(node_name, paths)
            self.say(f"{len(paths)} images queued for {node_name} (Send Queue)")

        return self._spawn(run())
