"""The engine end to end on real loopback sockets: our SCU against our SCP, every service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.errors import (
    AssociationAborted,
    AssociationRejected,
    ConnectionFailed,
    DicomTimeout,
    NoAcceptedContext,
)
from app.net.pdu import RoleSelection
from app.net.scp import Handlers, MoveAnswer, Request, StatusError
from app.net.scu import StoreSource
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from tests.net.datasets import make_ct, write_ct
from tests.peers import free_port

pytestmark = pytest.mark.timeout(60)

STUDY_FIND = query_sop_class("find", "study")
STUDY_MOVE = query_sop_class("move", "study")
STUDY_GET = query_sop_class("get", "study")


@pytest.fixture
async def served():
    """Start our SCP on a free loopback port with the handlers a test puts into the dict it receives."""
    servers = []

    async def start(handlers: Handlers, **policy):
        ae = ApplicationEntity("SCP", timeouts=Timeouts(acse=5, dimse=5, artim=2))
        server = await ae.start_server(
            handlers, host="127.0.0.1", port=0, policy=ae.acceptor_policy(**policy) if policy else None
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close(grace=1)


def scu(**kw) -> ApplicationEntity:
    return ApplicationEntity("SCU", timeouts=Timeouts(connect=2, acse=5, dimse=5, artim=2), **kw)


async def test_echo_answers_success_and_names_the_peer_implementation(served) -> None:
    server = await served(Handlers())
    async with scu().associate(
        "127.0.0.1", server.port, called_ae_title="SCP", contexts=[VERIFICATION]
    ) as client:
        status = await client.echo()
        assert status.Status == 0
        assert client.negotiated.peer_implementation_version_name == "COURIER_010"


async def test_connection_refused_is_reported_in_words() -> None:
    port = free_port()
    with pytest.raises(ConnectionFailed, match="refused"):
        async with scu().associate("127.0.0.1", port):
            pass


async def test_unknown_calling_ae_is_rejected_with_reason_3(served) -> None:
    server = await served(Handlers(), allowed_calling_ae_titles=["FRIEND"])
    with pytest.raises(AssociationRejected, match="calling AE title not recognized"):
        async with scu().associate("127.0.0.1", server.port, called_ae_title="SCP"):
            pass


async def test_store_dataset_and_file_reach_the_handler_intact(served, tmp_path: Path) -> None:
    received: list[Dataset] = []

    def store(request: Request) -> int:
        received.append(request.dataset)
        return 0

    server = await served(Handlers(store=store))
    path = write_ct(tmp_path / "ct.dcm", rows=64)
    ds = make_ct(rows=32)
    async with scu().associate("127.0.0.1", server.port, contexts=[CTImageStorage]) as client:
        assert (await client.store(ds)).Status == 0
        assert (await client.store(path)).Status == 0
    assert [r.SOPInstanceUID for r in received] == [
        ds.SOPInstanceUID,
        StoreSource.from_file(path).sop_instance_uid,
    ]
    assert received[1].PixelData == Dataset(make_ct(rows=64, uid=received[1].SOPInstanceUID)).PixelData


async def test_store_without_a_fitting_context_names_class_and_syntax(served) -> None:
    server = await served(Handlers(store=lambda r: 0))
    ds = make_ct(rows=8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    async with scu().associate("127.0.0.1", server.port, contexts=[CTImageStorage]) as client:
        with pytest.raises(NoAcceptedContext, match="CT Image Storage"):
            await client.store(StoreSource.from_dataset(ds, JPEGBaseline8Bit))


async def test_handler_status_and_exceptions_become_dicom_statuses(served) -> None:
    calls = iter([StatusError(0xA700, "disk full"), RuntimeError("boom")])

    def store(request: Request) -> int:
        raise next(calls)

    server = await served(Handlers(store=store))
    async with scu().associate("127.0.0.1", server.port, contexts=[CTImageStorage]) as client:
        full = await client.store(make_ct(rows=8))
        broken = await client.store(make_ct(rows=8))
    assert full.Status == 0xA700 and full.ErrorComment == "disk full"
    assert broken.Status == 0xC211 and "boom" in broken.ErrorComment


async def test_pipelined_store_many_uses_the_async_window(served) -> None:
    in_flight = 0
    peak = 0

    async def store(request: Request) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return 0

    server = await served(Handlers(store=store), max_operations_performed=8)
    datasets = [make_ct(rows=8) for _ in range(50)]
    async with scu().associate(
        "127.0.0.1", server.port, contexts=[CTImageStorage], async_operations=(8, 1)
    ) as client:
        assert client.negotiated.max_operations_invoked == 8
        results = await client.store_many(datasets)
    assert sorted(int(s.Status) for _, s in results) == [0] * 50
    assert peak > 1


async def test_find_streams_pending_matches_then_success(served) -> None:
    def find(request: Request):
        assert request.dataset.QueryRetrieveLevel == "STUDY"
        for i in range(3):
            match = Dataset()
            match.QueryRetrieveLevel = "STUDY"
            match.PatientName = f"DOE^{i}"
            yield match

    server = await served(Handlers(find=find))
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName = "DOE*"
    async with scu().associate("127.0.0.1", server.port, contexts=[STUDY_FIND]) as client:
        responses = await client.find(query).collect()
    assert [int(s.Status) for s, _ in responses] == [0xFF00, 0xFF00, 0xFF00, 0]
    assert [str(i.PatientName) for _, i in responses[:3]] == ["DOE^0", "DOE^1", "DOE^2"]


async def test_find_cancel_ends_with_cancel_status(served) -> None:
    async def find(request: Request):
        for i in range(10_000):
            if request.cancelled.is_set():
                return
            match = Dataset()
            match.PatientID = str(i)
            yield match
            await asyncio.sleep(0)

    server = await served(Handlers(find=find))
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    async with scu().associate("127.0.0.1", server.port, contexts=[STUDY_FIND, VERIFICATION]) as client:
        operation = client.find(query)
        seen = 0
        async for _status, _ in operation:
            seen += 1
            if seen == 2:
                await operation.cancel()
        assert operation.final_status is not None and operation.final_status.Status == 0xFE00
        assert seen < 10_000
        assert (await client.echo()).Status == 0  # the association is still usable after the cancel


async def test_c_get_returns_instances_over_the_same_association(served) -> None:
    sources = [make_ct(rows=8) for _ in range(3)]
    server = await served(Handlers(get=lambda request: sources))
    received: list[str] = []

    def store(request: Request) -> int:
        received.append(request.command.affected_sop_instance_uid)
        return 0

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.2.3"
    async with scu().associate(
        "127.0.0.1",
        server.port,
        contexts=[STUDY_GET, (CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])],
        role_selections=[RoleSelection(CTImageStorage, scu_role=False, scp_role=True)],
        handlers=Handlers(store=store),
    ) as client:
        responses = await client.get(query).collect()
    final = responses[-1][0]
    assert final.Status == 0 and final.NumberOfCompletedSuboperations == 3
    assert received == [ds.SOPInstanceUID for ds in sources]
    assert [int(s.NumberOfRemainingSuboperations) for s, _ in responses[:-1]] == [2, 1]


async def test_c_move_sends_to_the_destination_and_reports_counts(served) -> None:
    arrived: list[str] = []
    destination = await served(
        Handlers(store=lambda r: arrived.append(r.command.affected_sop_instance_uid) or 0)
    )
    sources = [make_ct(rows=8) for _ in range(4)]

    def move(request: Request) -> MoveAnswer:
        if request.command.move_destination != "DEST":
            return MoveAnswer(None)
        return MoveAnswer(("127.0.0.1", destination.port), sources)

    server = await served(Handlers(move=move))
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.2.3"
    async with scu().associate("127.0.0.1", server.port, contexts=[STUDY_MOVE]) as client:
        ok = await client.move(query, "DEST").collect()
        unknown = await client.move(query, "NOWHERE").collect()
    assert ok[-1][0].Status == 0 and ok[-1][0].NumberOfCompletedSuboperations == 4
    assert arrived == [ds.SOPInstanceUID for ds in sources]
    assert unknown[-1][0].Status == 0xA801 and "NOWHERE" in unknown[-1][0].ErrorComment


async def test_n_services_round_trip(served) -> None:
    seen: list[str] = []
    sop = "1.2.840.10008.1.20.1"  # Storage Commitment Push Model

    def n_action(request: Request):
        seen.append(f"action {request.command.action_type_id} {request.dataset.TransactionUID}")
        return 0

    def n_get(request: Request):
        reply = Dataset()
        reply.PatientName = "DOE^JOHN"
        return 0, reply

    handlers = Handlers(
        n_action=n_action,
        n_get=n_get,
        n_set=lambda r: 0,
        n_create=lambda r: 0,
        n_delete=lambda r: 0,
        n_event_report=lambda r: seen.append(f"event {r.command.event_type_id}") or 0,
    )
    server = await served(handlers)
    info = Dataset()
    info.TransactionUID = "1.2.3.4"
    async with scu().associate("127.0.0.1", server.port, contexts=[sop]) as client:
        status, _ = await client.n_action(sop, "1.2.840.10008.1.20.1.1", 1, info)
        assert status.Status == 0
        status, reply = await client.n_get(sop, "1.2.3", [0x00100010])
        assert reply is not None and reply.PatientName == "DOE^JOHN"
        assert (await client.n_set(sop, "1.2.3", info))[0].Status == 0
        assert (await client.n_create(sop, "1.2.3", info))[0].Status == 0
        assert (await client.n_delete(sop, "1.2.3"))[0].Status == 0
        assert (await client.n_event_report(sop, "1.2.3", 2, info))[0].Status == 0
    assert seen == ["action 1 1.2.3.4", "event 2"]


async def test_dimse_timeout_fires_when_the_peer_never_answers(served) -> None:
    gate = asyncio.Event()

    async def store(request: Request) -> int:
        await gate.wait()
        return 0

    server = await served(Handlers(store=store))
    ae = ApplicationEntity("SCU", timeouts=Timeouts(connect=2, acse=5, dimse=0.2, artim=1))
    async with ae.associate("127.0.0.1", server.port, contexts=[CTImageStorage]) as client:
        with pytest.raises(DicomTimeout, match="C-STORE"):
            await client.store(make_ct(rows=8))
        gate.set()
        client.abort()


async def test_network_idle_timeout_aborts_an_association_nobody_uses() -> None:
    server_ae = ApplicationEntity("SCP", timeouts=Timeouts(acse=5, dimse=5, artim=2, idle=0.2))
    server = await server_ae.start_server(Handlers(), host="127.0.0.1", port=0)
    try:
        async with scu().associate("127.0.0.1", server.port, contexts=[VERIFICATION]) as client:
            await asyncio.wait_for(asyncio.shield(client.association.closed), timeout=5)
            assert isinstance(client.association.failure, AssociationAborted)
            with pytest.raises(AssociationAborted):
                await client.echo()
    finally:
        await server.close(grace=1)
