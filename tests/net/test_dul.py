"""The sans-IO Upper Layer: every cell of PS3.8 Table 9-10 on a real ``UpperLayer``, then whole
conversations between a requestor and an acceptor wired together in memory.

The expected actions come from ``test_fsm_table.EXPECTED_TABLE`` (typed in from the standard) and the
effects each action must produce are spelled out here from Tables 9-6 to 9-9, not read from the code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from app.net.dul import (
    AbortIndication,
    AssociateConfirmation,
    AssociateIndication,
    AssociateRejection,
    CloseTransport,
    DataIndication,
    Effect,
    OpenTransport,
    ReleaseConfirmation,
    ReleaseIndication,
    Role,
    SendPDU,
    StartArtim,
    StopArtim,
    TransportClosedIndication,
    UpperLayer,
)
from app.net.errors import LocalProtocolError
from app.net.fsm import Event, State
from app.net.pdu import (
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AbortReason,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    ContextResult,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    PresentationDataValue,
    ProviderACSERejectReason,
    RejectReason,
    RejectResult,
    RejectSource,
    UserInformation,
)
from app.net.pdu_codec import decode_pdu, encode_pdu
from tests.net.test_fsm_table import EXPECTED_NEXT_STATE, EXPECTED_TABLE

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"

RQ = AAssociateRQ(
    called_ae_title="ACCEPTOR",
    calling_ae_title="REQUESTOR",
    presentation_contexts=(PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE,)),),
    user_information=UserInformation(
        maximum_length=16384, implementation_class_uid="1.2.826.0.1.3680043.9.1"
    ),
)
AC = AAssociateAC(
    called_ae_title="ACCEPTOR",
    calling_ae_title="REQUESTOR",
    presentation_contexts=(PresentationContextAC(1, ContextResult.ACCEPTANCE, IMPLICIT_LE),),
    user_information=UserInformation(
        maximum_length=16384, implementation_class_uid="1.2.826.0.1.3680043.9.2"
    ),
)
RJ = AAssociateRJ(
    RejectResult.REJECTED_PERMANENT, RejectSource.SERVICE_USER, RejectReason.USER_CALLED_AE_NOT_RECOGNIZED
)
PDATA = PDataTF((PresentationDataValue(1, is_command=True, is_last=True, data=b"\x00\x01\x02\x03"),))
_E = TypeVar("_E")

GARBAGE = b"\x09\x00\x00\x00\x00\x00"  # PDU type 09H does not exist (PS3.8 9.3.1)


# --------------------------------------------------------------------------------------------------
# Helpers


def wire(effects: list[Effect]) -> bytes:
    """The bytes the transport would write for these effects."""
    return b"".join(bytes(part) for effect in effects if isinstance(effect, SendPDU) for part in effect.parts)


def summary(effects: list[Effect]) -> tuple[str, ...]:
    """Effects in words: ``send <PDU class>`` for writes, the class name otherwise."""
    return tuple(
        f"send {type(effect.pdu).__name__}" if isinstance(effect, SendPDU) else type(effect).__name__
        for effect in effects
    )


def sent(effects: list[Effect]) -> list[object]:
    """The PDUs written, decoded back from the bytes (not taken from the effect)."""
    return [decode_pdu(b"".join(bytes(p) for p in e.parts)) for e in effects if isinstance(e, SendPDU)]


def data_of(effects: list[Effect]) -> list[PDataTF]:
    """The P-DATA-TF PDUs of the DataIndications."""
    return [effect.pdu for effect in effects if isinstance(effect, DataIndication)]


def only(effects: list[Effect], kind: type[_E]) -> _E:
    matches = [effect for effect in effects if isinstance(effect, kind)]
    assert len(matches) == 1, summary(effects)
    return matches[0]


def requestor_in_sta5() -> UpperLayer:
    layer = UpperLayer(Role.REQUESTOR)
    layer.request_association(RQ)
    layer.connection_established()
    return layer


def acceptor_in_sta3() -> UpperLayer:
    layer = UpperLayer(Role.ACCEPTOR)
    layer.connection_established()
    layer.data_received(encode_pdu(RQ))
    return layer


def established(role: Role) -> UpperLayer:
    if role is Role.REQUESTOR:
        layer = requestor_in_sta5()
        layer.data_received(encode_pdu(AC))
    else:
        layer = acceptor_in_sta3()
        layer.accept(AC)
    assert layer.state is State.STA6
    return layer


def layer_in(state: int, role: Role) -> UpperLayer:
    """An UpperLayer brought to ``state`` through its public API only."""
    if state == 1:
        return UpperLayer(role)
    if state == 2:
        layer = UpperLayer(Role.ACCEPTOR)
        layer.connection_established()
    elif state == 3:
        layer = acceptor_in_sta3()
    elif state == 4:
        layer = UpperLayer(Role.REQUESTOR)
        layer.request_association(RQ)
    elif state == 5:
        layer = requestor_in_sta5()
    elif state == 13:
        layer = established(role)
        layer.abort()
    else:
        layer = established(role)
        if state in (7, 9, 10, 11, 12):
            layer.request_release()
        if state in (8, 9, 10, 11, 12):
            layer.data_received(encode_pdu(AReleaseRQ()))
        if state == 11:
            layer.respond_release()
        if state == 12:
            layer.data_received(encode_pdu(AReleaseRP()))
    assert layer.state == state
    return layer


# Which roles can be in each state: Sta2/3/10/12 exist only for the acceptor, Sta4/5/9/11 only for
# the requestor (PS3.8 9.2.1); the others for both.
ROLES_IN_STATE = {
    2: (Role.ACCEPTOR,),
    3: (Role.ACCEPTOR,),
    4: (Role.REQUESTOR,),
    5: (Role.REQUESTOR,),
    9: (Role.REQUESTOR,),
    10: (Role.ACCEPTOR,),
    11: (Role.REQUESTOR,),
    12: (Role.ACCEPTOR,),
}


def roles_for(state: int, event: int) -> tuple[Role, ...]:
    if state == 1:
        # Sta1: the requestor starts with Evt1, the acceptor with Evt5 (a connection comes in).
        return (Role.ACCEPTOR,) if event == 5 else (Role.REQUESTOR,)
    return ROLES_IN_STATE.get(state, (Role.REQUESTOR, Role.ACCEPTOR))


def trigger(layer: UpperLayer, event: int) -> list[Effect]:
    """Cause ``event`` through the layer's public API (what a transport or user would call)."""
    if event in (2, 5):
        own = Event.EVT2 if layer.role is Role.REQUESTOR else Event.EVT5
        if own == event:
            return layer.connection_established()
        # A transport cannot produce the other role's connection event: check the cell through the
        # dispatcher that every public method uses.
        return layer._fire(Event(event), None)
    actions: dict[int, Callable[[], list[Effect]]] = {
        1: lambda: layer.request_association(RQ),
        3: lambda: layer.data_received(encode_pdu(AC)),
        4: lambda: layer.data_received(encode_pdu(RJ)),
        6: lambda: layer.data_received(encode_pdu(RQ)),
        7: lambda: layer.accept(AC),
        8: lambda: layer.reject(RJ),
        9: lambda: layer.send_data(PDATA),
        10: lambda: layer.data_received(encode_pdu(PDATA)),
        11: layer.request_release,
        12: lambda: layer.data_received(encode_pdu(AReleaseRQ())),
        13: lambda: layer.data_received(encode_pdu(AReleaseRP())),
        14: layer.respond_release,
        15: layer.abort,
        16: lambda: layer.data_received(encode_pdu(AAbort())),
        17: layer.connection_closed,
        18: layer.artim_expired,
        19: lambda: layer.data_received(GARBAGE),
    }
    if event == 1 and layer.role is Role.ACCEPTOR:
        return layer._fire(Event.EVT1, RQ)  # request_association refuses an acceptor before the table
    return actions[event]()


