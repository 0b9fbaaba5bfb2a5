"""Received data sets go to disk without the event loop waiting on a slow disk.

A storage SCP spends most of its time creating files and copying fragments into the page cache.  On
the event loop that time is stolen from every association (and, in the workstation, from the GUI);
on a slow or network disk it shows as a frozen window.  ``BackgroundSink`` wraps any ``DatasetSink``
(a ``FileSink``, the archive's sink) and runs its whole life in ``DiskWriter``'s thread: the factory
that opens the file, every ``write``, ``close`` and ``abort``, in the order they were asked for.
``AdaptiveSink`` runs its sink on the loop while the disk keeps up (cheaper than any hand-over) and
moves it to the thread as soon as one operation stalls.

- One thread per process, like asyncio's default executor: writes to one disk gain nothing from more,
  and one thread keeps each file's fragments in order without locks.
- The fragments waiting in the queue are views into received PDUs (never reused, see
  ``framing.DatasetSink``), so nothing is copied on the way.  Their total is bounded: above
  ``HIGH_WATER`` bytes the writer is ``congested`` and associations stop reading from their sockets
  (TCP flow control then holds the peer) until it is back under ``LOW_WATER``.
- ``close()`` returns a ``PendingDataset``: the dispatcher awaits it before calling the store handler,
  so a C-STORE is answered only once its data set is on disk, and a failure (a full disk) is answered
  with a status instead of being lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from app.net.dimse.framing import BytesSink, DatasetSink

log = logging.getLogger(__name__)

HIGH_WATER = 8 * 1024 * 1024  # bytes queued for the disk before associations stop reading
LOW_WATER = 2 * 1024 * 1024  # ... and start again
# AdaptiveSink: one disk operation slower than this on the loop sends received data sets to the thread,
# and for SLOW_FOR seconds after the last such operation every new sink starts there.
SLOW_OPERATION = 0.020  # a stall a user would notice (more than a frame at 60 Hz)
SLOW_FOR = 30.0

Job = Callable[[], None]


class DiskWriter:
    """A thread that runs file jobs in submission order and tells the loop when it has caught up."""

    def __init__(self, *, high_water: int = HIGH_WATER, low_water: int = LOW_WATER) -> None:
        self.high_water = high_water
        self.low_water = low_water
        self._jobs: queue.SimpleQueue[tuple[Job, int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._backlog = 0  # bytes submitted and not yet written
        self._on_drained: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []
        self._thread: threading.Thread | None = None
        self._slow_until = 0.0  # monotonic time until which the disk counts as slow (AdaptiveSink)

    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def congested(self) -> bool:
        return self._backlog > self.high_water

    @property
    def disk_is_slow(self) -> bool:
        """An operation on the loop was slow less than ``SLOW_FOR`` seconds ago."""
        return time.monotonic() < self._slow_until

    def note_slow_operation(self, seconds: float) -> None:
        if not self.disk_is_slow:
            log.info(
                "a disk operation took %.0f ms on the event loop: received data sets go through the "
                "disk-writer thread for now",
                seconds * 1000,
            )
        self._slow_until = time.monotonic() + SLOW_FOR

    def submit(self, job: Job, size: int = 0, *, counted: bool = False) -> None:
        """Run ``job`` in the writer thread after every job submitted before it; ``size`` bytes count
        towards the backlog until it has run (``counted``: they were already added with ``grow``)."""
        if self._thread is None:
            self._start()
        if size and not counted:
            self.grow(size)
        self._jobs.put((job, size))

    def grow(self, size: int) -> None:
        """``size`` more bytes wait for the disk (a job submitted with ``counted=True`` takes them off)."""
        with self._lock:
            self._backlog += size

    def when_drained(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        """Call ``callback`` on ``loop`` once the backlog is at most ``low_water`` (maybe at once)."""
        with self._lock:
            if self._backlog > self.low_water:
                self._on_drained.append((loop, callback))
                return
        loop.call_soon(callback)

    def barrier(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future on ``loop`` that resolves once every job submitted so far has run."""
        done: asyncio.Future[None] = loop.create_future()
        self.submit(lambda: _resolve_threadsafe(loop, done, None))
        return done

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="courier-disk-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job, size = self._jobs.get()
            try:
                job()
            except BaseException:  # a job reports its own errors; this keeps the thread alive regardless
                log.exception("a disk job failed")
            if size:
                self._written(size)

    def _written(self, size: int) -> None:
        with self._lock:
            self._backlog -= size
            if self._backlog > self.low_water or not self._on_drained:
                return
            waiting, self._on_drained = self._on_drained, []
        for loop, callback in waiting:
            with contextlib.suppress(RuntimeError):  # that loop has been closed meanwhile
                loop.call_soon_threadsafe(callback)


