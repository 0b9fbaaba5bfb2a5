"""DICOM TLS (PS3.15 B) and user identity negotiation (PS3.7 D.3.3.7), on real loopback sockets.

Certificates are made at test time by trustme (a throw-away CA); no key is ever committed.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from pydicom import dcmread

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.errors import AssociationRejected, DicomNetworkError
from app.net.identity import require_users, username_identity
from app.net.scp import Handlers
from app.net.timeouts import Timeouts
from app.net.tls import TlsConfigurationError, TlsSettings, client_context, server_context
from tests.net.datasets import make_ct, write_ct
from tests.peers import dcmtk_env, free_port, require_binary, start_peer

pytestmark = pytest.mark.timeout(60)


@dataclass
class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing we use


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    # RSA keys: DCMTK's default BCP 195 profile offers RSA-authenticated cipher suites.
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    server = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
    client = ca.issue_cert("courier-client", key_type=trustme.KeyType.RSA)
    paths = Pki(*(folder / name for name in ("ca.pem", "s.pem", "s.key", "c.pem", "c.key", "other.pem")))
    ca.cert_pem.write_to_path(str(paths.ca))
    server.cert_chain_pems[0].write_to_path(str(paths.server_cert))
    server.private_key_pem.write_to_path(str(paths.server_key))
    client.cert_chain_pems[0].write_to_path(str(paths.client_cert))
    client.private_key_pem.write_to_path(str(paths.client_key))
    trustme.CA().cert_pem.write_to_path(str(paths.other_ca))
    return paths


def server_tls(pki: Pki, *, require_client: bool = False) -> ssl.SSLContext:
    return server_context(
        TlsSettings(
            ca_file=pki.ca,
            cert_file=pki.server_cert,
            key_file=pki.server_key,
            require_client_certificate=require_client,
        )
    )


def client_tls(pki: Pki, *, with_certificate: bool = False, ca: Path | None = None) -> ssl.SSLContext:
    return client_context(
        TlsSettings(
            ca_file=ca or pki.ca,
            cert_file=pki.client_cert if with_certificate else None,
            key_file=pki.client_key if with_certificate else None,
        )
    )


def ae(title: str) -> ApplicationEntity:
    return ApplicationEntity(title, timeouts=Timeouts(connect=5, acse=5, dimse=5, artim=3))


@pytest.fixture
async def served():
    servers = []

    async def start(*, tls: ssl.SSLContext | None = None, **policy):
        scp = ae("SCP")
        server = await scp.start_server(
            Handlers(), host="127.0.0.1", port=0, policy=scp.acceptor_policy(**policy), tls=tls
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close(grace=1)


async def echo(port: int, **options) -> int:
    async with ae("SCU").associate(
        "127.0.0.1", port, called_ae_title="SCP", contexts=[VERIFICATION], **options
    ) as client:
        return int((await client.echo()).Status)


# ------------------------------------------------------------------------------------------------
# TLS between our own SCU and SCP


async def test_echo_over_tls_when_the_client_trusts_the_servers_ca(served, pki: Pki) -> None:
    server = await served(tls=server_tls(pki))
    assert await echo(server.port, tls=client_tls(pki)) == 0


async def test_a_server_signed_by_an_unknown_ca_is_refused_in_words(served, pki: Pki) -> None:
    server = await served(tls=server_tls(pki))
    with pytest.raises(DicomNetworkError, match=r"not trusted.*--ca"):
        await echo(server.port, tls=client_tls(pki, ca=pki.other_ca))


async def test_mutual_tls_lets_in_a_client_with_a_certificate_from_the_trusted_ca(served, pki: Pki) -> None:
    server = await served(tls=server_tls(pki, require_client=True))
    assert await echo(server.port, tls=client_tls(pki, with_certificate=True)) == 0


async def test_mutual_tls_shuts_out_a_client_without_a_certificate(served, pki: Pki) -> None:
    server = await served(tls=server_tls(pki, require_client=True))
    # With TLS 1.3 the client learns of the refusal only when it next reads: the association fails.
    with pytest.raises(DicomNetworkError):
        await echo(server.port, tls=client_tls(pki))
    # ...and the server keeps serving the next, properly identified, client.
    assert await echo(server.port, tls=client_tls(pki, with_certificate=True)) == 0


async def test_tls_to_a_plain_port_says_the_node_does_not_speak_tls(served, pki: Pki) -> None:
    server = await served()
    with pytest.raises(DicomNetworkError, match="does not speak TLS"):
        await echo(server.port, tls=client_tls(pki))


async def test_plain_tcp_to_a_tls_port_fails_and_the_server_keeps_serving(served, pki: Pki) -> None:
    server = await served(tls=server_tls(pki))
    with pytest.raises(DicomNetworkError):
        await echo(server.port)
    assert await echo(server.port, tls=client_tls(pki)) == 0


def test_a_tls_server_without_a_certificate_is_a_configuration_error() -> None:
    with pytest.raises(TlsConfigurationError, match="needs a certificate"):
        server_context(TlsSettings())


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(TlsConfigurationError, match="not found"):
        client_context(TlsSettings(ca_file=missing))


def test_a_certificate_with_the_wrong_key_is_named(pki: Pki) -> None:
    with pytest.raises(TlsConfigurationError, match=r"cannot use the certificate .*s\.pem with the key"):
        server_context(TlsSettings(cert_file=pki.server_cert, key_file=pki.client_key))


# ------------------------------------------------------------------------------------------------
# User identity


async def test_a_known_user_with_the_right_passcode_is_let_in(served) -> None:
    server = await served(user_identity_check=require_users({"alice": "s3cret"}))
    assert await echo(server.port, user_identity=username_identity("alice", "s3cret")) == 0


async def test_a_user_without_passcode_is_let_in_when_none_is_required(served) -> None:
    server = await served(user_identity_check=require_users({"modality": None}))
    assert await echo(server.port, user_identity=username_identity("modality")) == 0


@pytest.mark.parametrize(
    "identity",
    [
        None,
        username_identity("alice", "wrong"),
        username_identity("alice"),
        username_identity("mallory", "s3cret"),
    ],
    ids=["no identity", "wrong passcode", "passcode missing", "unknown user"],
)
async def test_the_policy_rejects_anyone_else(served, identity) -> None:
    server = await served(user_identity_check=require_users({"alice": "s3cret"}))
    with pytest.raises(AssociationRejected) as rejected:
        await echo(server.port, user_identity=identity)
    assert "no reason" in str(rejected.value).lower()


async def test_a_positive_response_is_returned_when_asked_for(served) -> None:
    server = await served(user_identity_check=require_users({"alice": "s3cret"}))
    identity = username_identity("alice", "s3cret", positive_response_requested=True)
    async with ae("SCU").associate(
        "127.0.0.1", server.port, called_ae_title="SCP", contexts=[VERIFICATION], user_identity=identity
    ) as client:
        assert client.negotiated.user_identity_response == b""


async def test_an_acceptor_without_a_policy_ignores_the_identity(served) -> None:
    server = await served()
    assert await echo(server.port, user_identity=username_identity("anyone", "x")) == 0


def test_a_user_identity_needs_a_name() -> None:
    with pytest.raises(ValueError, match="user name"):
        username_identity("")


# ------------------------------------------------------------------------------------------------
# The command-line tools


async def courier(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli.main",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def test_courier_echo_over_mutual_tls_with_a_user_identity(served, pki: Pki) -> None:
    server = await served(
        tls=server_tls(pki, require_client=True), user_identity_check=require_users({"tech": "pw"})
    )
    code, out = await courier(
        "echo", "127.0.0.1", str(server.port), "-aec", "SCP", "--tls", "--ca", str(pki.ca),
        "--cert", str(pki.client_cert), "--key", str(pki.client_key), "--username", "tech", "--password", "pw",
    )  # fmt: skip
    assert code == 0, out
    assert "Success" in out


async def test_courier_echo_names_an_untrusted_server_certificate(served, pki: Pki) -> None:
    server = await served(tls=server_tls(pki))
    code, out = await courier(
        "echo", "127.0.0.1", str(server.port), "-aec", "SCP", "--tls", "--ca", str(pki.other_ca)
    )
    assert code == 3
    assert "not trusted" in out


async def test_courier_echo_names_an_unusable_key_file(tmp_path: Path) -> None:
    code, out = await courier(
        "echo", "127.0.0.1", "104", "--tls", "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k")
    )
    assert code == 2
    assert "not found" in out


# ------------------------------------------------------------------------------------------------
# Interoperability with DCMTK's TLS-enabled tools


@pytest.mark.interop
async def test_our_scu_stores_to_dcmtk_storescp_over_mutual_tls(pki: Pki, tmp_path: Path) -> None:
    storescp = require_binary("storescp", package="dcmtk")
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    # storescp requires and verifies the client's certificate by default (-rc).
    peer = start_peer(
        "storescp-tls",
        [storescp, "-aet", "STORESCP", "-od", str(out), "+tls", str(pki.server_key), str(pki.server_cert),
         "+cf", str(pki.ca), str(port)],
        port,
        tmp_path,
        env=dcmtk_env(),
    )  # fmt: skip
    try:
        ct = make_ct(uid="1.2.826.0.1.3680043.8.498.777")
        async with ae("COURIER").associate(
            "127.0.0.1",
            port,
            called_ae_title="STORESCP",
            contexts=[ct.SOPClassUID],
            tls=client_tls(pki, with_certificate=True),
        ) as client:
            assert int((await client.store(ct)).Status) == 0
        received = list(out.iterdir())
        assert len(received) == 1
        assert dcmread(received[0]).SOPInstanceUID == ct.SOPInstanceUID
    finally:
        peer.stop()


@pytest.mark.interop
async def test_dcmtk_storescu_stores_to_our_scp_over_mutual_tls(served, pki: Pki, tmp_path: Path) -> None:
    storescu = require_binary("storescu", package="dcmtk")
    received: list[str] = []

    def store(request) -> int:
        received.append(request.dataset.SOPInstanceUID)
        return 0

    scp = ae("SCP")
    server = await scp.start_server(
        Handlers(store=store), host="127.0.0.1", port=0, tls=server_tls(pki, require_client=True)
    )
    try:
        path = write_ct(tmp_path / "ct.dcm", uid="1.2.826.0.1.3680043.8.498.778")
        proc = await asyncio.create_subprocess_exec(
            storescu, "-aec", "SCP", "+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca),
            "127.0.0.1", str(server.port), str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=dcmtk_env(),
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, output.decode()
        assert received == ["1.2.826.0.1.3680043.8.498.778"]
    finally:
        await server.close(grace=1)


@pytest.mark.interop
async def test_dcmtk_echoscu_without_a_client_certificate_is_shut_out(served, pki: Pki) -> None:
    echoscu = require_binary("echoscu", package="dcmtk")
    server = await served(tls=server_tls(pki, require_client=True))
    # DCMTK's client needs some key pair for +tls; a certificate from a CA we do not trust is refused.
    other = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("stranger", key_type=trustme.KeyType.RSA)
    with other.private_key_pem.tempfile() as key, other.cert_chain_pems[0].tempfile() as cert:
        proc = await asyncio.create_subprocess_exec(
            echoscu, "-aec", "SCP", "+tls", key, cert, "+cf", str(pki.ca), "127.0.0.1", str(server.port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=dcmtk_env(),
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode != 0, output.decode()
    assert await echo(server.port, tls=client_tls(pki, with_certificate=True)) == 0
