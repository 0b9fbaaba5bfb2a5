"""A node's DICOM TLS and user identity settings: validated in words, and used for real associations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trustme

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.identity import require_users
from app.net.scp import Handlers
from app.net.timeouts import Timeouts
from app.net.tls import TlsSettings, server_context
from app.nodes import Node, NodeRegistry, validate_node

PACS = Node(name="PACS", ae_title="SCP", host="127.0.0.1", port=2762)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("courier")
    files = {
        name: tmp_path / f"{name}.pem" for name in ("ca", "server", "server_key", "client", "client_key")
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["server"]))
    server.private_key_pem.write_to_path(str(files["server_key"]))
    client.cert_chain_pems[0].write_to_path(str(files["client"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    return files


def test_tls_files_that_do_not_exist_are_named(tmp_path: Path) -> None:
    node = replace(PACS, tls=True, tls_ca_file=str(tmp_path / "ca.pem"))
    assert validate_node(node) == [f"TLS CA file not found: {tmp_path / 'ca.pem'}"]


def test_a_certificate_without_its_key_is_a_problem(pki: dict[str, Path]) -> None:
    node = replace(PACS, tls=True, tls_cert_file=str(pki["client"]))
    assert "TLS needs both our certificate and its key, or neither" in validate_node(node)


def test_a_passcode_without_a_user_name_is_a_problem() -> None:
    assert validate_node(replace(PACS, passcode="x")) == ["A passcode needs a user name"]


def test_security_settings_survive_a_restart(tmp_path: Path, pki: dict[str, Path]) -> None:
    registry = NodeRegistry(tmp_path / "nodes.json")
    node = replace(PACS, tls=True, tls_ca_file=str(pki["ca"]), username="tech", passcode="pw")
    registry.add(node)
    assert NodeRegistry(tmp_path / "nodes.json").get("PACS") == node


async def test_a_node_with_tls_and_a_user_identity_is_reached_with_them(pki: dict[str, Path]) -> None:
    scp = ApplicationEntity("SCP", timeouts=Timeouts(acse=5, dimse=5))
    tls = server_context(
        TlsSettings(ca_file=pki["ca"], cert_file=pki["server"], key_file=pki["server_key"],
                    require_client_certificate=True)
    )  # fmt: skip
    server = await scp.start_server(
        Handlers(), host="127.0.0.1", port=0, tls=tls,
        policy=scp.acceptor_policy(user_identity_check=require_users({"tech": "pw"})),
    )  # fmt: skip
    try:
        node = replace(
            PACS, port=server.port, tls=True, tls_ca_file=str(pki["ca"]), tls_cert_file=str(pki["client"]),
            tls_key_file=str(pki["client_key"]), username="tech", passcode="pw",
        )  # fmt: skip
        assert validate_node(node) == []
        async with ApplicationEntity("COURIER").associate(
            node.host, node.port, called_ae_title=node.ae_title, contexts=[VERIFICATION],
            **node.association_options(),
        ) as client:  # fmt: skip
            assert int((await client.echo()).Status) == 0
    finally:
        await server.close(grace=1)


def test_a_node_without_tls_needs_no_options() -> None:
    assert PACS.association_options() == {}
