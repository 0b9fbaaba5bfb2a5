"""One association over asyncio: the thin transport that drives the sans-IO core.

``Association`` is an ``asyncio.Protocol``.  Bytes from the socket go into the Upper Layer
(``dul.UpperLayer``); the effects it returns are carried out here (write, close, ARTIM timer) and its
indications become futures and queues that the DIMSE services await.  DIMSE messages are framed with
``dimse.framing`` and reassembled with its ``MessageAssembler``.

Everything that can wait has a timeout from ``Timeouts``; everything that can fail fails with one of
the typed errors of ``app.net.errors``, in words.  Nothing here knows what a C-STORE is: requests that
arrive are handed to a ``Dispatcher`` (``app.net.scp``), responses are routed to whoever sent the
request by message ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, cast

from app.net import dul
from app.net.dimse.commands import CCancelRQ, DimseMessage, encode_command, is_request, message_name
from app.net.dimse.framing import (
    AssembledMessage,
    BytesSink,
    DatasetSink,
    MessageAssembler,
    SizeLimitedSink,
    fragment_message,
    fragment_stream,
)
from app.net.disk_writer import AdaptiveSink, BackgroundSink, shared_writer
from app.net.errors import (
    AssociationAborted,
    AssociationRejected,
    ConnectionFailed,
    ConnectionLost,
    DicomNetworkError,
    DicomTimeout,
    LocalProtocolError,
)
from app.net.events import AssociationAborted as AbortedEvent
from app.net.events import (
    AssociationAccepted,
    AssociationInfo,
    AssociationReleased,
    AssociationRequested,
    ConnectionClosed,
    ConnectionOpened,
    DimseReceived,
    DimseSent,
    EventBus,
    NetworkEvent,
    PduReceived,
    PduSent,
    next_association_id,
)
from app.net.events import AssociationRejected as RejectedEvent
from app.net.fsm import State
from app.net.negotiation import NegotiatedAssociation, acceptor_view, interpret_associate_ac
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
    RejectResult,
    RejectSource,
    describe_rejection,
)
from app.net.timeouts import Timeouts
from app.net.tls import describe_tls_failure

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 20  # bytes asked of the socket per read (see connection_made)
_JOIN_LIMIT = 64 * 1024  # PDUs up to this size are joined into one write, larger ones written by part

Chunks = bytes | bytearray | memoryview | Iterable[bytes | memoryview] | None

# How many requests an acceptor works on at once when the window says "unlimited" (0).
UNLIMITED_PERFORMED = 64


class Dispatcher(Protocol):
    """What answers the requests that arrive on an association (``app.net.scp`` implements it)."""

    def sink_for(self, assoc: Association, command: DimseMessage, context_id: int) -> DatasetSink | None:
        """Where the data set of ``command`` should go (``None``: keep it in memory)."""

    async def handle(self, assoc: Association, message: AssembledMessage, cancelled: asyncio.Event) -> None:
        """Answer one request; ``cancelled`` is set when a C-CANCEL for it arrives."""


AcceptorFunction = Callable[[AAssociateRQ], AAssociateAC | AAssociateRJ]


class _Failed:
    """Put into response queues when the association ends, so that every waiter wakes up."""


_FAILED = _Failed()


def connection_error_words(host: str, port: int, exc: BaseException, timeout: float | None) -> str:
    """A technologist's sentence for a failed TCP connect."""
    where = f"{host}:{port}"
    if isinstance(exc, TimeoutError):
        return (
            f"No answer from {where} within {timeout:g} s: wrong address, the node is down, "
            "or a firewall drops the connection"
        )
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"Connection refused by {where}: nothing listens on that port "
            "(check the port and that the node is running)"
        )
    if isinstance(exc, ssl.SSLError):
        return describe_tls_failure(where, exc)
    if isinstance(exc, socket.gaierror):
        return f"Host name {host!r} could not be resolved: check the spelling or use an IP address"
    return f"Cannot connect to {where}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"