_shared: DiskWriter | None = None
_shared_lock = threading.Lock()


def shared_writer() -> DiskWriter:
    """The process's disk writer (its thread starts with the first job)."""
    global _shared  # noqa: PLW0603 - one disk queue per process, made on first use
    with _shared_lock:
        if _shared is None:
            _shared = DiskWriter()
        return _shared


def _resolve_threadsafe(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any) -> None:
    def resolve() -> None:
        if not future.done():
            future.set_result(value)

    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(resolve)


def _nothing() -> None:
    pass


class PendingDataset:
    """What a ``BackgroundSink`` gives back on ``close()``: await ``result()`` for the inner sink's value."""

    def __init__(self, future: asyncio.Future[object]) -> None:
        self._future = future

    async def result(self) -> object:
        """The inner sink's ``close()`` value once the data set is on disk; raises what the sink raised."""
        return await self._future


class BackgroundSink:
    """A ``DatasetSink`` whose ``inner`` sink (made by ``factory``) lives in ``writer``'s thread.

    Work goes to the thread once per turn of the event loop: the fragments one read of the socket
    brought, together with opening the file if it is not open yet and closing it if the data set is
    complete, so that a small instance costs one hand-over, not four.  The first error the inner
    sink raises (opening, writing, closing) is kept: later fragments are dropped, the inner sink is
    aborted (its partial file removed), and ``PendingDataset.result()`` raises it.
    """

    __slots__ = ("_error", "_factory", "_future", "_inner", "_loop", "_pending", "_writer")

    def __init__(
        self,
        factory: Callable[[], DatasetSink | None],
        *,
        writer: DiskWriter,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._writer = writer
        self._loop = loop
        self._factory: Callable[[], DatasetSink | None] | None = factory  # run by the first job
        self._inner: DatasetSink | None = None
        self._error: BaseException | None = None
        self._future: asyncio.Future[object] = loop.create_future()
        self._pending: list[memoryview] = []

    @classmethod
    def taking_over(
        cls, inner: DatasetSink, *, writer: DiskWriter, loop: asyncio.AbstractEventLoop
    ) -> BackgroundSink:
        """A background sink for ``inner``, already open (an ``AdaptiveSink`` that met a slow disk)."""
        sink = cls(lambda: inner, writer=writer, loop=loop)
        sink._factory = None
        sink._inner = inner
        return sink

    def write(self, data: memoryview) -> None:
        if self._error is None:
            if not self._pending:
                self._loop.call_soon(self._hand_over)
            self._pending.append(data)
            self._writer.grow(len(data))  # counted now: the congestion check right after sees it

    def close(self) -> PendingDataset:
        self._hand_over(then=self._close)
        return PendingDataset(self._future)

    def abort(self) -> None:
        dropped, self._pending = self._pending, []
        if dropped:  # their bytes leave the backlog without being written
            self._writer.submit(_nothing, sum(len(view) for view in dropped), counted=True)
        if self._factory is not None:
            self._factory = None  # never opened: there is nothing to discard
            return
        self._writer.submit(self._abort)

    def _hand_over(self, then: Job | None = None) -> None:
        factory, self._factory = self._factory, None
        views, self._pending = self._pending, []
        if factory is None and not views and then is None:
            return

        def job() -> None:
            if factory is not None:
                self._open(factory)
            if views:
                self._write(views)
            if then is not None:
                then()

        self._writer.submit(job, sum(len(view) for view in views), counted=True)

    # Below: in the writer thread.

    def _open(self, factory: Callable[[], DatasetSink | None]) -> None:
        try:
            self._inner = factory() or BytesSink()  # no sink from the factory: keep it in memory
        except BaseException as exc:
            self._error = exc

    def _write(self, views: list[memoryview]) -> None:
        if self._error is not None or self._inner is None:
            return
        try:
            write_many = getattr(self._inner, "write_many", None)
            if write_many is not None:
                write_many(views)
            else:
                for view in views:
                    self._inner.write(view)
        except BaseException as exc:
            self._error = exc
            self._abort()

    def _close(self) -> None:
        if self._error is None and self._inner is not None:
            try:
                value = self._inner.close()
            except BaseException as exc:
                self._error = exc
                self._abort()
            else:
                _resolve_threadsafe(self._loop, self._future, value)
                return
        error = self._error

        def fail() -> None:
            if not self._future.done():
                self._future.set_exception(error or RuntimeError("the data set sink was never opened"))
                # Retrieved for asyncio's bookkeeping: an association aborted meanwhile never awaits it.
                self._future.exception()

        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fail)

    def _abort(self) -> None:
        inner, self._inner = self._inner, None
        _discard(inner)


