"""run_gui(): QApplication + qasync event loop + main window, until the window closes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import qasync
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app import __version__
from app.nodes import NodeRegistry
from app.resources import ICON_SIZES, resource
from app.settings import load_settings_report
from app.ui.loop_lag import LoopLagMeter
from app.ui.workstation import Workstation


def application(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(argv if argv is not None else sys.argv)
    )
    app.setApplicationName("Courier")
    app.setOrganizationName("Courier")
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(resource(f"courier-{size}.png")))
    app.setWindowIcon(icon)
    return app


def run_gui(argv: list[str] | None = None) -> int:
    """Open the workstation and run until its window closes; then stop its services cleanly."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname).1s %(name)s: %(message)s")
    app = application(argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loaded = load_settings_report()
    registry = NodeRegistry()
    meter = LoopLagMeter()
    meter.start(loop)
    try:
        workstation = Workstation(loaded.settings, registry, lag_meter=meter)
    except OSError as exc:  # the storage folder cannot be created or opened
        QMessageBox.critical(None, "Courier", f"Courier cannot open its storage folder: {exc}")
        return 1
    window = workstation.window
    window.show()
    logging.getLogger("app.ui").info("Courier %s: window open", __version__)
    for problem in (loaded.problem, registry.load_problem):
        if problem:
            QMessageBox.warning(window, "Courier", problem)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    # SIGTERM (a session ending, a service manager) closes the window like the user would: queued
    # work is kept, the listener stops, associations are released.  The handler runs between two
    # Python callbacks of the loop, which the loop-lag meter guarantees every few milliseconds.
    signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(window.close))
    with loop:
        loop.run_until_complete(workstation.start())
        loop.run_until_complete(closed.wait())
        loop.run_until_complete(workstation.stop())
    meter.stop()
    return leave_without_finalizing(0)


def leave_without_finalizing(status: int) -> int:
    """End the process now that everything is saved and closed.

    Python's finalization would only tear down Qt objects through the garbage collector, which is
    where binding bugs surface as a crash report on a quit that was otherwise clean (PySide6 6.12.0's
    lost references to None did exactly that; pyproject.toml now excludes it and
    tests/ui/test_qt_refcounts.py checks the binding).  Every file and database is closed by now, so
    nothing is lost by skipping that phase.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
