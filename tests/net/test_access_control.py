"""Who may associate with our SCP: calling AE titles bound to addresses, and a cap on associations."""

from __future__ import annotations

import contextlib

import pytest

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.errors import AssociationRejected
from app.net.scp import Handlers
from app.net.timeouts import Timeouts

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
                ae("MODALITY").associate("127.0.0.1", server.port, called_ae_title="SCP", contexts=[VERIFICATION])
            )
            assert int((await client.echo()).Status) == 0
        with pytest.raises(AssociationRejected) as rejected:
            await echo(server.port)
        assert "transient" in str(rejected.value).lower()
        assert "local limit exceeded" in str(rejected.value).lower()
    assert await echo(server.port) == 0