# PS3.8 Tables 9-6 to 9-9: what each action does, as effects.
EXPECTED_EFFECTS = {
    "AE-1": ("OpenTransport",),
    "AE-2": ("send AAssociateRQ",),
    "AE-3": ("AssociateConfirmation",),
    "AE-4": ("AssociateRejection", "CloseTransport"),
    "AE-5": ("StartArtim",),
    "AE-6": ("StopArtim", "AssociateIndication"),  # the request is acceptable (protocol version 1)
    "AE-7": ("send AAssociateAC",),
    "AE-8": ("send AAssociateRJ", "StartArtim"),
    "DT-1": ("send PDataTF",),
    "DT-2": ("DataIndication",),
    "AR-1": ("send AReleaseRQ",),
    "AR-2": ("ReleaseIndication",),
    "AR-3": ("ReleaseConfirmation", "CloseTransport"),
    "AR-4": ("send AReleaseRP", "StartArtim"),
    "AR-5": ("StopArtim", "TransportClosedIndication"),
    "AR-6": ("DataIndication",),
    "AR-7": ("send PDataTF",),
    "AR-8": ("ReleaseIndication",),
    "AR-9": ("send AReleaseRP",),
    "AR-10": ("ReleaseConfirmation",),
    "AA-1": ("send AAbort", "StartArtim"),
    "AA-2": ("StopArtim", "CloseTransport"),
    "AA-3": ("AbortIndication", "CloseTransport"),
    "AA-4": ("AbortIndication",),
    "AA-5": ("StopArtim", "TransportClosedIndication"),
    "AA-6": (),
    "AA-7": ("send AAbort",),
    "AA-8": ("send AAbort", "AbortIndication", "StartArtim"),
}

