"""Properties of the codec over every PDU hypothesis can draw (strategies in ``pdu_strategies``)."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.net.errors import RemoteProtocolError
from app.net.pdu import PDU, PDataTF
from app.net.pdu_codec import PDUReader, decode_pdu, encode_pdata_parts, encode_pdu
from tests.net.pdu_strategies import pdata_tfs, pdus

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def normalized(pdu: PDU) -> PDU:
    """Decoded PDV data are memoryviews; compare their bytes."""
    if isinstance(pdu, PDataTF):
        return PDataTF(
            tuple(type(v)(v.context_id, v.is_command, v.is_last, bytes(v.data)) for v in pdu.values)
        )
    return pdu


@SETTINGS
@given(pdus())
def test_every_pdu_decodes_to_itself(pdu: PDU) -> None:
    assert normalized(decode_pdu(encode_pdu(pdu))) == pdu


@SETTINGS
@given(pdus())
def test_encoding_is_stable_through_a_round_trip(pdu: PDU) -> None:
    wire = encode_pdu(pdu)
    assert encode_pdu(decode_pdu(wire)) == wire


@SETTINGS
@given(pdata_tfs)
def test_gathered_parts_join_to_the_encoded_pdata(pdu: PDataTF) -> None:
    assert b"".join(encode_pdata_parts(pdu)) == encode_pdu(pdu)


@SETTINGS
@given(st.lists(pdus(), min_size=1, max_size=5), st.data())
def test_reader_yields_the_same_pdus_however_the_stream_is_split(
    pdu_list: list[PDU], data: st.DataObject
) -> None:
    stream = b"".join(encode_pdu(pdu) for pdu in pdu_list)
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=12)))
    chunks = [stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    as_bytearray = data.draw(st.booleans())
    reader = PDUReader()
    received: list[PDU] = []
    for chunk in chunks:
        reader.feed(bytearray(chunk) if as_bytearray else chunk)
        while (pdu := reader.next_pdu()) is not None:
            received.append(normalized(pdu))
    assert received == pdu_list
    assert reader.pending_bytes == 0


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_remote_protocol_error(garbage: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_pdu(garbage)


@settings(max_examples=500, deadline=None)
@given(pdus(), st.data())
def test_corrupted_pdus_never_raise_anything_but_remote_protocol_error(pdu: PDU, data: st.DataObject) -> None:
    wire = bytearray(encode_pdu(pdu))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(wire) - 1))
        wire[position] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(RemoteProtocolError):
        decode_pdu(wire)
    reader = PDUReader(max_pdu_length=4096)
    reader.feed(bytes(wire))
    try:
        while reader.next_pdu() is not None:
            pass
    except RemoteProtocolError:
        pass
