"""Association negotiation as a specification: every answer an acceptor can give, and how a requestor
reads it.  Pure data in, pure data out: no sockets."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    MRImageStorage,
)

from app.net.contexts import (
    QR_GET,
    STORAGE_SOP_CLASSES,
    VERIFICATION,
    build_presentation_contexts,
)
from app.net.errors import NoAcceptedContext, RemoteProtocolError
from app.net.negotiation import (
    ASSUMED_PEER_MAX_PDU_LENGTH,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    AcceptorPolicy,
    RequestorSettings,
    acceptor_view,
    build_associate_rq,
    interpret_associate_ac,
    negotiate_as_acceptor,
    reject_local_limit_exceeded,
    reject_temporary_congestion,
)
from app.net.pdu import (
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AsynchronousOperationsWindow,
    ContextResult,
    PresentationContextAC,
    PresentationContextRQ,
    RejectResult,
    RejectSource,
    RoleSelection,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserIdentityType,
    UserInformation,
    describe_rejection,
)
from app.net.pdu_codec import encode_pdu

STUDY_GET = QR_GET[1]


def policy(**changes: object) -> AcceptorPolicy:
    base = AcceptorPolicy(
        ae_title="PACS",
        supported={
            VERIFICATION: (ImplicitVRLittleEndian,),
            CTImageStorage: (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit),
            STUDY_GET: (ExplicitVRLittleEndian, ImplicitVRLittleEndian),
        },
        max_pdu_length=16384,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def request(*pairs: tuple[str, tuple[str, ...]], **settings: object) -> AAssociateRQ:
    fields: dict = {
        "calling_ae_title": "COURIER",
        "called_ae_title": "PACS",
        "contexts": build_presentation_contexts(pairs or [(VERIFICATION, (ImplicitVRLittleEndian,))]),
        "max_pdu_length": 32768,
    }
    fields.update(settings)
    return build_associate_rq(RequestorSettings(**fields))


def accept(rq: AAssociateRQ, acceptor: AcceptorPolicy | None = None) -> AAssociateAC:
    answer = negotiate_as_acceptor(rq, acceptor or policy())
    assert isinstance(answer, AAssociateAC), answer
    return answer


def refuse(rq: AAssociateRQ, acceptor: AcceptorPolicy | None = None) -> AAssociateRJ:
    answer = negotiate_as_acceptor(rq, acceptor or policy())
    assert isinstance(answer, AAssociateRJ), answer
    return answer


# --------------------------------------------------------------------------------------------------
# Constants and the request we build


def test_implementation_identity_is_a_valid_uid_and_short_version_name() -> None:
    assert (
        re.fullmatch(r"2\.25\.[1-9][0-9]*", IMPLEMENTATION_CLASS_UID) and len(IMPLEMENTATION_CLASS_UID) <= 64
    )
    assert IMPLEMENTATION_VERSION_NAME == "COURIER_010" and len(IMPLEMENTATION_VERSION_NAME) <= 16


def test_the_request_carries_what_the_settings_say() -> None:
    identity = UserIdentityRQ(UserIdentityType.USERNAME, True, b"alice")
    rq = request(
        (CTImageStorage, (ExplicitVRLittleEndian,)),
        role_selections=(RoleSelection(CTImageStorage, False, True),),
        async_ops_window=AsynchronousOperationsWindow(4, 2),
        user_identity=identity,
    )
    assert rq.calling_ae_title == "COURIER" and rq.called_ae_title == "PACS"
    assert rq.presentation_contexts == (PresentationContextRQ(1, CTImageStorage, (ExplicitVRLittleEndian,)),)
    info = rq.user_information
    assert info.maximum_length == 32768
    assert (info.implementation_class_uid, info.implementation_version_name) == (
        IMPLEMENTATION_CLASS_UID,
        "COURIER_010",
    )
    assert info.role_selections == (RoleSelection(CTImageStorage, False, True),)
    assert info.asynchronous_operations_window == AsynchronousOperationsWindow(4, 2)
    assert info.user_identity_rq == identity


def test_ae_titles_are_sent_without_padding() -> None:
    assert request(calling_ae_title="  COURIER  ", called_ae_title="PACS ").calling_ae_title == "COURIER"


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("A" * 17, "longer than 16"),
        ("A\\B", "no backslash"),
        ("Ä", "printable ASCII"),
    ],
)
def test_unusable_ae_titles_are_refused_in_words(title: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        request(called_ae_title=title)


def test_the_128_context_limit_is_enforced_on_the_request_too() -> None:
    contexts = [
        PresentationContextRQ(2 * i + 1, uid, (ImplicitVRLittleEndian,))
        for i, uid in enumerate(STORAGE_SOP_CLASSES[:129])
    ]
    with pytest.raises(ValueError, match="129 presentation contexts proposed"):
        request(contexts=contexts)
    assert len(request(contexts=contexts[:128]).presentation_contexts) == 128


@pytest.mark.parametrize("bad_id", [2, 0, 257])
def test_context_ids_must_be_odd_and_in_range(bad_id: int) -> None:
    with pytest.raises(ValueError, match="must be odd"):
        request(contexts=[PresentationContextRQ(bad_id, VERIFICATION, (ImplicitVRLittleEndian,))])


def test_duplicate_context_ids_are_refused() -> None:
    context = PresentationContextRQ(1, VERIFICATION, (ImplicitVRLittleEndian,))
    with pytest.raises(ValueError, match="unique"):
        request(contexts=[context, context])


# --------------------------------------------------------------------------------------------------
# Association rejections (PS3.8 Table 9-21)


def test_wrong_called_ae_title_is_rejected_with_reason_7() -> None:
    rj = refuse(request(called_ae_title="OTHER"))
    assert (rj.result, rj.source, rj.reason) == (
        RejectResult.REJECTED_PERMANENT,
        RejectSource.SERVICE_USER,
        7,
    )
    assert "called AE title not recognized" in describe_rejection(rj.result, rj.source, rj.reason)


def test_called_ae_title_ignores_padding_and_case_by_default() -> None:
    accept(request(called_ae_title=" pacs "))
    accept(request(called_ae_title="PACS"), policy(ae_title="PACS  "))


def test_case_sensitive_ae_titles_are_an_option() -> None:
    assert refuse(request(called_ae_title="pacs"), policy(case_sensitive_ae_titles=True)).reason == 7
    accept(request(called_ae_title="PACS"), policy(case_sensitive_ae_titles=True))


def test_any_called_ae_title_is_accepted_when_not_required() -> None:
    accept(request(called_ae_title="ANY-SCP"), policy(require_called_ae_title=False))


def test_unknown_calling_ae_title_is_rejected_with_reason_3() -> None:
    acceptor = policy(allowed_calling_ae_titles=frozenset({"FRIEND", "CT01"}))
    rj = refuse(request(calling_ae_title="STRANGER"), acceptor)
    assert (rj.result, rj.source, rj.reason) == (
        RejectResult.REJECTED_PERMANENT,
        RejectSource.SERVICE_USER,
        3,
    )
    accept(request(calling_ae_title="ct01"), acceptor)


def test_called_ae_title_is_checked_before_calling() -> None:
    acceptor = policy(allowed_calling_ae_titles=frozenset({"FRIEND"}))
    assert refuse(request(called_ae_title="OTHER", calling_ae_title="STRANGER"), acceptor).reason == 7


def test_unknown_application_context_is_rejected_by_the_user_with_reason_2() -> None:
    rj = refuse(replace(request(), application_context="1.2.3.4"))
    assert (rj.result, rj.source, rj.reason) == (
        RejectResult.REJECTED_PERMANENT,
        RejectSource.SERVICE_USER,
        2,
    )


def test_unsupported_protocol_version_is_rejected_by_acse_with_reason_2() -> None:
    rj = refuse(replace(request(), protocol_version=0x0002))
    assert (rj.result, rj.source, rj.reason) == (
        RejectResult.REJECTED_PERMANENT,
        RejectSource.SERVICE_PROVIDER_ACSE,
        2,
    )


def test_transient_presentation_rejections_for_a_busy_server() -> None:
    busy = reject_local_limit_exceeded()
    assert (busy.result, busy.source, busy.reason) == (
        RejectResult.REJECTED_TRANSIENT,
        RejectSource.SERVICE_PROVIDER_PRESENTATION,
        2,
    )
    assert "too many associations" in describe_rejection(busy.result, busy.source, busy.reason)
    congested = reject_temporary_congestion()
    assert (congested.result, congested.source, congested.reason) == (
        RejectResult.REJECTED_TRANSIENT,
        RejectSource.SERVICE_PROVIDER_PRESENTATION,
        1,
    )


# --------------------------------------------------------------------------------------------------
# Presentation context results (PS3.8 Table 9-18)


def test_every_context_gets_its_result() -> None:
    rq = request(
        (VERIFICATION, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)),  # accepted
        (MRImageStorage, (ExplicitVRLittleEndian,)),  # abstract syntax not supported
        (CTImageStorage, (JPEGLSLossless,)),  # transfer syntaxes not supported
    )
    ac = accept(rq)
    assert ac.presentation_contexts == (
        PresentationContextAC(1, ContextResult.ACCEPTANCE, ImplicitVRLittleEndian),
        PresentationContextAC(3, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, ExplicitVRLittleEndian),
        PresentationContextAC(5, ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, JPEGLSLossless),
    )
    assert (ac.called_ae_title, ac.calling_ae_title) == ("PACS", "COURIER")


def test_an_even_context_id_is_rejected_with_no_reason() -> None:
    rq = replace(
        request(), presentation_contexts=(PresentationContextRQ(2, VERIFICATION, (ImplicitVRLittleEndian,)),)
    )
    assert accept(rq).presentation_contexts == (
        PresentationContextAC(2, ContextResult.NO_REASON, ImplicitVRLittleEndian),
    )


def test_a_repeated_context_id_is_answered_once() -> None:
    context = PresentationContextRQ(1, VERIFICATION, (ImplicitVRLittleEndian,))
    rq = replace(request(), presentation_contexts=(context, replace(context, abstract_syntax=CTImageStorage)))
    assert [c.context_id for c in accept(rq).presentation_contexts] == [1]


def test_the_proposer_order_picks_the_transfer_syntax_by_default() -> None:
    rq = request((CTImageStorage, (JPEGBaseline8Bit, ImplicitVRLittleEndian, ExplicitVRLittleEndian)))
    assert accept(rq).presentation_contexts[0].transfer_syntax == JPEGBaseline8Bit


def test_our_order_picks_the_transfer_syntax_when_configured() -> None:
    rq = request((CTImageStorage, (JPEGBaseline8Bit, ImplicitVRLittleEndian, ExplicitVRLittleEndian)))
    ac = accept(rq, policy(prefer_proposer_transfer_syntax_order=False))
    assert ac.presentation_contexts[0].transfer_syntax == ExplicitVRLittleEndian


def test_unknown_abstract_syntaxes_can_be_accepted_with_a_syntax_we_handle() -> None:
    private = "1.2.826.0.1.3680043.9.9999.1"
    rq = request((private, (JPEGLSLossless, ImplicitVRLittleEndian)))
    assert accept(rq).presentation_contexts[0].result == ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED
    ac = accept(rq, policy(accept_unknown_abstract_syntaxes=True))
    assert ac.presentation_contexts[0] == PresentationContextAC(
        1, ContextResult.ACCEPTANCE, ImplicitVRLittleEndian
    )


# --------------------------------------------------------------------------------------------------
# SCP/SCU role selection (PS3.7 D.3.3.4)

ROLE_TABLE = [
    # proposed (scu, scp), policy allows (scu, scp) -> answered (scu, scp), context result
    ((True, False), (True, True), (True, False), ContextResult.ACCEPTANCE),
    ((False, True), (True, True), (False, True), ContextResult.ACCEPTANCE),
    ((True, True), (True, True), (True, True), ContextResult.ACCEPTANCE),
    ((True, True), (True, False), (True, False), ContextResult.ACCEPTANCE),
    ((True, True), (False, True), (False, True), ContextResult.ACCEPTANCE),
    ((False, True), (True, False), (False, False), ContextResult.USER_REJECTION),
    ((True, False), (False, True), (False, False), ContextResult.USER_REJECTION),
]


@pytest.mark.parametrize(("proposed", "allowed", "answered", "result"), ROLE_TABLE)
def test_role_selection_grants_only_proposed_roles_the_policy_allows(
    proposed: tuple[bool, bool],
    allowed: tuple[bool, bool],
    answered: tuple[bool, bool],
    result: ContextResult,
) -> None:
    rq = request(
        (CTImageStorage, (ExplicitVRLittleEndian,)),
        role_selections=(RoleSelection(CTImageStorage, *proposed),),
    )
    ac = accept(rq, policy(scp_roles={CTImageStorage: allowed}))
    assert ac.presentation_contexts[0].result == result
    if result == ContextResult.ACCEPTANCE:
        assert ac.user_information.role_selections == (RoleSelection(CTImageStorage, *answered),)
        assert interpret_associate_ac(rq, ac).contexts.by_id(1).scp_role == answered[1]  # type: ignore[union-attr]
    else:
        assert ac.user_information.role_selections == ()


def test_without_a_policy_entry_the_proposed_roles_are_granted() -> None:
    rq = request(
        (CTImageStorage, (ExplicitVRLittleEndian,)),
        role_selections=(RoleSelection(CTImageStorage, False, True),),
    )
    ac = accept(rq)
    assert ac.user_information.role_selections == (RoleSelection(CTImageStorage, False, True),)


def test_roles_are_answered_only_for_sop_classes_proposed_and_accepted() -> None:
    rq = request(
        (STUDY_GET, (ExplicitVRLittleEndian,)),
        (CTImageStorage, (ExplicitVRLittleEndian,)),
        role_selections=(
            RoleSelection(CTImageStorage, False, True),
            RoleSelection(MRImageStorage, False, True),
        ),
    )
    ac = accept(rq)
    assert [r.sop_class_uid for r in ac.user_information.role_selections] == [CTImageStorage]
    assert not any(r.sop_class_uid == STUDY_GET for r in ac.user_information.role_selections)


def test_c_get_roles_as_both_sides_see_them() -> None:
    rq = request(
        (STUDY_GET, (ExplicitVRLittleEndian,)),
        (CTImageStorage, (ExplicitVRLittleEndian,)),
        role_selections=(RoleSelection(CTImageStorage, False, True),),
    )
    ac = accept(rq)
    for view in (interpret_associate_ac(rq, ac), acceptor_view(rq, ac)):
        # The acceptor sends C-STORE sub-operations: it needs the requestor's SCP role.
        assert view.contexts.find(CTImageStorage, role="scp").context_id == 3
        assert view.contexts.find(STUDY_GET).context_id == 1
        with pytest.raises(NoAcceptedContext):
            view.contexts.find(CTImageStorage, role="scu")


def test_a_role_the_acceptor_grants_but_we_never_proposed_is_ignored() -> None:
    rq = request(
        (CTImageStorage, (ExplicitVRLittleEndian,)),
        role_selections=(RoleSelection(CTImageStorage, True, False),),
    )
    ac = accept(rq)
    generous = replace(
        ac,
        user_information=replace(
            ac.user_information, role_selections=(RoleSelection(CTImageStorage, True, True),)
        ),
    )
    context = interpret_associate_ac(rq, generous).contexts.by_id(1)
    assert context is not None and (context.scu_role, context.scp_role) == (True, False)


def test_an_unanswered_role_proposal_falls_back_to_the_default_roles() -> None:
    rq = request(
        (CTImageStorage, (ExplicitVRLittleEndian,)),
        role_selections=(RoleSelection(CTImageStorage, True, True),),
    )
    ac = accept(rq)
    silent = replace(ac, user_information=replace(ac.user_information, role_selections=()))
    context = interpret_associate_ac(rq, silent).contexts.by_id(1)
    assert context is not None and (context.scu_role, context.scp_role) == (True, False)


# --------------------------------------------------------------------------------------------------
# Asynchronous operations window (PS3.7 D.3.3.3)

WINDOW_TABLE = [
    # proposed (invoked, performed), policy (performed, invoked) -> answered (invoked, performed)
    ((1, 1), (1, 1), (1, 1)),
    ((8, 1), (8, 8), (8, 1)),
    ((8, 8), (4, 2), (4, 2)),
    ((0, 0), (4, 2), (4, 2)),
    ((5, 3), (0, 0), (5, 3)),
    ((0, 0), (0, 0), (0, 0)),
    ((2, 0), (16, 1), (2, 1)),
]


@pytest.mark.parametrize(("proposed", "ours", "answered"), WINDOW_TABLE)
def test_async_window_grants_the_smaller_limits_with_zero_as_unlimited(
    proposed: tuple[int, int], ours: tuple[int, int], answered: tuple[int, int]
) -> None:
    rq = request(async_ops_window=AsynchronousOperationsWindow(*proposed))
    ac = accept(rq, policy(max_operations_performed=ours[0], max_operations_invoked=ours[1]))
    assert ac.user_information.asynchronous_operations_window == AsynchronousOperationsWindow(*answered)
    requestor = interpret_associate_ac(rq, ac)
    assert (requestor.max_operations_invoked, requestor.max_operations_performed) == answered
    acceptor = acceptor_view(rq, ac)
    # The acceptor performs what the requestor invokes, and the other way round.
    assert (acceptor.max_operations_performed, acceptor.max_operations_invoked) == answered


def test_async_window_is_answered_only_when_proposed() -> None:
    rq = request()
    ac = accept(rq, policy(max_operations_performed=8))
    assert ac.user_information.asynchronous_operations_window is None
    for view in (interpret_associate_ac(rq, ac), acceptor_view(rq, ac)):
        assert (view.max_operations_invoked, view.max_operations_performed) == (1, 1)


def test_an_acceptor_that_ignores_our_window_leaves_us_at_one() -> None:
    rq = request(async_ops_window=AsynchronousOperationsWindow(8, 8))
    ac = accept(rq)
    silent = replace(ac, user_information=replace(ac.user_information, asynchronous_operations_window=None))
    assert interpret_associate_ac(rq, silent).max_operations_invoked == 1


def test_an_acceptor_cannot_widen_our_window() -> None:
    rq = request(async_ops_window=AsynchronousOperationsWindow(4, 1))
    ac = accept(rq)
    wider = replace(
        ac,
        user_information=replace(
            ac.user_information, asynchronous_operations_window=AsynchronousOperationsWindow(0, 9)
        ),
    )
    view = interpret_associate_ac(rq, wider)
    assert (view.max_operations_invoked, view.max_operations_performed) == (4, 1)


# --------------------------------------------------------------------------------------------------
# User identity (PS3.7 D.3.3.7)


def identity(
    positive: bool = True, kind: UserIdentityType = UserIdentityType.USERNAME_AND_PASSCODE
) -> UserIdentityRQ:
    return UserIdentityRQ(kind, positive, b"alice", b"secret")


def test_without_a_check_a_user_identity_is_ignored() -> None:
    ac = accept(request(user_identity=identity()))
    assert ac.user_information.user_identity_ac is None
    assert interpret_associate_ac(request(user_identity=identity()), ac).user_identity_response is None


def test_a_positive_response_carries_the_checks_server_response() -> None:
    seen: list[UserIdentityRQ] = []

    def check(presented: UserIdentityRQ) -> bytes:
        seen.append(presented)
        return b"kerberos-server-ticket"

    rq = request(user_identity=identity(kind=UserIdentityType.KERBEROS))
    ac = accept(rq, policy(user_identity_check=check))
    assert seen == [identity(kind=UserIdentityType.KERBEROS)]
    assert ac.user_information.user_identity_ac == UserIdentityAC(b"kerberos-server-ticket")
    assert interpret_associate_ac(rq, ac).user_identity_response == b"kerberos-server-ticket"
    view = acceptor_view(rq, ac)
    assert view.user_identity == identity(kind=UserIdentityType.KERBEROS) and not view.is_requestor


def test_a_passcode_accepted_with_true_gets_an_empty_positive_response() -> None:
    ac = accept(request(user_identity=identity()), policy(user_identity_check=lambda _: True))
    assert ac.user_information.user_identity_ac == UserIdentityAC(b"")


def test_no_response_is_sent_when_none_was_requested() -> None:
    ac = accept(
        request(user_identity=identity(positive=False)), policy(user_identity_check=lambda _: b"ticket")
    )
    assert ac.user_information.user_identity_ac is None


def test_a_refused_identity_rejects_the_association_with_no_reason() -> None:
    rj = refuse(request(user_identity=identity()), policy(user_identity_check=lambda _: False))
    assert (rj.result, rj.source, rj.reason) == (
        RejectResult.REJECTED_PERMANENT,
        RejectSource.SERVICE_USER,
        1,
    )


def test_a_missing_identity_is_rejected_when_the_policy_checks_identities() -> None:
    assert refuse(request(), policy(user_identity_check=lambda _: True)).reason == 1


# --------------------------------------------------------------------------------------------------
# Maximum PDU length and implementation identity, both ways (PS3.8 D.1, PS3.7 D.3.3.2)


def test_max_pdu_lengths_propagate_both_ways() -> None:
    rq = request(max_pdu_length=32768)
    ac = accept(rq, policy(max_pdu_length=16384))
    assert ac.user_information.maximum_length == 16384
    requestor = interpret_associate_ac(rq, ac)
    assert (requestor.peer_max_pdu_length, requestor.our_max_pdu_length) == (16384, 32768)
    acceptor = acceptor_view(rq, ac)
    assert (acceptor.peer_max_pdu_length, acceptor.our_max_pdu_length) == (32768, 16384)


def test_zero_means_unlimited_on_both_sides() -> None:
    rq = request(max_pdu_length=0)
    ac = accept(rq, policy(max_pdu_length=0))
    assert interpret_associate_ac(rq, ac).peer_max_pdu_length == 0
    assert acceptor_view(rq, ac).peer_max_pdu_length == 0


def test_a_peer_that_states_no_limit_gets_a_safe_one() -> None:
    rq = request()
    ac = accept(rq)
    silent = replace(ac, user_information=replace(ac.user_information, maximum_length=None))
    assert interpret_associate_ac(rq, silent).peer_max_pdu_length == ASSUMED_PEER_MAX_PDU_LENGTH


def test_a_peer_limit_too_small_to_carry_data_is_a_protocol_error() -> None:
    rq = request()
    ac = accept(rq)
    tiny = replace(ac, user_information=replace(ac.user_information, maximum_length=4))
    with pytest.raises(RemoteProtocolError, match="only 4 bytes"):
        interpret_associate_ac(rq, tiny)


def test_we_refuse_to_advertise_an_unusable_limit() -> None:
    with pytest.raises(ValueError, match="maximum PDU length 3"):
        request(max_pdu_length=3)


def test_each_side_learns_the_others_implementation() -> None:
    rq = request()
    ac = accept(rq, policy(implementation_class_uid="1.2.3.4", implementation_version_name="PEER_1"))
    requestor = interpret_associate_ac(rq, ac)
    assert (requestor.peer_implementation_class_uid, requestor.peer_implementation_version_name) == (
        "1.2.3.4",
        "PEER_1",
    )
    acceptor = acceptor_view(rq, ac)
    assert (acceptor.peer_implementation_class_uid, acceptor.peer_implementation_version_name) == (
        IMPLEMENTATION_CLASS_UID,
        IMPLEMENTATION_VERSION_NAME,
    )
    assert (acceptor.calling_ae_title, acceptor.called_ae_title) == ("COURIER", "PACS")


# --------------------------------------------------------------------------------------------------
# Extended negotiation (PS3.7 D.3.3.5)


def test_extended_negotiation_is_answered_only_when_configured_and_only_for_accepted_classes() -> None:
    items = (
        SOPClassExtendedNegotiation(CTImageStorage, b"\x01"),
        SOPClassExtendedNegotiation(MRImageStorage, b"\x01"),
    )
    rq = request((CTImageStorage, (ExplicitVRLittleEndian,)), extended=items)
    assert accept(rq).user_information.sop_class_extended == ()
    ac = accept(rq, policy(extended_negotiation=lambda item: b"\x00"))
    assert ac.user_information.sop_class_extended == (SOPClassExtendedNegotiation(CTImageStorage, b"\x00"),)
    assert interpret_associate_ac(rq, ac).extended_negotiation == {CTImageStorage: b"\x00"}


# --------------------------------------------------------------------------------------------------
# Reading the acceptor's answer strictly where it matters


def test_an_answer_for_a_context_we_never_proposed_is_a_protocol_error() -> None:
    rq = request()
    ac = accept(rq)
    bogus = replace(
        ac,
        presentation_contexts=(
            *ac.presentation_contexts,
            PresentationContextAC(9, ContextResult.ACCEPTANCE, ImplicitVRLittleEndian),
        ),
    )
    with pytest.raises(RemoteProtocolError, match="presentation context 9, which we never proposed"):
        interpret_associate_ac(rq, bogus)


def test_a_transfer_syntax_we_did_not_propose_is_a_protocol_error() -> None:
    rq = request((CTImageStorage, (ExplicitVRLittleEndian,)))
    bogus = AAssociateAC(
        "PACS",
        "COURIER",
        (PresentationContextAC(1, ContextResult.ACCEPTANCE, JPEGBaseline8Bit),),
        UserInformation(16384),
    )
    with pytest.raises(
        RemoteProtocolError,
        match=r"accepted CT Image Storage \(context 1\) with JPEG Baseline \(Process 1\), which we did not",
    ):
        interpret_associate_ac(rq, bogus)


def test_two_answers_for_one_context_are_a_protocol_error() -> None:
    rq = request()
    ac = accept(rq)
    twice = replace(ac, presentation_contexts=ac.presentation_contexts * 2)
    with pytest.raises(RemoteProtocolError, match="twice"):
        interpret_associate_ac(rq, twice)


def test_a_rejected_context_may_carry_any_transfer_syntax() -> None:
    rq = request((CTImageStorage, (ExplicitVRLittleEndian,)), (VERIFICATION, (ImplicitVRLittleEndian,)))
    answer = AAssociateAC(
        "PACS",
        "COURIER",
        (
            PresentationContextAC(1, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, ""),
            PresentationContextAC(3, ContextResult.ACCEPTANCE, ImplicitVRLittleEndian),
        ),
        UserInformation(16384),
    )
    view = interpret_associate_ac(rq, answer)
    assert view.contexts.rejected == ((CTImageStorage, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED),)
    assert view.contexts.find(VERIFICATION).context_id == 3


# --------------------------------------------------------------------------------------------------
# Cross-check with pynetdicom (a peer we interoperate with)


def test_pynetdicom_reads_our_answer_as_we_do() -> None:
    """pynetdicom's requestor-side negotiation, fed our AC through both codecs, agrees with ours."""
    pynetdicom_pdu = pytest.importorskip("pynetdicom.pdu")
    presentation = pytest.importorskip("pynetdicom.presentation")
    rq = request(
        (VERIFICATION, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)),
        (MRImageStorage, (ExplicitVRLittleEndian,)),
        (CTImageStorage, (JPEGLSLossless,)),
        (CTImageStorage, (JPEGBaseline8Bit, ExplicitVRLittleEndian)),
        role_selections=(RoleSelection(CTImageStorage, True, True),),
        async_ops_window=AsynchronousOperationsWindow(4, 1),
    )
    ac = accept(rq, policy(scp_roles={CTImageStorage: (True, False)}, max_operations_performed=2))
    theirs = pynetdicom_pdu.A_ASSOCIATE_AC()
    theirs.decode(encode_pdu(ac))
    primitive = theirs.to_primitive()

    proposed = []
    for context in rq.presentation_contexts:
        item = presentation.PresentationContext()
        item.context_id = context.context_id
        item.abstract_syntax = context.abstract_syntax
        item.transfer_syntax = list(context.transfer_syntaxes)
        proposed.append(item)
    roles = {CTImageStorage: (True, True)}
    results = presentation.negotiate_as_requestor(
        proposed, primitive.presentation_context_definition_results_list, roles
    )
    ours = interpret_associate_ac(rq, ac)
    pynetdicom_accepted = {
        (c.context_id, c.transfer_syntax[0], bool(c.as_scu), bool(c.as_scp)) for c in results if c.result == 0
    }
    our_accepted = {(c.context_id, c.transfer_syntax, c.scu_role, c.scp_role) for c in ours.contexts}
    assert (
        pynetdicom_accepted
        == our_accepted
        == {(1, ImplicitVRLittleEndian, True, False), (7, JPEGBaseline8Bit, True, False)}
    )
    assert {c.context_id: c.result for c in results if c.result != 0} == {3: 3, 5: 4}
    assert primitive.maximum_length_received == 16384
    window = next(
        i for i in primitive.user_information if type(i).__name__ == "AsynchronousOperationsWindowNegotiation"
    )
    assert (window.maximum_number_operations_invoked, window.maximum_number_operations_performed) == (2, 1)