CELL_CASES = [
    (state, event, role) for (state, event) in sorted(EXPECTED_TABLE) for role in roles_for(state, event)
]


def _cell_id(case: tuple[int, int, Role]) -> str:
    state, event, role = case
    return f"Sta{state}-Evt{event}-{role.name.lower()}"


# --------------------------------------------------------------------------------------------------
# Every cell of Table 9-10


@pytest.mark.parametrize(("state", "event", "role"), CELL_CASES, ids=[_cell_id(c) for c in CELL_CASES])
def test_table_9_10_cell(state: int, event: int, role: Role) -> None:
    layer = layer_in(state, role)
    action = EXPECTED_TABLE[(state, event)]
    if action is None:
        # A blank cell: the event cannot legitimately happen here, so it is the caller's bug.
        with pytest.raises(
            LocalProtocolError, match=rf"Sta{state}\b.*Evt{event}\b|Evt{event}\b.*Sta{state}\b"
        ):
            trigger(layer, event)
        assert layer.state == state
        return
    effects = trigger(layer, event)
    assert summary(effects) == EXPECTED_EFFECTS[action]
    if action == "AE-6":
        expected_state = 3
    elif action == "AR-8":
        expected_state = 9 if role is Role.REQUESTOR else 10
    else:
        expected_state = EXPECTED_NEXT_STATE[action]
    assert layer.state == expected_state


# --------------------------------------------------------------------------------------------------
# What the cells send and say


def test_aa8_answers_an_unexpected_pdu_with_a_provider_abort_and_tells_the_user() -> None:
    layer = established(Role.ACCEPTOR)
    effects = layer.data_received(encode_pdu(RQ))  # an A-ASSOCIATE-RQ on an established association
    assert sent(effects) == [AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.UNEXPECTED_PDU)]
    indication = only(effects, AbortIndication)
    assert indication == AbortIndication(
        AbortSource.SERVICE_PROVIDER,
        AbortReason.UNEXPECTED_PDU,
        True,
        indication.message,
    )
    assert "unexpected A-ASSOCIATE-RQ" in indication.message
    assert "Sta6" in indication.message
    assert layer.state is State.STA13


def test_aa1_in_sta2_refuses_a_pdu_other_than_the_request_with_the_provider_reason() -> None:
    layer = layer_in(2, Role.ACCEPTOR)
    effects = layer.data_received(encode_pdu(PDATA))
    assert sent(effects) == [AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.UNEXPECTED_PDU)]
    assert not any(isinstance(e, AbortIndication) for e in effects)  # no user knows of it yet
    assert layer.state is State.STA13


def test_user_abort_sends_the_service_user_source() -> None:
    layer = established(Role.REQUESTOR)
    effects = layer.abort()
    assert sent(effects) == [AAbort(AbortSource.SERVICE_USER, 0)]
    assert layer.state is State.STA13


