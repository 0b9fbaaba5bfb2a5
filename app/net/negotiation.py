"""Association negotiation, sans-IO: A-ASSOCIATE-RQ in, A-ASSOCIATE-AC/RJ out, and what was agreed.

Acceptor side: ``negotiate_as_acceptor(rq, policy)`` answers a request following an
``AcceptorPolicy``; ``acceptor_view(rq, ac)`` is what was agreed.  Requestor side:
``build_associate_rq(settings)`` and ``interpret_associate_ac(rq, ac)``, which checks the answer.

``NegotiatedAssociation`` always speaks from *our* side: ``peer_max_pdu_length`` is what we fragment
to, ``max_operations_invoked`` how many requests we may have outstanding, ``max_operations_performed``
how many of the peer's requests we serve at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.net.contexts import DEFAULT_ROLES, MAX_PRESENTATION_CONTEXTS, AcceptedContexts, uid_name
from app.net.errors import RemoteProtocolError
from app.net.pdu import (
    DICOM_APPLICATION_CONTEXT,
    PROTOCOL_VERSION,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AsynchronousOperationsWindow,
    ContextResult,
    PresentationContextAC,
    PresentationContextRQ,
    ProviderACSERejectReason,
    ProviderPresentationRejectReason,
    RejectReason,
    RejectResult,
    RejectSource,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
)

# PS3.7 D.3.3.2: our implementation, generated once (2.25 UUID form) and never changed.
IMPLEMENTATION_CLASS_UID = "2.25.254576454916562390043383617782276821203"
IMPLEMENTATION_VERSION_NAME = "COURIER_010"  # PS3.7 D.3.3.2: at most 16 characters

DEFAULT_MAX_PDU_LENGTH = 65536
# PS3.8 D.1 makes the maximum length sub-item mandatory; a peer that leaves it out gets the size
# every implementation we know can receive, rather than "unlimited".
ASSUMED_PEER_MAX_PDU_LENGTH = 16384
# A P-DATA-TF needs 6 bytes of PDV header before the first byte of data (PS3.8 9.3.5.1).
_SMALLEST_USABLE_PDU = 7

UserIdentityCheck = Callable[[UserIdentityRQ], bytes | bool | None]
ExtendedNegotiationAnswer = Callable[[SOPClassExtendedNegotiation], bytes | None]


# --------------------------------------------------------------------------------------------------
# What was agreed


@dataclass(frozen=True)
class NegotiatedAssociation:
    """The agreed parameters of an established association, from our side."""

    contexts: AcceptedContexts
    peer_max_pdu_length: int  # what the peer can receive (0 = unlimited): we fragment to this
    our_max_pdu_length: int  # what we advertised (0 = unlimited)
    max_operations_invoked: int  # outstanding requests we may have (0 = unlimited; 1 when not negotiated)
    max_operations_performed: int  # peer requests we serve at once (0 = unlimited; 1 when not negotiated)
    peer_implementation_class_uid: str | None
    peer_implementation_version_name: str | None
    user_identity_response: bytes | None  # the acceptor's server response, if any
    calling_ae_title: str
    called_ae_title: str
    is_requestor: bool = True
    user_identity: UserIdentityRQ | None = None  # what the requestor presented (acceptor side: who it is)
    extended_negotiation: Mapping[str, bytes] = field(default_factory=dict)  # SOP class -> acceptor's answer


# --------------------------------------------------------------------------------------------------
# Requestor


@dataclass
class RequestorSettings:
    """Everything our A-ASSOCIATE-RQ carries."""

    calling_ae_title: str
    called_ae_title: str
    contexts: Sequence[PresentationContextRQ]
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH  # our receive limit, advertised (0 = unlimited)
    role_selections: Sequence[RoleSelection] = ()
    async_ops_window: AsynchronousOperationsWindow | None = None
    user_identity: UserIdentityRQ | None = None
    extended: Sequence[SOPClassExtendedNegotiation] = ()
    common_extended: Sequence[SOPClassCommonExtendedNegotiation] = ()
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME


def build_associate_rq(settings: RequestorSettings) -> AAssociateRQ:
    """Our A-ASSOCIATE-RQ (PS3.8 9.3.2); ``ValueError`` in words for settings no peer could accept."""
    calling = check_ae_title(settings.calling_ae_title, "calling (our) AE title")
    called = check_ae_title(settings.called_ae_title, "called (peer) AE title")
    contexts = tuple(settings.contexts)
    _check_proposed_contexts(contexts)
    _check_pdu_length(settings.max_pdu_length)
    return AAssociateRQ(
        called_ae_title=called,
        calling_ae_title=calling,
        presentation_contexts=contexts,
        user_information=UserInformation(
            maximum_length=settings.max_pdu_length,
            implementation_class_uid=settings.implementation_class_uid,
            implementation_version_name=settings.implementation_version_name,
            asynchronous_operations_window=settings.async_ops_window,
            role_selections=tuple(settings.role_selections),
            sop_class_extended=tuple(settings.extended),
            sop_class_common_extended=tuple(settings.common_extended),
            user_identity_rq=settings.user_identity,
        ),
    )


def check_ae_title(title: str, what: str = "AE title") -> str:
    """PS3.5 Table 6.2-1 (AE): 1-16 characters, no backslash or control characters; spaces at either
    end are not significant.  Returns the title without them."""
    stripped = title.strip(" ")
    if not stripped:
        raise ValueError(f"the {what} is empty: set a 1-16 character AE title")
    if len(stripped) > 16:
        raise ValueError(f"the {what} {stripped!r} is longer than 16 characters")
    if "\\" in stripped or any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in stripped):
        raise ValueError(f"the {what} {stripped!r} may hold only printable ASCII characters and no backslash")
    return stripped


def _check_proposed_contexts(contexts: Sequence[PresentationContextRQ]) -> None:
    if not contexts:
        raise ValueError("no presentation context to propose: name at least one SOP class")
    if len(contexts) > MAX_PRESENTATION_CONTEXTS:
        raise ValueError(
            f"{len(contexts)} presentation contexts proposed; "
            f"PS3.8 9.3.2.2 allows at most {MAX_PRESENTATION_CONTEXTS}"
        )
    seen: set[int] = set()
    for context in contexts:
        if not (1 <= context.context_id <= 255 and context.context_id % 2 == 1) or context.context_id in seen:
            raise ValueError(
                f"presentation context ID {context.context_id} must be odd, 1-255 and unique "
                "(PS3.8 9.3.2.2): use build_presentation_contexts to number them"
            )
        seen.add(context.context_id)


def _check_pdu_length(length: int) -> None:
    if length != 0 and not _SMALLEST_USABLE_PDU <= length <= 0xFFFFFFFF:
        raise ValueError(f"maximum PDU length {length} is not usable: use 0 (unlimited) or 16384 and up")


def interpret_associate_ac(rq: AAssociateRQ, ac: AAssociateAC) -> NegotiatedAssociation:
    """What the peer agreed to; ``RemoteProtocolError`` if its answer would break the association.

    Strict where a wrong answer would send data in a syntax the peer never accepted (unknown context
    IDs, a transfer syntax we did not propose); lenient elsewhere (roles we did not ask for are
    ignored, a missing window means the default 1/1).
    """
    _check_context_answers(rq.presentation_contexts, ac.presentation_contexts)
    ours, theirs = rq.user_information, ac.user_information
    invoked, performed = _window_from_answer(
        ours.asynchronous_operations_window, theirs.asynchronous_operations_window
    )
    return NegotiatedAssociation(
        contexts=AcceptedContexts(
            rq.presentation_contexts, ac.presentation_contexts, negotiated_roles(rq, ac)
        ),
        peer_max_pdu_length=_peer_max_pdu_length(theirs.maximum_length),
        our_max_pdu_length=ours.maximum_length or 0,
        max_operations_invoked=invoked,
        max_operations_performed=performed,
        peer_implementation_class_uid=theirs.implementation_class_uid,
        peer_implementation_version_name=theirs.implementation_version_name,
        user_identity_response=theirs.user_identity_ac.server_response if theirs.user_identity_ac else None,
        calling_ae_title=rq.calling_ae_title,
        called_ae_title=rq.called_ae_title,
        is_requestor=True,
        user_identity=ours.user_identity_rq,
        extended_negotiation=_extended_answers(ours, theirs),
    )


def acceptor_view(rq: AAssociateRQ, ac: AAssociateAC) -> NegotiatedAssociation:
    """What we agreed to as the acceptor (the AC is our own answer; the peer's limits are in the RQ)."""
    theirs, ours = rq.user_information, ac.user_information
    window = ours.asynchronous_operations_window
    # PS3.7 D.3.3.3: the AC's numbers are the requestor's: what it invokes is what we perform.
    invoked, performed = (window.max_performed, window.max_invoked) if window else (1, 1)
    return NegotiatedAssociation(
        contexts=AcceptedContexts(
            rq.presentation_contexts, ac.presentation_contexts, negotiated_roles(rq, ac)
        ),
        peer_max_pdu_length=_peer_max_pdu_length(theirs.maximum_length),
        our_max_pdu_length=ours.maximum_length or 0,
        max_operations_invoked=invoked,
        max_operations_performed=performed,
        peer_implementation_class_uid=theirs.implementation_class_uid,
        peer_implementation_version_name=theirs.implementation_version_name,
        user_identity_response=ours.user_identity_ac.server_response if ours.user_identity_ac else None,
        calling_ae_title=rq.calling_ae_title,
        called_ae_title=rq.called_ae_title,
        is_requestor=False,
        user_identity=theirs.user_identity_rq,
        extended_negotiation=_extended_answers(theirs, ours),
    )


def _check_context_answers(
    proposed: Sequence[PresentationContextRQ], answers: Sequence[PresentationContextAC]
) -> None:
    by_id = {context.context_id: context for context in proposed}
    seen: set[int] = set()
    for answer in answers:
        context = by_id.get(answer.context_id)
        if context is None:
            raise RemoteProtocolError(
                f"the peer answered presentation context {answer.context_id}, which we never proposed "
                f"(we proposed {', '.join(str(i) for i in sorted(by_id)) or 'none'})"
            )
        if answer.context_id in seen:
            raise RemoteProtocolError(f"the peer answered presentation context {answer.context_id} twice")
        seen.add(answer.context_id)
        if (
            answer.result == ContextResult.ACCEPTANCE
            and answer.transfer_syntax not in context.transfer_syntaxes
        ):
            raise RemoteProtocolError(
                f"the peer accepted {uid_name(context.abstract_syntax)} (context {answer.context_id}) with "
                f"{uid_name(answer.transfer_syntax) or 'no transfer syntax'}, which we did not propose "
                f"(we proposed {', '.join(uid_name(ts) for ts in context.transfer_syntaxes)})"
            )


def _peer_max_pdu_length(advertised: int | None) -> int:
    if advertised is None:
        return ASSUMED_PEER_MAX_PDU_LENGTH
    if 0 < advertised < _SMALLEST_USABLE_PDU:
        raise RemoteProtocolError(
            f"the peer can receive PDUs of only {advertised} bytes: too small to carry any data (PS3.8 D.1)"
        )
    return advertised


def _window_from_answer(
    proposed: AsynchronousOperationsWindow | None, answered: AsynchronousOperationsWindow | None
) -> tuple[int, int]:
    """PS3.7 D.3.3.3: without a proposal or an answer the window is 1/1; the acceptor may only shrink it."""
    if proposed is None or answered is None:
        return 1, 1
    return (
        combine_window_limits(proposed.max_invoked, answered.max_invoked),
        combine_window_limits(proposed.max_performed, answered.max_performed),
    )


def combine_window_limits(a: int, b: int) -> int:
    """The smaller of two operation limits where 0 means unlimited (PS3.7 D.3.3.3)."""
    if a == 0:
        return b
    if b == 0:
        return a
    return min(a, b)


def negotiated_roles(rq: AAssociateRQ, ac: AAssociateAC) -> dict[str, tuple[bool, bool]]:
    """The requestor's (SCU, SCP) roles per SOP class after role selection (PS3.7 D.3.3.4, Table D.3-11).

    A role holds only if the requestor proposed it and the acceptor accepted it; a proposal the acceptor
    did not answer falls back to the default roles.
    """
    answers = {role.sop_class_uid: role for role in ac.user_information.role_selections}
    roles: dict[str, tuple[bool, bool]] = {}
    for proposal in rq.user_information.role_selections:
        answer = answers.get(proposal.sop_class_uid)
        if answer is None:
            roles[proposal.sop_class_uid] = DEFAULT_ROLES
        else:
            roles[proposal.sop_class_uid] = (
                proposal.scu_role and answer.scu_role,
                proposal.scp_role and answer.scp_role,
            )
    return roles


def _extended_answers(rq_info: UserInformation, ac_info: UserInformation) -> dict[str, bytes]:
    """PS3.7 D.3.3.5: the acceptor's answers, only for SOP classes the requestor asked about."""
    asked = {item.sop_class_uid for item in rq_info.sop_class_extended}
    return {
        item.sop_class_uid: item.application_info
        for item in ac_info.sop_class_extended
        if item.sop_class_uid in asked
    }


# --------------------------------------------------------------------------------------------------
# Acceptor


@dataclass
class AcceptorPolicy:
    """How we answer association requests.

    ``scp_roles`` maps a SOP class to the requestor roles (SCU, SCP) we allow in role selection; a SOP
    class absent from it gets whatever roles the requestor proposes (e.g. the SCP role for C-GET's
    storage sub-operations).  ``user_identity_check`` returns ``False`` to reject (user, no reason),
    bytes to accept with that server response, ``True`` to accept with an empty one (what PS3.7
    D.3.3.7.2 asks for a username/passcode) or ``None`` to accept without any; a response is sent only
    when the requestor asked for a positive response.  When a check is set, a request without a user
    identity is rejected.  ``extended_negotiation`` answers SOP class extended negotiation
    (``None`` = no answer).
    """

    ae_title: str
    supported: Mapping[str, Sequence[str]]  # abstract syntax -> transfer syntaxes, in our preference order
    require_called_ae_title: bool = True  # reject (user, reason 7) when the called AE title is not ours
    allowed_calling_ae_titles: frozenset[str] | None = None  # None = anyone; else reject (user, reason 3)
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH  # our receive limit, advertised (0 = unlimited)
    prefer_proposer_transfer_syntax_order: bool = True  # DCMTK's and pynetdicom's choice
    scp_roles: Mapping[str, tuple[bool, bool]] = field(default_factory=dict)
    max_operations_performed: int = 1  # requestor's requests we serve at once (0 = unlimited)
    max_operations_invoked: int = 1  # requests we may have outstanding towards the requestor
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME
    user_identity_check: UserIdentityCheck | None = None
    accept_unknown_abstract_syntaxes: bool = False
    extended_negotiation: ExtendedNegotiationAnswer | None = None
    case_sensitive_ae_titles: bool = False  # Orthanc's default; DCMTK compares exactly
    # AE title -> the host addresses it may call from (a title not listed is not bound to a host):
    # an AE title is only a name anyone can type, the address at least has to be routed back to.
    calling_ae_hosts: Mapping[str, frozenset[str]] | None = None


def negotiate_as_acceptor(
    rq: AAssociateRQ, policy: AcceptorPolicy, peer_host: str | None = None
) -> AAssociateAC | AAssociateRJ:
    """Answer an A-ASSOCIATE-RQ: reject the association (PS3.8 Table 9-21) or accept it with a result
    for every proposed presentation context (PS3.8 Table 9-18).  ``peer_host`` is the address the
    request came from, checked against ``policy.calling_ae_hosts``."""
    rejection = _association_rejection(rq, policy, peer_host)
    if rejection is not None:
        return rejection
    identity_answer = _check_user_identity(rq.user_information.user_identity_rq, policy)
    if identity_answer is False:
        return reject(RejectSource.SERVICE_USER, RejectReason.USER_NO_REASON)
    roles = _answer_roles(rq, policy)
    granted = {role.sop_class_uid: (role.scu_role, role.scp_role) for role in roles}
    proposed_roles = {role.sop_class_uid: role for role in rq.user_information.role_selections}
    proposals = _unique(rq.presentation_contexts)
    contexts = tuple(_answer_context(context, policy, granted, proposed_roles) for context in proposals)
    accepted = {
        proposal.abstract_syntax
        for proposal, answer in zip(proposals, contexts, strict=True)
        if answer.result == ContextResult.ACCEPTANCE
    }
    return AAssociateAC(
        called_ae_title=rq.called_ae_title,
        calling_ae_title=rq.calling_ae_title,
        presentation_contexts=contexts,
        user_information=UserInformation(
            maximum_length=policy.max_pdu_length,
            implementation_class_uid=policy.implementation_class_uid,
            implementation_version_name=policy.implementation_version_name,
            asynchronous_operations_window=_answer_window(
                rq.user_information.asynchronous_operations_window, policy
            ),
            # PS3.7 D.3.3.4: answer only for SOP classes proposed (and kept).
            role_selections=tuple(role for role in roles if role.sop_class_uid in accepted),
            sop_class_extended=_answer_extended(rq.user_information.sop_class_extended, policy, accepted),
            user_identity_ac=_identity_response(rq.user_information.user_identity_rq, identity_answer),
        ),
    )


def reject(
    source: RejectSource,
    reason: int,
    *,
    permanent: bool = True,
) -> AAssociateRJ:
    """An A-ASSOCIATE-RJ (PS3.8 9.3.4); ``reason`` is read according to ``source``."""
    result = RejectResult.REJECTED_PERMANENT if permanent else RejectResult.REJECTED_TRANSIENT
    return AAssociateRJ(result, source, int(reason))


def reject_local_limit_exceeded() -> AAssociateRJ:
    """Transient "local limit exceeded" (presentation, reason 2): too many associations open, retry later."""
    return reject(
        RejectSource.SERVICE_PROVIDER_PRESENTATION,
        ProviderPresentationRejectReason.LOCAL_LIMIT_EXCEEDED,
        permanent=False,
    )


def reject_temporary_congestion() -> AAssociateRJ:
    """Transient "temporary congestion" (presentation, reason 1)."""
    return reject(
        RejectSource.SERVICE_PROVIDER_PRESENTATION,
        ProviderPresentationRejectReason.TEMPORARY_CONGESTION,
        permanent=False,
    )


def _association_rejection(
    rq: AAssociateRQ, policy: AcceptorPolicy, peer_host: str | None
) -> AAssociateRJ | None:
    # PS3.8 9.3.2: only bit 0 (version 1) is defined; a peer that does not set it speaks another protocol.
    if not rq.protocol_version & PROTOCOL_VERSION:
        return reject(
            RejectSource.SERVICE_PROVIDER_ACSE, ProviderACSERejectReason.PROTOCOL_VERSION_NOT_SUPPORTED
        )
    if rq.application_context.strip("\0 ") != DICOM_APPLICATION_CONTEXT:
        return reject(RejectSource.SERVICE_USER, RejectReason.USER_APPLICATION_CONTEXT_NOT_SUPPORTED)
    # PS3.5 AE VR: a title of only spaces (or NULs, which the VR forbids) names nobody and could not
    # even be echoed back in our A-ASSOCIATE-AC.
    if not rq.calling_ae_title.strip(" \0"):
        return reject(RejectSource.SERVICE_USER, RejectReason.USER_CALLING_AE_NOT_RECOGNIZED)
    if not rq.called_ae_title.strip(" \0"):
        return reject(RejectSource.SERVICE_USER, RejectReason.USER_CALLED_AE_NOT_RECOGNIZED)
    if policy.require_called_ae_title and not ae_titles_match(
        rq.called_ae_title, policy.ae_title, policy.case_sensitive_ae_titles
    ):
        return reject(RejectSource.SERVICE_USER, RejectReason.USER_CALLED_AE_NOT_RECOGNIZED)
    if policy.allowed_calling_ae_titles is not None and not any(
        ae_titles_match(rq.calling_ae_title, allowed, policy.case_sensitive_ae_titles)
        for allowed in policy.allowed_calling_ae_titles
    ):
        return reject(RejectSource.SERVICE_USER, RejectReason.USER_CALLING_AE_NOT_RECOGNIZED)
    if not _calling_host_allowed(rq.calling_ae_title, peer_host, policy):
        return reject(RejectSource.SERVICE_USER, RejectReason.USER_CALLING_AE_NOT_RECOGNIZED)
    return None


def _calling_host_allowed(calling_ae_title: str, peer_host: str | None, policy: AcceptorPolicy) -> bool:
    if not policy.calling_ae_hosts:
        return True
    for title, hosts in policy.calling_ae_hosts.items():
        if ae_titles_match(calling_ae_title, title, policy.case_sensitive_ae_titles):
            return peer_host in hosts
    return True


def ae_titles_match(a: str, b: str, case_sensitive: bool = False) -> bool:
    """PS3.5 (AE VR): leading and trailing spaces are not significant."""
    a, b = a.strip(" \0"), b.strip(" \0")
    return a == b if case_sensitive else a.upper() == b.upper()


def _check_user_identity(identity: UserIdentityRQ | None, policy: AcceptorPolicy) -> bytes | bool | None:
    if policy.user_identity_check is None:
        return None  # PS3.7 D.3.3.7: an acceptor that does not support user identity ignores it
    if identity is None:
        return False
    return policy.user_identity_check(identity)


def _identity_response(identity: UserIdentityRQ | None, answer: bytes | bool | None) -> UserIdentityAC | None:
    # PS3.7 D.3.3.7.2: a response is sent only when the requestor asked for one and we checked the identity.
    if identity is None or not identity.positive_response_requested or answer is None:
        return None
    return UserIdentityAC(answer if isinstance(answer, bytes) else b"")


def _unique(contexts: Iterable[PresentationContextRQ]) -> list[PresentationContextRQ]:
    """The proposed contexts, a repeated ID answered only once (the first one)."""
    seen: dict[int, PresentationContextRQ] = {}
    for context in contexts:
        seen.setdefault(context.context_id, context)
    return list(seen.values())


def _answer_context(
    context: PresentationContextRQ,
    policy: AcceptorPolicy,
    granted: Mapping[str, tuple[bool, bool]],
    proposed_roles: Mapping[str, RoleSelection],
) -> PresentationContextAC:
    # PS3.8 9.3.3.2: the transfer syntax of a rejected context is not significant; echo the first
    # proposed one rather than send an empty UID that strict decoders refuse.
    echo = context.transfer_syntaxes[0] if context.transfer_syntaxes else ""
    if context.context_id % 2 == 0:
        return PresentationContextAC(context.context_id, ContextResult.NO_REASON, echo)
    ours = policy.supported.get(context.abstract_syntax)
    if ours is None:
        if not policy.accept_unknown_abstract_syntaxes:
            return PresentationContextAC(
                context.context_id, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, echo
            )
        ours = _all_supported_transfer_syntaxes(policy)
    chosen = choose_transfer_syntax(
        context.transfer_syntaxes, ours, prefer_proposer=policy.prefer_proposer_transfer_syntax_order
    )
    if chosen is None:
        return PresentationContextAC(context.context_id, ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, echo)
    proposal = proposed_roles.get(context.abstract_syntax)
    if proposal is not None and granted.get(context.abstract_syntax, DEFAULT_ROLES) == (False, False):
        # The requestor wants only roles we refuse: a deliberate refusal of this context (user rejection).
        return PresentationContextAC(context.context_id, ContextResult.USER_REJECTION, echo)
    return PresentationContextAC(context.context_id, ContextResult.ACCEPTANCE, chosen)


def choose_transfer_syntax(
    proposed: Sequence[str], supported: Sequence[str], *, prefer_proposer: bool = True
) -> str | None:
    """The transfer syntax to accept: the first proposed one we support (the requestor's preference),
    or with ``prefer_proposer=False`` the first of ours that was proposed; ``None`` if none fits."""
    if prefer_proposer:
        ours = set(supported)
        return next((ts for ts in proposed if ts in ours), None)
    theirs = set(proposed)
    return next((ts for ts in supported if ts in theirs), None)


def _all_supported_transfer_syntaxes(policy: AcceptorPolicy) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ts for syntaxes in policy.supported.values() for ts in syntaxes))


