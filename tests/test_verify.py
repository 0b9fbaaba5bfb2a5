"""Verify (C-ECHO) of a node, in words a technologist can act on, against real listeners."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from app.net.ae import ApplicationEntity
from app.net.scp import Handlers
from app.nodes import Node
from app.settings import Settings
from app.verify import verify_node
from tests.peers import free_port, start_storescp

pytestmark = pytest.mark.timeout(60)

SETTINGS = replace(Settings(), ae_title="COURIER")


def node_at(port: int, **changes: object) -> Node:
    return replace(Node(name="PACS", ae_title="SCP", host="127.0.0.1", port=port), **changes)


@pytest.fixture
async def scp():
    servers = []

    async def start(**policy):
        ae = ApplicationEntity("SCP")
        server = await ae.start_server(
            Handlers(), host="127.0.0.1", port=0, policy=ae.acceptor_policy(**policy)
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close(grace=1)


async def test_a_reachable_node_reports_its_implementation_and_round_trip(scp) -> None:
    server = await scp()
    result = await verify_node(node_at(server.port), SETTINGS)
    assert result.ok
    assert result.summary.startswith("PACS is reachable: C-ECHO succeeded in")
    assert result.round_trip_ms is not None and result.round_trip_ms > 0
    text = "\n".join(result.details)
    assert "Peer implementation version: COURIER_010" in text
    assert "C-ECHO status: Success (0x0000)" in text


async def test_a_refused_connection_says_nothing_listens() -> None:
    result = await verify_node(node_at(free_port()), SETTINGS)
    assert not result.ok
    assert result.summary == "Cannot connect to PACS"
    assert "Connection refused" in result.details[0]


async def test_an_unresolvable_host_name_is_named() -> None:
    result = await verify_node(node_at(104, host="no-such-host.invalid"), SETTINGS)
    assert not result.ok
    assert "could not be resolved" in result.details[0]


async def test_a_node_that_does_not_know_us_says_which_ae_title_to_add(scp) -> None:
    server = await scp(allowed_calling_ae_titles=["SOMEONE"])
    result = await verify_node(node_at(server.port), SETTINGS)
    assert not result.ok
    assert result.summary == "PACS refused the association"
    assert "calling AE title not recognized" in result.details[0]
    assert "does not know our AE title 'COURIER'" in result.details[1]


async def test_a_wrong_called_ae_title_is_named(scp) -> None:
    server = await scp(require_called_ae_title=True)
    result = await verify_node(node_at(server.port, ae_title="WRONG"), SETTINGS)
    assert not result.ok
    assert "is not called 'WRONG'" in result.details[1]


async def test_a_node_that_accepts_the_connection_but_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = await verify_node(node_at(silent.getsockname()[1], acse_timeout_s=0.5), SETTINGS)
    assert not result.ok
    assert "0.5 s" in " ".join(result.details)


async def test_unusable_tls_files_are_named(tmp_path: Path) -> None:
    result = await verify_node(node_at(2762, tls=True, tls_ca_file=str(tmp_path / "ca.pem")), SETTINGS)
    assert not result.ok
    assert result.summary == "PACS: the TLS settings cannot be used"
    assert "not found" in result.details[0]


@pytest.mark.interop
async def test_dcmtk_storescp_is_verified(tmp_path: Path) -> None:
    storescp = start_storescp(tmp_path, aet="STORESCP")
    try:
        result = await verify_node(node_at(storescp.port, ae_title="STORESCP"), SETTINGS)
    finally:
        storescp.stop()
    assert result.ok, result.details
    assert "OFFIS_DCMTK" in "\n".join(result.details)
