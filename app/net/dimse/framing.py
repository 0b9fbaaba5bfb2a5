"""DIMSE messages into P-DATA-TF PDUs and back (PS3.8 9.3.5, PS3.7 Annex E / 6.3.1).

Out: ``fragment_message`` (data set in memory) and ``fragment_stream`` (data set in chunks of any size,
e.g. read from a file) cut the command and then the data set into PDVs that fit the peer's maximum
PDU length.  PDV data are ``memoryview`` slices of the caller's buffers: a 1 GB instance is never
copied, only the few bytes that straddle two chunks are joined.

In: ``MessageAssembler`` takes received P-DATA-TF PDUs and gives back whole messages.  The command
is decoded as soon as its last fragment arrives and only then is the data set's sink chosen, so a
C-STORE SCP can stream the data set straight into a file named after the command's SOP Instance UID.

Pure code: nothing here does I/O (except ``FileSink``, which writes the file it is given).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from app.net.dimse.commands import DimseMessage, decode_command, message_name
from app.net.errors import DimseError
from app.net.pdu import PDataTF, PresentationDataValue

__all__ = [
    "DEFAULT_UNLIMITED_PDV_PAYLOAD",
    "MAX_PDV_PAYLOAD",
    "PDV_HEADER_LENGTH",
    "AssembledMessage",
    "BytesSink",
    "DatasetSink",
    "DatasetTooLarge",
    "FileSink",
    "MessageAssembler",
    "SinkFactory",
    "SizeLimitedSink",
    "fragment_message",
    "fragment_stream",
    "max_pdv_payload",
]

# PS3.8 9.3.5.1: item length (4), presentation context ID (1), message control header (1).
PDV_HEADER_LENGTH = 6

# PS3.8 D.1: a maximum length of 0 means the peer takes PDUs of any size; we still send PDVs of a size
# that keeps memory and latency bounded (and under the 256 MiB a cautious receiver buffers).
DEFAULT_UNLIMITED_PDV_PAYLOAD = 4 * 1024 * 1024
# A peer advertising gigabytes does not make gigabyte PDUs a good idea either.
MAX_PDV_PAYLOAD = 16 * 1024 * 1024

Buffer = bytes | bytearray | memoryview


def max_pdv_payload(max_pdu_length: int) -> int:
    """The most data bytes one PDV may carry to a peer whose maximum PDU length is ``max_pdu_length``.

    PS3.8 D.1: the maximum length bounds the PDU-length field of a P-DATA-TF, which counts the PDV
    items (their 6-byte headers included) but not the 6-byte PDU header.  0 means no limit.
    """
    if max_pdu_length == 0:
        return DEFAULT_UNLIMITED_PDV_PAYLOAD
    if max_pdu_length <= PDV_HEADER_LENGTH:
        raise DimseError(
            f"a maximum PDU length of {max_pdu_length} bytes leaves no room for data in a PDV "
            f"(its header alone is {PDV_HEADER_LENGTH} bytes)"
        )
    return min(max_pdu_length - PDV_HEADER_LENGTH, MAX_PDV_PAYLOAD)


def _pdu_budget(max_pdu_length: int) -> int:
    """The PDU-length field value a P-DATA-TF may reach (PS3.8 D.1)."""
    payload = max_pdv_payload(max_pdu_length)
    return payload + PDV_HEADER_LENGTH


def _byte_view(data: Buffer) -> memoryview:
    mv = memoryview(data)
    if mv.format != "B" or mv.ndim != 1 or not mv.c_contiguous:
        mv = mv.cast("B") if mv.c_contiguous else memoryview(mv.tobytes())
    return mv


# ==================================================================================================
# Out


def _command_pdvs(context_id: int, command: Buffer, payload: int) -> list[PresentationDataValue]:
    mv = _byte_view(command)
    if not len(mv):
        raise DimseError("the command set is empty: there is nothing to send")
    starts = range(0, len(mv), payload)
    last = starts[-1]
    return [PresentationDataValue(context_id, True, s == last, mv[s : s + payload]) for s in starts]


def _first_data_room(last_command: PresentationDataValue, budget: int) -> int:
    """Data bytes that fit beside the last command PDV in its P-DATA-TF (negative: not even a header)."""
    return budget - (PDV_HEADER_LENGTH + len(last_command.data)) - PDV_HEADER_LENGTH


def _schedule(first_room: int, payload: int, total: int) -> tuple[bool, int]:
    """Whether the first data PDV shares the last command PDV's P-DATA-TF, and how big it is.

    The shared-PDU rule (as dcm4che does): the first data fragment fills whatever room the last
    command fragment leaves in its P-DATA-TF, so a small message is exactly one PDU.  ``total`` is
    the data set length; ``fragment_stream`` makes the same choice without knowing it in advance.
    """
    if total == 0:
        return first_room >= 0, 0
    if first_room > 0:
        return True, min(first_room, payload)
    return False, payload


def fragment_message(
    context_id: int,
    command: Buffer,
    dataset: Buffer | None,
    max_pdu_length: int,
) -> list[PDataTF]:
    """The P-DATA-TF PDUs that carry ``command`` and ``dataset`` (None: the message has no data set).

    Every PDU's length field is at most ``max_pdu_length`` (0: no limit); PDV data are slices of
    ``command`` and ``dataset``, which must not change until the PDUs are sent.
    """
    payload = max_pdv_payload(max_pdu_length)
    commands = _command_pdvs(context_id, command, payload)
    if dataset is None:
        return [PDataTF((pdv,)) for pdv in commands]
    data = _byte_view(dataset)
    total = len(data)
    room = _first_data_room(commands[-1], payload + PDV_HEADER_LENGTH)
    shared, first_size = _schedule(room, payload, total)
    first = PresentationDataValue(context_id, False, first_size >= total, data[:first_size])
    pdus = [PDataTF((pdv,)) for pdv in commands[:-1]]
    pdus.append(PDataTF((commands[-1], first)) if shared else PDataTF((commands[-1],)))
    if not shared:
        pdus.append(PDataTF((first,)))
    for start in range(first_size, total, payload):
        end = start + payload
        pdus.append(PDataTF((PresentationDataValue(context_id, False, end >= total, data[start:end]),)))
    return pdus


def fragment_stream(
    context_id: int,
    command: Buffer,
    chunks: Iterable[Buffer],
    max_pdu_length: int,
) -> Iterator[PDataTF]:
    """Like ``fragment_message`` for a data set given as chunks of any sizes; yields the same PDUs.

    The total length need not be known: a PDV is yielded only once a byte beyond it has been seen
    (one-chunk lookahead), so the final one can carry the last-fragment bit.  Each chunk must be its
    own object (``f.read(n)`` is; a buffer refilled in place is not) because PDVs are views into it.
    """
    payload = max_pdv_payload(max_pdu_length)
    commands = _command_pdvs(context_id, command, payload)
    for pdv in commands[:-1]:
        yield PDataTF((pdv,))
    room = _first_data_room(commands[-1], payload + PDV_HEADER_LENGTH)
    slices = _slices(chunks, room if room > 0 else payload, payload)
    first = next(slices, None)
    if first is None:  # an empty data set: one empty last fragment (PS3.8 allows a zero-length PDV)
        empty = PresentationDataValue(context_id, False, True, b"")
        if room >= 0:
            yield PDataTF((commands[-1], empty))
        else:
            yield PDataTF((commands[-1],))
            yield PDataTF((empty,))
        return
    data, is_last = first
    first_pdv = PresentationDataValue(context_id, False, is_last, data)
    if room > 0:
        yield PDataTF((commands[-1], first_pdv))
    else:
        yield PDataTF((commands[-1],))
        yield PDataTF((first_pdv,))
    for data, is_last in slices:
        yield PDataTF((PresentationDataValue(context_id, False, is_last, data),))


def _slices(chunks: Iterable[Buffer], first_size: int, size: int) -> Iterator[tuple[Buffer, bool]]:
    """Re-cut ``chunks`` into pieces of ``first_size`` then ``size`` bytes, the last one flagged.

    A piece is yielded only when more bytes are known to follow it (or the chunks are exhausted).
    Pieces inside one chunk are views; a piece spanning chunks is joined (the only copy made).
    """
    held: list[memoryview] = []  # views not yet yielded, in order
    held_bytes = 0
    want = first_size
    for chunk in chunks:
        mv = _byte_view(chunk)
        if not len(mv):
            continue
        held.append(mv)
        held_bytes += len(mv)
        # Strictly more than one piece held: the piece is certainly not the last.
        while held_bytes > want:
            piece, held = _take(held, want)
            held_bytes -= want
            yield piece, False
            want = size
    if held_bytes:
        piece, held = _take(held, held_bytes)
        yield piece, True


def _take(held: list[memoryview], count: int) -> tuple[Buffer, list[memoryview]]:
    """The first ``count`` bytes of ``held`` (a view if they lie in one chunk) and what remains."""
    first = held[0]
    if len(first) >= count:
        rest = [first[count:], *held[1:]] if len(first) > count else held[1:]
        return first[:count], rest
    joined = bytearray()
    index = 0
    while len(joined) < count:
        view = held[index]
        need = count - len(joined)
        joined += view[:need]
        if len(view) > need:
            return bytes(joined), [view[need:], *held[index + 1 :]]
        index += 1
    return bytes(joined), held[index:]


# ==================================================================================================
# In


class DatasetSink(Protocol):
    """Where a received data set's bytes go, fragment by fragment.

    ``data`` is a read-only view into a received PDU.  The engine never reuses those buffers, so a
    sink may keep the view rather than copy it.
    """

    def write(self, data: memoryview) -> None: ...

    def close(self) -> object:
        """The data set is complete: return the finished value (``AssembledMessage.dataset``)."""
        ...

    def abort(self) -> None:
        """The message will never complete (association lost, protocol error): discard it."""
        ...


SinkFactory = Callable[[DimseMessage, int], DatasetSink]  # (decoded command, context_id) -> sink


class DatasetTooLarge(DimseError):
    """A peer sent a data set beyond the size this association accepts."""


class SizeLimitedSink:
    """Passes fragments to ``inner`` until the data set grows past ``limit`` bytes, then discards it.

    One peer must not be able to fill the memory (a ``BytesSink``) or the disk (a ``FileSink``) of a
    node that serves many: the limit is checked before each fragment is handed on.
    """

    __slots__ = ("_aborted", "_inner", "limit", "size", "what")

    def __init__(self, inner: DatasetSink, limit: int, what: str) -> None:
        self._inner = inner
        self.limit = limit
        self.what = what
        self.size = 0
        self._aborted = False

    def write(self, data: memoryview) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.abort()
            raise DatasetTooLarge(
                f"the data set of a {self.what} is larger than the {_megabytes(self.limit)} this node "
                "accepts per data set; the association is aborted and nothing of it is kept"
            )
        self._inner.write(data)

    def close(self) -> object:
        return self._inner.close()

    def abort(self) -> None:
        if not self._aborted:
            self._aborted = True
            self._inner.abort()


def _megabytes(size: int) -> str:
    return f"{size / 1e6:g} MB" if size >= 1_000_000 else f"{size} bytes"


class BytesSink:
    """Keeps the data set in memory; ``close()`` returns it as ``bytes`` after exactly one copy.

    The fragments are kept as views of the received PDUs and joined once at the end, rather than
    grown into a bytearray (which copies on every reallocation and again to make ``bytes``).
    """

    __slots__ = ("_parts", "size")

    def __init__(self) -> None:
        self._parts: list[memoryview] = []
        self.size = 0

    def write(self, data: memoryview) -> None:
        if len(data):
            self._parts.append(data)
            self.size += len(data)

    def close(self) -> bytes:
        parts, self._parts = self._parts, []
        if len(parts) == 1 and isinstance(parts[0].obj, bytes) and len(parts[0]) == len(parts[0].obj):
            return parts[0].obj  # the whole PDU body is already an immutable bytes object
        return b"".join(parts)

    def abort(self) -> None:
        self._parts = []
        self.size = 0


class FileSink:
    """Writes the data set straight into ``path`` as it arrives; ``close()`` returns the path.

    ``abort()`` deletes the partial file.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._file: BinaryIO | None = self.path.open("wb", buffering=0)
        self.size = 0

    def write(self, data: memoryview) -> None:
        if self._file is None:
            raise DimseError(f"{self.path}: the data set sink is already closed")
        self._file.write(data)
        self.size += len(data)

    def write_many(self, views: list[memoryview]) -> None:
        """Several fragments in one system call (``os.writev``); a subclass's own ``write`` is kept."""
        if type(self).write is not FileSink.write or self._file is None:
            for view in views:
                self.write(view)
            return
        fd, total = self._file.fileno(), sum(len(view) for view in views)
        done = os.writev(fd, views)
        while done < total:  # a short write: the rest, from where it stopped
            done += os.writev(fd, _after(views, done))
        self.size += total

    def close(self) -> Path:
        if self._file is not None:
            self._file.close()
            self._file = None
        return self.path

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


