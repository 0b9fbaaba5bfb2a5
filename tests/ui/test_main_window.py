"""The main window, status bar, loop-lag meter and settings saved on close."""

from __future__ import annotations

import asyncio
import time

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.nodes import NodeRegistry
from app.settings import Settings, load_settings
from app.ui.loop_lag import LoopLagMeter
from app.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_window_opens_with_its_panes(qtbot: QtBot, registry: NodeRegistry, settings: Settings) -> None:
    window = MainWindow(settings, registry)
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == "Courier"
    assert window.pane_names() == ["Nodes"]
    window.add_pane("Query/Retrieve", QLabel("q/r"))
    window.show_pane("Query/Retrieve")
    assert window.stack.currentWidget().text() == "q/r"  # type: ignore[attr-defined]
    assert "listener: not started" in window.status.listener_label.text()
    assert "COURIER" in window.status.listener_label.text()


def test_status_bar_follows_a_listener(qtbot: QtBot, registry: NodeRegistry, settings: Settings) -> None:
    class FakeListener:
        def __init__(self) -> None:
            self.callbacks: list = []
            self.text = "COURIER on port 11112: listening"
            self.count = 0

        def state_text(self) -> str:
            return self.text

        def active_associations(self) -> int:
            return self.count

        def on_change(self, callback) -> None:
            self.callbacks.append(callback)

    window = MainWindow(settings, registry)
    qtbot.addWidget(window)
    listener = FakeListener()
    window.status.set_listener(listener)
    assert window.status.listener_label.text() == "COURIER on port 11112: listening"
    listener.text, listener.count = "COURIER not listening: port 11112 is in use", 2
    for callback in listener.callbacks:
        callback()
    assert "in use" in window.status.listener_label.text()
    assert window.status.associations_label.text() == "2 active associations"


def test_closing_the_window_saves_settings(qtbot: QtBot, registry: NodeRegistry, settings: Settings) -> None:
    window = MainWindow(settings, registry)
    qtbot.addWidget(window)
    window.show()
    settings.ae_title = "READING2"
    window.close()
    assert load_settings().ae_title == "READING2"


def test_loop_lag_meter_sees_a_blocked_loop(qapp, loop: asyncio.AbstractEventLoop) -> None:
    meter = LoopLagMeter(interval_s=0.01)
    meter.start(loop)

    async def scenario() -> None:
        await asyncio.sleep(0.05)
        time.sleep(0.1)  # the one place a sleep is the thing under test: it blocks the loop
        await asyncio.sleep(0.05)

    loop.run_until_complete(scenario())
    meter.stop()
    stats = meter.snapshot()
    assert stats.max_ms >= 90
    assert stats.samples >= 3
    assert "max" in stats.describe()
