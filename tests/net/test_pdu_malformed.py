"""What a broken or hostile peer sends is refused with RemoteProtocolError and the right A-ABORT reason.

PS3.8 9.3.1: unknown PDU types are an unrecognized PDU; items of unrecognized types are ignored and
skipped; lengths that do not add up are invalid parameter values.  Nothing is allocated on the word
of a length field alone.
"""

from __future__ import annotations

import tracemalloc

import pytest

from app.net.errors import RemoteProtocolError
from app.net.pdu import (
    AAssociateRQ,
    AbortReason,
    AbortSource,
    PDataTF,
    PresentationDataValue,
    UserInformation,
)
from app.net.pdu_codec import MAX_SANE_PDU_LENGTH, PDUReader, decode_pdu, encode_pdu
from tests.net.test_pdu_codec import ECHO_RQ, ECHO_RQ_BYTES, item, pdu_bytes


def assert_refused(data: bytes, reason: AbortReason, message: str | None = None) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError, match=message) as caught:
        decode_pdu(data)
    assert caught.value.abort_source == AbortSource.SERVICE_PROVIDER
    assert caught.value.abort_reason == reason
    return caught.value


@pytest.mark.parametrize("cut", range(len(ECHO_RQ_BYTES)))
def test_every_truncation_of_an_association_request_is_refused(cut: int) -> None:
    assert_refused(ECHO_RQ_BYTES[:cut], AbortReason.INVALID_PDU_PARAMETER_VALUE)


@pytest.mark.parametrize("cut", range(6, len(ECHO_RQ_BYTES)))
def test_every_truncation_with_a_consistent_pdu_length_is_refused(cut: int) -> None:
    # The PDU length agrees with the bytes present, so only the item lengths can tell that items are cut.
    body = ECHO_RQ_BYTES[6:cut]
    with pytest.raises(RemoteProtocolError) as caught:
        decode_pdu(pdu_bytes(0x01, body))
    assert caught.value.abort_reason in (
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        AbortReason.UNRECOGNIZED_PDU_PARAMETER,
    )


def test_trailing_bytes_after_the_stated_length_are_refused() -> None:
    assert_refused(ECHO_RQ_BYTES + b"\x00", AbortReason.INVALID_PDU_PARAMETER_VALUE, "header says")


@pytest.mark.parametrize("pdu_type", [0x00, 0x08, 0x10, 0x47, 0xFF])
def test_unknown_pdu_type_is_an_unrecognized_pdu(pdu_type: int) -> None:
    error = assert_refused(bytes([pdu_type, 0, 0, 0, 0, 4, 0, 0, 0, 0]), AbortReason.UNRECOGNIZED_PDU)
    assert f"0x{pdu_type:02X}" in str(error)


def test_http_on_the_dicom_port_is_an_unrecognized_pdu() -> None:
    reader = PDUReader()
    reader.feed(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="not speaking DICOM") as caught:
        reader.next_pdu()
    assert caught.value.abort_reason == AbortReason.UNRECOGNIZED_PDU


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (bytes.fromhex("05 00 00000005 0000000000"), "A-RELEASE-RQ must have a length of 4"),
        (bytes.fromhex("06 00 00000002 0000"), "A-RELEASE-RP must have a length of 4"),
        (bytes.fromhex("07 00 00000003 000000"), "A-ABORT must have a length of 4"),
        (bytes.fromhex("03 00 00000005 0001010100"), "A-ASSOCIATE-RJ must have a length of 4"),
        (bytes.fromhex("03 00 00000004 00 09 01 01"), "result has the undefined value 9"),
        (bytes.fromhex("03 00 00000004 00 01 07 01"), "source has the undefined value 7"),
        (bytes.fromhex("07 00 00000004 0000 05 00"), "A-ABORT source has the undefined value 5"),
        (bytes.fromhex("04 00 00000000"), "no presentation data value"),
        (bytes.fromhex("04 00 00000006 00000001 0103"), "item length 1"),
        (bytes.fromhex("04 00 00000006 00000009 0103"), "item length 9"),
        (bytes.fromhex("04 00 00000003 000000"), "stray byte"),
        (pdu_bytes(0x01, bytes(40)), "shorter than its 68 fixed bytes"),
    ],
)
def test_bad_lengths_and_values_are_invalid_parameters(wire: bytes, message: str) -> None:
    assert_refused(wire, AbortReason.INVALID_PDU_PARAMETER_VALUE, message)


def _request_with_items(*items: bytes) -> bytes:
    fixed = b"\x00\x01\x00\x00" + b"PACS".ljust(16) + b"COURIER".ljust(16) + bytes(32)
    return pdu_bytes(0x01, fixed + b"".join(items))


APP_CONTEXT_ITEM = item(0x10, b"1.2.840.10008.3.1.1.1")
CONTEXT_ITEM = item(
    0x20, b"\x01\x00\x00\x00" + item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2")
)


def test_items_of_unknown_type_are_skipped() -> None:
    # PS3.8 9.3.1: "items of unrecognized types shall be ignored and skipped".
    wire = _request_with_items(
        APP_CONTEXT_ITEM,
        item(0x2F, b"junk"),
        item(
            0x20,
            b"\x01\x00\x00\x00"
            + item(0x30, b"1.2.840.10008.1.1")
            + item(0x99, b"?")
            + item(0x40, b"1.2.840.10008.1.2"),
        ),
        item(0x50, b""),
    )
    decoded = decode_pdu(wire)
    assert isinstance(decoded, AAssociateRQ)
    assert decoded.presentation_contexts[0].transfer_syntaxes == ("1.2.840.10008.1.2",)