class Association(asyncio.Protocol):
    """One association, requestor or acceptor side.  Create with ``connect`` or through a server."""

    def __init__(
        self,
        *,
        role: dul.Role,
        local_ae: str,
        timeouts: Timeouts,
        max_pdu_length: int,
        events: EventBus | None = None,
        dispatcher: Dispatcher | None = None,
        acceptor: AcceptorFunction | None = None,
        max_dataset_size: int | None = None,
    ) -> None:
        self.role = role
        self.max_dataset_size = max_dataset_size  # bytes per received data set; None = no limit
        self.local_ae = local_ae
        self.timeouts = timeouts
        self.max_pdu_length = max_pdu_length
        self.events = events or EventBus()
        self.dispatcher = dispatcher
        self._acceptor = acceptor
        self.layer = dul.UpperLayer(role, max_pdu_length=max_pdu_length)
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer_host = ""
        self.peer_port = 0
        self.association_id = next_association_id()
        self.associate_rq: AAssociateRQ | None = None
        self.negotiated: NegotiatedAssociation | None = None
        self.failure: DicomNetworkError | None = None

        self._established: asyncio.Future[NegotiatedAssociation] = self._loop.create_future()
        self._released: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._artim: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_activity = self._loop.time()
        self._writable = asyncio.Event()
        self._writable.set()
        self._send_lock = asyncio.Lock()
        self._assembler = MessageAssembler(self._sink_for)
        self._message_ids = itertools.count(1)
        self._responses: dict[int, asyncio.Queue[AssembledMessage | _Failed]] = {}
        self._cancels: dict[int, asyncio.Event] = {}
        self._requests: asyncio.Queue[AssembledMessage | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._respond_release_after_confirm = False
        # Received data sets reach the disk in its thread; a backlog there pauses our reading.
        self._disk = shared_writer()
        self._reading_paused = False
        self._used_disk = False
        self._trace_pdus = self.events.wants(PduSent) or self.events.wants(PduReceived)
        self._trace_dimse = self.events.wants(DimseSent) or self.events.wants(DimseReceived)

    # ------------------------------------------------------------------------------------------
    # Who and what

    @property
    def info(self) -> AssociationInfo:
        rq = self.associate_rq
        if rq is None:
            remote = ""
        elif self.role is dul.Role.REQUESTOR:
            remote = rq.called_ae_title
        else:
            remote = rq.calling_ae_title
        return AssociationInfo(
            association_id=self.association_id,
            role="requestor" if self.role is dul.Role.REQUESTOR else "acceptor",
            local_ae=self.local_ae,
            remote_ae=remote,
            peer_host=self.peer_host,
            peer_port=self.peer_port,
        )

    @property
    def is_established(self) -> bool:
        return self.layer.state is State.STA6 and self.failure is None

    @property
    def peer_max_pdu_length(self) -> int:
        return self.negotiated.peer_max_pdu_length if self.negotiated else 0

    def _emit(self, event: NetworkEvent) -> None:
        self.events.emit(event)

    # ------------------------------------------------------------------------------------------
    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small PDUs (C-ECHO, C-STORE-RSP) must not wait for Nagle's algorithm.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(transport, "max_size"):
            # asyncio's socket transport reads at most 256 kB per recv() (its max_size); a data set
            # arriving at 1 GB/s then costs 4,000 trips a second through this protocol.  1 MB reads
            # measured 1.16x faster on 512 kB instances (bench workload 1).  Other transports (TLS,
            # uvloop) have no such attribute and keep their own sizes.
            transport.max_size = _READ_SIZE
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_host, self.peer_port = str(peer[0]), int(peer[1])
        self._emit(ConnectionOpened(self.info))
        self._run(self.layer.connection_established())

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        self._run(self.layer.data_received(data))
        if self._disk.congested and not self._reading_paused:
            self._pause_for_disk()

    def _pause_for_disk(self) -> None:
        # The disk is behind the network: stop reading, so the peer's data waits in TCP (bounded by
        # its window) rather than in our memory, until the writer has caught up.
        if self.transport is None or self.transport.is_closing():
            return
        self._reading_paused = True
        self.transport.pause_reading()
        self._disk.when_drained(self._loop, self._resume_after_disk)

    def _resume_after_disk(self) -> None:
        self._reading_paused = False
        self._last_activity = self._loop.time()  # waiting on our own disk is not the peer's silence
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_artim()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self.layer.state is not State.STA1:
            self._run(self.layer.connection_closed())
        if self.failure is None and not self._released.done():
            why = f": {exc}" if exc else ""
            self._fail(
                ConnectionLost(
                    f"The connection to {self.peer_host}:{self.peer_port} was closed by the peer{why}"
                )
            )
        self._emit(ConnectionClosed(self.info, error=str(self.failure) if self.failure else None))
        self._wake_all()
        self._writable.set()
        if self._used_disk:
            # Closed means cleaned up: a partial data set's file is gone once its abort has run.
            self._disk.barrier(self._loop).add_done_callback(lambda _: self._set_closed())
        else:
            self._set_closed()

    def _set_closed(self) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # ------------------------------------------------------------------------------------------
    # Effects of the Upper Layer

    def _run(self, effects: list[dul.Effect]) -> None:
        for effect in effects:
            kind = type(effect)
            # Exact type checks first: these two are nearly every effect, and `is` is cheaper than isinstance.
            if kind is dul.SendPDU:
                self._write(cast(dul.SendPDU, effect))
            elif kind is dul.DataIndication:
                self._on_data(cast(dul.DataIndication, effect).pdu)
            else:
                self._run_rare(effect)

    def _write(self, effect: dul.SendPDU) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        parts = effect.parts
        if len(parts) == 1:
            self.transport.write(parts[0])
        elif sum(len(part) for part in parts) <= _JOIN_LIMIT:
            self.transport.write(b"".join(parts))  # one send() for a small PDU
        else:
            # A large PDU goes out part by part: the data-set views are sent without the copy a join
            # makes (and the heap churn of a fresh 256 kB buffer per PDU, which inflates the RSS).
            for part in parts:
                self.transport.write(part)
        if self._trace_pdus:
            self._emit(PduSent(self.info, pdu=effect.pdu))

    def _run_rare(self, effect: dul.Effect) -> None:
        if isinstance(effect, dul.CloseTransport):
            if self.transport is not None:
                self.transport.close()
        elif isinstance(effect, dul.StartArtim):
            self._cancel_artim()
            self._artim = self._loop.call_later(self.timeouts.artim, self._on_artim)
        elif isinstance(effect, dul.StopArtim):
            self._cancel_artim()
        elif isinstance(effect, dul.AssociateIndication):
            self._received(effect.request)
            self._on_associate_request(effect.request)
        elif isinstance(effect, dul.AssociateConfirmation):
            self._received(effect.accept)
            self._on_associate_accept(effect.accept)
        elif isinstance(effect, dul.AssociateRejection):
            self._received(effect.reject)
            self._on_associate_reject(effect.reject)
        elif isinstance(effect, dul.ReleaseIndication):
            self._received(AReleaseRQ())
            self._on_release_request(collision=effect.collision)
        elif isinstance(effect, dul.ReleaseConfirmation):
            self._received(AReleaseRP())
            self._on_release_confirm()
        elif isinstance(effect, dul.AbortIndication):
            self._on_abort(effect)
        elif isinstance(effect, dul.TransportClosedIndication):
            if self.transport is not None:
                self.transport.close()
        elif isinstance(effect, dul.OpenTransport):
            pass  # ``connect`` opens the connection itself, right after request_association()

    def _received(self, pdu: PDU) -> None:
        if self._trace_pdus:
            self._emit(PduReceived(self.info, pdu=pdu))

    def _cancel_artim(self) -> None:
        if self._artim is not None:
            self._artim.cancel()
            self._artim = None

    def _on_artim(self) -> None:
        self._artim = None
        self._run(self.layer.artim_expired())
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------------------------------
    # Association establishment

    def _on_associate_request(self, rq: AAssociateRQ) -> None:
        self.associate_rq = rq
        self._emit(AssociationRequested(self.info, request=rq))
        if self.layer.state is not State.STA3:
            # The same read brought PDUs after the request that already ended the association
            # (e.g. P-DATA before our answer: AA-8); there is nothing left to answer.
            return
        if self._acceptor is None:
            raise LocalProtocolError("an acceptor association needs an acceptor function")
        try:
            answer = self._acceptor(rq)
        except Exception:  # a broken policy must not leave the peer hanging: reject, transiently
            log.exception("the acceptor policy failed on %s", rq.calling_ae_title)
            answer = AAssociateRJ(RejectResult.REJECTED_TRANSIENT, RejectSource.SERVICE_USER, 1)
        if isinstance(answer, AAssociateRJ):
            self._emit(
                RejectedEvent(
                    self.info,
                    reject=answer,
                    reason=describe_rejection(answer.result, answer.source, answer.reason),
                )
            )
            self._run(self.layer.reject(answer))
            self._fail(AssociationRejected(answer.result, answer.source, answer.reason))
            return
        self.negotiated = acceptor_view(rq, answer)
        self._run(self.layer.accept(answer))
        self._emit(AssociationAccepted(self.info, request=rq, accept=answer))
        self._start_workers()
        if not self._established.done():
            self._established.set_result(self.negotiated)

    def _on_associate_accept(self, ac: AAssociateAC) -> None:
        assert self.associate_rq is not None
        try:
            self.negotiated = interpret_associate_ac(self.associate_rq, ac)
        except DicomNetworkError as exc:
            self._fail(exc)
            self.abort(AbortReason.INVALID_PDU_PARAMETER_VALUE, source=AbortSource.SERVICE_PROVIDER)
            return
        self._emit(AssociationAccepted(self.info, request=self.associate_rq, accept=ac))
        self._start_workers()
        if not self._established.done():
            self._established.set_result(self.negotiated)

    def _on_associate_reject(self, rj: AAssociateRJ) -> None:
        error = AssociationRejected(rj.result, rj.source, rj.reason)
        self._emit(RejectedEvent(self.info, reject=rj, reason=str(error)))
        self._fail(error)

    async def connect(
        self, host: str, port: int, rq: AAssociateRQ, *, tls: ssl.SSLContext | None = None
    ) -> NegotiatedAssociation:
        """Open the connection (over TLS with ``tls``), send ``rq``, wait for the answer (requestor)."""
        self.associate_rq = rq
        self.peer_host, self.peer_port = host, port
        self._run(self.layer.request_association(rq))
        try:
            async with asyncio.timeout(self.timeouts.connect):
                await self._loop.create_connection(
                    lambda: self, host, port, ssl=tls, server_hostname=host if tls is not None else None
                )
        except (OSError, TimeoutError) as exc:
            self._run(self.layer.connection_closed())
            message = connection_error_words(host, port, exc, self.timeouts.connect)
            raise (DicomTimeout if isinstance(exc, TimeoutError) else ConnectionFailed)(message) from exc
        try:
            async with asyncio.timeout(self.timeouts.acse):
                return await self._established
        except TimeoutError:
            self.abort()
            raise DicomTimeout(
                f"{host}:{port} accepted the connection but did not answer the association request within "
                f"{self.timeouts.acse:g} s (is it a DICOM port?)"
            ) from None

    async def wait_established(self) -> NegotiatedAssociation:
        return await self._established

    # ------------------------------------------------------------------------------------------
    # Release and abort

    def _on_release_request(self, *, collision: bool) -> None:
        if collision and self.role is dul.Role.ACCEPTOR:
            # PS3.8 9.2.4: in a release collision the acceptor answers only once its own release is confirmed.
            self._respond_release_after_confirm = True
            return
        self._stop_workers()
        self._run(self.layer.respond_release())
        self._emit(AssociationReleased(self.info))
        if not self._released.done():
            self._released.set_result(None)
        self._wake_all()

    def _on_release_confirm(self) -> None:
        if self._respond_release_after_confirm:
            self._run(self.layer.respond_release())
        self._emit(AssociationReleased(self.info))
        if not self._released.done():
            self._released.set_result(None)

    def _on_abort(self, effect: dul.AbortIndication) -> None:
        if self._trace_pdus and not effect.provider:
            self._received(AAbort(effect.source or AbortSource.SERVICE_USER, effect.reason or 0))
        error = AssociationAborted(effect.message, effect.source, effect.reason)
        self._emit(AbortedEvent(self.info, reason=effect.message, by_peer=not effect.provider))
        self._fail(error)
        self._stop_workers()

    async def release(self) -> None:
        """A-RELEASE: wait for outstanding work to be answered by the peer, then close gracefully."""
        if self.layer.state is not State.STA6:
            await self._wait_closed()
            return
        self._run(self.layer.request_release())
        try:
            async with asyncio.timeout(self.timeouts.acse):
                await self._released
                await self._wait_closed()
        except TimeoutError:
            self.abort()
            raise DicomTimeout(
                f"the peer did not answer the release request within {self.timeouts.acse:g} s"
            ) from None
        except DicomNetworkError:
            pass  # the peer aborted or closed instead of answering: the association is over either way
        finally:
            self._stop_workers()

    def abort(
        self, reason: int = AbortReason.NOT_SPECIFIED, *, source: AbortSource = AbortSource.SERVICE_USER
    ) -> None:
        """A-ABORT now (never raises); outstanding operations fail with ``AssociationAborted``."""
        if self.failure is None:
            self._fail(AssociationAborted("The association was aborted locally", source, reason))
        if self.layer.state not in (State.STA1, State.STA13):
            with contextlib.suppress(LocalProtocolError):
                self._run(self.layer.abort(source=source, reason=reason))
        if self.transport is not None:
            self.transport.close()
        self._stop_workers()
        self._wake_all()

    async def _wait_closed(self) -> None:
        if self.transport is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeouts.artim):
                await self._closed
        if not self._closed.done() and self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        await self._closed

    @property
    def closed(self) -> asyncio.Future[None]:
        """Resolves when the connection is gone (released, aborted or lost)."""
        return self._closed

    def _fail(self, error: DicomNetworkError) -> None:
        if self.failure is None:
            self.failure = error
        if not self._established.done():
            self._established.set_exception(error)
            self._established.exception()  # mark retrieved: a server association may have no waiter
        # A message cut short by the failure never completes: its sink discards what it received
        # (a half-written file must not survive as if it were an instance).
        self._assembler.abort()
        if not self._released.done():
            # An abort or a lost connection also answers a release request we are waiting on.
            self._released.set_exception(error)
            self._released.exception()
        self._wake_all()

    def _wake_all(self) -> None:
        for queue in self._responses.values():
            queue.put_nowait(_FAILED)
        for event in self._cancels.values():
            event.set()
        self._writable.set()

    def _check_alive(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self.layer.state not in (State.STA6, State.STA8):
            raise ConnectionLost("the association is no longer established")

    # ------------------------------------------------------------------------------------------
    # DIMSE messages out

    def next_message_id(self) -> int:
        # PS3.7 9.3.1.1: Message ID is a US; wrap rather than overflow on very long associations.
        return (next(self._message_ids) - 1) % 0xFFFF + 1

    async def send_message(self, context_id: int, message: DimseMessage, dataset: Chunks = None) -> None:
        """Frame ``message`` and its data set (bytes or chunks) within the peer's maximum PDU."""
        command = encode_command(message, has_dataset=dataset is not None)
        async with self._send_lock:
            self._check_alive()
            if dataset is None or isinstance(dataset, bytes | bytearray | memoryview):
                pdus: Iterable[object] = fragment_message(
                    context_id, command, dataset, self.peer_max_pdu_length
                )
            else:
                pdus = fragment_stream(context_id, command, dataset, self.peer_max_pdu_length)
            layer, writable = self.layer, self._writable
            for pdu in pdus:
                if self.failure is not None:
                    raise self.failure
                self._run(layer.send_data(pdu))  # type: ignore[arg-type]
                if not writable.is_set():
                    await self._wait_writable(writable)
        if self._trace_dimse:
            self._emit(
                DimseSent(self.info, context_id=context_id, message=message, has_dataset=dataset is not None)
            )

    async def _wait_writable(self, writable: asyncio.Event) -> None:
        """Flow control: the transport's buffer is full, wait until the peer reads again.  A peer that
        stops reading altogether must not hold us (and our buffer) for ever: the DIMSE timeout ends it."""
        try:
            async with asyncio.timeout(self.timeouts.dimse):
                await writable.wait()
        except TimeoutError:
            error = DicomTimeout(
                f"{self.peer_host}:{self.peer_port} stopped reading: nothing could be sent for "
                f"{self.timeouts.dimse:g} s (DIMSE timeout); the association is aborted"
            )
            self._fail(error)
            self.abort(AbortReason.NOT_SPECIFIED, source=AbortSource.SERVICE_PROVIDER)
            raise error from None

    def expect_responses(self, message_id: int) -> asyncio.Queue[AssembledMessage | _Failed]:
        """Register interest in the responses to ``message_id`` before sending the request."""
        queue: asyncio.Queue[AssembledMessage | _Failed] = asyncio.Queue()
        self._responses[message_id] = queue
        if self.failure is not None:
            queue.put_nowait(_FAILED)
        return queue

    def forget_responses(self, message_id: int) -> None:
        self._responses.pop(message_id, None)

    async def next_response(
        self, queue: asyncio.Queue[AssembledMessage | _Failed], timeout: float | None, what: str
    ) -> AssembledMessage:
        """The next response from ``queue``, or a ``DicomTimeout`` naming ``what`` we were waiting for."""
        try:
            async with asyncio.timeout(timeout):
                item = await queue.get()
        except TimeoutError:
            raise DicomTimeout(f"no response to the {what} within {timeout:g} s (DIMSE timeout)") from None
        if isinstance(item, _Failed):
            assert self.failure is not None
            raise self.failure
        return item

    async def request(
        self,
        context_id: int,
        message: DimseMessage,
        dataset: Chunks = None,
        *,
        timeout: float | None = None,
        what: str = "request",
    ) -> AssembledMessage:
        """Send a request that has exactly one response and wait for it."""
        message_id: int = message.message_id  # type: ignore[union-attr]
        queue = self.expect_responses(message_id)
        try:
            await self.send_message(context_id, message, dataset)
            return await self.next_response(queue, self.timeouts.dimse if timeout is None else timeout, what)
        finally:
            self.forget_responses(message_id)

    async def send_cancel(self, context_id: int, message_id: int) -> None:
        """C-CANCEL-RQ for the operation ``message_id`` (PS3.7 9.3.2.3)."""
        await self.send_message(context_id, CCancelRQ(message_id_being_responded_to=message_id))

    # ------------------------------------------------------------------------------------------
    # DIMSE messages in

    def _sink_for(self, command: DimseMessage, context_id: int) -> DatasetSink:
        sink: DatasetSink | None = None
        if self.dispatcher is not None:
            sink = self.dispatcher.sink_for(self, command, context_id)
        if sink is None:
            sink = BytesSink()
        elif isinstance(sink, BackgroundSink | AdaptiveSink):
            self._used_disk = True
        if self.max_dataset_size is not None:
            sink = SizeLimitedSink(sink, self.max_dataset_size, message_name(command))
        return sink

    def _on_data(self, pdu: object) -> None:
        if self._trace_pdus:
            self._emit(PduReceived(self.info, pdu=pdu))  # type: ignore[arg-type]
        try:
            messages = self._assembler.feed(pdu)  # type: ignore[arg-type]
        except DicomNetworkError as exc:
            log.warning("association %d: %s", self.association_id, exc)
            self._fail(exc)
            self.abort(AbortReason.UNEXPECTED_PDU_PARAMETER, source=AbortSource.SERVICE_PROVIDER)
            return
        for message in messages:
            self._route(message)

    def _route(self, message: AssembledMessage) -> None:
        command = message.command
        if self._trace_dimse:
            self._emit(
                DimseReceived(
                    self.info,
                    context_id=message.context_id,
                    message=command,
                    has_dataset=message.dataset is not None,
                )
            )
        if not is_request(command):
            queue = self._responses.get(command.message_id_being_responded_to)  # type: ignore[union-attr]
            if queue is None:
                log.warning(
                    "association %d: response to unknown message %s ignored", self.association_id, command
                )
            else:
                queue.put_nowait(message)
        elif isinstance(command, CCancelRQ):
            event = self._cancels.get(command.message_id_being_responded_to)
            if event is not None:
                event.set()
        else:
            self._cancels[command.message_id] = asyncio.Event()  # type: ignore[union-attr]
            self._requests.put_nowait(message)

    def _watch_idle(self) -> None:
        """Abort an established association on which nothing was received for ``timeouts.idle`` seconds."""
        idle = self.timeouts.idle
        if idle is None or self.failure is not None or self.layer.state is State.STA1:
            return
        if self._reading_paused:
            self._last_activity = self._loop.time()  # we stopped reading (our disk is behind), not the peer
        quiet_for = self._loop.time() - self._last_activity
        if quiet_for < idle:
            self._idle_timer = self._loop.call_later(idle - quiet_for, self._watch_idle)
            return
        self._fail(
            DicomTimeout(f"nothing received from the peer for {idle:g} s (network idle timeout): aborted")
        )
        self.abort(AbortReason.NOT_SPECIFIED, source=AbortSource.SERVICE_PROVIDER)

    def _start_workers(self) -> None:
        if self.timeouts.idle is not None and self._idle_timer is None:
            self._last_activity = self._loop.time()
            self._watch_idle()
        if self.dispatcher is None or self._workers:
            return
        assert self.negotiated is not None
        # PS3.7 D.3.3.3: we perform at most as many operations at once as we granted.
        granted = self.negotiated.max_operations_performed
        count = UNLIMITED_PERFORMED if granted == 0 else max(1, granted)
        self._workers = [self._loop.create_task(self._serve_requests()) for _ in range(count)]

    def _stop_workers(self) -> None:
        for _ in self._workers:
            self._requests.put_nowait(None)

    async def _serve_requests(self) -> None:
        assert self.dispatcher is not None
        while (message := await self._requests.get()) is not None:
            message_id: int = message.command.message_id  # type: ignore[union-attr]
            cancelled = self._cancels.get(message_id) or asyncio.Event()
            try:
                await self.dispatcher.handle(self, message, cancelled)
            except DicomNetworkError as exc:
                log.info("association %d: %s", self.association_id, exc)
            except Exception:
                log.exception("association %d: the request handler failed", self.association_id)
            finally:
                self._cancels.pop(message_id, None)


async def open_association(
    host: str,
    port: int,
    rq: AAssociateRQ,
    *,
    local_ae: str,
    timeouts: Timeouts,
    max_pdu_length: int,
    events: EventBus | None = None,
    dispatcher: Dispatcher | None = None,
    tls: ssl.SSLContext | None = None,
) -> Association:
    """Connect and negotiate; returns an established association (or raises in words)."""
    assoc = Association(
        role=dul.Role.REQUESTOR,
        local_ae=local_ae,
        timeouts=timeouts,
        max_pdu_length=max_pdu_length,
        events=events,
        dispatcher=dispatcher,
    )
    await assoc.connect(host, port, rq, tls=tls)
    return assoc


AssociationFactory = Callable[[], Association]
Handler = Callable[..., Awaitable[None]]
