"""Received data sets reach the disk in order, bounded, answered truthfully, and never freeze the loop
when asked not to.

The unit tests drive ``DiskWriter``, ``BackgroundSink`` and ``AdaptiveSink`` directly; the socket
tests run our SCU against our SCP with sinks that are slow or fail, as a slow network disk or a full
one would, in each of ``Handlers.disk_io``'s modes.
"""

from __future__ import annotations

import asyncio
import errno
import threading
import time
from pathlib import Path

import pytest
from pydicom.uid import CTImageStorage

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.dimse.framing import FileSink
from app.net.disk_writer import BackgroundSink, DiskWriter, PendingDataset, shared_writer
from app.net.scp import Handlers, Request, StoreInfo
from app.net.timeouts import Timeouts
from tests.net.datasets import make_ct

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def disk_not_yet_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with a disk that has not been slow (the shared writer remembers for 30 s)."""
    monkeypatch.setattr(shared_writer(), "_slow_until", 0.0)


class RecordingSink:
    """Remembers, with the thread each happened in, what it was asked to do."""

    def __init__(self, log: list[tuple[str, str]], fail_on: str = "") -> None:
        self.log = log
        self.fail_on = fail_on
        self.data = bytearray()

    def _note(self, what: str) -> None:
        self.log.append((what, threading.current_thread().name))
        if what == self.fail_on:
            raise OSError(errno.ENOSPC, "No space left on device")

    def write(self, data: memoryview) -> None:
        self._note("write")
        self.data += data

    def close(self) -> bytes:
        self._note("close")
        return bytes(self.data)

    def abort(self) -> None:
        self._note("abort")


async def test_a_background_sink_runs_its_whole_life_in_order_in_the_writer_thread() -> None:
    log: list[tuple[str, str]] = []
    writer = DiskWriter()
    sink = BackgroundSink(lambda: RecordingSink(log), writer=writer, loop=asyncio.get_running_loop())
    for part in (b"ab", b"cd", b"ef"):
        sink.write(memoryview(part))
    pending = sink.close()
    assert isinstance(pending, PendingDataset)
    assert await pending.result() == b"abcdef"
    assert [what for what, _ in log] == ["write", "write", "write", "close"]
    assert {thread for _, thread in log} == {"courier-disk-writer"}
    assert writer.backlog == 0


async def test_a_failed_write_drops_the_rest_aborts_the_sink_and_is_raised_on_close() -> None:
    log: list[tuple[str, str]] = []
    writer = DiskWriter()
    sink = BackgroundSink(
        lambda: RecordingSink(log, fail_on="write"), writer=writer, loop=asyncio.get_running_loop()
    )
    sink.write(memoryview(b"first"))
    sink.write(memoryview(b"second"))
    with pytest.raises(OSError, match="No space left"):
        await sink.close().result()
    assert [what for what, _ in log] == ["write", "abort"]
    assert writer.backlog == 0


async def test_a_factory_that_fails_is_raised_on_close() -> None:
    def factory() -> RecordingSink:
        raise PermissionError("read-only folder")

    sink = BackgroundSink(factory, writer=DiskWriter(), loop=asyncio.get_running_loop())
    sink.write(memoryview(b"data"))
    with pytest.raises(PermissionError, match="read-only folder"):
        await sink.close().result()


async def test_no_sink_from_the_factory_keeps_the_data_set_in_memory() -> None:
    sink = BackgroundSink(lambda: None, writer=DiskWriter(), loop=asyncio.get_running_loop())
    sink.write(memoryview(b"in memory"))
    assert await sink.close().result() == b"in memory"


async def test_the_writer_reports_congestion_and_calls_back_once_drained() -> None:
    loop = asyncio.get_running_loop()
    writer = DiskWriter(high_water=10, low_water=4)
    gate = threading.Event()
    writer.submit(gate.wait)  # the disk is stuck until the gate opens
    for _ in range(4):
        writer.submit(lambda: None, size=5)
    assert writer.congested
    drained = asyncio.Event()
    writer.when_drained(loop, drained.set)
    assert not drained.is_set()
    gate.set()
    await asyncio.wait_for(drained.wait(), 5)
    await writer.barrier(loop)
    assert writer.backlog == 0 and not writer.congested


async def test_a_barrier_resolves_after_every_job_submitted_before_it() -> None:
    loop = asyncio.get_running_loop()
    writer = DiskWriter()
    done: list[int] = []
    for n in range(100):
        writer.submit(lambda n=n: done.append(n))
    await writer.barrier(loop)
    assert done == list(range(100))


# ------------------------------------------------------------------------------------------------
# Over a real association


def scp_ae() -> ApplicationEntity:
    return ApplicationEntity("SCP", timeouts=Timeouts(acse=5, dimse=10, artim=2))


def scu_ae() -> ApplicationEntity:
    return ApplicationEntity("SCU", timeouts=Timeouts(connect=2, acse=5, dimse=10, artim=2))


class SlowDiskSink(FileSink):
    """A file sink on a disk that takes ``delay`` seconds per fragment (in the writer thread)."""

    def __init__(self, path: Path, delay: float) -> None:
        super().__init__(path)
        self.delay = delay

    def write(self, data: memoryview) -> None:
        time.sleep(self.delay)  # the slow disk, in the writer thread: the event loop must not feel it
        super().write(data)


@pytest.mark.parametrize("disk_io", ["adaptive", "thread"])
async def test_a_store_is_answered_only_once_its_file_is_complete(tmp_path: Path, disk_io: str) -> None:
    seen: list[int] = []

    def sink(info: StoreInfo) -> SlowDiskSink:
        return SlowDiskSink(tmp_path / info.sop_instance_uid, delay=0.01)

    def store(request: Request) -> int:
        path = request.raw
        assert isinstance(path, Path)
        seen.append(path.stat().st_size)
        return 0

    ds = make_ct(rows=512)
    server = await scp_ae().start_server(
        Handlers(store=store, store_sink=sink, disk_io=disk_io), host="127.0.0.1", port=0
    )
    try:
        async with scu_ae().associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as client:
            status = await client.store(ds)
        assert int(status.Status) == 0
        assert seen and seen[0] > 512 * 512 * 2  # the whole data set, pixels included
    finally:
        await server.close(grace=1)


@pytest.mark.parametrize("disk_io", ["adaptive", "thread"])
async def test_a_full_disk_answers_out_of_resources_and_the_association_goes_on(
    tmp_path: Path, disk_io: str
) -> None:
    calls = 0

    class FullOnce(FileSink):
        def write(self, data: memoryview) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    def sink(info: StoreInfo) -> FileSink:
        nonlocal calls
        calls += 1
        path = tmp_path / info.sop_instance_uid
        return FullOnce(path) if calls == 1 else FileSink(path)

    server = await scp_ae().start_server(
        Handlers(store=lambda request: 0, store_sink=sink, disk_io=disk_io), host="127.0.0.1", port=0
    )
    try:
        async with scu_ae().associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as client:
            refused = await client.store(make_ct())
            stored = await client.store(make_ct())
        assert int(refused.Status) == 0xA700
        assert "disk is full" in str(refused.ErrorComment)
        assert int(stored.Status) == 0
        assert len(list(tmp_path.iterdir())) == 1  # the refused instance left no partial file
    finally:
        await server.close(grace=1)


async def test_a_disk_slower_than_the_network_pauses_reading_and_keeps_memory_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = shared_writer()
    monkeypatch.setattr(writer, "high_water", 2 * 1024 * 1024)
    monkeypatch.setattr(writer, "low_water", 512 * 1024)
    peak = 0
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, writer.backlog)
            await asyncio.sleep(0.002)  # sampling the backlog while the transfer runs

    def sink(info: StoreInfo) -> SlowDiskSink:
        return SlowDiskSink(tmp_path / info.sop_instance_uid, delay=0.002)

    server = await scp_ae().start_server(
        Handlers(store=lambda request: 0, store_sink=sink, disk_io="thread"), host="127.0.0.1", port=0
    )
    watcher = asyncio.ensure_future(watch())
    try:
        async with scu_ae().associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage, VERIFICATION]
        ) as client:
            # 16 MB in 256 kB PDUs against a disk that takes 2 ms a fragment: ~130 ms of writing.
            status = await client.store(make_ct(rows=2896))
        assert int(status.Status) == 0
    finally:
        stop.set()
        await watcher
        await server.close(grace=1)
    assert next(tmp_path.iterdir()).stat().st_size > 16_000_000
    # The backlog stops growing at the high-water mark plus what one read of the socket brings.
    assert 0 < peak <= 2 * 1024 * 1024 + 1024 * 1024


async def test_the_event_loop_answers_while_the_disk_is_stuck(tmp_path: Path) -> None:
    disk_free = threading.Event()

    class StuckDiskSink(FileSink):
        def write(self, data: memoryview) -> None:
            disk_free.wait(30)  # a network disk that hangs, in the writer thread
            super().write(data)

    server = await scp_ae().start_server(
        Handlers(
            store=lambda request: 0, store_sink=lambda info: StuckDiskSink(tmp_path / "x"), disk_io="thread"
        ),
        host="127.0.0.1",
        port=0,
    )
    try:
        async with scu_ae().associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as storer:
            store = asyncio.ensure_future(storer.store(make_ct(rows=1024)))
            async with scu_ae().associate(
                "127.0.0.1", server.port, called_ae_title="SCP", contexts=[VERIFICATION]
            ) as echoer:
                assert int((await echoer.echo()).Status) == 0  # answered while the disk hangs
            assert not store.done()  # the store cannot be answered before its data set is written
            disk_free.set()
            assert int((await store).Status) == 0
    finally:
        disk_free.set()
        await server.close(grace=1)


async def test_a_sink_asked_to_stay_on_the_loop_is_written_there(tmp_path: Path) -> None:
    threads: set[str] = set()

    class WhereSink(FileSink):
        def write(self, data: memoryview) -> None:
            threads.add(threading.current_thread().name)
            super().write(data)

    handlers = Handlers(
        store=lambda request: 0,
        store_sink=lambda info: WhereSink(tmp_path / info.sop_instance_uid),
        disk_io="inline",
    )
    server = await scp_ae().start_server(handlers, host="127.0.0.1", port=0)
    try:
        async with scu_ae().associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as client:
            assert int((await client.store(make_ct())).Status) == 0
    finally:
        await server.close(grace=1)
    assert threads == {threading.current_thread().name}  # the event loop's own thread


class WhereSink(FileSink):
    """Notes the thread of every write; the first ``slow`` writes take 30 ms (a disk that stalls)."""

    def __init__(self, path: Path, threads: list[str], slow: int = 0) -> None:
        super().__init__(path)
        self.threads = threads
        self.slow = slow

    def write(self, data: memoryview) -> None:
        self.threads.append(threading.current_thread().name)
        if self.slow:
            self.slow -= 1
            time.sleep(0.030)  # the stall itself, which the adaptive sink must notice
        super().write(data)


async def test_an_adaptive_sink_writes_on_the_loop_while_the_disk_keeps_up(tmp_path: Path) -> None:
    threads: list[str] = []
    handlers = Handlers(
        store=lambda request: 0, store_sink=lambda info: WhereSink(tmp_path / info.sop_instance_uid, threads)
    )
    server = await scp_ae().start_server(handlers, host="127.0.0.1", port=0)
    try:
        async with scu_ae().associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as client:
            assert int((await client.store(make_ct(rows=512))).Status) == 0
    finally:
        await server.close(grace=1)
    assert threads and set(threads) == {threading.current_thread().name}
    assert not shared_writer().disk_is_slow


async def test_a_slow_disk_moves_adaptive_sinks_to_the_writer_thread(tmp_path: Path) -> None:
    first: list[str] = []
    second: list[str] = []
    sinks = iter([(first, 1), (second, 0)])

    def sink(info: StoreInfo) -> WhereSink:
        threads, slow = next(sinks)
        return WhereSink(tmp_path / info.sop_instance_uid, threads, slow)

    server = await scp_ae().start_server(
        Handlers(store=lambda request: 0, store_sink=sink), host="127.0.0.1", port=0
    )
    try:
        async with scu_ae().associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as client:
            big = make_ct(rows=1024)  # 2 MB: several fragments after the slow first one
            assert int((await client.store(big)).Status) == 0
            assert int((await client.store(make_ct(rows=512))).Status) == 0
    finally:
        await server.close(grace=1)
    loop_thread = threading.current_thread().name
    assert first[0] == loop_thread  # the first write ran on the loop, and was slow
    assert set(first[1:]) == {"courier-disk-writer"}  # the rest of that data set went to the thread
    assert set(second) == {"courier-disk-writer"}  # and the next data set started there
    assert shared_writer().disk_is_slow
    sizes = sorted(p.stat().st_size for p in tmp_path.iterdir())
    assert len(sizes) == 2 and sizes[0] > 512 * 512 * 2 and sizes[1] > 1024 * 1024 * 2  # both whole
