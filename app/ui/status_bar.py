"""The status bar: listener state, active associations and the loop-lag meter in its tooltip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from app.settings import Settings
from app.ui.loop_lag import LoopLagMeter


class ListenerStatus(Protocol):
    """What the status bar needs from the local listener (the lead's storage SCP provides it)."""

    def state_text(self) -> str:
        """E.g. "COURIER on port 11112: listening" or "... not listening: port 11112 is in use"."""
        ...

    def active_associations(self) -> int: ...

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the GUI thread) whenever state_text or active_associations change."""
        ...


class CourierStatusBar(QStatusBar):
    def __init__(
        self, settings: Settings, lag_meter: LoopLagMeter | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.settings = settings
        self.lag_meter = lag_meter
        self.listener: ListenerStatus | None = None
        self.summary: Callable[[], str] | None = None
        self.listener_label = QLabel()
        self.listener_label.setObjectName("listenerState")
        self.associations_label = QLabel()
        self.queue_label = QLabel()
        self.queue_label.setObjectName("queueSummary")
        self.lag_label = QLabel()
        for label in (self.listener_label, self.associations_label, self.queue_label, self.lag_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.addPermanentWidget(label)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def set_listener(self, listener: ListenerStatus) -> None:
        self.listener = listener
        listener.on_change(self._listener_changed)
        self.refresh()

    def _listener_changed(self) -> None:
        # The listener outlives the window while it shuts down: a closed window has nothing to show.
        if shiboken6.isValid(self) and shiboken6.isValid(self.listener_label):
            self.refresh()

    def set_summary(self, summary: Callable[[], str]) -> None:
        """What the queues are doing, in a few words ("" when idle): shown next to the listener."""
        self.summary = summary
        self.refresh()

    def refresh(self) -> None:
        if not shiboken6.isValid(self.listener_label):  # the window is already gone (shutting down)
            return
        s = self.settings
        if self.listener is None:
            self.listener_label.setText(
                f"Local AE {s.ae_title}, port {s.listener_port} — listener: not started"
            )
            self.associations_label.setText("")
            self.associations_label.setVisible(False)
        else:
            self.listener_label.setText(self.listener.state_text())
            count = self.listener.active_associations()
            self.associations_label.setText(f"{count} active association{'s' if count != 1 else ''}")
            self.associations_label.setVisible(True)
        summary = self.summary() if self.summary is not None else ""
        self.queue_label.setText(summary)
        self.queue_label.setVisible(bool(summary))
        if self.lag_meter is not None:
            stats = self.lag_meter.snapshot()
            self.lag_label.setText(f"Loop lag p99 {stats.p99_ms:.0f} ms")
            self.lag_label.setToolTip(stats.describe())
            self.setToolTip(stats.describe())
