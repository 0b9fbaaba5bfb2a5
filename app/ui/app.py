"""run_gui(): QApplication + qasync event loop + main window, until the window closes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import qasync
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app.nodes import NodeRegistry
from app.settings import load_settings_report
from app.ui.loop_lag import LoopLagMeter
from app.ui.main_window import MainWindow

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def application(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(argv if argv is not None else sys.argv)
    )
    app.setApplicationName("Courier")
    app.setOrganizationName("Courier")
    icon_path = RESOURCES / "courier.svg"
    if icon_path.exists():
        app.setWindowIcon(QIcon(str(icon_path)))
    return app


def run_gui(argv: list[str] | None = None) -> int:
    app = application(argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loaded = load_settings_report()
    registry = NodeRegistry()
    meter = LoopLagMeter()
    meter.start(loop)
    window = MainWindow(loaded.settings, registry, meter)
    window.show()
    for problem in (loaded.problem, registry.load_problem):
        if problem:
            QMessageBox.warning(window, "Courier", problem)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    meter.stop()
    return 0
