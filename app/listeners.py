"""Callbacks a domain object calls when it changes: the GUI subscribes, nothing here knows Qt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")
log = logging.getLogger(__name__)


class Listeners(Generic[P]):
    """A list of callbacks called in order; one that raises is logged and does not stop the others
    (a broken view must never break the work it shows)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._callbacks: list[Callable[P, object]] = []

    def add(self, callback: Callable[P, object]) -> None:
        self._callbacks.append(callback)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for callback in list(self._callbacks):
            try:
                callback(*args, **kwargs)
            except Exception:
                log.exception("a %s subscriber failed", self.what)
