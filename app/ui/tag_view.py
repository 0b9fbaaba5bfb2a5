"""The tag viewer: an instance's data set as a searchable tree (sequences nested)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from PySide6.QtWidgets import QHeaderView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


def element_text(element: object) -> str:
    vr = getattr(element, "VR", "")
    value = getattr(element, "value", None)
    if vr in BINARY_VRS:
        return f"<{len(value) if value is not None else 0} bytes>"
    if vr == "SQ":
        return f"{len(value or [])} item(s)"
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


class TagView(QWidget):
    def __init__(self, dataset: Dataset, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title or "Tags")
        self.resize(760, 600)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tags, names and values…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Name", "VR", "Value"])
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        meta = getattr(dataset, "file_meta", None)
        if meta is not None:
            self._add(self.tree.invisibleRootItem(), meta)
        self._add(self.tree.invisibleRootItem(), dataset)

    def _add(self, parent: QTreeWidgetItem, dataset: Dataset) -> None:
        for element in dataset:
            item = QTreeWidgetItem(
                [f"({element.tag.group:04X},{element.tag.element:04X})", element.name, element.VR,
                 element_text(element)]
            )  # fmt: skip
            parent.addChild(item)
            if element.VR == "SQ":
                for number, sequence_item in enumerate(element.value, start=1):
                    child = QTreeWidgetItem(["", f"Item {number}", "", ""])
                    item.addChild(child)
                    self._add(child, sequence_item)

    def filter(self, text: str) -> int:
        """Show the rows whose tag, name or value holds ``text`` (and their parents); returns the count."""
        wanted = text.strip().casefold()
        return self._filter(self.tree.invisibleRootItem(), wanted)

    def _filter(self, item: QTreeWidgetItem, wanted: str) -> int:
        matches = 0
        for index in range(item.childCount()):
            child = item.child(index)
            if child is None:
                continue
            inside = self._filter(child, wanted)
            own = not wanted or any(wanted in child.text(column).casefold() for column in range(4))
            child.setHidden(not (own or inside))
            if wanted and inside:
                child.setExpanded(True)
            matches += inside + (1 if own and wanted else 0)
        return matches
