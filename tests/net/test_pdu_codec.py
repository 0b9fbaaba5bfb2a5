"""The PDU codec writes the byte layouts of PS3.8 9.3 / PS3.7 D.3.3 and reads them back unchanged.

Golden vectors are spelled out field by field; pynetdicom (an independent implementation) must decode
our bytes to the same values and re-encode them byte for byte.
"""

from __future__ import annotations

import pytest
from pynetdicom.pdu import (
    A_ABORT_RQ,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    P_DATA_TF,
)

from app.net.errors import LocalProtocolError
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
    AsynchronousOperationsWindow,
    ContextResult,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    PresentationDataValue,
    RejectResult,
    RejectSource,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserIdentityType,
    UserInformation,
)
from app.net.pdu_codec import (
    PDU_HEADER_LENGTH,
    PDV_HEADER_LENGTH,
    PDUReader,
    decode_pdu,
    encode_pdata_parts,
    encode_pdu,
)

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"


def item(item_type: int, value: bytes) -> bytes:
    return bytes([item_type, 0]) + len(value).to_bytes(2, "big") + value


def pdu_bytes(pdu_type: int, body: bytes) -> bytes:
    return bytes([pdu_type, 0]) + len(body).to_bytes(4, "big") + body


# -------------------------------------------------------------------------------------------------
# Golden vectors

ECHO_RQ = AAssociateRQ(
    called_ae_title="ANY-SCP",
    calling_ae_title="COURIER",
    presentation_contexts=(PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE, EXPLICIT_LE)),),
    user_information=UserInformation(
        maximum_length=16384, implementation_class_uid="1.2.3.4", implementation_version_name="COURIER_01"
    ),
)
ECHO_RQ_BYTES = pdu_bytes(
    0x01,
    b"\x00\x01"  # protocol version 1
    + b"\x00\x00"  # reserved
    + b"ANY-SCP         "  # called AE title, 16 bytes space padded
    + b"COURIER         "  # calling AE title
    + bytes(32)  # reserved
    + item(0x10, APP_CONTEXT)
    + item(
        0x20,
        b"\x01\x00\x00\x00"  # context id 1, three reserved bytes
        + item(0x30, VERIFICATION.encode())  # odd length 17, not padded
        + item(0x40, IMPLICIT_LE.encode())
        + item(0x40, EXPLICIT_LE.encode()),
    )
    + item(
        0x50,
        item(0x51, (16384).to_bytes(4, "big")) + item(0x52, b"1.2.3.4") + item(0x55, b"COURIER_01"),
    ),
)

ECHO_AC = AAssociateAC(
    called_ae_title="ANY-SCP",
    calling_ae_title="COURIER",
    presentation_contexts=(
        PresentationContextAC(1, ContextResult.ACCEPTANCE, IMPLICIT_LE),
        PresentationContextAC(3, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, IMPLICIT_LE),
    ),
    user_information=UserInformation(maximum_length=0, implementation_class_uid="1.2.3.4"),
)
ECHO_AC_BYTES = pdu_bytes(
    0x02,
    b"\x00\x01\x00\x00"
    + b"ANY-SCP         "
    + b"COURIER         "
    + bytes(32)
    + item(0x10, APP_CONTEXT)
    + item(0x21, b"\x01\x00\x00\x00" + item(0x40, IMPLICIT_LE.encode()))  # id 1, result 0
    + item(0x21, b"\x03\x00\x03\x00" + item(0x40, IMPLICIT_LE.encode()))  # id 3, result 3 (syntax not tested)
    + item(0x50, item(0x51, bytes(4)) + item(0x52, b"1.2.3.4")),
)

GOLDEN: list[tuple[str, PDU, bytes]] = [
    ("A-ASSOCIATE-RQ", ECHO_RQ, ECHO_RQ_BYTES),
    ("A-ASSOCIATE-AC", ECHO_AC, ECHO_AC_BYTES),
    (
        "A-ASSOCIATE-RJ",
        AAssociateRJ(RejectResult.REJECTED_PERMANENT, RejectSource.SERVICE_USER, 7),
        bytes.fromhex("03 00 00000004 00 01 01 07"),
    ),
    (
        "P-DATA-TF",
        PDataTF(
            (
                PresentationDataValue(1, is_command=True, is_last=True, data=b"\x08\x00"),
                PresentationDataValue(1, is_command=False, is_last=False, data=b"abc"),
            )
        ),
        # PDV: item length (data + 2), context id, message control header (bit 0 command, bit 1 last)
        bytes.fromhex("04 00 0000001100000004 01 03 080000000005 01 00 616263"),
    ),
    ("A-RELEASE-RQ", AReleaseRQ(), bytes.fromhex("05 00 00000004 00000000")),
    ("A-RELEASE-RP", AReleaseRP(), bytes.fromhex("06 00 00000004 00000000")),
    (
        "A-ABORT",
        AAbort(AbortSource.SERVICE_PROVIDER, AbortReason.UNEXPECTED_PDU),
        bytes.fromhex("07 00 00000004 0000 02 02"),
    ),
]


