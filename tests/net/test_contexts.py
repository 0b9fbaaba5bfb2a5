"""Presentation contexts: the SOP class groups, numbering, and finding what the peer accepted."""

from __future__ import annotations

import time

import pytest
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    MRImageStorage,
)

from app.net.contexts import (
    ALL_TRANSFER_SYNTAXES,
    ALL_UNCOMPRESSED,
    COMMON_STORAGE_SOP_CLASSES,
    DEFAULT_TRANSFER_SYNTAXES,
    QR_FIND,
    QR_GET,
    QR_MOVE,
    STORAGE_COMMITMENT_PUSH,
    STORAGE_SOP_CLASSES,
    VERIFICATION,
    AcceptedContext,
    AcceptedContexts,
    build_presentation_contexts,
    contexts_for,
)
from app.net.errors import NoAcceptedContext
from app.net.pdu import ContextResult, PresentationContextAC, PresentationContextRQ

# --------------------------------------------------------------------------------------------------
# SOP class groups


def test_storage_sop_classes_come_from_the_registry_without_retired_or_commitment() -> None:
    names = {UID(uid).name for uid in STORAGE_SOP_CLASSES}
    assert "CT Image Storage" in names
    assert "Digital X-Ray Image Storage - For Processing" in names
    assert len(STORAGE_SOP_CLASSES) > 150
    assert "1.2.840.10008.1.20.1" not in STORAGE_SOP_CLASSES  # Storage Commitment Push Model
    assert not any(UID(uid).is_retired for uid in STORAGE_SOP_CLASSES)
    assert all(UID(uid).type == "SOP Class" for uid in STORAGE_SOP_CLASSES)
    assert len(set(STORAGE_SOP_CLASSES)) == len(STORAGE_SOP_CLASSES)


def test_service_groups_name_the_right_models() -> None:
    assert UID(VERIFICATION).name == "Verification SOP Class"
    assert UID(STORAGE_COMMITMENT_PUSH).name == "Storage Commitment Push Model SOP Class"
    assert [UID(u).name for u in QR_FIND] == [
        "Patient Root Query/Retrieve Information Model - FIND",
        "Study Root Query/Retrieve Information Model - FIND",
        "Modality Worklist Information Model - FIND",
    ]
    assert all(UID(u).name.endswith("MOVE") and not UID(u).is_retired for u in QR_MOVE)
    assert all(UID(u).name.endswith("GET") and not UID(u).is_retired for u in QR_GET)
    assert len(QR_MOVE) == len(QR_GET) == 2


def test_common_storage_classes_are_storage_classes_and_fit_with_room_to_spare() -> None:
    assert set(COMMON_STORAGE_SOP_CLASSES) <= set(STORAGE_SOP_CLASSES)
    assert CTImageStorage in COMMON_STORAGE_SOP_CLASSES
    assert 20 <= len(COMMON_STORAGE_SOP_CLASSES) < 100


def test_transfer_syntax_lists() -> None:
    assert (ExplicitVRLittleEndian, ImplicitVRLittleEndian) == DEFAULT_TRANSFER_SYNTAXES
    assert all(not UID(ts).is_compressed for ts in ALL_UNCOMPRESSED)
    assert ALL_TRANSFER_SYNTAXES[: len(ALL_UNCOMPRESSED)] == ALL_UNCOMPRESSED
    assert JPEGBaseline8Bit in ALL_TRANSFER_SYNTAXES and JPEG2000Lossless in ALL_TRANSFER_SYNTAXES
    assert not any("Referenced" in UID(ts).keyword for ts in ALL_TRANSFER_SYNTAXES)


# --------------------------------------------------------------------------------------------------
# Numbering