def test_unknown_user_information_sub_item_is_kept_not_refused() -> None:
    wire = _request_with_items(APP_CONTEXT_ITEM, CONTEXT_ITEM, item(0x50, item(0x7F, b"abc")))
    decoded = decode_pdu(wire)
    assert isinstance(decoded, AAssociateRQ)
    assert decoded.user_information == UserInformation(unknown_items=((0x7F, b"abc"),))


def test_missing_application_context_is_refused() -> None:
    wire = _request_with_items(CONTEXT_ITEM, item(0x50, b""))
    assert_refused(wire, AbortReason.UNRECOGNIZED_PDU_PARAMETER, "no application context")


def test_missing_user_information_is_refused() -> None:
    # PS3.8 9.3.2: the request carries exactly one user information item (with the maximum length).
    wire = _request_with_items(APP_CONTEXT_ITEM, CONTEXT_ITEM)
    assert_refused(wire, AbortReason.UNRECOGNIZED_PDU_PARAMETER, "no user information")


@pytest.mark.parametrize(
    ("user_item", "message"),
    [
        (item(0x51, b"\x00\x00\x40"), "Maximum length sub-item must be 4 bytes"),
        (item(0x53, b"\x00\x01"), "Asynchronous operations window sub-item must be 4 bytes"),
        (item(0x54, b"\x00\x09" + b"1.2"), "runs past the end"),
        (item(0x54, b"\x00\x03" + b"1.2" + b"\x01"), "role bytes"),
        (item(0x56, b"\x00"), "length field is missing"),
        (item(0x58, b"\x09\x00\x00\x00\x00\x00"), "user identity type has the undefined value 9"),
        (item(0x58, b"\x01\x00\x00\x05ab"), "primary field"),
        (item(0x59, b"\x00\x07abc"), "server response"),
        (
            item(0x57, b"\x00\x03" + b"1.2" + b"\x00\x03" + b"1.2" + b"\x00\x04" + b"\x00\x09ab"),
            "related general",
        ),
        (item(0x52, b"1.2.\xff"), "non-ASCII"),
    ],
)
def test_malformed_user_information_sub_items_are_refused(user_item: bytes, message: str) -> None:
    wire = _request_with_items(APP_CONTEXT_ITEM, CONTEXT_ITEM, item(0x50, user_item))
    assert_refused(wire, AbortReason.INVALID_PDU_PARAMETER_VALUE, message)


def test_context_without_abstract_syntax_is_refused() -> None:
    context = item(0x20, b"\x01\x00\x00\x00" + item(0x40, b"1.2.840.10008.1.2"))
    assert_refused(
        _request_with_items(APP_CONTEXT_ITEM, context), AbortReason.INVALID_PDU_PARAMETER_VALUE, "abstract"
    )


# -------------------------------------------------------------------------------------------------
# The reader checks lengths on the header alone


def _peak_allocation_while(action: object) -> int:
    assert callable(action)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("pdu_type", [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07])
def test_a_gigabyte_length_is_refused_from_the_header_alone_without_allocating(pdu_type: int) -> None:
    reader = PDUReader(max_pdu_length=16384)
    header = bytes([pdu_type, 0]) + (0xFFFFFFF0).to_bytes(4, "big")

    def feed_and_read() -> None:
        reader.feed(header)
        with pytest.raises(RemoteProtocolError) as caught:
            reader.next_pdu()
        assert caught.value.abort_reason == AbortReason.INVALID_PDU_PARAMETER_VALUE

    assert _peak_allocation_while(feed_and_read) < 1024 * 1024
    assert reader.pending_bytes == 0


def test_an_unlimited_reader_still_refuses_a_four_gigabyte_pdata() -> None:
    reader = PDUReader(max_pdu_length=0)
    reader.feed(bytes.fromhex("04 00 FFFFFFFF"))
    with pytest.raises(RemoteProtocolError, match="larger than the maximum PDU length"):
        reader.next_pdu()


def test_pdata_larger_than_our_advertised_maximum_is_refused() -> None:
    wire = encode_pdu(PDataTF((PresentationDataValue(1, False, True, bytes(16384 - 6 + 1)),)))
    reader = PDUReader(max_pdu_length=16384)
    reader.feed(wire[:6])
    with pytest.raises(RemoteProtocolError, match="16385 bytes, larger than the maximum PDU length of 16384"):
        reader.next_pdu()


def test_an_association_pdu_over_the_sane_cap_is_refused() -> None:
    reader = PDUReader()
    reader.feed(bytes([0x01, 0]) + (MAX_SANE_PDU_LENGTH + 1).to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError, match="corrupt or hostile"):
        reader.next_pdu()


def test_pdus_before_a_violation_are_handed_out_first_and_the_error_sticks() -> None:
    reader = PDUReader()
    reader.feed(ECHO_RQ_BYTES + b"\x99\x00\x00\x00\x00\x00" + ECHO_RQ_BYTES)
    assert reader.next_pdu() == ECHO_RQ
    with pytest.raises(RemoteProtocolError):
        reader.next_pdu()
    reader.feed(ECHO_RQ_BYTES)  # ignored: the association is being aborted
    with pytest.raises(RemoteProtocolError):
        reader.next_pdu()


def test_a_malformed_whole_pdu_raises_from_next_pdu_with_its_reason() -> None:
    reader = PDUReader()
    reader.feed(bytes.fromhex("05 00 00000002 0000"))
    with pytest.raises(RemoteProtocolError, match="length of 4") as caught:
        reader.next_pdu()
    assert caught.value.abort_reason == AbortReason.INVALID_PDU_PARAMETER_VALUE
