"""The query results as a Qt model: studies as rows, their series as children loaded on demand."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

COLUMNS: tuple[str, ...] = (
    "Patient / series",
    "Patient ID",
    "Birth date",
    "Study date",
    "Modality",
    "Description",
    "Accession",
    "Images",
    "Referring physician",
)
UID_ROLE = Qt.ItemDataRole.UserRole + 1  # the study or series instance UID, on column 0
KIND_ROLE = Qt.ItemDataRole.UserRole + 2  # "study", "series" or "placeholder"
SORT_ROLE = Qt.ItemDataRole.UserRole + 3  # numbers sort as numbers
PLACEHOLDER = "Expand to load the series…"


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None or value == "":
        return ""
    if keyword.endswith("Date") and len(str(value)) == 8:
        text = str(value)
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if isinstance(value, MultiValue):
        return ", ".join(str(v) for v in value)
    return str(value).replace("^", " ").strip() if keyword.endswith("Name") else str(value)


def _item(text: str, sort: object | None = None) -> QStandardItem:
    item = QStandardItem(text)
    item.setEditable(False)
    item.setData(sort if sort is not None else text.casefold(), SORT_ROLE)
    return item


def _count(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class StudyResultsModel(QStandardItemModel):
    """C-FIND matches; ``add_study`` as pending responses arrive, ``set_series`` when a study expands."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self._studies: dict[str, QStandardItem] = {}

    def clear_results(self) -> None:
        self.removeRows(0, self.rowCount())
        self._studies.clear()

    def study_count(self) -> int:
        return self.rowCount()

    def add_study(self, ds: Dataset) -> None:
        uid = str(ds.get("StudyInstanceUID", ""))
        if not uid or uid in self._studies:
            return  # a PACS that sends a study twice must not make it appear twice
        instances = _count(ds, "NumberOfStudyRelatedInstances")
        series = _count(ds, "NumberOfStudyRelatedSeries")
        images = f"{instances}" if instances is not None else ""
        if series is not None:
            images = f"{series} series, {images} images" if images else f"{series} series"
        row = [
            _item(_text(ds, "PatientName")),
            _item(_text(ds, "PatientID")),
            _item(_text(ds, "PatientBirthDate")),
            _item(_text(ds, "StudyDate") + (" " + _text(ds, "StudyTime")[:4] if ds.get("StudyTime") else "")),
            _item(_text(ds, "ModalitiesInStudy")),
            _item(_text(ds, "StudyDescription")),
            _item(_text(ds, "AccessionNumber")),
            _item(images, instances if instances is not None else -1),
            _item(_text(ds, "ReferringPhysicianName")),
        ]
        row[0].setData(uid, UID_ROLE)
        row[0].setData("study", KIND_ROLE)
        placeholder = _item(PLACEHOLDER)
        placeholder.setData("placeholder", KIND_ROLE)
        row[0].appendRow([placeholder, *[_item("") for _ in COLUMNS[1:]]])
        self.appendRow(row)
        self._studies[uid] = row[0]

    def study_item(self, uid: str) -> QStandardItem | None:
        return self._studies.get(uid)

    def series_loaded(self, uid: str) -> bool:
        item = self._studies.get(uid)
        return item is not None and not (
            item.rowCount() == 1 and item.child(0).data(KIND_ROLE) == "placeholder"
        )

    def set_series_message(self, uid: str, message: str) -> None:
        item = self._studies.get(uid)
        if item is not None and item.rowCount():
            item.child(0).setText(message)

    def set_series(self, uid: str, series: list[Dataset]) -> None:
        item = self._studies.get(uid)
        if item is None:
            return
        item.removeRows(0, item.rowCount())
        for ds in sorted(series, key=lambda s: _count(s, "SeriesNumber") or 0):
            number = _count(ds, "SeriesNumber")
            label = f"Series {number}" if number is not None else "Series"
            if ds.get("SeriesDescription"):
                label += f": {ds.SeriesDescription}"
            instances = _count(ds, "NumberOfSeriesRelatedInstances")
            count = _item(str(instances) if instances is not None else "", instances or -1)
            row = [_item(label, number if number is not None else 0), _item(""), _item(""),
                   _item(_text(ds, "SeriesDate")), _item(_text(ds, "Modality")), _item(""), _item(""),
                   count, _item("")]  # fmt: skip
            row[0].setData(str(ds.get("SeriesInstanceUID", "")), UID_ROLE)
            row[0].setData("series", KIND_ROLE)
            item.appendRow(row)
        if not series:
            empty = _item("(no series)")
            empty.setData("empty", KIND_ROLE)
            item.appendRow([empty, *[_item("") for _ in COLUMNS[1:]]])


class ResultsFilter(QSortFilterProxyModel):
    """Sorts by the sort role and keeps the rows (and the parents of rows) containing the filter text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setRecursiveFilteringEnabled(True)