def test_abort_can_name_the_provider_source_and_reason() -> None:
    layer = established(Role.REQUESTOR)
    effects = layer.abort(AbortReason.INVALID_PDU_PARAMETER_VALUE, source=AbortSource.SERVICE_PROVIDER)
    assert sent(effects) == [AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.INVALID_PDU_PARAMETER_VALUE)]


def test_user_abort_does_not_send_a_reason_with_the_user_source() -> None:
    # PS3.8 9.3.8: the reason is significant only for the service-provider source.
    layer = established(Role.REQUESTOR)
    assert sent(layer.abort(AbortReason.UNEXPECTED_PDU)) == [AAbort(AbortSource.SERVICE_USER, 0)]


def test_aa7_in_sta13_answers_an_association_request_with_an_abort() -> None:
    layer = layer_in(13, Role.ACCEPTOR)
    assert sent(layer.data_received(encode_pdu(RQ))) == [
        AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.UNEXPECTED_PDU)
    ]
    assert layer.state is State.STA13


def test_aa6_in_sta13_ignores_data_and_release_pdus() -> None:
    layer = layer_in(13, Role.REQUESTOR)
    stream = encode_pdu(PDATA) + encode_pdu(AReleaseRQ()) + encode_pdu(AReleaseRP()) + encode_pdu(AC)
    assert layer.data_received(stream) == []
    assert layer.state is State.STA13


def test_ae6_rejects_a_request_without_protocol_version_1() -> None:
    # PS3.8 9.3.2: the receiver tests only bit 0 of the protocol version.
    layer = layer_in(2, Role.ACCEPTOR)
    rq = AAssociateRQ(
        called_ae_title=RQ.called_ae_title,
        calling_ae_title=RQ.calling_ae_title,
        presentation_contexts=RQ.presentation_contexts,
        user_information=RQ.user_information,
        protocol_version=0x0002,
    )
    effects = layer.data_received(encode_pdu(rq))
    assert summary(effects) == ("StopArtim", "send AAssociateRJ", "StartArtim")
    assert sent(effects) == [
        AAssociateRJ(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_PROVIDER_ACSE,
            ProviderACSERejectReason.PROTOCOL_VERSION_NOT_SUPPORTED,
        )
    ]
    assert layer.state is State.STA13


def test_ae6_ignores_other_bits_of_the_protocol_version() -> None:
    layer = layer_in(2, Role.ACCEPTOR)
    rq = AAssociateRQ(
        called_ae_title=RQ.called_ae_title,
        calling_ae_title=RQ.calling_ae_title,
        presentation_contexts=RQ.presentation_contexts,
        user_information=RQ.user_information,
        protocol_version=0x0003,
    )
    effects = layer.data_received(encode_pdu(rq))
    assert only(effects, AssociateIndication) == AssociateIndication(rq)
    assert layer.state is State.STA3


def test_aa3_tells_a_user_abort_from_a_provider_abort() -> None:
    by_user = established(Role.REQUESTOR).data_received(encode_pdu(AAbort(AbortSource.SERVICE_USER, 0)))
    user = only(by_user, AbortIndication)
    assert (user.source, user.reason, user.provider) == (AbortSource.SERVICE_USER, 0, False)

    by_provider = established(Role.REQUESTOR).data_received(
        encode_pdu(AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.UNRECOGNIZED_PDU))
    )
    provider = only(by_provider, AbortIndication)
    assert (provider.source, provider.reason, provider.provider) == (
        AbortSource.SERVICE_PROVIDER,
        AbortReason.UNRECOGNIZED_PDU,
        True,
    )
    assert "unrecognized PDU" in provider.message


def test_a_forbidden_primitive_names_the_state_and_the_event() -> None:
    layer = requestor_in_sta5()
    with pytest.raises(LocalProtocolError) as raised:
        layer.send_data(PDATA)
    message = str(raised.value)
    assert "Sta5" in message
    assert "Evt9" in message
    assert "P-DATA request primitive" in message
    assert layer.state is State.STA5


def test_an_acceptor_cannot_request_an_association() -> None:
    with pytest.raises(LocalProtocolError, match="acceptor"):
        UpperLayer(Role.ACCEPTOR).request_association(RQ)