class AdaptiveSink:
    """A ``DatasetSink`` that runs ``inner`` on the event loop while the disk keeps up.

    On a healthy disk a fragment reaches the page cache in a fraction of a millisecond, and handing it
    to another thread costs more than writing it (on 2 cores, writing on the loop measured 1.3-1.5x
    faster).  Each operation on the loop is timed: once one takes longer than ``SLOW_OPERATION``, this
    sink hands its open inner sink to the disk writer's thread for the rest of the data set, and sinks
    opened in the next ``SLOW_FOR`` seconds start there.  The slow operation itself has already held
    the loop: a GUI, which must never wait on the disk, uses ``BackgroundSink`` from the start.
    Failures are kept for ``close()`` as ``BackgroundSink`` does, so a full disk is answered with a
    status either way.
    """

    __slots__ = ("_background", "_error", "_inner", "_loop", "_writer")

    def __init__(
        self,
        factory: Callable[[], DatasetSink | None],
        *,
        writer: DiskWriter,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._writer = writer
        self._loop = loop
        self._inner: DatasetSink | None = None
        self._error: Exception | None = None
        self._background: BackgroundSink | None = None
        if writer.disk_is_slow:
            self._background = BackgroundSink(factory, writer=writer, loop=loop)
        else:
            self._timed(lambda: self._open(factory))

    @property
    def in_thread(self) -> bool:
        return self._background is not None

    def write(self, data: memoryview) -> None:
        if self._background is not None:
            self._background.write(data)
        elif self._error is None and self._inner is not None:
            inner = self._inner
            self._timed(lambda: inner.write(data))

    def close(self) -> PendingDataset:
        if self._background is not None:
            return self._background.close()
        done: asyncio.Future[object] = self._loop.create_future()
        try:
            if self._error is not None or self._inner is None:
                raise self._error or RuntimeError("the data set sink was never opened")
            done.set_result(self._inner.close())
        except Exception as exc:
            self._discard()
            done.set_exception(exc)
            done.exception()  # retrieved: an association aborted meanwhile never awaits it
        return PendingDataset(done)

    def abort(self) -> None:
        if self._background is not None:
            self._background.abort()
        else:
            self._discard()

    def _open(self, factory: Callable[[], DatasetSink | None]) -> None:
        self._inner = factory() or BytesSink()  # no sink from the factory: keep it in memory

    def _timed(self, operation: Job) -> None:
        started = time.perf_counter()
        try:
            operation()
        except Exception as exc:  # kept for close(): the C-STORE is answered with the failure
            self._error = exc
            self._discard()
            return
        took = time.perf_counter() - started
        if took > SLOW_OPERATION and self._inner is not None:
            self._writer.note_slow_operation(took)
            self._background = BackgroundSink.taking_over(self._inner, writer=self._writer, loop=self._loop)

    def _discard(self) -> None:
        inner, self._inner = self._inner, None
        _discard(inner)


def _discard(inner: DatasetSink | None) -> None:
    """Abort ``inner`` (its partial file goes); a failure to do so is logged, not raised."""
    if inner is not None:
        try:
            inner.abort()
        except Exception:
            log.exception("discarding a partial data set failed")