@pytest.mark.parametrize(("name", "pdu", "wire"), GOLDEN, ids=[name for name, _, _ in GOLDEN])
def test_golden_vectors_encode_byte_exact_and_decode_back(name: str, pdu: PDU, wire: bytes) -> None:
    assert encode_pdu(pdu) == wire
    assert decode_pdu(wire) == pdu


PYNETDICOM_CLASSES = {
    "A-ASSOCIATE-RQ": A_ASSOCIATE_RQ,
    "A-ASSOCIATE-AC": A_ASSOCIATE_AC,
    "A-ASSOCIATE-RJ": A_ASSOCIATE_RJ,
    "P-DATA-TF": P_DATA_TF,
    "A-RELEASE-RQ": A_RELEASE_RQ,
    "A-RELEASE-RP": A_RELEASE_RP,
    "A-ABORT": A_ABORT_RQ,
}


@pytest.mark.parametrize(("name", "pdu", "wire"), GOLDEN, ids=[name for name, _, _ in GOLDEN])
def test_pynetdicom_reads_our_bytes_and_writes_them_back_identically(
    name: str, pdu: PDU, wire: bytes
) -> None:
    theirs = PYNETDICOM_CLASSES[name]()
    theirs.decode(encode_pdu(pdu))
    assert theirs.encode() == wire


def test_pynetdicom_sees_the_same_association_request_values() -> None:
    theirs = A_ASSOCIATE_RQ()
    theirs.decode(encode_pdu(ECHO_RQ))
    assert theirs.called_ae_title == "ANY-SCP"
    assert theirs.calling_ae_title == "COURIER"
    assert theirs.application_context_name == "1.2.840.10008.3.1.1.1"
    (context,) = theirs.presentation_context
    assert context.context_id == 1
    assert context.abstract_syntax == VERIFICATION
    assert context.transfer_syntax == [IMPLICIT_LE, EXPLICIT_LE]


def test_we_read_what_pynetdicom_writes_for_every_user_information_sub_item() -> None:
    ours = AAssociateRQ(
        "PACS",
        "COURIER",
        (PresentationContextRQ(1, CT_IMAGE_STORAGE, (EXPLICIT_LE,)),),
        UserInformation(
            maximum_length=16384,
            implementation_class_uid="1.2.3.4",
            implementation_version_name="COURIER_01",
            asynchronous_operations_window=AsynchronousOperationsWindow(2, 3),
            role_selections=(RoleSelection(CT_IMAGE_STORAGE, scu_role=False, scp_role=True),),
            sop_class_extended=(SOPClassExtendedNegotiation(CT_IMAGE_STORAGE, b"\x01\x00\x01"),),
            sop_class_common_extended=(
                SOPClassCommonExtendedNegotiation(CT_IMAGE_STORAGE, "1.2.840.10008.4.2", ("1.2.3", "1.2.4")),
            ),
            user_identity_rq=UserIdentityRQ(UserIdentityType.USERNAME_AND_PASSCODE, True, b"tech", b"secret"),
        ),
    )
    theirs = A_ASSOCIATE_RQ()
    theirs.decode(encode_pdu(ours))
    their_bytes = theirs.encode()
    assert their_bytes == encode_pdu(ours)
    assert decode_pdu(their_bytes) == ours


def test_a_rejected_context_may_carry_an_empty_transfer_syntax_and_pynetdicom_reads_it() -> None:
    # PS3.8 9.3.3.2: for a rejected context the transfer syntax "shall not be tested".
    ours = AAssociateAC("PACS", "COURIER", (PresentationContextAC(3, ContextResult.USER_REJECTION, ""),))
    wire = encode_pdu(ours)
    assert item(0x21, b"\x03\x00\x01\x00" + item(0x40, b"")) in wire
    assert decode_pdu(wire) == ours
    theirs = A_ASSOCIATE_AC()
    theirs.decode(wire)
    (context,) = theirs.presentation_context
    assert (context.context_id, context.result) == (3, 1)


def test_user_identity_server_response_round_trips_through_pynetdicom() -> None:
    ours = AAssociateAC(
        "PACS",
        "COURIER",
        (PresentationContextAC(1, ContextResult.ACCEPTANCE, EXPLICIT_LE),),
        UserInformation(maximum_length=65536, user_identity_ac=UserIdentityAC(b"token")),
    )
    theirs = A_ASSOCIATE_AC()
    theirs.decode(encode_pdu(ours))
    assert theirs.encode() == encode_pdu(ours)
    assert decode_pdu(theirs.encode()) == ours


# -------------------------------------------------------------------------------------------------
# Decoding details


def test_ae_titles_and_uids_lose_their_padding_on_decode() -> None:
    wire = pdu_bytes(
        0x01,
        b"\x00\x01\x00\x00"
        + b"  ANY-SCP\x00\x00\x00\x00\x00\x00\x00"  # leading spaces, NUL padding
        + b"COURIER         "
        + bytes(32)
        + item(0x10, APP_CONTEXT + b"\x00")  # NUL padded to even length
        + item(0x20, b"\x01\x00\x00\x00" + item(0x30, VERIFICATION.encode() + b"\x00") + item(0x40, b"1.2 "))
        + item(0x50, item(0x52, b"1.2.3.4\x00")),
    )
    decoded = decode_pdu(wire)
    assert decoded == AAssociateRQ(
        "ANY-SCP",
        "COURIER",
        (PresentationContextRQ(1, VERIFICATION, ("1.2",)),),
        UserInformation(implementation_class_uid="1.2.3.4"),
    )