def _answer_roles(rq: AAssociateRQ, policy: AcceptorPolicy) -> list[RoleSelection]:
    """PS3.7 D.3.3.4: accept a proposed role only if the policy allows it; never grant one not proposed."""
    answers = []
    for proposal in rq.user_information.role_selections:
        allow_scu, allow_scp = policy.scp_roles.get(proposal.sop_class_uid, (True, True))
        answers.append(
            RoleSelection(
                proposal.sop_class_uid, proposal.scu_role and allow_scu, proposal.scp_role and allow_scp
            )
        )
    return answers


def _answer_window(
    proposed: AsynchronousOperationsWindow | None, policy: AcceptorPolicy
) -> AsynchronousOperationsWindow | None:
    """PS3.7 D.3.3.3: answer only a proposal; the numbers stay the requestor's, no larger than proposed."""
    if proposed is None:
        return None
    return AsynchronousOperationsWindow(
        max_invoked=combine_window_limits(proposed.max_invoked, policy.max_operations_performed),
        max_performed=combine_window_limits(proposed.max_performed, policy.max_operations_invoked),
    )


def _answer_extended(
    items: Sequence[SOPClassExtendedNegotiation], policy: AcceptorPolicy, accepted: set[str]
) -> tuple[SOPClassExtendedNegotiation, ...]:
    if policy.extended_negotiation is None:
        return ()
    answers = []
    for item in items:
        if item.sop_class_uid not in accepted:
            continue
        answer = policy.extended_negotiation(item)
        if answer is not None:
            answers.append(SOPClassExtendedNegotiation(item.sop_class_uid, answer))
    return tuple(answers)


__all__ = [
    "ASSUMED_PEER_MAX_PDU_LENGTH",
    "DEFAULT_MAX_PDU_LENGTH",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "AcceptorPolicy",
    "NegotiatedAssociation",
    "RequestorSettings",
    "acceptor_view",
    "ae_titles_match",
    "build_associate_rq",
    "check_ae_title",
    "choose_transfer_syntax",
    "combine_window_limits",
    "interpret_associate_ac",
    "negotiate_as_acceptor",
    "negotiated_roles",
    "reject",
    "reject_local_limit_exceeded",
    "reject_temporary_congestion",
]