def test_send_data_writes_the_pdv_data_objects_without_copying_them() -> None:
    payload = bytes(range(256)) * 64
    pdu = PDataTF((PresentationDataValue(1, is_command=False, is_last=True, data=payload),))
    (effect,) = established(Role.REQUESTOR).send_data(pdu)
    assert isinstance(effect, SendPDU)
    assert effect.pdu is pdu
    assert any(part is payload for part in effect.parts)
    assert b"".join(effect.parts) == encode_pdu(pdu)


# --------------------------------------------------------------------------------------------------
# A requestor and an acceptor talking to each other


class Pair:
    """A requestor and an acceptor joined by an in-memory "connection"."""

    def __init__(self, *, acceptor_max_pdu_length: int = 0) -> None:
        self.requestor = UpperLayer(Role.REQUESTOR)
        self.acceptor = UpperLayer(Role.ACCEPTOR, max_pdu_length=acceptor_max_pdu_length)

    def connect(self) -> AssociateIndication:
        assert summary(self.requestor.request_association(RQ)) == ("OpenTransport",)
        assert summary(self.acceptor.connection_established()) == ("StartArtim",)
        rq_bytes = wire(self.requestor.connection_established())
        effects = self.acceptor.data_received(rq_bytes)
        assert summary(effects) == ("StopArtim", "AssociateIndication")
        return only(effects, AssociateIndication)

    def establish(self) -> None:
        self.connect()
        confirmation = self.to_requestor(self.acceptor.accept(AC))
        assert confirmation == [AssociateConfirmation(AC)]
        assert self.requestor.state is self.acceptor.state is State.STA6

    def to_acceptor(self, effects: list[Effect]) -> list[Effect]:
        return self.acceptor.data_received(wire(effects))

    def to_requestor(self, effects: list[Effect]) -> list[Effect]:
        return self.requestor.data_received(wire(effects))


def test_associate_and_accept() -> None:
    pair = Pair()
    indication = pair.connect()
    assert indication.request == RQ
    assert pair.acceptor.state is State.STA3
    assert pair.requestor.state is State.STA5
    answer = pair.acceptor.accept(AC)
    assert summary(answer) == ("send AAssociateAC",)
    assert pair.to_requestor(answer) == [AssociateConfirmation(AC)]
    assert pair.requestor.state is pair.acceptor.state is State.STA6


def test_associate_and_reject() -> None:
    pair = Pair()
    pair.connect()
    answer = pair.acceptor.reject(RJ)
    assert summary(answer) == ("send AAssociateRJ", "StartArtim")
    assert pair.acceptor.state is State.STA13
    assert pair.to_requestor(answer) == [AssociateRejection(RJ), CloseTransport()]
    assert pair.requestor.state is State.STA1
    # The requestor closed the connection: the acceptor's wait for it ends.
    assert pair.acceptor.connection_closed() == [StopArtim(), TransportClosedIndication()]
    assert pair.acceptor.state is State.STA1


def test_data_both_ways() -> None:
    pair = Pair()
    pair.establish()
    command = PDataTF((PresentationDataValue(1, is_command=True, is_last=True, data=b"command"),))
    dataset = PDataTF(
        (
            PresentationDataValue(1, is_command=False, is_last=False, data=b"first"),
            PresentationDataValue(1, is_command=False, is_last=True, data=b"second"),
        )
    )
    arrived = pair.to_acceptor(pair.requestor.send_data(command) + pair.requestor.send_data(dataset))
    assert [type(e) for e in arrived] == [DataIndication, DataIndication]
    received = data_of(arrived)
    assert [[bytes(v.data) for v in pdu.values] for pdu in received] == [[b"command"], [b"first", b"second"]]
    assert [[(v.is_command, v.is_last) for v in pdu.values] for pdu in received] == [
        [(True, True)],
        [(False, False), (False, True)],
    ]
    assert all(isinstance(v.data, memoryview) for pdu in received for v in pdu.values)

    reply = pair.to_requestor(pair.acceptor.send_data(command))
    assert [bytes(v.data) for v in data_of(reply)[0].values] == [b"command"]
    assert pair.requestor.state is pair.acceptor.state is State.STA6


