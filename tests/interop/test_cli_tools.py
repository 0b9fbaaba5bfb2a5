"""The `courier` tools as a technologist runs them: exit status 0 on success, otherwise non-zero with
one line saying why (refused connection, rejected association, rejected context, failure status), and
-v / -d showing the association and the PDUs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from app.net.ae import ApplicationEntity
from app.net.contexts import DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.scp import Handlers, MoveAnswer
from tests.net.datasets import write_ct
from tests.peers import PeerProcess, free_port, start_storescp

pytestmark = pytest.mark.timeout(120)


async def courier(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli.main",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_refused_connection_exits_3_with_one_line() -> None:
    code, _, err = await courier("echo", "127.0.0.1", str(free_port()))
    assert code == 3
    assert err.strip().splitlines() == [err.strip()]
    assert "Connection refused" in err


async def test_a_rejected_association_names_the_reason() -> None:
    ae = ApplicationEntity("SCP")
    server = await ae.start_server(
        Handlers(), host="127.0.0.1", port=0, policy=ae.acceptor_policy(allowed_calling_ae_titles=["KNOWN"])
    )
    try:
        code, _, err = await courier("echo", "127.0.0.1", str(server.port), "-aet", "STRANGER")
    finally:
        await server.close(grace=1)
    assert code == 3
    assert "calling AE title not recognized" in err


async def test_a_rejected_context_is_named(tmp_path: Path) -> None:
    ae = ApplicationEntity("SCP")
    server = await ae.start_server(
        Handlers(), host="127.0.0.1", port=0,
        policy=ae.acceptor_policy(supported={VERIFICATION: DEFAULT_TRANSFER_SYNTAXES}),
    )  # fmt: skip
    try:
        path = write_ct(tmp_path / "ct.dcm", uid="1.2.3.1000")
        code, out, err = await courier("store", "127.0.0.1", str(server.port), str(path))
    finally:
        await server.close(grace=1)
    assert code == 1
    assert "CT Image Storage" in out + err
    assert "rejected" in (out + err).lower()


async def test_a_failure_status_is_given_in_words_and_hex() -> None:
    ae = ApplicationEntity("SCP")
    server = await ae.start_server(
        Handlers(move=lambda request: MoveAnswer(destination=None, instances=[])), host="127.0.0.1", port=0
    )
    try:
        code, out, err = await courier(
            "move", "127.0.0.1", str(server.port), "--dest", "NOWHERE", "-k", "StudyInstanceUID=1.2.3"
        )
    finally:
        await server.close(grace=1)
    assert code == 1
    assert "Refused: move destination unknown (0xA801)" in out + err
    assert "NOWHERE" in out + err


@pytest.mark.interop
async def test_store_to_storescp_succeeds_and_v_and_d_show_the_association_and_pdus(tmp_path: Path) -> None:
    peer: PeerProcess = start_storescp(tmp_path)
    try:
        path = write_ct(tmp_path / "ct.dcm", uid="1.2.3.1001")
        code, out, err = await courier(
            "store", "127.0.0.1", str(peer.port), "-aec", "STORESCP", "-v", str(path)
        )
        assert code == 0, err
        assert "sent 1 of 1 instances" in out
        assert "association accepted" in err and "CT Image Storage: accepted" in err
        code, _, err = await courier("echo", "127.0.0.1", str(peer.port), "-aec", "STORESCP", "-d")
        assert code == 0
        assert "A-ASSOCIATE-RQ" in err and "P-DATA-TF" in err
        assert (tmp_path / "received").iterdir()
    finally:
        peer.stop()


async def test_find_prints_one_json_object_per_match(tmp_path: Path) -> None:
    ae = ApplicationEntity("SCP")

    def find(request):
        for n in range(3):
            match = request.dataset
            match.PatientID = f"P{n}"
            yield match

    server = await ae.start_server(Handlers(find=find), host="127.0.0.1", port=0)
    try:
        code, out, err = await courier(
            "find", "127.0.0.1", str(server.port), "--level", "PATIENT", "--root", "patient",
            "-k", "PatientID", "--json",
        )  # fmt: skip
    finally:
        await server.close(grace=1)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 4  # three matches and the final status
    assert '"PatientID": "P2"' in lines[2]
