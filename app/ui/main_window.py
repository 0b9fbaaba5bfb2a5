"""The main window: a navigation list on the left, one pane per entry on the right."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QMainWindow, QStackedWidget, QWidget

from app.nodes import NodeRegistry
from app.settings import Settings, save_settings
from app.ui.loop_lag import LoopLagMeter
from app.ui.nodes_pane import NodesPane
from app.ui.status_bar import CourierStatusBar


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings,
        registry: NodeRegistry,
        lag_meter: LoopLagMeter | None = None,
        nodes_pane: NodesPane | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.registry = registry
        self.setWindowTitle("Courier")
        self.resize(1200, 760)
        self.navigation = QListWidget()
        self.navigation.setObjectName("navigation")
        self.navigation.setFixedWidth(190)
        self.navigation.setIconSize(QSize(20, 20))
        self.navigation.setSpacing(2)
        self.navigation.setStyleSheet(
            "QListWidget#navigation { font-size: 11pt; padding: 6px; }"
            "QListWidget#navigation::item { padding: 8px 6px; }"
        )
        self.stack = QStackedWidget()
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.navigation)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.navigation.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.status = CourierStatusBar(settings, lag_meter, self)
        self.setStatusBar(self.status)
        self.nodes_pane = nodes_pane or NodesPane(registry, settings)
        self.add_pane("Nodes", self.nodes_pane, QIcon.fromTheme("network-server"))
        self.navigation.setCurrentRow(0)

    def add_pane(self, name: str, widget: QWidget, icon: QIcon | None = None) -> None:
        """Append a pane to the navigation; the lead adds Query/Retrieve this way."""
        item = QListWidgetItem(icon or QIcon(), name)
        item.setData(Qt.ItemDataRole.UserRole, name)
        widget.setObjectName(widget.objectName() or f"pane:{name}")
        self.stack.addWidget(widget)
        self.navigation.addItem(item)

    def pane_names(self) -> list[str]:
        return [self.navigation.item(i).text() for i in range(self.navigation.count())]

    def show_pane(self, name: str) -> None:
        self.navigation.setCurrentRow(self.pane_names().index(name))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        save_settings(self.settings)
        super().closeEvent(event)
