"""DIMSE command sets: every message survives the wire, the fast paths equal pydicom, peers agree."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from io import BytesIO
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pynetdicom import dimse_messages
from pynetdicom.dimse_primitives import C_ECHO, C_FIND, C_GET, C_STORE, N_GET
from pynetdicom.dsutils import decode, encode

from app.net.dimse import commands as c
from app.net.dimse.commands import (
    MESSAGE_CLASSES,
    NO_DATASET,
    CommandField,
    _decode_with_pydicom,
    _encode_fast,
    _encode_with_pydicom,
    decode_command,
    describe_message,
    encode_command,
    is_request,
    message_name,
    response_class_for,
)
from app.net.errors import DimseError

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
INSTANCE = "1.2.826.0.1.3680043.8.498.12345678901234567890"

# ---------------------------------------------------------------------------------------------------
# Strategies: valid values of every VR a command element has

uids = (
    st.lists(
        st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True)), min_size=1, max_size=9
    )
    .map(".".join)
    .filter(lambda uid: len(uid) <= 64)
)
ae_titles = st.from_regex(r"[A-Z0-9_][A-Z0-9_ ]{0,14}[A-Z0-9_]|[A-Z0-9_]", fullmatch=True)
us_values = st.integers(0, 0xFFFF)
tags = st.integers(0, 0xFFFF_FFFF)
comments = st.from_regex(r"[A-Za-z0-9.:()_-]([A-Za-z0-9 .:()_-]{0,62}[A-Za-z0-9.:()_-])?", fullmatch=True)


def _value_strategy(attribute: str) -> st.SearchStrategy[Any]:
    vr = c._VRS[attribute]
    if vr == "UI":
        return uids
    if vr == "AE":
        return ae_titles
    if vr == "AT":
        return st.lists(tags, max_size=4).map(tuple)
    if attribute == "priority":
        return st.sampled_from(c.Priority)
    return us_values


def _details() -> st.SearchStrategy[Dataset | None]:
    def build(comment: str | None, error_id: int | None, offending: list[int]) -> Dataset | None:
        if comment is None and error_id is None and not offending:
            return None
        ds = Dataset()
        if comment is not None:
            ds.ErrorComment = comment
        if error_id is not None:
            ds.ErrorID = error_id
        if offending:
            ds.OffendingElement = offending if len(offending) > 1 else offending[0]
        return ds

    return st.builds(build, st.none() | comments, st.none() | us_values, st.lists(tags, max_size=3))


def messages_of(cls: type[Any], *, with_detail: bool = True) -> st.SearchStrategy[Any]:
    """Any valid instance of ``cls``: every optional element present or absent."""
    fields: dict[str, st.SearchStrategy[Any]] = {"has_dataset": st.booleans()}
    for field in dataclasses.fields(cls):
        if field.name in c._KEYWORDS:
            values = _value_strategy(field.name)
            optional = "None" in str(field.type)
            fields[field.name] = st.none() | values if optional else values
        elif field.name in ("status_detail", "extra_elements") and with_detail:
            fields[field.name] = _details()
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


any_message = st.sampled_from(MESSAGE_CLASSES).flatmap(messages_of)
any_message_without_detail = st.sampled_from(MESSAGE_CLASSES).flatmap(
    lambda cls: messages_of(cls, with_detail=False)
)


def elements(data: bytes) -> list[tuple[int, bytes]]:
    """(element number, value) of an Implicit VR Little Endian group-0000 data set, in order."""
    out, offset = [], 0
    while offset < len(data):
        group, element, length = struct.unpack_from("<HHL", data, offset)
        assert group == 0
        out.append((element, data[offset + 8 : offset + 8 + length]))
        offset += 8 + length
    return out


# ---------------------------------------------------------------------------------------------------
# The wire format


def test_a_c_store_rq_is_implicit_little_endian_with_the_group_length_first() -> None:
    rq = c.CStoreRQ(message_id=7, affected_sop_class_uid=CT, affected_sop_instance_uid=INSTANCE)
    data = encode_command(rq)
    found = elements(data)
    assert found[0] == (0x0000, struct.pack("<L", len(data) - 12))
    assert [e for e, _ in found] == sorted(e for e, _ in found)
    assert dict(found)[0x0100] == struct.pack("<H", 0x0001)
    assert dict(found)[0x0110] == struct.pack("<H", 7)
    assert dict(found)[0x0002] == CT.encode() + b"\0"  # UI padded with NUL to even length
    assert dict(found)[0x0800] == struct.pack("<H", 0x0000)  # a data set follows


def test_command_data_set_type_says_whether_a_data_set_follows() -> None:
    echo = c.CEchoRQ(message_id=1)
    assert dict(elements(encode_command(echo)))[0x0800] == struct.pack("<H", NO_DATASET)
    assert decode_command(encode_command(echo)).has_dataset is False
    # The sender knows best: the override wins over the message's own flag.
    find = c.CFindRSP(message_id_being_responded_to=1, status=0xFF00)
    assert decode_command(encode_command(find, has_dataset=True)).has_dataset is True
    store = c.CStoreRQ(message_id=1, affected_sop_class_uid=CT, affected_sop_instance_uid=INSTANCE)
    assert decode_command(encode_command(store, has_dataset=False)).has_dataset is False


def test_ae_titles_are_padded_with_a_space() -> None:
    rq = c.CMoveRQ(message_id=2, affected_sop_class_uid=STUDY_FIND, move_destination="ABC")
    assert dict(elements(encode_command(rq)))[0x0600] == b"ABC "


def test_an_empty_attribute_identifier_list_is_not_sent() -> None:
    rq = c.NGetRQ(message_id=3, requested_sop_class_uid="1.2.3", requested_sop_instance_uid="1.2.3.4")
    assert 0x1005 not in dict(elements(encode_command(rq)))
    listed = dataclasses.replace(rq, attribute_identifier_list=(0x00100010, 0x7FE00010))
    assert dict(elements(encode_command(listed)))[0x1005] == struct.pack(
        "<HHHH", 0x0010, 0x0010, 0x7FE0, 0x0010
    )


# ---------------------------------------------------------------------------------------------------
# Round trips and the fast paths


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=message_name)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_message_type_round_trips(cls: type[Any], data: st.DataObject) -> None:
    message = data.draw(messages_of(cls))
    assert decode_command(encode_command(message)) == message


@settings(max_examples=400, deadline=None)
@given(message=any_message_without_detail, has_dataset=st.booleans())
def test_the_fast_encoder_writes_exactly_the_bytes_pydicom_writes(message: Any, has_dataset: bool) -> None:
    fast = _encode_fast(message, c._LAYOUTS[type(message)], has_dataset)
    assert fast == _encode_with_pydicom(message, has_dataset)


@settings(max_examples=400, deadline=None)
@given(message=any_message)
def test_the_fast_decoder_reads_exactly_what_pydicom_reads(message: Any) -> None:
    data = _encode_with_pydicom(message, message.has_dataset)
    assert decode_command(data) == _decode_with_pydicom(data) == message


def test_status_detail_elements_are_kept_and_readable() -> None:
    detail = Dataset()
    detail.ErrorComment = "Disk full"
    detail.ErrorID = 9
    detail.OffendingElement = [0x00100010, 0x00100020]
    rsp = c.CStoreRSP(message_id_being_responded_to=5, status=0xA700, status_detail=detail)
    decoded = decode_command(encode_command(rsp))
    assert isinstance(decoded, c.CStoreRSP)
    assert decoded.error_comment == "Disk full"
    assert decoded.error_id == 9
    assert decoded.offending_element == (0x00100010, 0x00100020)
    assert c.CStoreRSP(message_id_being_responded_to=5).error_comment is None


def test_unknown_command_elements_of_a_request_are_kept() -> None:
    extra = Dataset()
    extra.add_new(0x00004000, "LT", "retired Comments")  # (0000,4000) Comments: not a C-ECHO-RQ element
    rq = c.CEchoRQ(message_id=1, extra_elements=extra)
    decoded = decode_command(encode_command(rq))
    assert decoded.extra_elements is not None  # type: ignore[union-attr]
    assert decoded.extra_elements[0x00004000].value == "retired Comments"  # type: ignore[union-attr]


def test_memoryview_input_is_accepted() -> None:
    rq = c.CEchoRQ(message_id=9)
    data = b"xx" + encode_command(rq)
    assert decode_command(memoryview(data)[2:]) == rq


# ---------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\x00\x00\x00", "stray byte"),
        (struct.pack("<HHL", 0, 0x0100, 10) + b"\x01\x00", "claims 10 bytes"),
        (struct.pack("<HHL", 8, 0x0016, 2) + b"ab", "outside group 0000"),
        (struct.pack("<HHLH", 0, 0x0110, 2, 1), "no Command Field"),
        (struct.pack("<HHLH", 0, 0x0100, 2, 0x1234), "unknown DIMSE command field 0x1234"),
        (struct.pack("<HHL", 0, 0x0100, 4) + b"\x01\x00\x00\x00", "4 bytes long"),
        (struct.pack("<HHLHHHLH", 0, 0x0100, 2, 0x0030, 0, 0x0800, 2, 0x0101), "lacks MessageID"),
        (struct.pack("<HHLHHHLH", 0, 0x0100, 2, 0x0030, 0, 0x0110, 2, 1), "lacks CommandDataSetType"),
    ],
)
def test_garbage_is_refused_with_a_clear_message(data: bytes, words: str) -> None:
    with pytest.raises(DimseError, match=words):
        decode_command(data)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_dimse_error(data: bytes) -> None:
    with contextlib.suppress(DimseError):
        decode_command(data)


@settings(max_examples=200, deadline=None)
@given(message=any_message, cut=st.integers(1, 40))
def test_a_truncated_command_set_is_refused(message: Any, cut: int) -> None:
    data = encode_command(message)
    try:
        decoded = decode_command(data[:-cut])
    except DimseError:
        return
    # Dropping whole trailing elements can leave a valid command: it must then be a different one.
    assert decoded != message


def test_a_response_without_status_is_refused() -> None:
    data = struct.pack("<HHLHHHLHHHLH", 0, 0x0100, 2, 0x8030, 0, 0x0120, 2, 1, 0, 0x0800, 2, 0x0101)
    with pytest.raises(DimseError, match="C-ECHO-RSP lacks Status"):
        decode_command(data)


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (c.CMoveRQ(message_id=1, affected_sop_class_uid=STUDY_FIND, move_destination="X" * 17), "16"),
        (c.CEchoRQ(message_id=1, affected_sop_class_uid="1." * 40), "64"),
        (c.CEchoRQ(message_id=70000), "invalid value"),
        (c.CEchoRQ(message_id=1, affected_sop_class_uid="1.2.é"), "invalid value"),
    ],
)
def test_unsendable_values_are_refused(message: Any, words: str) -> None:
    with pytest.raises(DimseError, match=words):
        encode_command(message)


def test_status_detail_must_be_command_elements() -> None:
    detail = Dataset()
    detail.PatientName = "DOE^JOHN"
    with pytest.raises(DimseError, match="group 0000"):
        encode_command(c.CStoreRSP(message_id_being_responded_to=1, status_detail=detail))


def test_encode_refuses_what_is_not_a_message() -> None:
    with pytest.raises(DimseError, match="not a DIMSE message"):
        encode_command("C-ECHO")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Helpers


def test_requests_and_their_responses() -> None:
    requests = [cls for cls in MESSAGE_CLASSES if not cls.COMMAND_FIELD & 0x8000]
    assert len(requests) == 12
    for cls in requests:
        if cls is c.CCancelRQ:
            with pytest.raises(DimseError, match="no response"):
                response_class_for(cls)
            continue
        response = response_class_for(cls)
        assert response.COMMAND_FIELD == cls.COMMAND_FIELD | 0x8000
        assert message_name(response) == message_name(cls).replace("-RQ", "-RSP")
    assert is_request(c.CCancelRQ(message_id_being_responded_to=1))
    assert not is_request(c.CEchoRSP(message_id_being_responded_to=1))
    assert response_class_for(c.CFindRQ(message_id=1, affected_sop_class_uid=STUDY_FIND)) is c.CFindRSP


def test_every_command_field_has_a_message_class() -> None:
    assert {cls.COMMAND_FIELD for cls in MESSAGE_CLASSES} == set(CommandField)


def test_describe_message_is_one_readable_line() -> None:
    rq = c.CStoreRQ(message_id=3, affected_sop_class_uid=CT, affected_sop_instance_uid=INSTANCE)
    assert describe_message(rq) == f"C-STORE-RQ id=3 CT Image Storage {INSTANCE} + data set"
    detail = Dataset()
    detail.ErrorComment = "no space"
    rsp = c.CMoveRSP(
        message_id_being_responded_to=3,
        status=0xA702,
        number_of_completed_suboperations=2,
        number_of_failed_suboperations=1,
        status_detail=detail,
    )
    line = describe_message(rsp)
    assert line.startswith(
        "C-MOVE-RSP to id=3 Failure: Refused: out of resources, unable to perform sub-operations"
    )
    assert "completed=2 failed=1" in line
    assert '"no space"' in line
    assert "\n" not in line
    assert describe_message(c.CCancelRQ(message_id_being_responded_to=4)) == "C-CANCEL-RQ for id=4"


# ---------------------------------------------------------------------------------------------------
# pynetdicom, as a peer, reads what we write and we read what it writes


def _pynetdicom_bytes(message_class: str, primitive: Any) -> bytes:
    msg = getattr(dimse_messages, message_class)()
    msg.primitive_to_message(primitive)
    data = encode(msg.command_set, True, True)
    assert data is not None
    return data


def _pynetdicom_primitive(message_class: str, data: bytes) -> Any:
    msg = getattr(dimse_messages, message_class)()
    msg.command_set = decode(BytesIO(data), True, True)
    return msg.message_to_primitive()


def test_we_read_pynetdicoms_c_store_rq() -> None:
    primitive = C_STORE()
    primitive.MessageID = 12
    primitive.AffectedSOPClassUID = CT
    primitive.AffectedSOPInstanceUID = INSTANCE
    primitive.Priority = 2
    primitive.MoveOriginatorApplicationEntityTitle = "MOVER"
    primitive.MoveOriginatorMessageID = 4
    primitive.DataSet = BytesIO(b"\x08\x00")
    decoded = decode_command(_pynetdicom_bytes("C_STORE_RQ", primitive))
    assert decoded == c.CStoreRQ(
        message_id=12,
        affected_sop_class_uid=CT,
        affected_sop_instance_uid=INSTANCE,
        priority=c.Priority.LOW,
        move_originator_application_entity_title="MOVER",
        move_originator_message_id=4,
        has_dataset=True,
    )


def test_we_read_pynetdicoms_failed_c_find_rsp_with_its_status_detail() -> None:
    primitive = C_FIND()
    primitive.MessageIDBeingRespondedTo = 8
    primitive.AffectedSOPClassUID = STUDY_FIND
    primitive.Status = 0xA900
    primitive.ErrorComment = "Bad identifier"
    primitive.OffendingElement = [0x00100010]
    decoded = decode_command(_pynetdicom_bytes("C_FIND_RSP", primitive))
    assert isinstance(decoded, c.CFindRSP)
    assert (decoded.message_id_being_responded_to, decoded.status) == (8, 0xA900)
    assert decoded.affected_sop_class_uid == STUDY_FIND
    assert decoded.error_comment == "Bad identifier"
    assert decoded.offending_element == (0x00100010,)
    assert decoded.has_dataset is False


def test_we_read_pynetdicoms_c_get_rsp_counts_and_n_get_rq_attribute_list() -> None:
    get = C_GET()
    get.MessageIDBeingRespondedTo = 3
    get.Status = 0xFF00
    get.NumberOfRemainingSuboperations = 5
    get.NumberOfCompletedSuboperations = 2
    get.NumberOfFailedSuboperations = 0
    get.NumberOfWarningSuboperations = 1
    decoded = decode_command(_pynetdicom_bytes("C_GET_RSP", get))
    assert decoded == c.CGetRSP(
        message_id_being_responded_to=3,
        status=0xFF00,
        number_of_remaining_suboperations=5,
        number_of_completed_suboperations=2,
        number_of_failed_suboperations=0,
        number_of_warning_suboperations=1,
    )
    n_get = N_GET()
    n_get.MessageID = 4
    n_get.RequestedSOPClassUID = "1.2.840.10008.5.1.1.16"
    n_get.RequestedSOPInstanceUID = "1.2.840.10008.5.1.1.17"
    n_get.AttributeIdentifierList = [0x21100010, 0x21100020]
    decoded_get = decode_command(_pynetdicom_bytes("N_GET_RQ", n_get))
    assert decoded_get == c.NGetRQ(
        message_id=4,
        requested_sop_class_uid="1.2.840.10008.5.1.1.16",
        requested_sop_instance_uid="1.2.840.10008.5.1.1.17",
        attribute_identifier_list=(0x21100010, 0x21100020),
    )


@settings(max_examples=60, deadline=None)
@given(message=any_message)
def test_pynetdicom_reads_every_message_we_write(message: Any) -> None:
    name = message_name(message).replace("-", "_")
    primitive = _pynetdicom_primitive(name, encode_command(message))
    for attribute, keyword in c._KEYWORDS.items():
        value = getattr(message, attribute, None)
        if value is None or value == () or not hasattr(primitive, keyword):
            continue
        theirs = getattr(primitive, keyword)
        if isinstance(value, tuple):
            # pydicom hands back a single tag, not a list, when the attribute holds one value
            theirs_list = [theirs] if isinstance(theirs, int) else list(theirs)
            assert [int(t) for t in theirs_list] == list(value)
        else:
            assert theirs == value, keyword
    if not is_request(message):
        assert primitive.Status == message.status


def test_we_and_pynetdicom_write_the_same_c_echo_rsp() -> None:
    primitive = C_ECHO()
    primitive.MessageIDBeingRespondedTo = 17
    primitive.AffectedSOPClassUID = "1.2.840.10008.1.1"
    primitive.Status = 0x0000
    ours = encode_command(
        c.CEchoRSP(message_id_being_responded_to=17, affected_sop_class_uid="1.2.840.10008.1.1")
    )
    assert ours == _pynetdicom_bytes("C_ECHO_RSP", primitive)