def test_contexts_get_odd_ids_in_the_order_asked() -> None:
    contexts = build_presentation_contexts(
        [(VERIFICATION, [ImplicitVRLittleEndian]), (CTImageStorage, DEFAULT_TRANSFER_SYNTAXES)]
    )
    assert contexts == (
        PresentationContextRQ(1, VERIFICATION, (ImplicitVRLittleEndian,)),
        PresentationContextRQ(3, CTImageStorage, DEFAULT_TRANSFER_SYNTAXES),
    )


def test_128_contexts_fit_and_the_last_id_is_255() -> None:
    contexts = contexts_for(STORAGE_SOP_CLASSES[:128])
    assert len(contexts) == 128
    assert contexts[-1].context_id == 255
    assert all(c.transfer_syntaxes == DEFAULT_TRANSFER_SYNTAXES for c in contexts)


def test_129_contexts_are_refused_in_words() -> None:
    with pytest.raises(ValueError, match=r"129 presentation contexts.*at most 128"):
        contexts_for(STORAGE_SOP_CLASSES[:129])


def test_a_context_without_transfer_syntax_is_refused() -> None:
    with pytest.raises(ValueError, match="CT Image Storage is proposed without any transfer syntax"):
        build_presentation_contexts([(CTImageStorage, ())])


# --------------------------------------------------------------------------------------------------
# Finding what was accepted

PROPOSED = (
    PresentationContextRQ(1, CTImageStorage, (JPEGBaseline8Bit,)),
    PresentationContextRQ(3, CTImageStorage, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)),
    PresentationContextRQ(5, MRImageStorage, (ExplicitVRLittleEndian,)),
    PresentationContextRQ(7, VERIFICATION, (ImplicitVRLittleEndian,)),
)
ANSWERS = (
    PresentationContextAC(1, ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, JPEGBaseline8Bit),
    PresentationContextAC(3, ContextResult.ACCEPTANCE, ExplicitVRLittleEndian),
    PresentationContextAC(5, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, ExplicitVRLittleEndian),
    PresentationContextAC(7, ContextResult.ACCEPTANCE, ImplicitVRLittleEndian),
)


@pytest.fixture
def accepted() -> AcceptedContexts:
    return AcceptedContexts(PROPOSED, ANSWERS)


def test_find_by_sop_class_and_by_transfer_syntax(accepted: AcceptedContexts) -> None:
    ct = AcceptedContext(3, CTImageStorage, ExplicitVRLittleEndian, scu_role=True, scp_role=False)
    assert accepted.find(CTImageStorage) == ct
    assert accepted.find(CTImageStorage, ExplicitVRLittleEndian) == ct
    assert accepted.find(VERIFICATION).context_id == 7


def test_by_id_returns_accepted_contexts_only(accepted: AcceptedContexts) -> None:
    assert accepted.by_id(3) == accepted.find(CTImageStorage)
    assert accepted.by_id(1) is None  # rejected
    assert accepted.by_id(9) is None  # never proposed


def test_rejected_lists_abstract_syntax_and_result_for_the_troubleshooting_pane(
    accepted: AcceptedContexts,
) -> None:
    assert accepted.rejected == (
        (CTImageStorage, ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED),
        (MRImageStorage, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED),
    )
    assert len(accepted) == 2
    assert CTImageStorage in accepted and MRImageStorage not in accepted


def test_a_transfer_syntax_the_peer_rejected_is_explained_with_what_it_accepted(
    accepted: AcceptedContexts,
) -> None:
    with pytest.raises(NoAcceptedContext) as error:
        accepted.find(CTImageStorage, JPEGBaseline8Bit)
    assert str(error.value) == (
        "CT Image Storage with JPEG Baseline (Process 1): the peer rejected it: "
        "none of the proposed transfer syntaxes is supported; "
        "it accepted CT Image Storage only with Explicit VR Little Endian"
    )


def test_a_transfer_syntax_never_proposed_is_explained(accepted: AcceptedContexts) -> None:
    with pytest.raises(
        NoAcceptedContext,
        match=r"JPEG 2000 Image Compression \(Lossless Only\) was not proposed for it; "
        r"it accepted CT Image Storage only with Explicit VR Little Endian",
    ):
        accepted.find(CTImageStorage, JPEG2000Lossless)