def test_data_arriving_one_byte_at_a_time() -> None:
    pair = Pair()
    pair.establish()
    stream = wire(pair.requestor.send_data(PDATA) + pair.requestor.send_data(PDATA))
    arrived: list[Effect] = []
    for index in range(len(stream)):
        arrived += pair.acceptor.data_received(stream[index : index + 1])
    assert [bytes(pdu.values[0].data) for pdu in data_of(arrived)] == [b"\x00\x01\x02\x03"] * 2


def test_release() -> None:
    pair = Pair()
    pair.establish()
    request = pair.requestor.request_release()
    assert summary(request) == ("send AReleaseRQ",)
    assert pair.requestor.state is State.STA7
    assert pair.to_acceptor(request) == [ReleaseIndication(collision=False)]
    assert pair.acceptor.state is State.STA8

    # PS3.8 Table 9-10: the acceptor may still send data before answering (AR-7), and the requestor
    # still takes it while waiting for the answer (AR-6).
    late = pair.to_requestor(pair.acceptor.send_data(PDATA))
    assert [type(e) for e in late] == [DataIndication]
    assert pair.requestor.state is State.STA7

    response = pair.acceptor.respond_release()
    assert summary(response) == ("send AReleaseRP", "StartArtim")
    assert pair.acceptor.state is State.STA13
    assert pair.to_requestor(response) == [ReleaseConfirmation(), CloseTransport()]
    assert pair.requestor.state is State.STA1
    assert pair.acceptor.connection_closed() == [StopArtim(), TransportClosedIndication()]
    assert pair.acceptor.state is State.STA1


def test_release_collision() -> None:
    # PS3.8 9.2.4: both ask at once; the requestor answers first, the acceptor after its confirmation.
    pair = Pair()
    pair.establish()
    from_requestor = pair.requestor.request_release()
    from_acceptor = pair.acceptor.request_release()
    assert pair.requestor.state is pair.acceptor.state is State.STA7

    assert pair.to_requestor(from_acceptor) == [ReleaseIndication(collision=True)]
    assert pair.requestor.state is State.STA9
    assert pair.to_acceptor(from_requestor) == [ReleaseIndication(collision=True)]
    assert pair.acceptor.state is State.STA10

    requestor_answer = pair.requestor.respond_release()
    assert summary(requestor_answer) == ("send AReleaseRP",)
    assert pair.requestor.state is State.STA11
    assert pair.to_acceptor(requestor_answer) == [ReleaseConfirmation()]
    assert pair.acceptor.state is State.STA12

    acceptor_answer = pair.acceptor.respond_release()
    assert summary(acceptor_answer) == ("send AReleaseRP", "StartArtim")
    assert pair.acceptor.state is State.STA13
    assert pair.to_requestor(acceptor_answer) == [ReleaseConfirmation(), CloseTransport()]
    assert pair.requestor.state is State.STA1
    assert pair.acceptor.connection_closed() == [StopArtim(), TransportClosedIndication()]
    assert pair.acceptor.state is State.STA1


@pytest.mark.parametrize("aborting", ["requestor", "acceptor"])
def test_abort_from_either_side(aborting: str) -> None:
    pair = Pair()
    pair.establish()
    if aborting == "requestor":
        local, remote, deliver = pair.requestor, pair.acceptor, pair.to_acceptor
    else:
        local, remote, deliver = pair.acceptor, pair.requestor, pair.to_requestor
    request = local.abort()
    assert summary(request) == ("send AAbort", "StartArtim")
    assert local.state is State.STA13
    effects = deliver(request)
    assert summary(effects) == ("AbortIndication", "CloseTransport")
    indication = only(effects, AbortIndication)
    assert indication.provider is False
    assert indication.source is AbortSource.SERVICE_USER
    assert "aborted by the peer application" in indication.message
    assert remote.state is State.STA1
    assert local.connection_closed() == [StopArtim(), TransportClosedIndication()]
    assert local.state is State.STA1


