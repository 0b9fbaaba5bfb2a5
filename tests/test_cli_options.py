"""The `courier` tools' options as the issue and DCMTK users spell them, against our own SCP."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from app.net.ae import ApplicationEntity
from app.net.scp import Handlers, MoveAnswer, Request
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from tests.net.datasets import write_ct

pytestmark = pytest.mark.timeout(60)


async def courier(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli.main", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def scp():
    seen: list[tuple[str, Dataset]] = []
    stored: list[str] = []

    def find(request: Request):
        seen.append((request.command.affected_sop_class_uid, request.dataset))
        match = Dataset()
        match.QueryRetrieveLevel = request.dataset.QueryRetrieveLevel
        match.PatientID = "PID1"
        yield match

    def move(request: Request) -> MoveAnswer:
        seen.append((request.command.move_destination, request.dataset))
        return MoveAnswer(destination=("127.0.0.1", 9), instances=[])  # nothing to send

    def store(request: Request) -> int:
        stored.append(request.dataset.SOPInstanceUID)
        return 0

    ae = ApplicationEntity("SCP", timeouts=Timeouts(acse=5, dimse=5))
    server = await ae.start_server(Handlers(find=find, move=move, store=store), host="127.0.0.1", port=0)
    server.seen = seen  # type: ignore[attr-defined]
    server.stored = stored  # type: ignore[attr-defined]
    yield server
    await server.close(grace=1)


async def test_find_with_root_and_level_queries_that_model_at_that_level(scp) -> None:
    code, out, err = await courier(
        "find", "127.0.0.1", str(scp.port), "-aec", "SCP", "--root", "patient", "--level", "patient",
        "-k", "PatientID=PID*", "--json",
    )  # fmt: skip
    assert code == 0, err
    sop_class, identifier = scp.seen[0]
    assert sop_class == query_sop_class("find", "patient")
    assert identifier.QueryRetrieveLevel == "PATIENT"
    assert identifier.PatientID == "PID*"
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0] == {"QueryRetrieveLevel": "PATIENT", "PatientID": "PID1"}  # one match, by keyword
    assert lines[-1] == {"Status": 0}


async def test_move_takes_its_destination_as_dest(scp) -> None:
    code, _, err = await courier(
        "move", "127.0.0.1", str(scp.port), "-aec", "SCP", "--dest", "VIEWER", "-k", "StudyInstanceUID=1.2.3"
    )
    assert code == 0, err
    assert scp.seen[0][0] == "VIEWER"


async def test_store_sends_subfolders_only_with_r(scp, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_ct(tmp_path / "top.dcm", uid="1.2.3.1")
    write_ct(tmp_path / "sub" / "deep.dcm", uid="1.2.3.2")
    code, _, err = await courier("store", "127.0.0.1", str(scp.port), "-aec", "SCP", str(tmp_path))
    assert code == 0, err
    assert scp.stored == ["1.2.3.1"]
    code, _, err = await courier("store", "127.0.0.1", str(scp.port), "-aec", "SCP", "-r", str(tmp_path))
    assert code == 0, err
    assert sorted(scp.stored) == ["1.2.3.1", "1.2.3.1", "1.2.3.2"]
