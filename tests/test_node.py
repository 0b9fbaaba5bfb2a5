"""The workstation's own DICOM node over real loopback sockets: storage into the archive, Q/R from it,
C-MOVE destinations, access control, a full disk, the demo archive and a port already in use."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGBaseline8Bit

from app.archive import Archive
from app.net.ae import ApplicationEntity
from app.net.contexts import COMMON_STORAGE_SOP_CLASSES, DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.errors import AssociationRejected
from app.net.pdu import RoleSelection
from app.net.scp import Handlers, Request
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from app.node import WorkstationNode
from app.nodes import Node, NodeRegistry
from app.settings import Settings
from tests.net.datasets import make_ct

pytestmark = pytest.mark.timeout(60)

STUDY_A = "1.2.826.0.1.3680043.8.498.100"
STUDY_B = "1.2.826.0.1.3680043.8.498.200"


@dataclass
class Running:
    node: WorkstationNode
    archive: Archive
    registry: NodeRegistry

    @property
    def port(self) -> int:
        assert self.node.port is not None
        return self.node.port


def instance(uid: str, study: str, *, name: str, pid: str, date: str, modality: str = "CT") -> Dataset:
    ds = make_ct(uid=uid, patient_id=pid, study_uid=study)
    ds.PatientName = name
    ds.StudyDate = date
    ds.Modality = modality
    ds.AccessionNumber = f"ACC{study[-3:]}"
    ds.StudyDescription = f"{modality} STUDY {study[-3:]}"
    return ds


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Running]:
    registry = NodeRegistry(tmp_path / "nodes.json")
    archive = Archive(tmp_path / "archive")
    settings = replace(Settings(), ae_title="COURIER", listener_port=0, storage_folder=tmp_path / "archive")
    running = WorkstationNode(settings, archive, registry, host="127.0.0.1")
    await running.start()
    yield Running(running, archive, registry)
    await running.stop()
    archive.close()


def scu(title: str = "MODALITY") -> ApplicationEntity:
    return ApplicationEntity(title, timeouts=Timeouts(connect=5, acse=10, dimse=10))


async def store(port: int, *datasets: Dataset, title: str = "MODALITY") -> list[int]:
    async with scu(title).associate(
        "127.0.0.1", port, called_ae_title="COURIER", contexts=[(CTImageStorage, DEFAULT_TRANSFER_SYNTAXES)]
    ) as client:
        return [int((await client.store(ds)).Status) for ds in datasets]


async def seeded(node: Running) -> None:
    assert await store(
        node.port,
        instance("1.2.3.1", STUDY_A, name="Doe^Jane", pid="P1", date="20240105"),
        instance("1.2.3.2", STUDY_A, name="Doe^Jane", pid="P1", date="20240105"),
        instance("1.2.3.3", STUDY_B, name="SMITH^JOHN", pid="P2", date="20240320", modality="MR"),
    ) == [0, 0, 0]


async def find(port: int, model: str, **keys: str) -> list[Dataset]:
    identifier = Dataset()
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    async with scu().associate(
        "127.0.0.1", port, called_ae_title="COURIER", contexts=[query_sop_class("find", model)]
    ) as client:
        results = await client.find(identifier, model).collect()
    assert int(results[-1][0].Status) == 0, results[-1][0]
    return [match for _status, match in results if match is not None]


# ------------------------------------------------------------------------------------------------
# Verification and storage


async def test_the_node_answers_c_echo_and_says_it_is_listening(node: Running) -> None:
    async with scu().associate(
        "127.0.0.1", node.port, called_ae_title="COURIER", contexts=[VERIFICATION]
    ) as c:
        assert int((await c.echo()).Status) == 0
    assert node.node.state_text() == f"COURIER on port {node.port}: listening"


async def test_stored_instances_land_in_the_archive_in_the_transfer_syntax_they_arrived_in(
    node: Running,
) -> None:
    ct = make_ct(uid="1.2.3.9")
    async with scu().associate(
        "127.0.0.1",
        node.port,
        called_ae_title="COURIER",
        contexts=[(CTImageStorage, [ExplicitVRLittleEndian])],
    ) as client:
        assert int((await client.store(ct)).Status) == 0
    stored = node.archive.get("1.2.3.9")
    assert stored is not None
    assert stored.transfer_syntax_uid == ExplicitVRLittleEndian
    assert stored.source_ae == "MODALITY"
    assert stored.path.is_file()


async def test_a_compressed_instance_is_kept_compressed(node: Running) -> None:
    from pydicom import dcmread  # noqa: PLC0415
    from pydicom.data import get_testdata_file  # noqa: PLC0415

    jpeg = dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    async with scu().associate(
        "127.0.0.1", node.port, called_ae_title="COURIER", contexts=[(jpeg.SOPClassUID, [JPEGBaseline8Bit])]
    ) as client:
        assert int((await client.store(jpeg)).Status) == 0
    stored = node.archive.get(jpeg.SOPInstanceUID)
    assert stored is not None and stored.transfer_syntax_uid == JPEGBaseline8Bit
    assert dcmread(stored.path).PixelData == jpeg.PixelData


async def test_the_same_instance_twice_is_kept_once(node: Running) -> None:
    ct = make_ct(uid="1.2.3.10")
    assert await store(node.port, ct, ct) == [0, 0]
    assert len(node.archive.instances_of(ct.SeriesInstanceUID)) == 1


async def test_a_full_disk_answers_out_of_resources_and_keeps_what_was_stored(
    node: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await store(node.port, make_ct(uid="1.2.3.20")) == [0]
    from app.archive import receive  # noqa: PLC0415

    def disk_full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(receive, "write_chunk", disk_full)
    async with scu().associate(
        "127.0.0.1", node.port, called_ae_title="COURIER", contexts=[CTImageStorage]
    ) as client:
        status = await client.store(make_ct(uid="1.2.3.21"))
    assert int(status.Status) == 0xA700
    assert "disk is full" in status.ErrorComment
    monkeypatch.undo()
    assert node.archive.get("1.2.3.20") is not None  # nothing already stored is lost
    assert node.archive.get("1.2.3.21") is None
    assert list((node.archive.root / ".incoming").iterdir()) == []  # no partial file left
    assert await store(node.port, make_ct(uid="1.2.3.22")) == [0]  # and the node recovers


# ------------------------------------------------------------------------------------------------
# C-FIND with PS3.4 C.2.2.2 matching


async def test_find_at_patient_level_with_a_wildcard_and_case_insensitive_name(node: Running) -> None:
    await seeded(node)
    matches = await find(node.port, "patient", QueryRetrieveLevel="PATIENT", PatientName="doe*", PatientID="")
    assert [m.PatientID for m in matches] == ["P1"]


async def test_find_at_study_level_with_a_date_range(node: Running) -> None:
    await seeded(node)
    matches = await find(
        node.port, "study", QueryRetrieveLevel="STUDY", StudyDate="20240301-", StudyInstanceUID=""
    )
    assert [m.StudyInstanceUID for m in matches] == [STUDY_B]


async def test_find_at_series_level_within_a_study(node: Running) -> None:
    await seeded(node)
    matches = await find(
        node.port,
        "study",
        QueryRetrieveLevel="SERIES",
        StudyInstanceUID=STUDY_A,
        Modality="",
        SeriesInstanceUID="",
    )
    assert [(m.SeriesInstanceUID, m.Modality) for m in matches] == [(STUDY_A + ".1", "CT")]


async def test_find_at_image_level_with_a_list_of_uids(node: Running) -> None:
    await seeded(node)
    matches = await find(
        node.port, "study", QueryRetrieveLevel="IMAGE", StudyInstanceUID=STUDY_A,
        SeriesInstanceUID=STUDY_A + ".1", SOPInstanceUID="1.2.3.1\\1.2.3.9",
    )  # fmt: skip
    assert [m.SOPInstanceUID for m in matches] == ["1.2.3.1"]


async def test_find_with_a_single_character_wildcard(node: Running) -> None:
    await seeded(node)
    matches = await find(node.port, "patient", QueryRetrieveLevel="PATIENT", PatientID="P?")
    assert sorted(m.PatientID for m in matches) == ["P1", "P2"]


async def test_a_query_without_a_level_is_refused_in_words(node: Running) -> None:
    identifier = Dataset()
    identifier.PatientID = "*"
    async with scu().associate(
        "127.0.0.1", node.port, called_ae_title="COURIER", contexts=[query_sop_class("find", "study")]
    ) as client:
        results = await client.find(identifier, "study").collect()
    status = results[-1][0]
    assert int(status.Status) == 0xA900
    assert "Query/Retrieve Level" in status.ErrorComment


# ------------------------------------------------------------------------------------------------
# C-MOVE and C-GET


async def test_move_sends_a_study_to_a_destination_from_the_registry(node: Running) -> None:
    await seeded(node)
    received: list[str] = []

    def on_store(request: Request) -> int:
        received.append(request.dataset.SOPInstanceUID)
        return 0

    viewer = ApplicationEntity("VIEWER")
    destination = await viewer.start_server(Handlers(store=on_store), host="127.0.0.1", port=0)
    try:
        node.registry.add(Node(name="Viewer", ae_title="VIEWER", host="127.0.0.1", port=destination.port))
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "STUDY"
        identifier.StudyInstanceUID = STUDY_A
        async with scu().associate(
            "127.0.0.1", node.port, called_ae_title="COURIER", contexts=[query_sop_class("move", "study")]
        ) as client:
            results = await client.move(identifier, "VIEWER", "study").collect()
        final = results[-1][0]
        assert int(final.Status) == 0
        assert int(final.NumberOfCompletedSuboperations) == 2
        assert sorted(received) == ["1.2.3.1", "1.2.3.2"]
    finally:
        await destination.close(grace=1)


async def test_move_to_an_unknown_destination_answers_a801_with_its_name(node: Running) -> None:
    await seeded(node)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = STUDY_A
    async with scu().associate(
        "127.0.0.1", node.port, called_ae_title="COURIER", contexts=[query_sop_class("move", "study")]
    ) as client:
        results = await client.move(identifier, "NOWHERE", "study").collect()
    final = results[-1][0]
    assert int(final.Status) == 0xA801
    assert "NOWHERE" in final.ErrorComment


async def test_get_returns_a_series_over_the_same_association(node: Running) -> None:
    await seeded(node)
    received: list[str] = []

    def on_store(request: Request) -> int:
        received.append(request.dataset.SOPInstanceUID)
        return 0

    identifier = Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = STUDY_A
    identifier.SeriesInstanceUID = STUDY_A + ".1"
    async with scu().associate(
        "127.0.0.1", node.port, called_ae_title="COURIER",
        contexts=[query_sop_class("get", "patient"), query_sop_class("get", "study"), CTImageStorage],
        role_selections=[RoleSelection(CTImageStorage, scu_role=False, scp_role=True)],
        handlers=Handlers(store=on_store),
    ) as client:  # fmt: skip
        results = await client.get(identifier, "study").collect()
    assert int(results[-1][0].Status) == 0
    assert sorted(received) == ["1.2.3.1", "1.2.3.2"]


# ------------------------------------------------------------------------------------------------
# Access control, demo mode, a busy port


async def test_only_known_calling_ae_titles_when_asked(node: Running) -> None:
    node.node.settings = replace(node.node.settings, accept_only_known_calling_aes=True)
    with pytest.raises(AssociationRejected, match="calling AE title not recognized"):
        await store(node.port, make_ct(uid="1.2.3.30"), title="STRANGER")
    node.registry.add(Node(name="CT", ae_title="STRANGER", host="127.0.0.1", port=104))
    assert await store(node.port, make_ct(uid="1.2.3.30"), title="STRANGER") == [0]  # applies at once


async def test_demo_mode_seeds_an_empty_archive_that_can_be_queried(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    settings = replace(Settings(), listener_port=0, storage_folder=tmp_path / "archive", demo_mode=True)
    demo = WorkstationNode(settings, archive, host="127.0.0.1")
    await demo.start()
    try:
        assert demo.port is not None
        matches = await find(
            demo.port, "study", QueryRetrieveLevel="STUDY", StudyInstanceUID="", PatientName=""
        )
        assert len(matches) >= 5
    finally:
        await demo.stop()
        archive.close()


async def test_a_port_in_use_is_reported_not_raised(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        archive = Archive(tmp_path / "archive")
        settings = replace(Settings(), listener_port=port, storage_folder=tmp_path / "archive")
        blocked = WorkstationNode(settings, archive, host="127.0.0.1")
        changes: list[str] = []
        blocked.on_change(lambda: changes.append(blocked.state_text()))
        await blocked.start()
        assert not blocked.is_listening
        assert blocked.state_text() == (
            f"COURIER on port {port}: not listening: port {port} is in use by another program "
            "(choose another port in the settings)"
        )
        assert changes
        await blocked.stop()
        archive.close()


async def test_active_associations_are_counted(node: Running) -> None:
    async with scu().associate(
        "127.0.0.1", node.port, called_ae_title="COURIER", contexts=[VERIFICATION]
    ) as c:
        await c.echo()
        assert node.node.active_associations() == 1
    # The count drops once the node has seen the connection close.
    async with asyncio.timeout(5):
        while node.node.active_associations():
            await asyncio.sleep(0.01)  # polling the node's state


def test_the_common_storage_classes_are_all_accepted(node: Running) -> None:
    policy = node.node.policy()
    assert all(sop in policy.supported for sop in COMMON_STORAGE_SOP_CLASSES)


async def test_known_nodes_given_by_address_may_call_only_from_there(node: Running) -> None:
    node.node.settings = replace(node.node.settings, accept_only_known_calling_aes=True)
    node.registry.add(Node(name="Far CT", ae_title="FARCT", host="192.0.2.9", port=104))
    node.registry.add(Node(name="Near CT", ae_title="NEARCT", host="127.0.0.1", port=104))
    with pytest.raises(AssociationRejected, match="calling AE title not recognized"):
        await store(node.port, make_ct(uid="1.2.3.40"), title="FARCT")  # we call from 127.0.0.1
    assert await store(node.port, make_ct(uid="1.2.3.41"), title="NEARCT") == [0]
