"""Notification events: what happened on an association, for any number of listeners.

The troubleshooting pane, the association log and the ``-v``/``-d`` flags of the command-line tools
are all listeners on an ``EventBus``.  Notifications never change what the engine does (pynetdicom
calls these "notification events", as opposed to the handlers that answer requests); a listener that
raises is logged and ignored so that a broken log view cannot break a transfer.

Listeners are called synchronously on the event loop: they must be quick (append to a list, emit a
Qt signal, write a line).  PDU events are only built when somebody listens to them, because the
P-DATA path is hot.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.net.pdu import PDU

log = logging.getLogger(__name__)

_association_ids = itertools.count(1)


def next_association_id() -> int:
    """A process-wide serial number that ties the events of one association together."""
    return next(_association_ids)


@dataclass(frozen=True, slots=True)
class AssociationInfo:
    """Who is talking to whom; carried by every event of one association."""

    association_id: int
    role: str  # "requestor" or "acceptor"
    local_ae: str
    remote_ae: str
    peer_host: str
    peer_port: int


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    info: AssociationInfo
    timestamp: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class ConnectionOpened(NetworkEvent):
    pass


@dataclass(frozen=True, slots=True)
class ConnectionClosed(NetworkEvent):
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AssociationRequested(NetworkEvent):
    request: Any  # AAssociateRQ


@dataclass(frozen=True, slots=True)
class AssociationAccepted(NetworkEvent):
    request: Any  # AAssociateRQ
    accept: Any  # AAssociateAC


@dataclass(frozen=True, slots=True)
class AssociationRejected(NetworkEvent):
    reject: Any  # AAssociateRJ
    reason: str


@dataclass(frozen=True, slots=True)
class AssociationReleased(NetworkEvent):
    pass


@dataclass(frozen=True, slots=True)
class AssociationAborted(NetworkEvent):
    reason: str
    by_peer: bool


@dataclass(frozen=True, slots=True)
class PduSent(NetworkEvent):
    pdu: PDU


@dataclass(frozen=True, slots=True)
class PduReceived(NetworkEvent):
    pdu: PDU


@dataclass(frozen=True, slots=True)
class DimseSent(NetworkEvent):
    context_id: int
    message: Any  # a DIMSE message from app.net.dimse
    has_dataset: bool


@dataclass(frozen=True, slots=True)
class DimseReceived(NetworkEvent):
    context_id: int
    message: Any
    has_dataset: bool


E = TypeVar("E", bound=NetworkEvent)
Listener = Callable[[Any], None]


class EventBus:
    """Subscribe listeners to event classes (a base class receives its subclasses' events too)."""

    def __init__(self) -> None:
        self._listeners: list[tuple[type[NetworkEvent], Listener]] = []

    def subscribe(self, event_type: type[E], listener: Callable[[E], None]) -> Callable[[], None]:
        """Register ``listener`` for ``event_type``; returns a function that unsubscribes it."""
        entry = (event_type, listener)
        self._listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return unsubscribe

    def wants(self, event_type: type[NetworkEvent]) -> bool:
        """Whether anybody listens to ``event_type``: lets hot paths skip building the event."""
        return any(issubclass(event_type, t) or issubclass(t, event_type) for t, _ in self._listeners)

    def emit(self, event: NetworkEvent) -> None:
        for event_type, listener in tuple(self._listeners):
            if isinstance(event, event_type):
                try:
                    listener(event)
                except Exception:  # a broken log view must not break a transfer
                    log.exception("listener %r failed on %s", listener, type(event).__name__)