def test_unknown_user_information_sub_items_are_kept() -> None:
    pdu = AAssociateRQ(
        "PACS", "COURIER", ECHO_RQ.presentation_contexts, UserInformation(unknown_items=((0x70, b"vendor"),))
    )
    decoded = decode_pdu(encode_pdu(pdu))
    assert isinstance(decoded, AAssociateRQ)
    assert decoded.user_information.unknown_items == ((0x70, b"vendor"),)


def test_pdv_data_are_views_into_the_received_buffer_not_copies() -> None:
    wire = bytearray(encode_pdu(PDataTF((PresentationDataValue(1, False, True, b"x" * 1000),))))
    decoded = decode_pdu(wire)
    assert isinstance(decoded, PDataTF)
    data = decoded.values[0].data
    assert isinstance(data, memoryview)
    assert data.obj is wire
    assert bytes(data) == b"x" * 1000


def test_gathered_write_parts_join_to_the_encoded_pdu_and_carry_the_data_uncopied() -> None:
    big = bytes(100_000)
    view = memoryview(bytearray(b"y" * 10))
    pdu = PDataTF(
        (
            PresentationDataValue(1, True, True, b"cmd"),
            PresentationDataValue(3, False, False, big),
            PresentationDataValue(3, False, True, view),
        )
    )
    parts = encode_pdata_parts(pdu)
    assert b"".join(parts) == encode_pdu(pdu)
    assert any(part is big for part in parts)
    assert any(part is view for part in parts)
    assert len(b"".join(parts)) == PDU_HEADER_LENGTH + 3 * PDV_HEADER_LENGTH + 3 + 100_000 + 10


@pytest.mark.parametrize(
    ("pdu", "message"),
    [
        (AAssociateRQ("A" * 17, "COURIER", ()), "called AE title"),
        (AAssociateRQ("PACS", "", ()), "calling AE title"),
        (AAssociateRQ("PACS", "CÖURIER", ()), "ASCII"),
        (AAssociateRQ("PACS", "COURIER", (PresentationContextRQ(1, "1." * 40000, ()),)), "at most 65535"),
    ],
)
def test_values_that_cannot_go_on_the_wire_are_a_local_error(pdu: PDU, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        encode_pdu(pdu)


# -------------------------------------------------------------------------------------------------
# PDUReader


def test_reader_yields_nothing_until_a_whole_pdu_is_in() -> None:
    reader = PDUReader()
    reader.feed(ECHO_RQ_BYTES[:-1])
    assert reader.next_pdu() is None
    assert reader.pending_bytes == len(ECHO_RQ_BYTES) - 1
    reader.feed(ECHO_RQ_BYTES[-1:])
    assert reader.next_pdu() == ECHO_RQ
    assert reader.next_pdu() is None
    assert reader.pending_bytes == 0


def test_reader_yields_every_pdu_of_one_chunk_in_order() -> None:
    stream = b"".join(wire for _, _, wire in GOLDEN)
    reader = PDUReader(max_pdu_length=16384)
    reader.feed(stream)
    assert reader.pending_bytes == len(stream)
    received = []
    while (pdu := reader.next_pdu()) is not None:
        received.append(pdu)
    assert received == [pdu for _, pdu, _ in GOLDEN]
    assert reader.pending_bytes == 0


def test_reader_fed_byte_by_byte_yields_the_same_pdus() -> None:
    stream = b"".join(wire for _, _, wire in GOLDEN)
    reader = PDUReader()
    received = []
    for index in range(len(stream)):
        reader.feed(memoryview(stream)[index : index + 1])
        while (pdu := reader.next_pdu()) is not None:
            received.append(pdu)
    assert received == [pdu for _, pdu, _ in GOLDEN]


def test_reader_does_not_keep_views_into_a_buffer_the_transport_may_reuse() -> None:
    wire = encode_pdu(PDataTF((PresentationDataValue(1, False, True, b"abc"),)))
    reused = bytearray(wire)
    reader = PDUReader()
    reader.feed(reused)
    reused[:] = bytes(len(reused))  # the transport overwrites its receive buffer
    pdu = reader.next_pdu()
    assert isinstance(pdu, PDataTF)
    assert bytes(pdu.values[0].data) == b"abc"


def test_reader_accepts_a_pdata_exactly_at_our_maximum_length() -> None:
    data = b"z" * (16384 - PDV_HEADER_LENGTH)
    wire = encode_pdu(PDataTF((PresentationDataValue(1, False, True, data),)))
    reader = PDUReader(max_pdu_length=16384)
    reader.feed(wire[:100])
    reader.feed(wire[100:])
    pdu = reader.next_pdu()
    assert isinstance(pdu, PDataTF)
    assert bytes(pdu.values[0].data) == data