def test_a_rejected_sop_class_is_explained(accepted: AcceptedContexts) -> None:
    with pytest.raises(
        NoAcceptedContext,
        match=r"MR Image Storage: the peer rejected it: abstract syntax \(SOP class\) not supported",
    ):
        accepted.find(MRImageStorage)


def test_a_sop_class_never_proposed_is_explained(accepted: AcceptedContexts) -> None:
    with pytest.raises(
        NoAcceptedContext, match="Secondary Capture Image Storage was not proposed on this association"
    ):
        accepted.find("1.2.840.10008.5.1.4.1.1.7")


def test_a_context_without_an_answer_counts_as_rejected() -> None:
    contexts = AcceptedContexts(PROPOSED[:2], ANSWERS[:1])
    assert contexts.rejected[-1] == (CTImageStorage, ContextResult.NO_REASON)
    assert contexts.result_of(3) == ContextResult.NO_REASON
    assert contexts.result_of(99) is None


def test_the_lowest_context_id_wins_when_two_carry_the_same_class() -> None:
    proposed = (
        PresentationContextRQ(1, CTImageStorage, (ExplicitVRLittleEndian,)),
        PresentationContextRQ(3, CTImageStorage, (ImplicitVRLittleEndian,)),
    )
    answers = (
        PresentationContextAC(1, ContextResult.ACCEPTANCE, ExplicitVRLittleEndian),
        PresentationContextAC(3, ContextResult.ACCEPTANCE, ImplicitVRLittleEndian),
    )
    contexts = AcceptedContexts(proposed, answers)
    assert contexts.find(CTImageStorage).context_id == 1
    assert contexts.find(CTImageStorage, ImplicitVRLittleEndian).context_id == 3


def test_roles_decide_who_may_invoke_on_a_context() -> None:
    # A C-GET association: the requestor is storage SCP only, so the acceptor sends the C-STOREs.
    proposed = (PresentationContextRQ(1, CTImageStorage, (ExplicitVRLittleEndian,)),)
    answers = (PresentationContextAC(1, ContextResult.ACCEPTANCE, ExplicitVRLittleEndian),)
    contexts = AcceptedContexts(proposed, answers, {CTImageStorage: (False, True)})
    assert contexts.find(CTImageStorage, role="scp").context_id == 1
    with pytest.raises(NoAcceptedContext, match="not in the SCU role"):
        contexts.find(CTImageStorage)
    with pytest.raises(ValueError, match="role must be"):
        contexts.find(CTImageStorage, role="both")


def test_without_role_selection_the_requestor_is_scu_only() -> None:
    proposed = (PresentationContextRQ(1, CTImageStorage, (ExplicitVRLittleEndian,)),)
    answers = (PresentationContextAC(1, ContextResult.ACCEPTANCE, ExplicitVRLittleEndian),)
    contexts = AcceptedContexts(proposed, answers)
    with pytest.raises(NoAcceptedContext, match="SCP role"):
        contexts.find(CTImageStorage, role="scp")


def test_find_is_a_dictionary_lookup_fast_enough_for_every_c_store() -> None:
    proposed = contexts_for(STORAGE_SOP_CLASSES[:128])
    answers = [
        PresentationContextAC(c.context_id, ContextResult.ACCEPTANCE, ExplicitVRLittleEndian)
        for c in proposed
    ]
    contexts = AcceptedContexts(proposed, answers)
    last = STORAGE_SOP_CLASSES[127]
    start = time.perf_counter()
    for _ in range(100_000):
        contexts.find(last, ExplicitVRLittleEndian)
    # ~0.1 us per lookup on any machine; a linear scan of 128 contexts would be 50x slower.
    assert time.perf_counter() - start < 1.0
