"""The live association log the troubleshooting pane shows: one record per association, inbound and
outbound, built from the engine's events.  No Qt here.

Each record keeps who talked to whom and when, the proposed and accepted presentation contexts with
the reason for each rejection, the maximum PDU lengths, every DIMSE message with its status in words
and hex, the error when it failed, and a PDU trace.  The log is bounded (oldest records go first, a
record keeps at most ``MAX_PDUS`` PDU lines) and never keeps the PDUs themselves: a P-DATA-TF holds a
data set, and a log must not hold gigabytes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydicom.uid import UID

from app.listeners import Listeners
from app.net.dimse.commands import describe_message
from app.net.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    AssociationReleased,
    AssociationRequested,
    ConnectionClosed,
    ConnectionOpened,
    DimseReceived,
    DimseSent,
    EventBus,
    NetworkEvent,
    PduReceived,
    PduSent,
)
from app.net.pdu import PDataTF, describe_context_result
from app.net.trace import describe_pdu, summarize_pdu

MAX_RECORDS = 300
MAX_PDUS = 400
MAX_MESSAGES = 2000


@dataclass
class ContextLine:
    context_id: int
    abstract_syntax: str
    proposed_syntaxes: tuple[str, ...]
    result: str = "no answer"
    transfer_syntax: str = ""

    @property
    def accepted(self) -> bool:
        return self.result == "accepted"

    def text(self) -> str:
        name = UID(self.abstract_syntax).name
        chosen = f" with {UID(self.transfer_syntax).name}" if self.transfer_syntax and self.accepted else ""
        return f"[{self.context_id}] {name}: {self.result}{chosen}"


@dataclass
class AssociationRecord:
    association_id: int
    direction: str  # "inbound" (a peer called us) or "outbound" (we called a peer)
    local_ae: str = ""
    remote_ae: str = ""
    peer: str = ""
    started: float = field(default_factory=time.time)
    ended: float | None = None
    outcome: str = "connecting"  # connecting, requested, accepted, rejected, released, aborted, closed
    error: str = ""
    contexts: list[ContextLine] = field(default_factory=list)
    our_max_pdu: int | None = None
    peer_max_pdu: int | None = None
    peer_implementation: str = ""
    messages: list[str] = field(default_factory=list)
    pdus: list[str] = field(default_factory=list)
    pdus_dropped: int = 0

    @property
    def duration_s(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    @property
    def failed(self) -> bool:
        return self.outcome in ("rejected", "aborted") or bool(self.error)

    def title(self) -> str:
        arrow = "←" if self.direction == "inbound" else "→"
        when = datetime.fromtimestamp(self.started).strftime("%H:%M:%S")
        return f"{when} {self.local_ae} {arrow} {self.remote_ae or '?'} ({self.peer}) {self.outcome}"

    def rejected_contexts(self) -> list[ContextLine]:
        return [c for c in self.contexts if not c.accepted]

    def to_text(self) -> str:
        """The record as plain text, for a support ticket."""
        when = datetime.fromtimestamp(self.started).isoformat(timespec="milliseconds")
        duration = f"{self.duration_s * 1000:.0f} ms" if self.duration_s is not None else "still open"
        arrow = "←" if self.direction == "inbound" else "→"
        lines = [
            f"Association {self.association_id} ({self.direction}) at {when}, {duration}",
            f"  {self.local_ae} {arrow} {self.remote_ae} at {self.peer}",
            f"  Outcome: {self.outcome}" + (f" — {self.error}" if self.error else ""),
        ]
        if self.peer_implementation:
            lines.append(f"  Peer implementation: {self.peer_implementation}")
        if self.our_max_pdu is not None or self.peer_max_pdu is not None:
            lines.append(f"  Maximum PDU: ours {self.our_max_pdu or 'unlimited'}, "
                         f"peer's {self.peer_max_pdu or 'unlimited'}")  # fmt: skip
        if self.contexts:
            lines.append("  Presentation contexts:")
            lines.extend(f"    {c.text()}" for c in self.contexts)
        if self.messages:
            lines.append("  DIMSE messages:")
            lines.extend(f"    {m}" for m in self.messages)
        if self.pdus:
            lines.append("  PDU trace:")
            lines.extend(f"    {line}" for p in self.pdus for line in p.splitlines())
            if self.pdus_dropped:
                lines.append(f"    … and {self.pdus_dropped} more PDUs")
        return "\n".join(lines)


def _clock(event: NetworkEvent) -> str:
    return datetime.fromtimestamp(event.timestamp).strftime("%H:%M:%S.%f")[:-3]


class AssociationLog:
    """Listens to an ``EventBus`` and keeps the newest ``limit`` associations."""

    def __init__(self, events: EventBus, *, limit: int = MAX_RECORDS, trace_pdus: bool = True) -> None:
        self.limit = limit
        self._records: OrderedDict[int, AssociationRecord] = OrderedDict()
        self._changed: Listeners[[AssociationRecord]] = Listeners("association-log")
        handlers: list[tuple[type[NetworkEvent], Callable[[Any], None]]] = [
            (ConnectionOpened, self._opened),
            (AssociationRequested, self._requested),
            (AssociationAccepted, self._accepted),
            (AssociationRejected, self._rejected),
            (AssociationReleased, self._released),
            (AssociationAborted, self._aborted),
            (ConnectionClosed, self._closed),
            (DimseSent, lambda e: self._message(e, "sent")),
            (DimseReceived, lambda e: self._message(e, "received")),
        ]
        if trace_pdus:
            handlers += [
                (PduSent, lambda e: self._pdu(e, "sent")),
                (PduReceived, lambda e: self._pdu(e, "received")),
            ]
        self._unsubscribe = [events.subscribe(kind, handler) for kind, handler in handlers]

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    def on_change(self, callback: Callable[[AssociationRecord], None]) -> None:
        self._changed.add(callback)

    def records(self) -> list[AssociationRecord]:
        """Newest first."""
        return list(reversed(self._records.values()))

    def clear(self) -> None:
        self._records.clear()

    def to_text(self) -> str:
        return "\n\n".join(record.to_text() for record in reversed(self.records()))

    # -- events -------------------------------------------------------------------------------------

    def _record(self, event: NetworkEvent) -> AssociationRecord:
        info = event.info
        record = self._records.get(info.association_id)
        if record is None:
            record = AssociationRecord(
                info.association_id,
                "inbound" if info.role == "acceptor" else "outbound",
                started=event.timestamp,
            )
            self._records[info.association_id] = record
            while len(self._records) > self.limit:
                self._records.popitem(last=False)
        record.local_ae = info.local_ae or record.local_ae
        record.remote_ae = info.remote_ae or record.remote_ae
        if info.peer_host:
            record.peer = f"{info.peer_host}:{info.peer_port}"
        return record

    def _opened(self, event: ConnectionOpened) -> None:
        self._changed(self._record(event))

    def _requested(self, event: AssociationRequested) -> None:
        record = self._record(event)
        record.outcome = "requested"
        self._proposal(record, event.request)
        self._changed(record)

    @staticmethod
    def _proposal(record: AssociationRecord, rq: Any) -> None:
        record.contexts = [
            ContextLine(c.context_id, c.abstract_syntax, tuple(c.transfer_syntaxes))
            for c in rq.presentation_contexts
        ]
        if record.direction == "outbound":
            record.our_max_pdu = rq.user_information.maximum_length
        else:
            record.peer_max_pdu = rq.user_information.maximum_length
            record.peer_implementation = _implementation(rq.user_information)

    def _accepted(self, event: AssociationAccepted) -> None:
        record = self._record(event)
        record.outcome = "accepted"
        if not record.contexts:  # our own request is not announced as an event: take it from here
            self._proposal(record, event.request)
        answers = {c.context_id: c for c in event.accept.presentation_contexts}
        for line in record.contexts:
            answer = answers.get(line.context_id)
            if answer is not None:
                line.result = describe_context_result(answer.result)
                line.transfer_syntax = answer.transfer_syntax or ""
        if record.direction == "outbound":
            record.peer_max_pdu = event.accept.user_information.maximum_length
            record.peer_implementation = _implementation(event.accept.user_information)
        else:
            record.our_max_pdu = event.accept.user_information.maximum_length
        self._changed(record)

    def _rejected(self, event: AssociationRejected) -> None:
        record = self._record(event)
        record.outcome = "rejected"
        record.error = event.reason
        self._end(record, event)

    def _released(self, event: AssociationReleased) -> None:
        record = self._record(event)
        record.outcome = "released"
        self._end(record, event)

    def _aborted(self, event: AssociationAborted) -> None:
        record = self._record(event)
        record.outcome = "aborted"
        record.error = event.reason
        self._end(record, event)

    def _closed(self, event: ConnectionClosed) -> None:
        record = self._record(event)
        if record.outcome in ("connecting", "requested", "accepted"):
            record.outcome = "closed"
        if event.error and not record.error:
            record.error = event.error
        self._end(record, event)

    def _end(self, record: AssociationRecord, event: NetworkEvent) -> None:
        if record.ended is None:
            record.ended = event.timestamp
        self._changed(record)

    def _message(self, event: DimseSent | DimseReceived, direction: str) -> None:
        record = self._record(event)
        if len(record.messages) < MAX_MESSAGES:
            arrow = "→" if direction == "sent" else "←"
            record.messages.append(f"{_clock(event)} {arrow} {describe_message(event.message)}")
        self._changed(record)

    def _pdu(self, event: PduSent | PduReceived, direction: str) -> None:
        record = self._record(event)
        if len(record.pdus) >= MAX_PDUS:
            record.pdus_dropped += 1
            return
        arrow = "→" if direction == "sent" else "←"
        # A P-DATA-TF gets one line (its data set is not kept); association PDUs get the full dump.
        text = summarize_pdu(event.pdu) if isinstance(event.pdu, PDataTF) else describe_pdu(event.pdu)
        record.pdus.append(f"{_clock(event)} {arrow} {text}")


def _implementation(info: Any) -> str:
    parts = [info.implementation_class_uid or "", info.implementation_version_name or ""]
    return " ".join(p for p in parts if p)