def test_malformed_bytes_are_answered_with_an_abort() -> None:
    pair = Pair()
    pair.establish()
    effects = pair.acceptor.data_received(GARBAGE)
    assert summary(effects) == ("send AAbort", "AbortIndication", "StartArtim")
    assert sent(effects) == [AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.UNRECOGNIZED_PDU)]
    indication = only(effects, AbortIndication)
    assert indication.provider is True
    assert indication.reason == AbortReason.UNRECOGNIZED_PDU
    assert "unknown type 0x09" in indication.message
    assert pair.acceptor.state is State.STA13

    # The stream cannot be framed after that: further bytes are dropped, not answered again.
    assert pair.acceptor.data_received(encode_pdu(PDATA)) == []

    # The requestor hears an A-P-ABORT from the acceptor's upper layer and closes.
    heard = pair.to_requestor(effects)
    assert summary(heard) == ("AbortIndication", "CloseTransport")
    assert only(heard, AbortIndication).provider is True
    assert pair.requestor.state is State.STA1


def test_pdus_before_a_malformed_one_are_still_delivered() -> None:
    pair = Pair()
    pair.establish()
    effects = pair.acceptor.data_received(encode_pdu(PDATA) + GARBAGE)
    assert summary(effects) == ("DataIndication", "send AAbort", "AbortIndication", "StartArtim")


def test_a_pdata_larger_than_our_maximum_is_aborted() -> None:
    pair = Pair(acceptor_max_pdu_length=64)
    pair.establish()
    big = PDataTF((PresentationDataValue(1, is_command=False, is_last=True, data=b"x" * 200),))
    effects = pair.to_acceptor(pair.requestor.send_data(big))
    assert sent(effects) == [AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.INVALID_PDU_PARAMETER_VALUE)]
    assert pair.acceptor.state is State.STA13


def test_artim_expiry_in_sta2_closes_a_silent_connection() -> None:
    acceptor = UpperLayer(Role.ACCEPTOR)
    assert acceptor.connection_established() == [StartArtim()]
    assert acceptor.artim_expired() == [StopArtim(), CloseTransport()]
    assert acceptor.state is State.STA1


def test_artim_expiry_in_sta13_closes_the_connection_the_peer_keeps_open() -> None:
    pair = Pair()
    pair.establish()
    assert pair.to_acceptor(pair.requestor.request_release()) == [ReleaseIndication(collision=False)]
    assert summary(pair.acceptor.respond_release()) == ("send AReleaseRP", "StartArtim")
    # The requestor never closes: ARTIM ends the wait (PS3.8 9.1.5).
    assert pair.acceptor.artim_expired() == [StopArtim(), CloseTransport()]
    assert pair.acceptor.state is State.STA1


@pytest.mark.parametrize("state", [3, 5, 6, 7, 8])
def test_connection_lost_mid_association_is_an_a_p_abort(state: int) -> None:
    role = Role.ACCEPTOR if state == 3 else Role.REQUESTOR
    layer = layer_in(state, role)
    effects = layer.connection_closed()
    indication = only(effects, AbortIndication)
    assert indication.provider is True
    assert indication.source is None
    assert f"Sta{state}" in indication.message
    assert layer.state is State.STA1


def test_a_failed_connect_is_an_a_p_abort() -> None:
    layer = layer_in(4, Role.REQUESTOR)
    indication = only(layer.connection_closed(), AbortIndication)
    assert "could not be opened" in indication.message
    assert layer.state is State.STA1


def test_bytes_behind_the_release_response_are_dropped_with_the_connection() -> None:
    pair = Pair()
    pair.establish()
    pair.to_acceptor(pair.requestor.request_release())
    stream = wire(pair.acceptor.respond_release()) + encode_pdu(PDATA)
    assert pair.requestor.data_received(stream) == [ReleaseConfirmation(), CloseTransport()]
    assert pair.requestor.state is State.STA1


def test_a_requestor_can_associate_again_after_a_release() -> None:
    pair = Pair()
    pair.establish()
    pair.to_acceptor(pair.requestor.request_release())
    pair.to_requestor(pair.acceptor.respond_release())
    assert pair.requestor.state is State.STA1
    assert pair.requestor.request_association(RQ) == [OpenTransport()]
    assert sent(pair.requestor.connection_established()) == [RQ]
