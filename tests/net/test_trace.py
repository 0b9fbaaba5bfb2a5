"""The trace tells a technologist what went over the wire, in words, without dumping data sets."""

from __future__ import annotations

from app.net.pdu import (
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AbortReason,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    AsynchronousOperationsWindow,
    ContextResult,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    PresentationDataValue,
    RejectResult,
    RejectSource,
    RoleSelection,
    UserIdentityRQ,
    UserIdentityType,
    UserInformation,
)
from app.net.pdu_codec import decode_pdu, encode_pdu
from app.net.trace import describe_pdu, summarize_pdu

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"

REQUEST = AAssociateRQ(
    called_ae_title="PACS",
    calling_ae_title="COURIER",
    presentation_contexts=(
        PresentationContextRQ(1, "1.2.840.10008.1.1", (IMPLICIT_LE,)),
        PresentationContextRQ(3, CT, (EXPLICIT_LE, IMPLICIT_LE)),
        PresentationContextRQ(5, "1.2.3.4.5", (EXPLICIT_LE,)),
    ),
    user_information=UserInformation(
        maximum_length=16384,
        implementation_class_uid="1.2.826.0.1.3680043.10.1",
        implementation_version_name="COURIER_010",
        asynchronous_operations_window=AsynchronousOperationsWindow(1, 1),
        role_selections=(RoleSelection(MR, scu_role=False, scp_role=True),),
        user_identity_rq=UserIdentityRQ(UserIdentityType.USERNAME_AND_PASSCODE, True, b"tech", b"hunter2"),
        unknown_items=((0x7A, b"\x01\x02"),),
    ),
)


def test_summary_of_a_request_names_both_ends_the_contexts_and_the_max_pdu() -> None:
    assert summarize_pdu(REQUEST) == "A-ASSOCIATE-RQ COURIER → PACS, 3 contexts, max PDU 16384"


def test_request_dump_names_sop_classes_and_transfer_syntaxes() -> None:
    text = describe_pdu(REQUEST)
    assert text.splitlines()[0] == "A-ASSOCIATE-RQ"
    assert "Calling AE title: COURIER" in text
    assert "Called AE title:  PACS" in text
    assert "Context 1: Verification SOP Class (1.2.840.10008.1.1)" in text
    assert f"Context 3: CT Image Storage ({CT})" in text
    assert f"Transfer syntax: Explicit VR Little Endian ({EXPLICIT_LE})" in text
    assert "Context 5: 1.2.3.4.5" in text  # an unknown UID is shown as itself
    assert "Maximum PDU length: 16384" in text
    assert "Implementation version name: COURIER_010" in text
    assert "Asynchronous operations window: 1 invoked, 1 performed" in text
    assert "Role selection: MR Image Storage" in text and "SCU no, SCP yes" in text
    assert "User identity: username and passcode tech, response requested" in text
    assert "Unknown sub-item 0x7A: [01 02]" in text


def test_a_passcode_never_reaches_the_trace() -> None:
    assert "hunter2" not in describe_pdu(REQUEST)
    assert "hunter2" not in summarize_pdu(REQUEST)


def test_accept_dump_gives_each_context_result_in_words() -> None:
    accept = AAssociateAC(
        "PACS",
        "COURIER",
        (
            PresentationContextAC(1, ContextResult.ACCEPTANCE, IMPLICIT_LE),
            PresentationContextAC(3, ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED),
            PresentationContextAC(5, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED),
        ),
        UserInformation(maximum_length=0),
    )
    text = describe_pdu(accept)
    assert "Context 1: accepted" in text
    assert f"Transfer syntax: Implicit VR Little Endian ({IMPLICIT_LE})" in text
    assert "Context 3: rejected: none of the proposed transfer syntaxes is supported" in text
    assert "Context 5: rejected: abstract syntax (SOP class) not supported" in text
    assert "Maximum PDU length: unlimited (0)" in text
    assert (
        summarize_pdu(accept) == "A-ASSOCIATE-AC COURIER → PACS, 1 of 3 contexts accepted, max PDU unlimited"
    )


def test_rejection_and_abort_are_explained() -> None:
    reject = AAssociateRJ(RejectResult.REJECTED_PERMANENT, RejectSource.SERVICE_USER, 7)
    assert "called AE title not recognized" in summarize_pdu(reject)
    assert "called AE title not recognized" in describe_pdu(reject)

    abort = AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.INVALID_PDU_PARAMETER_VALUE)
    assert summarize_pdu(abort).startswith("A-ABORT")
    assert "invalid PDU parameter value" in summarize_pdu(abort)
    assert "Reason: invalid PDU parameter value (6)" in describe_pdu(abort)
    assert "service user" in describe_pdu(AAbort(AbortSource.SERVICE_USER, 0))


def test_release_pdus_are_named() -> None:
    assert summarize_pdu(AReleaseRQ()) == describe_pdu(AReleaseRQ()) == "A-RELEASE-RQ"
    assert summarize_pdu(AReleaseRP()) == describe_pdu(AReleaseRP()) == "A-RELEASE-RP"


def test_pdata_shows_each_pdv_but_never_its_data() -> None:
    secret = b"PATIENT^NAME" * 100_000
    decoded = decode_pdu(
        encode_pdu(
            PDataTF(
                (
                    PresentationDataValue(1, is_command=True, is_last=True, data=b"\x00" * 74),
                    PresentationDataValue(3, is_command=False, is_last=False, data=secret),
                )
            )
        )
    )
    text = describe_pdu(decoded)
    assert "PDV context 1: command, last fragment, 74 bytes" in text
    assert f"PDV context 3: data set, more fragments follow, {len(secret)} bytes" in text
    assert "PATIENT" not in text and "PATIENT" not in summarize_pdu(decoded)
    assert len(text) < 300
    assert (
        summarize_pdu(decoded)
        == f"P-DATA-TF, 2 PDVs, {74 + len(secret)} bytes (ctx 1 cmd last 74 B; ctx 3 data {len(secret)} B)"
    )


def test_every_pdu_summary_is_one_line() -> None:
    for pdu in (
        REQUEST,
        AReleaseRQ(),
        AAbort(),
        AAssociateRJ(RejectResult.REJECTED_TRANSIENT, RejectSource.SERVICE_PROVIDER_PRESENTATION, 1),
    ):
        assert "\n" not in summarize_pdu(pdu)
