"""The DICOM Upper Layer (PS3.8 section 9), sans-IO.

``UpperLayer`` is one end of one association.  The transport feeds it what happened (bytes in,
connection up or down, ARTIM expired) and the user calls it for the service primitives
(A-ASSOCIATE, P-DATA, A-RELEASE, A-ABORT).  Each call is one or more events of PS3.8 Table 9-10:
the event is looked up in ``fsm.TRANSITIONS``, the action is carried out, the state moves on, and
the call returns the *effects*: what the transport must do (open, write, close, start or stop the
ARTIM timer) and what the user must hear (indications and confirmations), in order.

Nothing here does I/O or knows about time.  A primitive that the current state does not allow is a
bug in the caller and raises ``LocalProtocolError``; a PDU that the state does not allow is the
peer's fault and gets the table's answer (AA-1, AA-8, AA-6/AA-7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.net.errors import LocalProtocolError, RemoteProtocolError
from app.net.fsm import TRANSITIONS, Action, Event, Role, State, next_state
from app.net.pdu import (
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AbortReason,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    ProviderACSERejectReason,
    RejectResult,
    RejectSource,
    describe_abort,
)
from app.net.pdu_codec import PDUReader, encode_pdata_parts, encode_pdu

__all__ = [
    "AbortIndication",
    "AssociateConfirmation",
    "AssociateIndication",
    "AssociateRejection",
    "CloseTransport",
    "DataIndication",
    "Effect",
    "OpenTransport",
    "ReleaseConfirmation",
    "ReleaseIndication",
    "Role",
    "SendPDU",
    "StartArtim",
    "StopArtim",
    "TransportClosedIndication",
    "UpperLayer",
]


# --------------------------------------------------------------------------------------------------
# Effects for the transport


@dataclass(frozen=True, slots=True)
class OpenTransport:
    """AE-1: open the TCP connection to the peer (TRANSPORT CONNECT request)."""


@dataclass(frozen=True, slots=True, eq=False)
class SendPDU:
    """Write ``parts`` (gathered, in order) to the connection.  ``pdu`` is what they encode, for tracing."""

    pdu: PDU
    parts: list[bytes | memoryview]


@dataclass(frozen=True, slots=True)
class CloseTransport:
    """Close the TCP connection (after the bytes already written)."""


@dataclass(frozen=True, slots=True)
class StartArtim:
    """Start the ARTIM timer, or restart it if it runs (PS3.8 9.1.5); expiry is ``artim_expired``."""


@dataclass(frozen=True, slots=True)
class StopArtim:
    """Stop the ARTIM timer if it runs (stopping a stopped timer does nothing)."""


# --------------------------------------------------------------------------------------------------
# Indications and confirmations for the user


@dataclass(frozen=True, slots=True)
class AssociateIndication:
    """Acceptor: the peer asks for an association.  Answer with ``accept()`` or ``reject()``."""

    request: AAssociateRQ


@dataclass(frozen=True, slots=True)
class AssociateConfirmation:
    """Requestor: the peer accepted; the association is established."""

    accept: AAssociateAC


@dataclass(frozen=True, slots=True)
class AssociateRejection:
    """Requestor: the peer rejected; the connection is being closed."""

    reject: AAssociateRJ


@dataclass(frozen=True, slots=True, eq=False)
class DataIndication:
    """A P-DATA-TF arrived.  Its PDV data are memoryviews into the received bytes (not copied)."""

    pdu: PDataTF


@dataclass(frozen=True, slots=True)
class ReleaseIndication:
    """The peer asks to release; answer with ``respond_release()``.

    ``collision`` is True when we had asked too (PS3.8 9.2.4): the requestor answers at once, the
    acceptor only after its own ``ReleaseConfirmation``.
    """

    collision: bool


@dataclass(frozen=True, slots=True)
class ReleaseConfirmation:
    """The peer answered our release request."""


@dataclass(frozen=True, slots=True)
class AbortIndication:
    """The association is gone abnormally.

    ``provider`` False: A-ABORT indication (the peer's user aborted, PS3.8 7.3).  ``provider`` True:
    A-P-ABORT indication (PS3.8 7.4): the peer's upper layer aborted (``source`` 2), we did because
    the peer broke the protocol (``source`` 2, the reason we sent), or the connection dropped
    (``source`` and ``reason`` None).
    """

    source: AbortSource | None
    reason: int | None
    provider: bool
    message: str


@dataclass(frozen=True, slots=True)
class TransportClosedIndication:
    """The connection is gone and no association was alive on it (after release, abort or reject)."""


Effect = (
    OpenTransport
    | SendPDU
    | CloseTransport
    | StartArtim
    | StopArtim
    | AssociateIndication
    | AssociateConfirmation
    | AssociateRejection
    | DataIndication
    | ReleaseIndication
    | ReleaseConfirmation
    | AbortIndication
    | TransportClosedIndication
)


# --------------------------------------------------------------------------------------------------

_PDU_EVENTS: dict[type, Event] = {
    AAssociateAC: Event.EVT3,
    AAssociateRJ: Event.EVT4,
    AAssociateRQ: Event.EVT6,
    PDataTF: Event.EVT10,
    AReleaseRQ: Event.EVT12,
    AReleaseRP: Event.EVT13,
    AAbort: Event.EVT16,
}

_PDU_NAMES: dict[Event, str] = {
    Event.EVT3: "A-ASSOCIATE-AC",
    Event.EVT4: "A-ASSOCIATE-RJ",
    Event.EVT6: "A-ASSOCIATE-RQ",
    Event.EVT10: "P-DATA-TF",
    Event.EVT12: "A-RELEASE-RQ",
    Event.EVT13: "A-RELEASE-RP",
}

# The P-DATA request is the hot path: its two cells (DT-1 in Sta6, AR-7 in Sta8) are read out of the
# table once.  Both send the P-DATA-TF and leave the state as it is.
_DATA_REQUEST: dict[State, Action] = {
    state: action for (state, event), action in TRANSITIONS.items() if event is Event.EVT9
}
assert all(next_state(action) is state for state, action in _DATA_REQUEST.items())

_RELEASE_RQ = AReleaseRQ()
_RELEASE_RP = AReleaseRP()


def _send(pdu: PDU) -> SendPDU:
    return SendPDU(pdu, [encode_pdu(pdu)])


def _provider_abort_reason(event: Event, payload: Any) -> AbortReason:
    """PS3.8 Table 9-26 reason for an A-ABORT we send because of what the peer sent."""
    if event is Event.EVT19 and isinstance(payload, RemoteProtocolError):
        return payload.abort_reason
    return AbortReason.UNEXPECTED_PDU


class UpperLayer:
    """One end of one association: PS3.8 Table 9-10 driven by calls, answering with effects."""

    def __init__(self, role: Role, *, max_pdu_length: int = 0) -> None:
        """``max_pdu_length``: the maximum length we advertise (PS3.8 D.1; 0 = no limit).

        A P-DATA-TF larger than that is a protocol violation (Evt19).
        """
        self.role = role
        self._max_pdu_length = max_pdu_length
        self._state = State.STA1
        self._reader = PDUReader(max_pdu_length)
        self._stream_broken = False
        self._request: AAssociateRQ | None = None
        self._acceptable = True  # AE-6's verdict, read by next_state

    @property
    def state(self) -> State:
        return self._state

    # ----------------------------------------------------------------------------------------------
    # transport -> layer

    def connection_established(self) -> list[Effect]:
        """The TCP connection is up: Evt2 for the requestor (we connected), Evt5 for the acceptor."""
        return self._fire(Event.EVT2 if self.role is Role.REQUESTOR else Event.EVT5, None)

    def data_received(self, data: bytes | bytearray | memoryview) -> list[Effect]:
        """Bytes from the connection, in any pieces.  Each whole PDU is one event (Evt3/4/6/10/12/13/16/19).

        Never raises for what the peer sent (a malformed PDU is Evt19); raises ``LocalProtocolError``
        only when there is no connection (Sta1, Sta4).
        """
        if self._stream_broken:
            # After a malformed PDU the stream cannot be framed any more: we answered with an A-ABORT
            # (Evt19) and wait for the connection to close; what follows is noise.
            return []
        reader = self._reader
        reader.feed(data)
        effects: list[Effect] = []
        while True:
            try:
                pdu = reader.next_pdu()
            except RemoteProtocolError as error:
                self._stream_broken = True
                effects += self._fire(Event.EVT19, error)
                return effects
            if pdu is None:
                return effects
            effects += self._fire(_PDU_EVENTS[type(pdu)], pdu)
            if self._state is State.STA1:
                return effects  # the action closed the connection: anything behind the PDU is dropped

    def connection_closed(self) -> list[Effect]:
        """The TCP connection is gone (Evt17), whoever closed it."""
        return self._fire(Event.EVT17, None)

    def artim_expired(self) -> list[Effect]:
        """The ARTIM timer started by a ``StartArtim`` effect expired (Evt18)."""
        return self._fire(Event.EVT18, None)

    # ----------------------------------------------------------------------------------------------
    # user -> layer (service primitives)

    def request_association(self, rq: AAssociateRQ) -> list[Effect]:
        """A-ASSOCIATE request (Evt1): returns ``OpenTransport``.

        Call ``connection_established`` once the connection is up: that sends the A-ASSOCIATE-RQ (AE-2).
        """
        if self.role is not Role.REQUESTOR:
            raise LocalProtocolError(
                "An association acceptor cannot request an association (A-ASSOCIATE request)"
            )
        return self._fire(Event.EVT1, rq)

    def accept(self, ac: AAssociateAC) -> list[Effect]:
        """A-ASSOCIATE response, accept (Evt7)."""
        return self._fire(Event.EVT7, ac)

    def reject(self, rj: AAssociateRJ) -> list[Effect]:
        """A-ASSOCIATE response, reject (Evt8)."""
        return self._fire(Event.EVT8, rj)

    def send_data(self, pdu: PDataTF) -> list[Effect]:
        """P-DATA request (Evt9): DT-1 in Sta6, AR-7 in Sta8 (still sending while answering a release)."""
        if self._state in _DATA_REQUEST:
            return [SendPDU(pdu, encode_pdata_parts(pdu))]
        return self._fire(Event.EVT9, pdu)  # a blank cell: raises LocalProtocolError in words

    def request_release(self) -> list[Effect]:
        """A-RELEASE request (Evt11)."""
        return self._fire(Event.EVT11, None)

    def respond_release(self) -> list[Effect]:
        """A-RELEASE response (Evt14), after a ``ReleaseIndication``."""
        return self._fire(Event.EVT14, None)

    def abort(
        self, reason: int = AbortReason.NOT_SPECIFIED, *, source: AbortSource = AbortSource.SERVICE_USER
    ) -> list[Effect]:
        """A-ABORT request (Evt15).  ``reason`` is sent only with the provider source (PS3.8 9.3.8)."""
        # PS3.8 9.3.8: the reason/diag. field is significant only when the source is the service-provider.
        sent_reason = reason if source == AbortSource.SERVICE_PROVIDER else 0
        return self._fire(Event.EVT15, AAbort(source, sent_reason))

    # ----------------------------------------------------------------------------------------------
    # the table

    def _fire(self, event: Event, payload: Any) -> list[Effect]:
        state = self._state
        action = TRANSITIONS.get((state, event))
        if action is None:
            raise LocalProtocolError(
                f"{event.meaning} is not allowed in {state.label} ({state.meaning}): PS3.8 Table 9-10 has no "
                f"entry for {event.label} in {state.label}"
            )
        effects = _ACTIONS[action](self, event, payload)
        self._state = next_state(action, role=self.role, acceptable=self._acceptable)
        return effects

    # -- PS3.8 Table 9-6: association establishment ------------------------------------------------

    def _ae_1(self, event: Event, rq: AAssociateRQ) -> list[Effect]:
        self._request = rq
        self._new_connection()
        return [OpenTransport()]

    def _ae_2(self, event: Event, _: None) -> list[Effect]:
        assert self._request is not None  # AE-1 stored it: Sta4 is reached only through AE-1
        return [_send(self._request)]

    def _ae_3(self, event: Event, ac: AAssociateAC) -> list[Effect]:
        return [AssociateConfirmation(ac)]

    def _ae_4(self, event: Event, rj: AAssociateRJ) -> list[Effect]:
        return [AssociateRejection(rj), CloseTransport()]

    def _ae_5(self, event: Event, _: None) -> list[Effect]:
        self._new_connection()
        return [StartArtim()]

    def _ae_6(self, event: Event, rq: AAssociateRQ) -> list[Effect]:
        # PS3.8 9.3.2: "a receiver implementing only this version shall only test that bit 0 is set".
        # Everything else about the request (AE titles, application context, contexts) is the user's call.
        self._acceptable = bool(rq.protocol_version & 0x0001)
        if self._acceptable:
            self._request = rq
            return [StopArtim(), AssociateIndication(rq)]
        rj = AAssociateRJ(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_PROVIDER_ACSE,
            ProviderACSERejectReason.PROTOCOL_VERSION_NOT_SUPPORTED,
        )
        return [StopArtim(), _send(rj), StartArtim()]

    def _ae_7(self, event: Event, ac: AAssociateAC) -> list[Effect]:
        return [_send(ac)]

    def _ae_8(self, event: Event, rj: AAssociateRJ) -> list[Effect]:
        return [_send(rj), StartArtim()]

    # -- PS3.8 Table 9-7: data transfer --------------------------------------------------------------

    def _dt_1(self, event: Event, pdu: PDataTF) -> list[Effect]:
        return [SendPDU(pdu, encode_pdata_parts(pdu))]

    def _dt_2(self, event: Event, pdu: PDataTF) -> list[Effect]:
        return [DataIndication(pdu)]

    # -- PS3.8 Table 9-8: association release ----------------------------------------------------------

    def _ar_1(self, event: Event, _: None) -> list[Effect]:
        return [_send(_RELEASE_RQ)]

    def _ar_2(self, event: Event, _: AReleaseRQ) -> list[Effect]:
        return [ReleaseIndication(collision=False)]

    def _ar_3(self, event: Event, _: AReleaseRP) -> list[Effect]:
        return [ReleaseConfirmation(), CloseTransport()]

    def _ar_4(self, event: Event, _: None) -> list[Effect]:
        return [_send(_RELEASE_RP), StartArtim()]

    def _ar_5(self, event: Event, _: None) -> list[Effect]:
        return [StopArtim(), TransportClosedIndication()]

    def _ar_8(self, event: Event, _: AReleaseRQ) -> list[Effect]:
        # PS3.8 9.2.4: release collision; next_state sends the requestor to Sta9, the acceptor to Sta10.
        return [ReleaseIndication(collision=True)]

    def _ar_9(self, event: Event, _: None) -> list[Effect]:
        return [_send(_RELEASE_RP)]

    def _ar_10(self, event: Event, _: AReleaseRP) -> list[Effect]:
        return [ReleaseConfirmation()]

    # -- PS3.8 Table 9-9: association abort ------------------------------------------------------------

    def _aa_1(self, event: Event, payload: Any) -> list[Effect]:
        if event is Event.EVT15:
            abort: AAbort = payload  # the user's A-ABORT request
        else:
            # AA-1 also answers a wrong PDU in Sta2, before any user knows of the association.  Table 9-9
            # says "service-user source", but only the provider source carries a reason (PS3.8 9.3.8),
            # and it is our upper layer, not a user, that refuses the PDU: we say why.
            abort = AAbort(AbortSource.SERVICE_PROVIDER, _provider_abort_reason(event, payload))
        return [_send(abort), StartArtim()]

    def _aa_2(self, event: Event, _: Any) -> list[Effect]:
        # "Stop ARTIM timer if running": the transport's stop is a no-op on a stopped (or expired) timer.
        return [StopArtim(), CloseTransport()]

    def _aa_3(self, event: Event, pdu: AAbort) -> list[Effect]:
        provider = pdu.source == AbortSource.SERVICE_PROVIDER  # A-P-ABORT, else A-ABORT indication
        return [
            AbortIndication(pdu.source, pdu.reason, provider, describe_abort(pdu.source, pdu.reason)),
            CloseTransport(),
        ]

    def _aa_4(self, event: Event, _: None) -> list[Effect]:
        if self._state is State.STA4:
            message = "The connection to the peer could not be opened"
        else:
            message = (
                f"The connection was closed without an A-RELEASE or A-ABORT while the association was in "
                f"{self._state.label} ({self._state.meaning})"
            )
        return [AbortIndication(None, None, True, message)]

    def _aa_5(self, event: Event, _: None) -> list[Effect]:
        return [StopArtim(), TransportClosedIndication()]

    def _aa_6(self, event: Event, _: PDU) -> list[Effect]:
        return []  # Sta13: the association is gone, the PDU is ignored

    def _aa_7(self, event: Event, payload: Any) -> list[Effect]:
        return [_send(AAbort(AbortSource.SERVICE_PROVIDER, _provider_abort_reason(event, payload)))]

    def _aa_8(self, event: Event, payload: Any) -> list[Effect]:
        reason = _provider_abort_reason(event, payload)
        if isinstance(payload, RemoteProtocolError):
            why = str(payload)
        else:
            state = self._state
            why = f"The peer sent an unexpected {_PDU_NAMES[event]} PDU in {state.label} ({state.meaning})"
        message = f"{why}; the association was aborted (A-ABORT, provider source, reason {int(reason)})"
        return [
            _send(AAbort(AbortSource.SERVICE_PROVIDER, reason)),
            AbortIndication(AbortSource.SERVICE_PROVIDER, int(reason), True, message),
            StartArtim(),
        ]

    # ----------------------------------------------------------------------------------------------

    def _new_connection(self) -> None:
        self._reader = PDUReader(self._max_pdu_length)
        self._stream_broken = False
        self._acceptable = True


_ActionFunction = Callable[[UpperLayer, Event, Any], list[Effect]]

_ACTIONS: dict[Action, _ActionFunction] = {
    Action.AE_1: UpperLayer._ae_1,
    Action.AE_2: UpperLayer._ae_2,
    Action.AE_3: UpperLayer._ae_3,
    Action.AE_4: UpperLayer._ae_4,
    Action.AE_5: UpperLayer._ae_5,
    Action.AE_6: UpperLayer._ae_6,
    Action.AE_7: UpperLayer._ae_7,
    Action.AE_8: UpperLayer._ae_8,
    Action.DT_1: UpperLayer._dt_1,
    Action.DT_2: UpperLayer._dt_2,
    Action.AR_1: UpperLayer._ar_1,
    Action.AR_2: UpperLayer._ar_2,
    Action.AR_3: UpperLayer._ar_3,
    Action.AR_4: UpperLayer._ar_4,
    Action.AR_5: UpperLayer._ar_5,
    Action.AR_6: UpperLayer._dt_2,  # "Issue P-DATA indication", as DT-2 (the state stays Sta7)
    Action.AR_7: UpperLayer._dt_1,  # "Issue P-DATA-TF PDU", as DT-1 (the state stays Sta8)
    Action.AR_8: UpperLayer._ar_8,
    Action.AR_9: UpperLayer._ar_9,
    Action.AR_10: UpperLayer._ar_10,
    Action.AA_1: UpperLayer._aa_1,
    Action.AA_2: UpperLayer._aa_2,
    Action.AA_3: UpperLayer._aa_3,
    Action.AA_4: UpperLayer._aa_4,
    Action.AA_5: UpperLayer._aa_5,
    Action.AA_6: UpperLayer._aa_6,
    Action.AA_7: UpperLayer._aa_7,
    Action.AA_8: UpperLayer._aa_8,
}
assert set(_ACTIONS) == set(Action)