def test_with_our_order_preferred_we_choose_as_pynetdicoms_acceptor_does() -> None:
    """pynetdicom (like DCMTK's ASC_acceptContextsWithPreferredTransferSyntaxes) walks the acceptor's
    list in order; our ``prefer_proposer_transfer_syntax_order=False`` is that behaviour."""
    presentation = pytest.importorskip("pynetdicom.presentation")
    rq = request(
        (VERIFICATION, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)),
        (MRImageStorage, (ExplicitVRLittleEndian,)),
        (CTImageStorage, (JPEGLSLossless,)),
        (CTImageStorage, (JPEGBaseline8Bit, ExplicitVRLittleEndian)),
    )
    acceptor = policy(prefer_proposer_transfer_syntax_order=False)
    proposed, supported = [], []
    for context in rq.presentation_contexts:
        item = presentation.PresentationContext()
        item.context_id = context.context_id
        item.abstract_syntax = context.abstract_syntax
        item.transfer_syntax = list(context.transfer_syntaxes)
        proposed.append(item)
    for abstract_syntax, syntaxes in acceptor.supported.items():
        item = presentation.PresentationContext()
        item.abstract_syntax = abstract_syntax
        item.transfer_syntax = list(syntaxes)
        supported.append(item)
    results, _ = presentation.negotiate_as_acceptor(proposed, supported)
    theirs = {c.context_id: (c.result, c.transfer_syntax[0] if c.result == 0 else None) for c in results}
    ours = {
        c.context_id: (int(c.result), c.transfer_syntax if c.result == 0 else None)
        for c in accept(rq, acceptor).presentation_contexts
    }
    assert theirs == ours


