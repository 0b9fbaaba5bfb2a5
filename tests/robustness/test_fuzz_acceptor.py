"""A live acceptor under hostile input: mutated, reordered, truncated and slow PDU streams.

For every stream the acceptor must answer within its timers (close or abort the connection, never
hang), raise nothing uncaught, keep no association behind, and go on serving a well-behaved peer.
A short run is part of every ``./test``; the long one is marked ``slow``.
"""

from __future__ import annotations

import asyncio
import logging
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.scp import Handlers
from app.net.server import DicomServer
from app.net.timeouts import Timeouts
from tests.robustness.fuzzing import CALLED, CORPUS, hostile_streams

pytestmark = pytest.mark.timeout(600)

ARTIM = 1.0
IDLE = 2.0
# Every stream is followed by end-of-file, so the acceptor must close at once; the idle and ARTIM
# timers bound the case where it waits for more.  The margin is for a loaded CI machine.
CLOSE_DEADLINE = ARTIM + IDLE + 5.0


@dataclass
class Acceptor:
    server: DicomServer
    ae: ApplicationEntity
    crashes: list[str] = field(default_factory=list)
    streams: int = 0

    @property
    def port(self) -> int:
        return self.server.port


class _CrashLog(logging.Handler):
    """Collects every log record that carries a traceback: an exception nobody handled."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.sink.append(self.format(record))


@pytest.fixture
async def acceptor() -> AsyncIterator[Acceptor]:
    ae = ApplicationEntity(CALLED, timeouts=Timeouts(connect=2, acse=2, dimse=2, artim=ARTIM, idle=IDLE))
    server = await ae.start_server(Handlers(store=lambda request: 0), host="127.0.0.1", port=0)
    state = Acceptor(server, ae)
    crash_log = _CrashLog(state.crashes)
    logging.getLogger("app.net").addHandler(crash_log)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def on_loop_exception(_loop: Any, context: dict[str, Any]) -> None:
        state.crashes.append(str(context.get("exception") or context.get("message")))

    loop.set_exception_handler(on_loop_exception)
    try:
        yield state
    finally:
        loop.set_exception_handler(previous)
        logging.getLogger("app.net").removeHandler(crash_log)
        await server.close(grace=1)


async def send_and_wait_for_close(port: int, stream: bytes) -> bytes:
    """Send ``stream``, end it, and return what the acceptor answered before it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(stream)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(CLOSE_DEADLINE):
            return await reader.read(-1)
    except (ConnectionResetError, BrokenPipeError):
        return b""  # the acceptor aborted while we were still writing: a fine answer too
    finally:
        writer.close()


async def still_serves(acceptor: Acceptor) -> None:
    client_ae = ApplicationEntity("PROBE", timeouts=Timeouts(connect=2, acse=5, dimse=5))
    async with client_ae.associate(
        "127.0.0.1", acceptor.port, called_ae_title=CALLED, contexts=[VERIFICATION]
    ) as client:
        assert int((await client.echo()).Status) == 0


async def no_association_left(acceptor: Acceptor) -> None:
    async with asyncio.timeout(CLOSE_DEADLINE):
        while len(acceptor.server.active):
            await asyncio.sleep(0.01)  # polling the server's state, not waiting for time to pass


@pytest.mark.parametrize("name", sorted(CORPUS))
async def test_the_acceptor_survives_each_corpus_stream(acceptor: Acceptor, name: str) -> None:
    await send_and_wait_for_close(acceptor.port, CORPUS[name])
    await no_association_left(acceptor)
    await still_serves(acceptor)
    assert acceptor.crashes == []


async def test_a_pdu_claiming_gigabytes_is_not_allocated(acceptor: Acceptor) -> None:
    tracemalloc.start()
    try:
        await send_and_wait_for_close(acceptor.port, CORPUS["pdata_claims_4gb"] + b"\x00" * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
    await still_serves(acceptor)


async def test_a_slow_sender_that_stops_mid_pdu_is_cut_off_by_the_timers(acceptor: Acceptor) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", acceptor.port)
    try:
        writer.write(CORPUS["associate_truncated_in_item"][:3])  # then silence, connection left open
        await writer.drain()
        async with asyncio.timeout(CLOSE_DEADLINE):
            await reader.read(-1)
    finally:
        writer.close()
    await no_association_left(acceptor)
    await still_serves(acceptor)


async def test_an_associated_peer_that_falls_silent_is_cut_off_by_the_idle_timer(acceptor: Acceptor) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", acceptor.port)
    try:
        writer.write(CORPUS["associate_then_release_rp"][: -len(b"\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00")])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(1), CLOSE_DEADLINE)
        assert answer == b"\x02"  # A-ASSOCIATE-AC: the association is up, and then we say nothing
        async with asyncio.timeout(CLOSE_DEADLINE):
            await reader.read(-1)
    finally:
        writer.close()
    await no_association_left(acceptor)


async def _fuzz(acceptor: Acceptor, stream: bytes) -> None:
    await send_and_wait_for_close(acceptor.port, stream)
    acceptor.streams += 1
    assert acceptor.crashes == [], acceptor.crashes
    if acceptor.streams % 25 == 0:
        await still_serves(acceptor)


_FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=150, **_FUZZ)  # type: ignore[arg-type]
@given(stream=hostile_streams())
async def test_random_hostile_streams_never_crash_or_hang_the_acceptor(
    acceptor: Acceptor, stream: bytes
) -> None:
    await _fuzz(acceptor, stream)


@pytest.mark.slow
@settings(max_examples=3000, **_FUZZ)  # type: ignore[arg-type]
@given(stream=hostile_streams())
async def test_many_hostile_streams_never_crash_or_hang_the_acceptor(
    acceptor: Acceptor, stream: bytes
) -> None:
    await _fuzz(acceptor, stream)
