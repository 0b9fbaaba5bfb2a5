"""Event-loop lag meter: how late a periodic timer fires is how long the GUI thread was blocked."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LagStats:
    max_ms: float
    p99_ms: float
    samples: int

    def describe(self) -> str:
        return f"Event-loop lag: max {self.max_ms:.0f} ms, p99 {self.p99_ms:.0f} ms over {self.samples} ticks"


class LoopLagMeter:
    """Schedules itself every `interval_s` with call_later and records the lateness of each tick."""

    def __init__(self, interval_s: float = 0.015, window: int = 2000) -> None:
        self.interval_s = interval_s
        self._lags: deque[float] = deque(maxlen=window)
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_event_loop()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def snapshot(self) -> LagStats:
        if not self._lags:
            return LagStats(0.0, 0.0, 0)
        ordered = sorted(self._lags)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return LagStats(max_ms=ordered[-1] * 1000, p99_ms=p99 * 1000, samples=len(ordered))

    def _schedule(self) -> None:
        self._due = time.monotonic() + self.interval_s
        self._handle = self._loop.call_later(self.interval_s, self._tick)

    def _tick(self) -> None:
        self._lags.append(max(0.0, time.monotonic() - self._due))
        self._schedule()
