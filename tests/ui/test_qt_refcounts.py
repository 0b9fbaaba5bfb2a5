"""The Qt binding keeps Python's reference counts straight on the paths the event loop takes all the time.

PySide6 6.12.0 drops one reference to ``None`` on every ``QObject.killTimer`` and on every
``QTimer.start``/``stop``.  qasync kills a timer for each ``call_later`` (the loop-lag meter alone does
~70 a second), and on Python 3.11, where ``None`` is not immortal, the count reaches zero within
minutes: the workstation aborted with "Fatal Python error: none_dealloc" (first seen as a crash at
exit, then mid-run in the workload-7 benchmark).  pyproject.toml keeps PySide6 below 6.12; this test
fails on a binding that has the bug again, before any user meets it.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from PySide6.QtCore import QObject, QTimer

pytestmark = pytest.mark.gui

CALLS = 1000
# Unrelated code may take or release a few references meanwhile; the bug loses one per call.
TOLERANCE = CALLS // 10


def none_refs() -> int:
    return sys.getrefcount(None)


def test_kill_timer_keeps_none_alive(qapp) -> None:
    owner = QObject()
    timers = [owner.startTimer(60_000) for _ in range(CALLS)]
    before = none_refs()
    for timer in timers:
        owner.killTimer(timer)
    assert none_refs() - before > -TOLERANCE


def test_starting_and_stopping_a_qtimer_keeps_none_alive(qapp) -> None:
    timer = QTimer()
    timer.setSingleShot(True)
    before = none_refs()
    for _ in range(CALLS):
        timer.start(60_000)
        timer.stop()
    assert none_refs() - before > -TOLERANCE


def test_the_qasync_loop_runs_timers_without_losing_references(loop: asyncio.AbstractEventLoop) -> None:
    async def many_timers() -> int:
        before = none_refs()
        for _ in range(CALLS):
            await asyncio.sleep(0.0001)  # one qasync timer started, fired and killed each time
        return none_refs() - before

    assert loop.run_until_complete(many_timers()) > -TOLERANCE
