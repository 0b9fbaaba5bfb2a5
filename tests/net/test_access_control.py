"""Who may associate with our SCP and how much one association may take: calling AE titles bound to
addresses, a cap on associations, the maximum PDU and the maximum data set size."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pydicom.uid import CTImageStorage

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.dimse.framing import FileSink
from app.net.errors import AssociationRejected, DicomNetworkError
from app.net.events import PduReceived
from app.net.pdu_codec import encode_pdu
from app.net.scp import Handlers, StoreInfo
from app.net.timeouts import Timeouts
from tests.net.datasets import make_ct

pytestmark = pytest.mark.timeout(60)


def ae(title: str) -> ApplicationEntity:
    return ApplicationEntity(title, timeouts=Timeouts(connect=5, acse=5, dimse=5, artim=3))


@pytest.fixture
async def served():
    servers = []

    async def start(*, max_associations: int = 64, **policy):
        scp = ae("SCP")
        server = await scp.start_server(
            Handlers(),
            host="127.0.0.1",
            port=0,
            policy=scp.acceptor_policy(**policy),
            max_associations=max_associations,
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close(grace=1)


async def echo(port: int, calling: str = "MODALITY") -> int:
    async with ae(calling).associate("127.0.0.1", port, called_ae_title="SCP", contexts=[VERIFICATION]) as c:
        return int((await c.echo()).Status)


async def test_an_ae_title_bound_to_our_address_is_let_in(served) -> None:
    server = await served(calling_ae_hosts={"MODALITY": frozenset({"127.0.0.1"})})
    assert await echo(server.port) == 0


async def test_the_same_ae_title_from_another_address_is_rejected(served) -> None:
    server = await served(calling_ae_hosts={"MODALITY": frozenset({"192.0.2.7"})})
    with pytest.raises(AssociationRejected, match="calling AE title not recognized"):
        await echo(server.port)


async def test_titles_not_bound_to_an_address_are_not_restricted_by_the_binding(served) -> None:
    server = await served(calling_ae_hosts={"MODALITY": frozenset({"192.0.2.7"})})
    assert await echo(server.port, calling="OTHER") == 0


async def test_the_allowed_list_and_the_binding_work_together(served) -> None:
    server = await served(
        allowed_calling_ae_titles=["MODALITY"], calling_ae_hosts={"MODALITY": frozenset({"127.0.0.1"})}
    )
    assert await echo(server.port) == 0
    with pytest.raises(AssociationRejected, match="calling AE title not recognized"):
        await echo(server.port, calling="OTHER")


async def test_associations_beyond_the_cap_are_rejected_transiently_and_served_once_one_ends(served) -> None:
    server = await served(max_associations=2)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            client = await stack.enter_async_context(
                ae("MODALITY").associate(
                    "127.0.0.1", server.port, called_ae_title="SCP", contexts=[VERIFICATION]
                )
            )
            assert int((await client.echo()).Status) == 0
        with pytest.raises(AssociationRejected) as rejected:
            await echo(server.port)
        assert "transient" in str(rejected.value).lower()
        assert "local limit exceeded" in str(rejected.value).lower()
    assert await echo(server.port) == 0


# ------------------------------------------------------------------------------------------------
# Per-association limits


async def test_a_data_set_over_the_size_limit_is_refused_and_nothing_of_it_is_kept(tmp_path) -> None:
    stored: list[str] = []

    def sink(info: StoreInfo) -> FileSink:
        return FileSink(tmp_path / info.sop_instance_uid)

    scp = ae("SCP")
    server = await scp.start_server(
        Handlers(store=lambda request: stored.append(request.command.affected_sop_instance_uid) or 0,
                 store_sink=sink),
        host="127.0.0.1", port=0, max_dataset_size=100_000,
    )  # fmt: skip
    try:
        async with ae("MODALITY").associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as client:
            assert int((await client.store(make_ct(rows=64, uid="1.2.3.1"))).Status) == 0  # 8 kB
            with pytest.raises(DicomNetworkError):
                await client.store(make_ct(rows=512, uid="1.2.3.2"))  # 512 kB
        # The node's side of the association is closed once its partial file has been removed.
        await asyncio.gather(*(association.closed for association in server.active))
        assert stored == ["1.2.3.1"]
        assert [p.name for p in tmp_path.iterdir()] == ["1.2.3.1"]
        assert await echo(server.port) == 0  # the node goes on serving others
    finally:
        await server.close(grace=1)


async def test_our_maximum_pdu_is_honoured_by_a_peer_that_sends_a_large_data_set() -> None:
    received: list[int] = []
    scp = ApplicationEntity("SCP", max_pdu_length=4096, timeouts=Timeouts(acse=5, dimse=5))
    sizes: list[int] = []
    scp.events.subscribe(PduReceived, lambda e: sizes.append(len(encode_pdu(e.pdu))))
    server = await scp.start_server(
        Handlers(store=lambda request: received.append(len(request.dataset.PixelData)) or 0),
        host="127.0.0.1", port=0,
    )  # fmt: skip
    try:
        async with ae("MODALITY").associate(
            "127.0.0.1", server.port, called_ae_title="SCP", contexts=[CTImageStorage]
        ) as client:
            assert client.negotiated.peer_max_pdu_length == 4096
            assert int((await client.store(make_ct(rows=128))).Status) == 0
        assert received == [128 * 128 * 2]
        assert sizes and max(sizes) <= 4096 + 6  # PDU length excludes the 6-byte header
    finally:
        await server.close(grace=1)