def _after(views: list[memoryview], count: int) -> list[memoryview]:
    """``views`` without their first ``count`` bytes."""
    rest: list[memoryview] = []
    for view in views:
        if count >= len(view):
            count -= len(view)
        else:
            rest.append(view[count:])
            count = 0
    return rest


def _bytes_sink_factory(command: DimseMessage, context_id: int) -> DatasetSink:
    return BytesSink()


@dataclass(frozen=True, slots=True)
class AssembledMessage:
    """One whole received message: its command and its data set (the sink's ``close()`` value)."""

    context_id: int
    command: DimseMessage
    dataset: object | None


class MessageAssembler:
    """Reassembles DIMSE messages from received P-DATA-TF PDUs (PS3.8 9.3.5, PS3.7 6.3.1).

    One message at a time: PS3.8 forbids interleaving the fragments of different messages, and the
    command's fragments come before its data set's.  Any breach raises ``DimseError`` (the caller
    answers with an A-ABORT) after the partial message has been dropped.
    """

    def __init__(self, sink_factory: SinkFactory | None = None) -> None:
        self._sink_factory = sink_factory or _bytes_sink_factory
        self._context_id: int | None = None  # of the message in progress
        self._command_parts: list[bytes] = []
        self._command: DimseMessage | None = None  # decoded: its data set is arriving
        self._sink: DatasetSink | None = None

    @property
    def in_progress(self) -> bool:
        """True while a message has started but not completed."""
        return self._context_id is not None

    def feed(self, pdu: PDataTF) -> list[AssembledMessage]:
        """The messages that ``pdu`` completes (usually none or one)."""
        done: list[AssembledMessage] = []
        try:
            for pdv in pdu.values:
                message = self._feed_pdv(pdv)
                if message is not None:
                    done.append(message)
        except BaseException:
            self.abort()
            raise
        return done

    def abort(self) -> None:
        """Drop the partial message (the association died); its sink is told to discard."""
        sink = self._sink
        self._reset()
        if sink is not None:
            sink.abort()

    def _reset(self) -> None:
        self._context_id = None
        self._command_parts = []
        self._command = None
        self._sink = None

    def _feed_pdv(self, pdv: PresentationDataValue) -> AssembledMessage | None:
        if self._context_id is not None and pdv.context_id != self._context_id:
            raise DimseError(
                f"a fragment for presentation context {pdv.context_id} arrived in the middle of a message on "
                f"context {self._context_id}: messages must not be interleaved (PS3.8 9.3.5)"
            )
        if self._command is None:
            return self._command_fragment(pdv)
        return self._dataset_fragment(pdv, self._command)

    def _command_fragment(self, pdv: PresentationDataValue) -> AssembledMessage | None:
        if not pdv.is_command:
            raise DimseError(
                f"a data set fragment arrived on context {pdv.context_id} before the command that it belongs "
                "to was complete (PS3.7 6.3.1: the command comes first)"
            )
        self._context_id = pdv.context_id
        self._command_parts.append(bytes(pdv.data))
        if not pdv.is_last:
            return None
        parts = self._command_parts
        command = decode_command(parts[0] if len(parts) == 1 else b"".join(parts))
        context_id = pdv.context_id
        if not command.has_dataset:
            self._reset()
            return AssembledMessage(context_id, command, None)
        self._command_parts = []
        self._command = command
        try:
            self._sink = self._sink_factory(command, context_id)
        except DimseError:
            raise
        except Exception as exc:
            raise _sink_failed(command, "could not be opened", exc) from exc
        return None

    def _dataset_fragment(self, pdv: PresentationDataValue, command: DimseMessage) -> AssembledMessage | None:
        if pdv.is_command:
            raise DimseError(
                f"a new command arrived while the data set of a {message_name(command)} was still expected "
                "(PS3.7 6.3.1)"
            )
        sink = self._sink
        assert sink is not None
        data = pdv.data
        try:
            sink.write(data if isinstance(data, memoryview) else memoryview(data))
            if not pdv.is_last:
                return None
            value = sink.close()
        except DimseError:
            raise
        except Exception as exc:
            raise _sink_failed(command, "failed", exc) from exc
        context_id = pdv.context_id
        self._reset()
        return AssembledMessage(context_id, command, value)


def _sink_failed(command: DimseMessage, what: str, exc: Exception) -> DimseError:
    # A full disk or a vanished folder: the message cannot be received, say why in the peer's terms.
    return DimseError(
        f"the data set of a {message_name(command)} could not be received: its sink {what}: {exc}"
    )
