"""Faults at every phase of an association: aborts, dropped networks, release collision, a peer that
dies mid-C-STORE.  Whatever happens, our side reports it in words, never hangs, keeps nothing half
received, and the server goes on serving."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ImplicitVRLittleEndian

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.dataset_io import encode_dataset
from app.net.dimse.commands import CEchoRQ, CFindRQ, CFindRSP, CMoveRQ, CMoveRSP, CStoreRQ, encode_command
from app.net.dimse.framing import FileSink
from app.net.errors import AssociationAborted, DicomNetworkError
from app.net.pdu import AAbort, AbortSource, AReleaseRP, AReleaseRQ, PDataTF, PresentationDataValue
from app.net.pdu_codec import encode_pdu
from app.net.scp import Handlers, MoveAnswer, StoreInfo
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from tests.net.datasets import make_ct
from tests.robustness.fuzzing import CALLED, associate_rq
from tests.robustness.scripted_peer import Wire, scripted_peer

pytestmark = pytest.mark.timeout(60)

STUDY_FIND = query_sop_class("find", "study")
STUDY_MOVE = query_sop_class("move", "study")
PEER_ABORT = AAbort(AbortSource.SERVICE_USER, 0)


def scu() -> ApplicationEntity:
    # Long ACSE and DIMSE timeouts: a test that only passes because a timer fired would fail on them.
    return ApplicationEntity("COURIER", timeouts=Timeouts(connect=2, acse=30, dimse=30, artim=2))


def study_query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = ""
    return ds


# ------------------------------------------------------------------------------------------------
# The peer aborts, at every phase, while we are the requestor


async def test_an_abort_instead_of_an_association_answer_is_reported() -> None:
    async def script(wire: Wire) -> None:
        await wire.read_pdu()
        await wire.send(PEER_ABORT)

    async with scripted_peer(script) as port:
        with pytest.raises(AssociationAborted, match="abort"):
            async with scu().associate("127.0.0.1", port, contexts=[VERIFICATION]):
                pass


async def test_an_abort_while_we_wait_for_a_response_is_reported() -> None:
    async def script(wire: Wire) -> None:
        await wire.accept()
        await wire.read_command()
        await wire.send(PEER_ABORT)

    async with (
        scripted_peer(script) as port,
        scu().associate("127.0.0.1", port, contexts=[VERIFICATION]) as client,
    ):
        with pytest.raises(AssociationAborted):
            await client.echo()


async def test_an_abort_between_pending_c_find_responses_keeps_the_matches_already_received() -> None:
    async def script(wire: Wire) -> None:
        await wire.accept()
        request = await wire.read_command()
        assert isinstance(request, CFindRQ)
        match = Dataset()
        match.StudyInstanceUID = "1.2.3"
        await wire.send_command(CFindRSP(message_id_being_responded_to=request.message_id, status=0xFF00,
                                         has_dataset=True), 1)  # fmt: skip
        await wire.send(
            PDataTF((PresentationDataValue(1, False, True, encode_dataset(match, ImplicitVRLittleEndian)),))
        )
        await wire.send(PEER_ABORT)

    received: list[str] = []
    async with (
        scripted_peer(script) as port,
        scu().associate("127.0.0.1", port, contexts=[STUDY_FIND]) as client,
    ):
        with pytest.raises(AssociationAborted):
            async for _status, identifier in client.find(study_query(), "study"):
                if identifier is not None:
                    received.append(identifier.StudyInstanceUID)
    assert received == ["1.2.3"]


async def test_an_abort_in_answer_to_our_release_ends_the_association_without_hanging() -> None:
    async def script(wire: Wire) -> None:
        await wire.accept()
        assert isinstance(await wire.read_pdu(), AReleaseRQ)
        await wire.send(PEER_ABORT)

    async with scripted_peer(script) as port:
        async with scu().associate("127.0.0.1", port, contexts=[VERIFICATION]) as client:
            pass  # releasing on leaving the block: the abort ends it at once, not after the ACSE timeout
        assert isinstance(client.association.failure, AssociationAborted)


async def test_a_release_collision_ends_in_an_orderly_release() -> None:
    """PS3.8 9.2.1 / Table 9-10 Sta9-Sta11: both sides ask to release at once; the requestor answers
    first, then gets its own answer."""

    async def script(wire: Wire) -> None:
        await wire.accept()
        assert isinstance(await wire.read_pdu(), AReleaseRQ)
        await wire.send(AReleaseRQ())  # ours crosses theirs
        assert isinstance(await wire.read_pdu(), AReleaseRP)
        await wire.send(AReleaseRP())

    async with scripted_peer(script) as port, scu().associate("127.0.0.1", port, contexts=[VERIFICATION]):
        pass  # the release happens on leaving the block and must raise nothing


# ------------------------------------------------------------------------------------------------
# The network drops


async def test_a_network_drop_during_c_move_is_reported_with_the_progress_so_far_and_can_be_retried() -> None:
    async def script(wire: Wire) -> None:
        await wire.accept()
        request = await wire.read_command()
        assert isinstance(request, CMoveRQ)
        await wire.send_command(
            CMoveRSP(message_id_being_responded_to=request.message_id, status=0xFF00,
                     number_of_remaining_suboperations=3, number_of_completed_suboperations=1,
                     number_of_failed_suboperations=0, number_of_warning_suboperations=0), 1)  # fmt: skip
        wire.drop()

    progress: list[int] = []
    async with (
        scripted_peer(script) as port,
        scu().associate("127.0.0.1", port, contexts=[STUDY_MOVE]) as client,
    ):
        with pytest.raises(DicomNetworkError, match="connection was closed"):
            async for status, _ in client.move(study_query(), "COURIER", "study"):
                progress.append(int(status.NumberOfCompletedSuboperations))
    assert progress == [1]

    # Retried against a node that stays up, the same move completes.
    server_ae = ApplicationEntity(CALLED)
    server = await server_ae.start_server(
        Handlers(move=lambda request: MoveAnswer(destination=None, instances=[])), host="127.0.0.1", port=0
    )
    try:
        async with scu().associate(
            "127.0.0.1", server.port, called_ae_title=CALLED, contexts=[STUDY_MOVE]
        ) as client:
            statuses = await client.move(study_query(), "COURIER", "study").collect()
        assert int(statuses[-1][0].Status) in (0x0000, 0xA801)  # answered, whatever the outcome
    finally:
        await server.close(grace=1)


async def test_a_receiver_that_dies_mid_c_store_is_reported_in_words() -> None:
    async def script(wire: Wire) -> None:
        await wire.accept()
        await wire.read_command()
        await wire.read_pdu()  # the first data-set fragment
        wire.drop()

    async with scripted_peer(script) as port, scu().associate(
        "127.0.0.1", port, contexts=[CTImageStorage], max_pdu_length=16384
    ) as client:
        with pytest.raises(DicomNetworkError, match="connection was closed"):
            await client.store(make_ct(rows=512))  # several PDUs


# ------------------------------------------------------------------------------------------------
# The requestor aborts or vanishes, at every phase, while we are the acceptor


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def _store_command_pdu() -> bytes:
    command = encode_command(
        CStoreRQ(message_id=1, affected_sop_class_uid=CTImageStorage, affected_sop_instance_uid="1.2.3.4")
    )
    return encode_pdu(PDataTF((PresentationDataValue(3, True, True, command),)))


def _first_fragment_pdu() -> bytes:
    return encode_pdu(
        PDataTF((PresentationDataValue(3, False, False, b"\x08\x00\x05\x00" + b"\x00" * 4000),))
    )


PHASES = {
    # name: (what the requestor sends, whether it waits for the A-ASSOCIATE-AC first, abort or drop)
    "before our answer": (b"", False),
    "established, idle": (b"", True),
    "mid-command": (
        encode_pdu(
            PDataTF((PresentationDataValue(1, True, False, encode_command(CEchoRQ(message_id=1))[:20]),))
        ),
        True,
    ),
    "mid-data-set": (_store_command_pdu() + _first_fragment_pdu(), True),
    "after asking to release": (encode_pdu(AReleaseRQ()), True),
}


@pytest.mark.parametrize("how", ["A-ABORT", "dropped connection"])
@pytest.mark.parametrize("phase", sorted(PHASES))
async def test_the_acceptor_cleans_up_after_a_requestor_that_leaves_at_any_phase(
    tmp_path: Path, phase: str, how: str
) -> None:
    stored: list[str] = []
    sinks: list[FileSink] = []

    def store_sink(info: StoreInfo) -> FileSink:
        sinks.append(FileSink(tmp_path / f"{info.sop_instance_uid}.part"))
        return sinks[-1]

    def store(request) -> int:
        stored.append(request.command.affected_sop_instance_uid)
        return 0

    server = await ApplicationEntity(CALLED, timeouts=Timeouts(artim=2)).start_server(
        Handlers(store=store, store_sink=store_sink), host="127.0.0.1", port=0
    )
    try:
        payload, wait_for_answer = PHASES[phase]
        reader, writer = await _connect(server.port)
        writer.write(associate_rq())
        if wait_for_answer:
            assert (await reader.readexactly(1)) == b"\x02"  # A-ASSOCIATE-AC
        writer.write(payload)
        await writer.drain()
        if how == "A-ABORT":
            writer.write(encode_pdu(PEER_ABORT))
            await writer.drain()
            writer.close()
        else:
            writer.transport.abort()
        async with asyncio.timeout(10):
            while len(server.active):
                await asyncio.sleep(0.01)  # polling the server's state
        assert stored == []
        assert list(tmp_path.iterdir()) == []  # a partial instance is never kept
        async with scu().associate(
            "127.0.0.1", server.port, called_ae_title=CALLED, contexts=[VERIFICATION]
        ) as c:
            assert int((await c.echo()).Status) == 0
    finally:
        await server.close(grace=1)


async def test_a_peer_that_stops_reading_is_cut_off_by_the_dimse_timeout_with_bounded_buffering() -> None:
    done = asyncio.Event()

    async def script(wire: Wire) -> None:
        await wire.accept()
        await done.wait()  # never reads again: the sender's buffers fill and TCP flow control holds it

    buffered: list[int] = []
    impatient = ApplicationEntity("COURIER", timeouts=Timeouts(connect=2, acse=5, dimse=1, artim=2))
    async with scripted_peer(script) as port:
        client_cm = impatient.associate("127.0.0.1", port, contexts=[CTImageStorage])
        client = await client_cm.__aenter__()
        transport = client.association.transport
        assert transport is not None

        async def watch() -> None:
            while not transport.is_closing():
                buffered.append(transport.get_write_buffer_size())
                await asyncio.sleep(0.01)  # sampling the buffer while the store is held

        watcher = asyncio.ensure_future(watch())
        try:
            with pytest.raises(DicomNetworkError, match="stopped reading"):
                await client.store(make_ct(rows=4096))  # 32 MB: far more than the socket buffers hold
        finally:
            done.set()
            await watcher
            await client_cm.__aexit__(None, None, None)
    assert max(buffered) < 4 * 1024 * 1024  # we never queued the 32 MB data set in memory
