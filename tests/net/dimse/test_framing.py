"""Framing: messages into P-DATA-TF PDUs within the peer's limit, and back into messages."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pynetdicom import dimse_messages
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA

from app.net.dimse import commands as c
from app.net.dimse.commands import DimseMessage, encode_command
from app.net.dimse.framing import (
    DEFAULT_UNLIMITED_PDV_PAYLOAD,
    MAX_PDV_PAYLOAD,
    AssembledMessage,
    BytesSink,
    FileSink,
    MessageAssembler,
    fragment_message,
    fragment_stream,
    max_pdv_payload,
)
from app.net.errors import DimseError
from app.net.pdu import PDataTF, PresentationDataValue
from app.net.pdu_codec import decode_pdu, encode_pdu

CT = "1.2.840.10008.5.1.4.1.1.2"
STORE = c.CStoreRQ(message_id=1, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3.4.5")
COMMAND = encode_command(STORE)
ECHO = c.CEchoRQ(message_id=2)


def pdu_length(pdu: PDataTF) -> int:
    """The PDU-length field of a P-DATA-TF: the PDV items, headers included (PS3.8 9.3.5)."""
    return sum(6 + len(pdv.data) for pdv in pdu.values)


def shape(pdus: Iterable[PDataTF]) -> list[list[tuple[int, bool, bool, bytes]]]:
    return [[(v.context_id, v.is_command, v.is_last, bytes(v.data)) for v in pdu.values] for pdu in pdus]


def flat(pdus: Iterable[PDataTF]) -> list[PresentationDataValue]:
    return [pdv for pdu in pdus for pdv in pdu.values]


def check_well_formed(pdus: Sequence[PDataTF], command: bytes, dataset: bytes | None, max_pdu: int) -> None:
    """Every PDU fits; command fragments then data fragments; exactly one last flag of each kind."""
    if max_pdu:
        assert all(pdu_length(pdu) <= max_pdu for pdu in pdus)
    pdvs = flat(pdus)
    commands = [p for p in pdvs if p.is_command]
    data = [p for p in pdvs if not p.is_command]
    assert pdvs[: len(commands)] == commands  # the command comes first, whole
    assert b"".join(bytes(p.data) for p in commands) == command
    assert [p.is_last for p in commands] == [False] * (len(commands) - 1) + [True]
    if dataset is None:
        assert not data
    else:
        assert b"".join(bytes(p.data) for p in data) == dataset
        assert [p.is_last for p in data] == [False] * (len(data) - 1) + [True]


# ---------------------------------------------------------------------------------------------------
# The PDV payload


def test_max_pdv_payload_leaves_room_for_the_pdv_header() -> None:
    assert max_pdv_payload(16384) == 16378
    assert max_pdv_payload(7) == 1


def test_an_unlimited_peer_gets_big_but_bounded_pdvs() -> None:
    assert max_pdv_payload(0) == DEFAULT_UNLIMITED_PDV_PAYLOAD
    assert max_pdv_payload(0xFFFF_FFFF) == MAX_PDV_PAYLOAD == 16 * 1024 * 1024


def test_a_maximum_without_room_for_data_is_refused() -> None:
    with pytest.raises(DimseError, match="no room"):
        max_pdv_payload(6)


# ---------------------------------------------------------------------------------------------------
# fragment_message


def test_a_small_message_is_exactly_one_pdu() -> None:
    pdus = fragment_message(1, COMMAND, b"DATA", 16384)
    assert shape(pdus) == [[(1, True, True, COMMAND), (1, False, True, b"DATA")]]


def test_a_message_without_data_set_is_its_command_alone() -> None:
    command = encode_command(ECHO)
    assert shape(fragment_message(3, command, None, 16384)) == [[(3, True, True, command)]]


def test_the_last_command_pdv_and_the_first_data_pdv_share_a_pdu() -> None:
    max_pdu = 200
    room = max_pdu - (6 + len(COMMAND)) - 6
    dataset = bytes(range(256)) * 4
    pdus = fragment_message(1, COMMAND, dataset, max_pdu)
    check_well_formed(pdus, COMMAND, dataset, max_pdu)
    assert len(pdus[0].values) == 2
    assert len(pdus[0].values[1].data) == room  # the first data PDV fills the first PDU
    assert pdu_length(pdus[0]) == max_pdu
    assert all(pdu_length(pdu) == max_pdu for pdu in pdus[:-1])


def test_a_data_set_that_exactly_fills_the_first_pdu() -> None:
    max_pdu = 200
    room = max_pdu - (6 + len(COMMAND)) - 6
    pdus = fragment_message(1, COMMAND, b"x" * room, max_pdu)
    assert len(pdus) == 1
    assert pdu_length(pdus[0]) == max_pdu
    one_more = fragment_message(1, COMMAND, b"x" * (room + 1), max_pdu)
    check_well_formed(one_more, COMMAND, b"x" * (room + 1), max_pdu)
    assert [len(p.values) for p in one_more] == [2, 1]
    assert bytes(one_more[1].values[0].data) == b"x"


def test_a_data_set_that_exactly_fills_whole_pdus() -> None:
    max_pdu = 200
    room = max_pdu - (6 + len(COMMAND)) - 6
    dataset = b"y" * (room + 3 * (max_pdu - 6))
    pdus = fragment_message(1, COMMAND, dataset, max_pdu)
    check_well_formed(pdus, COMMAND, dataset, max_pdu)
    assert len(pdus) == 4
    assert all(pdu_length(pdu) == max_pdu for pdu in pdus)


def test_a_command_that_leaves_no_room_sends_the_data_set_in_the_next_pdu() -> None:
    max_pdu = len(COMMAND) + 6  # the command alone fills a PDU
    dataset = b"z" * 10
    pdus = fragment_message(1, COMMAND, dataset, max_pdu)
    check_well_formed(pdus, COMMAND, dataset, max_pdu)
    assert shape(pdus)[0] == [(1, True, True, COMMAND)]


def test_an_empty_data_set_is_one_empty_last_fragment() -> None:
    pdus = fragment_message(1, COMMAND, b"", 16384)
    assert shape(pdus) == [[(1, True, True, COMMAND), (1, False, True, b"")]]


def test_an_unlimited_peer_gets_one_pdu_for_a_medium_message() -> None:
    dataset = b"m" * 100_000
    pdus = fragment_message(1, COMMAND, dataset, 0)
    assert len(pdus) == 1
    check_well_formed(pdus, COMMAND, dataset, 0)


def test_a_command_larger_than_a_pdu_is_fragmented_too() -> None:
    max_pdu = 30
    pdus = fragment_message(5, COMMAND, b"abc", max_pdu)
    check_well_formed(pdus, COMMAND, b"abc", max_pdu)
    assert sum(1 for p in flat(pdus) if p.is_command) > 1


def test_data_fragments_are_views_of_the_callers_buffer_not_copies() -> None:
    dataset = bytearray(b"q" * 50_000)
    pdus = fragment_message(1, COMMAND, dataset, 16384)
    data = [p.data for p in flat(pdus) if not p.is_command]
    assert all(isinstance(d, memoryview) and d.obj is dataset for d in data)


@settings(max_examples=300, deadline=None)
@given(
    command_length=st.integers(1, 300),
    dataset_length=st.none() | st.integers(0, 3000),
    max_pdu=st.sampled_from([0, 7, 8, 13, 20, 64, 100, 257, 1024, 16384]),
)
def test_every_pdu_fits_and_the_bytes_are_all_there(
    command_length: int, dataset_length: int | None, max_pdu: int
) -> None:
    command = bytes(i % 251 for i in range(command_length))
    dataset = None if dataset_length is None else bytes(i % 253 for i in range(dataset_length))
    pdus = fragment_message(7, command, dataset, max_pdu)
    check_well_formed(pdus, command, dataset, max_pdu)
    # PDUs are only split when they must be: every PDU but the last is full or ends the command.
    for pdu in pdus[:-1]:
        assert max_pdu == 0 or pdu_length(pdu) == max_pdu or pdu.values[-1].is_command


# ---------------------------------------------------------------------------------------------------
# fragment_stream


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, offset = [], 0
    for size in sizes:
        chunks.append(data[offset : offset + size])
        offset += size
    chunks.append(data[offset:])
    return chunks


@settings(max_examples=300, deadline=None)
@given(
    dataset_length=st.integers(0, 4000),
    sizes=st.lists(st.integers(0, 700), max_size=12),
    max_pdu=st.sampled_from([0, 7, 13, 100, 129, 300, 1024]),
)
def test_streaming_chunks_of_any_size_gives_the_same_pdus(
    dataset_length: int, sizes: list[int], max_pdu: int
) -> None:
    dataset = bytes(i % 249 for i in range(dataset_length))
    streamed = list(fragment_stream(3, COMMAND, cut(dataset, sizes), max_pdu))
    assert shape(streamed) == shape(fragment_message(3, COMMAND, dataset, max_pdu))


def test_streaming_no_chunks_at_all_is_an_empty_data_set() -> None:
    assert shape(fragment_stream(1, COMMAND, [], 16384)) == shape(fragment_message(1, COMMAND, b"", 16384))
    tight = len(COMMAND) + 6
    assert shape(fragment_stream(1, COMMAND, iter([b""]), tight)) == shape(
        fragment_message(1, COMMAND, b"", tight)
    )


def test_streaming_does_not_copy_fragments_that_lie_within_one_chunk() -> None:
    chunks = [bytes([n]) * 100_000 for n in range(5)]
    pdvs = [p for p in flat(fragment_stream(1, COMMAND, chunks, 16384)) if not p.is_command]
    views = [p.data for p in pdvs if isinstance(p.data, memoryview)]
    copies = [p.data for p in pdvs if not isinstance(p.data, memoryview)]
    assert len(copies) <= len(chunks)  # at most one joined fragment per chunk boundary
    assert all(any(v.obj is chunk for chunk in chunks) for v in views)
    assert sum(len(p.data) for p in pdvs) == 500_000


def test_streaming_reads_one_chunk_ahead_only() -> None:
    read: list[int] = []

    def chunks() -> Iterable[bytes]:
        for n in range(100):
            read.append(n)
            yield b"c" * 50_000

    stream = fragment_stream(1, COMMAND, chunks(), 16384)
    next(stream)
    assert len(read) <= 2


# ---------------------------------------------------------------------------------------------------
# MessageAssembler


def frame(
    message: DimseMessage, dataset: bytes | None, context_id: int = 1, max_pdu: int = 16384
) -> list[PDataTF]:
    return fragment_message(
        context_id, encode_command(message, has_dataset=dataset is not None), dataset, max_pdu
    )


def test_a_message_without_data_set_completes_at_once() -> None:
    assembler = MessageAssembler()
    assert assembler.feed(frame(ECHO, None)[0]) == [AssembledMessage(1, ECHO, None)]
    assert not assembler.in_progress


def test_a_fragmented_message_is_reassembled_in_memory() -> None:
    dataset = bytes(range(256)) * 20
    assembler = MessageAssembler()
    pdus = frame(STORE, dataset, max_pdu=64)
    assert len(pdus) > 50
    results = [m for pdu in pdus for m in assembler.feed(pdu)]
    assert results == [AssembledMessage(1, STORE, dataset)]
    assert isinstance(results[0].dataset, bytes)


def test_pdus_that_went_through_the_pdu_codec_reassemble() -> None:
    dataset = b"\x08\x00\x16\x00" * 5000
    assembler = MessageAssembler()
    results = []
    for pdu in frame(STORE, dataset, context_id=5, max_pdu=4096):
        received = decode_pdu(encode_pdu(pdu))
        assert isinstance(received, PDataTF)
        results += assembler.feed(received)
    assert results == [AssembledMessage(5, STORE, dataset)]


@settings(max_examples=200, deadline=None)
@given(
    plan=st.lists(
        st.tuples(
            st.sampled_from([1, 3, 5]), st.none() | st.integers(0, 600), st.sampled_from([7, 40, 100, 0])
        ),
        min_size=1,
        max_size=5,
    ),
    splits=st.lists(st.integers(1, 6), max_size=100),
)
def test_messages_reassemble_however_their_pdvs_are_grouped_into_pdus(
    plan: list[tuple[int, int | None, int]], splits: list[int]
) -> None:
    expected, pdvs = [], []
    for n, (context_id, size, max_pdu) in enumerate(plan):
        message: DimseMessage = STORE if size is not None else ECHO
        dataset = None if size is None else bytes((n + i) % 256 for i in range(size))
        pdvs += flat(frame(message, dataset, context_id, max_pdu))
        expected.append(AssembledMessage(context_id, message, dataset))
    # Regroup the PDVs into PDUs of arbitrary sizes, ignoring the original PDU boundaries.
    pdus, offset = [], 0
    for size in [*splits, len(pdvs)]:
        if offset >= len(pdvs):
            break
        pdus.append(PDataTF(tuple(pdvs[offset : offset + size])))
        offset += size
    assembler = MessageAssembler()
    assert [m for pdu in pdus for m in assembler.feed(pdu)] == expected
    assert not assembler.in_progress


class RecordingSink:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name, self.data = log, name, bytearray()

    def write(self, data: memoryview) -> None:
        self.log.append(f"{self.name}.write({len(data)})")
        self.data += data

    def close(self) -> object:
        self.log.append(f"{self.name}.close")
        return ("sunk", bytes(self.data))

    def abort(self) -> None:
        self.log.append(f"{self.name}.abort")


def test_the_sink_is_chosen_per_message_once_its_command_is_known() -> None:
    log: list[str] = []
    calls: list[tuple[Any, int]] = []

    def factory(command: DimseMessage, context_id: int) -> RecordingSink:
        calls.append((command, context_id))
        log.append(f"factory({len(calls)})")
        return RecordingSink(log, f"sink{len(calls)}")

    assembler = MessageAssembler(factory)
    first, second = frame(STORE, b"a" * 100, 1, max_pdu=64), frame(STORE, b"b" * 10, 3)
    results = [m for pdu in [*first, *frame(ECHO, None), *second] for m in assembler.feed(pdu)]
    assert calls == [(STORE, 1), (STORE, 3)]  # not called for the C-ECHO, which has no data set
    assert [r.dataset for r in results] == [("sunk", b"a" * 100), None, ("sunk", b"b" * 10)]
    assert log[0] == "factory(1)" and log.index("sink1.close") < log.index("factory(2)")


def test_a_file_sink_receives_the_data_set_straight_into_a_file(tmp_path: Path) -> None:
    target = tmp_path / "instance.dcm"
    assembler = MessageAssembler(lambda command, context_id: FileSink(target))
    dataset = bytes(range(256)) * 100
    results = [m for pdu in frame(STORE, dataset, max_pdu=1000) for m in assembler.feed(pdu)]
    assert results == [AssembledMessage(1, STORE, target)]
    assert target.read_bytes() == dataset


def test_abort_discards_the_partial_message_and_its_file(tmp_path: Path) -> None:
    target = tmp_path / "partial.dcm"
    assembler = MessageAssembler(lambda command, context_id: FileSink(target))
    pdus = frame(STORE, b"p" * 5000, max_pdu=1000)
    for pdu in pdus[:3]:
        assert assembler.feed(pdu) == []
    assert target.exists() and assembler.in_progress
    assembler.abort()
    assert not target.exists() and not assembler.in_progress
    # The assembler is ready for the next message.
    assert assembler.feed(frame(ECHO, None)[0]) == [AssembledMessage(1, ECHO, None)]


def test_bytes_sink_joins_fragments_once() -> None:
    sink = BytesSink()
    for part in (b"ab", b"", b"cd", b"e"):
        sink.write(memoryview(part))
    assert sink.close() == b"abcde"


def test_file_sink_close_returns_its_path_and_abort_removes_it(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "a.bin")
    sink.write(memoryview(b"xyz"))
    assert sink.close() == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == b"xyz"
    other = FileSink(tmp_path / "b.bin")
    other.write(memoryview(b"123"))
    other.abort()
    assert not (tmp_path / "b.bin").exists()


def test_file_sink_writes_many_fragments_in_order_even_when_the_kernel_takes_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_writev = os.writev

    def stingy_writev(fd: int, views: list[memoryview]) -> int:
        return real_writev(fd, [views[0][:3]])  # a short write every time: three bytes at most

    monkeypatch.setattr(os, "writev", stingy_writev)
    sink = FileSink(tmp_path / "many.bin")
    sink.write_many([memoryview(b"abcdefg"), memoryview(b""), memoryview(b"hij")])
    sink.write(memoryview(b"k"))
    sink.close()
    assert (tmp_path / "many.bin").read_bytes() == b"abcdefghijk"


# ---------------------------------------------------------------------------------------------------
# Protocol errors


def pdv(context_id: int, is_command: bool, is_last: bool, data: bytes) -> PDataTF:
    return PDataTF((PresentationDataValue(context_id, is_command, is_last, data),))


def test_a_data_fragment_before_any_command_is_refused() -> None:
    with pytest.raises(DimseError, match="before the command"):
        MessageAssembler().feed(pdv(1, False, True, b"data"))


def test_a_data_fragment_before_the_command_ended_is_refused() -> None:
    assembler = MessageAssembler()
    assembler.feed(pdv(1, True, False, COMMAND[:10]))
    with pytest.raises(DimseError, match="before the command"):
        assembler.feed(pdv(1, False, True, b"data"))
    assert not assembler.in_progress


def test_a_fragment_on_another_context_is_refused() -> None:
    assembler = MessageAssembler()
    assembler.feed(pdv(1, True, False, COMMAND[:10]))
    with pytest.raises(DimseError, match=r"context 3 .* context 1"):
        assembler.feed(pdv(3, True, True, COMMAND[10:]))


def test_a_data_fragment_on_another_context_is_refused_and_the_sink_aborted() -> None:
    log: list[str] = []
    assembler = MessageAssembler(lambda command, context_id: RecordingSink(log, "sink"))
    assembler.feed(pdv(1, True, True, COMMAND))
    assembler.feed(pdv(1, False, False, b"part"))
    with pytest.raises(DimseError, match="interleaved"):
        assembler.feed(pdv(3, False, True, b"rest"))
    assert log == ["sink.write(4)", "sink.abort"]


def test_a_second_command_while_a_data_set_is_pending_is_refused() -> None:
    log: list[str] = []
    assembler = MessageAssembler(lambda command, context_id: RecordingSink(log, "sink"))
    assembler.feed(pdv(1, True, True, COMMAND))
    with pytest.raises(DimseError, match="new command arrived while the data set of a C-STORE-RQ"):
        assembler.feed(pdv(1, True, True, encode_command(ECHO)))
    assert log == ["sink.abort"]


def test_a_garbage_command_is_refused() -> None:
    assembler = MessageAssembler()
    with pytest.raises(DimseError):
        assembler.feed(pdv(1, True, True, b"\x00\x00\x00\x00\x04\x00\x00\x00garbage"))
    assert not assembler.in_progress


class FullDiskSink(RecordingSink):
    def write(self, data: memoryview) -> None:
        raise OSError(28, "No space left on device")


def test_a_failing_sink_becomes_a_dimse_error_and_is_aborted() -> None:
    log: list[str] = []
    assembler = MessageAssembler(lambda command, context_id: FullDiskSink(log, "sink"))
    assembler.feed(pdv(1, True, True, COMMAND))
    with pytest.raises(DimseError, match=r"C-STORE-RQ could not be received.*No space left on device"):
        assembler.feed(pdv(1, False, True, b"data"))
    assert log == ["sink.abort"]
    assert not assembler.in_progress


def test_a_sink_factory_that_fails_becomes_a_dimse_error() -> None:
    def factory(command: DimseMessage, context_id: int) -> BytesSink:
        raise PermissionError("read-only folder")

    with pytest.raises(DimseError, match="could not be opened: read-only folder"):
        MessageAssembler(factory).feed(pdv(1, True, True, COMMAND))


def test_abort_on_an_idle_assembler_is_harmless() -> None:
    MessageAssembler().abort()


# ---------------------------------------------------------------------------------------------------
# pynetdicom, as a peer, frames messages we reassemble and reassembles messages we frame


def test_we_reassemble_a_c_store_that_pynetdicom_fragmented() -> None:
    primitive = C_STORE()
    primitive.MessageID = 9
    primitive.AffectedSOPClassUID = CT
    primitive.AffectedSOPInstanceUID = "1.2.3.4.5"
    primitive.Priority = 0
    dataset = bytes(range(256)) * 300
    primitive.DataSet = BytesIO(dataset)
    message = dimse_messages.C_STORE_RQ()
    message.primitive_to_message(primitive)
    assembler = MessageAssembler()
    results: list[AssembledMessage] = []
    for p_data in message.encode_msg(3, 4096):
        values = tuple(
            PresentationDataValue(ctx, bool(data[0] & 1), bool(data[0] & 2), memoryview(data)[1:])
            for ctx, data in p_data.presentation_data_value_list
        )
        results += assembler.feed(PDataTF(values))
    assert results == [AssembledMessage(3, dataclasses.replace(STORE, message_id=9), dataset)]


def test_pynetdicom_reassembles_a_c_store_we_fragmented() -> None:
    dataset = bytes(range(256)) * 300
    received = dimse_messages.DIMSEMessage()
    complete = False
    for pdu in fragment_message(5, COMMAND, dataset, 4096):
        p_data = P_DATA()
        # PS3.8 E.2: the message control header, bit 0 command, bit 1 last fragment.
        headers = [bytes([int(v.is_command) | int(v.is_last) << 1]) for v in pdu.values]
        p_data.presentation_data_value_list = [
            [v.context_id, header + bytes(v.data)] for v, header in zip(pdu.values, headers, strict=True)
        ]
        complete = received.decode_msg(p_data)
    assert complete
    primitive = received.message_to_primitive()
    assert primitive.MessageID == STORE.message_id
    assert primitive.AffectedSOPInstanceUID == STORE.affected_sop_instance_uid
    assert received.context_id == 5
    assert primitive.DataSet.getvalue() == dataset
