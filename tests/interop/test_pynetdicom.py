"""Our engine and pynetdicom, both ways, for every C- and N-service.

pynetdicom runs as a separate process (tests/pynetdicom_peers/): scp_all.py answers our SCU and logs
what it received; scu_all.py calls our SCP and prints what it got back.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from app.net.ae import ApplicationEntity
from app.net.contexts import COMMON_STORAGE_SOP_CLASSES, DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.pdu import RoleSelection
from app.net.scp import Handlers, MoveAnswer, Request
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from tests.net.datasets import make_ct
from tests.peers import PeerProcess, start_pynetdicom

pytest.importorskip("pynetdicom", reason="pynetdicom is a test dependency: ./test installs it")
pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PRINTER = "1.2.840.10008.5.1.1.16"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
MPPS = "1.2.840.10008.3.1.2.3.3"
COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
WORKLIST = "1.2.840.10008.5.1.4.31"
STUDY = "1.2.826.0.1.3680043.8.498.600"
PATIENT_FIND, STUDY_FIND = query_sop_class("find", "patient"), query_sop_class("find", "study")
STUDY_GET, STUDY_MOVE = query_sop_class("get", "study"), query_sop_class("move", "study")


def scu() -> ApplicationEntity:
    return ApplicationEntity("COURIER", timeouts=Timeouts(connect=5, acse=10, dimse=20))


# ------------------------------------------------------------------------------------------------
# Our SCU against a pynetdicom SCP


@dataclass
class PynetdicomScp:
    peer: PeerProcess
    log: Path
    received: list[str]  # what its C-MOVE sub-association brought to our storage SCP

    def requests(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


@pytest.fixture
async def pyn_scp(tmp_path: Path) -> AsyncIterator[PynetdicomScp]:
    received: list[str] = []

    def store(request: Request) -> int:
        received.append(request.dataset.SOPInstanceUID)
        return 0

    destination = await ApplicationEntity("COURIER").start_server(
        Handlers(store=store), host="127.0.0.1", port=0
    )
    log = tmp_path / "requests.jsonl"
    peer = start_pynetdicom(tmp_path, "scp_all.py", str(destination.port), str(log))
    yield PynetdicomScp(peer, log, received)
    peer.stop()
    await destination.close(grace=1)


def contexts() -> list[object]:
    syntaxes = [ImplicitVRLittleEndian, ExplicitVRLittleEndian]
    return [
        (uid, syntaxes)
        for uid in (
            VERIFICATION, CTImageStorage, PATIENT_FIND, STUDY_FIND,
            WORKLIST, STUDY_GET, STUDY_MOVE, PRINTER, MPPS,
            COMMITMENT, FILM_SESSION,
        )
    ]  # fmt: skip


async def test_every_service_of_our_scu_against_pynetdicom(pyn_scp: PynetdicomScp) -> None:
    got: list[str] = []

    def on_store(request: Request) -> int:
        got.append(request.dataset.SOPInstanceUID)
        return 0

    async with scu().associate(
        "127.0.0.1", pyn_scp.peer.port, called_ae_title="PYNETDICOM", contexts=contexts(),
        role_selections=[RoleSelection(CTImageStorage, scu_role=True, scp_role=True)],
        handlers=Handlers(store=on_store),
    ) as client:  # fmt: skip
        assert int((await client.echo()).Status) == 0
        assert int((await client.store(make_ct(uid="1.2.3.900"))).Status) == 0

        for model, level in (("patient", "PATIENT"), ("study", "STUDY")):
            identifier = Dataset()
            identifier.QueryRetrieveLevel = level
            identifier.PatientID = ""
            results = await client.find(identifier, model).collect()
            assert [int(s.Status) for s, _ in results] == [0xFF00, 0xFF00, 0]
            assert [m.PatientID for _, m in results if m is not None] == ["PYN0", "PYN1"]

        worklist = Dataset()
        worklist.PatientID = ""
        worklist.ScheduledProcedureStepSequence = []
        results = await client.find(worklist, "worklist").collect()
        assert [m.PatientID for _, m in results if m is not None] == ["PYN0", "PYN1"]

        slow = Dataset()
        slow.QueryRetrieveLevel = "STUDY"
        slow.PatientID = "SLOW"
        operation = client.find(slow, "study")
        statuses = []
        async for status, _match in operation:
            statuses.append(int(status.Status))
            if len(statuses) == 1:
                await operation.cancel()
        assert statuses[0] == 0xFF00 and statuses[-1] == 0xFE00

        retrieve = Dataset()
        retrieve.QueryRetrieveLevel = "STUDY"
        retrieve.StudyInstanceUID = STUDY
        results = await client.get(retrieve, "study").collect()
        assert int(results[-1][0].Status) == 0
        assert sorted(got) == [f"{STUDY}.1.{n}" for n in range(3)]

        results = await client.move(retrieve, "COURIER", "study").collect()
        assert int(results[-1][0].Status) == 0
        assert int(results[-1][0].NumberOfCompletedSuboperations) == 3

        status, reply = await client.n_get(PRINTER, PRINTER_INSTANCE, [0x21100010])
        assert int(status.Status) == 0 and reply is not None and reply.PrinterName == "PYNETDICOM"
        attributes = Dataset()
        attributes.PerformedProcedureStepStatus = "IN PROGRESS"
        status, reply = await client.n_create(MPPS, "1.2.3.901", attributes)
        assert int(status.Status) == 0
        changes = Dataset()
        changes.PerformedProcedureStepStatus = "COMPLETED"
        status, _ = await client.n_set(MPPS, "1.2.3.901", changes)
        assert int(status.Status) == 0
        action = Dataset()
        action.TransactionUID = "1.2.3.902"
        status, reply = await client.n_action(COMMITMENT, COMMITMENT_INSTANCE, 1, action)
        assert int(status.Status) == 0 and reply is not None and reply.TransactionUID == "1.2.3.902"
        status, _ = await client.n_event_report(COMMITMENT, COMMITMENT_INSTANCE, 1, action)
        assert int(status.Status) == 0
        status, _ = await client.n_delete(FILM_SESSION, "1.2.3.903")
        assert int(status.Status) == 0

    assert sorted(pyn_scp.received) == [f"{STUDY}.1.{n}" for n in range(3)]
    seen = {r["service"]: r for r in pyn_scp.requests()}
    assert seen["C-STORE"]["uid"] == "1.2.3.900"
    assert seen["C-MOVE"]["destination"] == "COURIER"
    assert seen["C-CANCEL"] == {"service": "C-CANCEL"}
    assert seen["N-GET"] == {"service": "N-GET", "instance": PRINTER_INSTANCE, "attributes": [0x21100010]}
    assert seen["N-CREATE"]["status"] == "IN PROGRESS"
    assert seen["N-SET"]["status"] == "COMPLETED"
    assert seen["N-ACTION"]["action_type"] == 1
    assert seen["N-EVENT-REPORT"]["transaction"] == "1.2.3.902"
    assert seen["N-DELETE"]["instance"] == "1.2.3.903"


# ------------------------------------------------------------------------------------------------
# A pynetdicom SCU against our SCP


@dataclass
class Seen:
    requests: dict[str, object]


@pytest.fixture
async def our_scp(tmp_path: Path) -> AsyncIterator[tuple[int, Seen, list[str]]]:
    seen = Seen({})
    moved: list[str] = []

    def store(request: Request) -> int:
        seen.requests["C-STORE"] = request.dataset.SOPInstanceUID
        return 0

    async def find(request: Request):
        seen.requests.setdefault("C-FIND", []).append(request.abstract_syntax)  # type: ignore[union-attr]
        for n in range(2):
            if request.cancelled.is_set():
                seen.requests["C-CANCEL"] = True
                return
            match = Dataset()
            match.PatientID = f"OURS{n}"
            yield match
            if request.dataset.PatientID == "SLOW":
                await asyncio.wait_for(request.cancelled.wait(), 5)

    instances = [make_ct(uid=f"1.2.826.0.1.3680043.8.498.660.{n}") for n in range(2)]

    def get(request: Request):
        return instances

    def moved_store(request: Request) -> int:
        moved.append(request.dataset.SOPInstanceUID)
        return 0

    destination = await ApplicationEntity("MOVEDEST").start_server(
        Handlers(store=moved_store), host="127.0.0.1", port=0
    )

    def move(request: Request) -> MoveAnswer:
        seen.requests["C-MOVE"] = request.command.move_destination
        return MoveAnswer(destination=("127.0.0.1", destination.port), instances=instances)

    def n_get(request: Request):
        seen.requests["N-GET"] = list(request.command.attribute_identifier_list)
        reply = Dataset()
        reply.PrinterName = "COURIER"
        return 0, reply

    def n_create(request: Request):
        seen.requests["N-CREATE"] = request.dataset.PerformedProcedureStepStatus
        return 0, request.dataset

    def n_set(request: Request):
        seen.requests["N-SET"] = request.dataset.PerformedProcedureStepStatus
        return 0, request.dataset

    def n_action(request: Request):
        seen.requests["N-ACTION"] = request.command.action_type_id
        reply = Dataset()
        reply.TransactionUID = request.dataset.TransactionUID
        return 0, reply

    def n_event_report(request: Request):
        seen.requests["N-EVENT-REPORT"] = request.command.event_type_id
        return 0

    def n_delete(request: Request):
        seen.requests["N-DELETE"] = request.command.requested_sop_instance_uid
        return 0

    ae = ApplicationEntity("OURSCP")
    supported = {uid: DEFAULT_TRANSFER_SYNTAXES for uid in (
        VERIFICATION, PATIENT_FIND, STUDY_FIND, WORKLIST,
        STUDY_GET, STUDY_MOVE, PRINTER, MPPS, COMMITMENT, FILM_SESSION,
        *COMMON_STORAGE_SOP_CLASSES,
    )}  # fmt: skip
    server = await ae.start_server(
        Handlers(store=store, find=find, get=get, move=move, n_get=n_get, n_create=n_create, n_set=n_set,
                 n_action=n_action, n_event_report=n_event_report, n_delete=n_delete),
        host="127.0.0.1", port=0, policy=ae.acceptor_policy(supported=supported),
    )  # fmt: skip
    yield server.port, seen, moved
    await server.close(grace=1)
    await destination.close(grace=1)


async def test_every_service_of_a_pynetdicom_scu_against_our_scp(our_scp, tmp_path: Path) -> None:
    port, seen, moved = our_scp
    script = Path(__file__).parents[1] / "pynetdicom_peers" / "scu_all.py"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(port), "OURSCP", "MOVEDEST",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()[-3000:]
    said = {}
    for line in out.decode().splitlines():
        record = json.loads(line)
        said.setdefault(record["service"], []).append(record)
    assert said["C-ECHO"][0]["status"] == 0
    assert said["C-STORE"][0]["status"] == 0
    assert [r["results"] for r in said["C-FIND"]] == [[[0xFF00, "OURS0"], [0xFF00, "OURS1"], [0, None]]] * 3
    assert said["C-CANCEL"][0]["statuses"][0] == 0xFF00 and said["C-CANCEL"][0]["statuses"][-1] == 0xFE00
    assert said["C-GET"][0]["statuses"][-1] == 0
    assert said["C-GET"][0]["received"] == [f"1.2.826.0.1.3680043.8.498.660.{n}" for n in range(2)]
    assert said["C-MOVE"][0]["statuses"][-1] == 0
    assert said["N-GET"][0] == {"service": "N-GET", "status": 0, "printer": "COURIER"}
    for service in ("N-CREATE", "N-SET", "N-ACTION", "N-EVENT-REPORT", "N-DELETE"):
        assert said[service][0]["status"] == 0, service
    assert said["N-ACTION"][0]["transaction"] == "1.2.826.0.1.3680043.8.498.680"

    requests = seen.requests
    assert requests["C-STORE"] == "1.2.826.0.1.3680043.8.498.650.1"
    assert requests["C-FIND"] == [STUDY_FIND, PATIENT_FIND, WORKLIST,
                                  STUDY_FIND]  # fmt: skip
    assert requests["C-CANCEL"] is True
    assert requests["C-MOVE"] == "MOVEDEST"
    assert sorted(moved) == [f"1.2.826.0.1.3680043.8.498.660.{n}" for n in range(2)]
    assert requests["N-GET"] == [0x21100010]
    assert requests["N-CREATE"] == "IN PROGRESS"
    assert requests["N-SET"] == "COMPLETED"
    assert requests["N-ACTION"] == 1
    assert requests["N-EVENT-REPORT"] == 1
    assert requests["N-DELETE"] == "1.2.826.0.1.3680043.8.498.690"