# --------------------------------------------------------------------------------------------------
# Property: whatever is proposed, our own answer is one our own requestor accepts, and it is sound

SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLSLossless)
CLASSES = (VERIFICATION, CTImageStorage, MRImageStorage, STUDY_GET)


@settings(max_examples=200, deadline=None)
@given(
    proposals=st.lists(
        st.tuples(
            st.sampled_from(CLASSES), st.lists(st.sampled_from(SYNTAXES), min_size=1, max_size=4, unique=True)
        ),
        min_size=1,
        max_size=12,
    ),
    roles=st.dictionaries(st.sampled_from(CLASSES), st.tuples(st.booleans(), st.booleans()), max_size=4),
    allowed=st.dictionaries(st.sampled_from(CLASSES), st.tuples(st.booleans(), st.booleans()), max_size=4),
    prefer_proposer=st.booleans(),
)
def test_any_request_gets_a_sound_answer(
    proposals: list[tuple[str, list[str]]],
    roles: dict[str, tuple[bool, bool]],
    allowed: dict[str, tuple[bool, bool]],
    prefer_proposer: bool,
) -> None:
    acceptor = policy(scp_roles=allowed, prefer_proposer_transfer_syntax_order=prefer_proposer)
    rq = request(
        *[(uid, tuple(ts)) for uid, ts in proposals],
        role_selections=tuple(RoleSelection(uid, scu, scp) for uid, (scu, scp) in roles.items()),
    )
    ac = accept(rq, acceptor)
    assert [c.context_id for c in ac.presentation_contexts] == [
        c.context_id for c in rq.presentation_contexts
    ]
    requestor, acceptor_side = interpret_associate_ac(rq, ac), acceptor_view(rq, ac)
    assert requestor.contexts.accepted == acceptor_side.contexts.accepted
    for context in requestor.contexts:
        proposed = rq.presentation_contexts[(context.context_id - 1) // 2]
        assert context.transfer_syntax in proposed.transfer_syntaxes
        assert context.transfer_syntax in acceptor.supported[context.abstract_syntax]
        assert context.scu_role or context.scp_role
        asked = roles.get(context.abstract_syntax, (True, False))
        # PS3.7 D.3.3.4: never a role the requestor did not propose.
        assert not (context.scu_role and not asked[0])
        assert not (context.scp_role and not asked[1])
