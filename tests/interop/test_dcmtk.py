"""Our engine and DCMTK, both ways, on loopback.

Our SCU against DCMTK's storescp and dcmqrscp (store, find, move, get); DCMTK's echoscu, storescu,
findscu, getscu and movescu against our SCP; and the association level alone (associate + release,
128 presentation contexts, a 129th refused locally).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.errors import AssociationRejected, DicomNetworkError
from app.net.pdu import RoleSelection
from app.net.scp import Handlers, MoveAnswer, Request
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from tests.net.datasets import make_ct, write_ct
from tests.peers import (
    PeerProcess,
    dcmtk_env,
    free_port,
    require_binary,
    run_tool,
    start_peer,
    start_storescp,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

STUDY = "1.2.826.0.1.3680043.8.498.500"


def scu(title: str = "COURIER") -> ApplicationEntity:
    return ApplicationEntity(title, timeouts=Timeouts(connect=5, acse=10, dimse=20))


async def tool(*argv: str, timeout: float = 60) -> tuple[int, str]:
    """Run a DCMTK tool without blocking the loop our SCP runs on."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=dcmtk_env()
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(errors="replace")


# ------------------------------------------------------------------------------------------------
# Our SCU against storescp


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[PeerProcess]:
    # Small PDUs so that our data sets must fragment; +xa: take compressed syntaxes too; -v: log the release.
    peer = start_storescp(tmp_path, extra=["-v", "+xa", "-pdu", "4096"])
    yield peer
    peer.stop()


async def test_associate_and_release_without_dimse_against_storescp(storescp: PeerProcess) -> None:
    async with scu().associate(
        "127.0.0.1", storescp.port, called_ae_title="STORESCP", contexts=[VERIFICATION]
    ) as c:
        assert c.negotiated.peer_max_pdu_length == 4096
        assert "OFFIS" in (c.negotiated.peer_implementation_version_name or "")
    assert "Association Release" in storescp.output()


async def test_our_scu_stores_several_classes_and_syntaxes_fragmented(storescp: PeerProcess) -> None:
    ct = make_ct(rows=128, uid="1.2.3.700.1")
    jpeg = dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    big_endian = dcmread(get_testdata_file("MR_small_bigendian.dcm"))
    contexts = [
        (CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
        (jpeg.SOPClassUID, [JPEGBaseline8Bit]),
        (big_endian.SOPClassUID, [ExplicitVRBigEndian, ExplicitVRLittleEndian]),
    ]
    async with scu().associate(
        "127.0.0.1", storescp.port, called_ae_title="STORESCP", contexts=contexts
    ) as c:
        for ds in (ct, jpeg, big_endian):
            assert int((await c.store(ds)).Status) == 0
    received = {dcmread(p).SOPInstanceUID: dcmread(p) for p in storescp.extra["out"].iterdir()}
    assert received[ct.SOPInstanceUID].PixelData == ct.PixelData
    assert received[jpeg.SOPInstanceUID].PixelData == jpeg.PixelData
    assert received[big_endian.SOPInstanceUID].pixel_array.tolist() == big_endian.pixel_array.tolist()


async def test_a_rejected_association_is_reported_in_words(tmp_path: Path) -> None:
    peer = start_storescp(tmp_path, extra=["--refuse"])
    try:
        with pytest.raises(AssociationRejected, match="Association rejected"):
            async with scu().associate(
                "127.0.0.1", peer.port, called_ae_title="WRONG", contexts=[VERIFICATION]
            ):
                pass
    finally:
        peer.stop()


async def test_a_129th_presentation_context_is_refused_locally_in_words() -> None:
    contexts = [(f"1.2.826.0.1.3680043.8.498.77.{n}", [ExplicitVRLittleEndian]) for n in range(129)]
    with pytest.raises((ValueError, DicomNetworkError), match="128"):
        async with scu().associate("127.0.0.1", 9, contexts=contexts):
            pass


# ------------------------------------------------------------------------------------------------
# Our SCU against dcmqrscp: find, move, get


@dataclass
class QR:
    peer: PeerProcess
    port: int


def dcmqrscp_config(folder: Path, port: int, courier_port: int) -> Path:
    storage = folder / "db"
    storage.mkdir(parents=True)
    config = folder / "dcmqrscp.cfg"
    config.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n"
        "HostTable BEGIN\n"
        f"courier = (COURIER, 127.0.0.1, {courier_port})\n"
        "HostTable END\nVendorTable BEGIN\nVendorTable END\n"
        "AETable BEGIN\n"
        f"DCMQRSCP {storage} RW (200, 1024mb) ANY\n"
        "AETable END\n"
    )
    return config


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[int, list[Dataset]]]:
    """Our storage SCP, the C-MOVE destination."""
    received: list[Dataset] = []

    def store(request: Request) -> int:
        received.append(request.dataset)
        return 0

    server = await ApplicationEntity("COURIER").start_server(Handlers(store=store), host="127.0.0.1", port=0)
    yield server.port, received
    await server.close(grace=1)


@pytest.fixture
async def dcmqrscp(tmp_path: Path, receiver: tuple[int, list[Dataset]]) -> AsyncIterator[QR]:
    binary = require_binary("dcmqrscp", package="dcmtk")
    port = free_port()
    config = dcmqrscp_config(tmp_path / "qr", port, receiver[0])
    peer = start_peer("dcmqrscp", [binary, "-c", str(config), str(port)], port, tmp_path, env=dcmtk_env())
    files = [
        write_ct(tmp_path / f"ct{n}.dcm", uid=f"{STUDY}.1.{n}", study_uid=STUDY, patient_id="QR1")
        for n in range(3)
    ]
    async with scu().associate(
        "127.0.0.1", port, called_ae_title="DCMQRSCP", contexts=[(CTImageStorage, [ExplicitVRLittleEndian])]
    ) as client:
        for path in files:
            assert int((await client.store(path)).Status) == 0
    yield QR(peer, port)
    peer.stop()


def query(level: str, **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


async def find_on(port: int, identifier: Dataset, model: str) -> list[Dataset]:
    async with scu().associate(
        "127.0.0.1", port, called_ae_title="DCMQRSCP", contexts=[query_sop_class("find", model)]
    ) as client:
        results = await client.find(identifier, model).collect()
    assert int(results[-1][0].Status) == 0
    return [match for _status, match in results if match is not None]


async def test_find_on_dcmqrscp_at_every_level(dcmqrscp: QR) -> None:
    patients = await find_on(dcmqrscp.port, query("PATIENT", PatientID="QR*", PatientName=""), "patient")
    assert [p.PatientID for p in patients] == ["QR1"]
    studies = await find_on(dcmqrscp.port, query("STUDY", StudyInstanceUID="", PatientID="QR1"), "study")
    assert [s.StudyInstanceUID for s in studies] == [STUDY]
    series = await find_on(
        dcmqrscp.port, query("SERIES", StudyInstanceUID=STUDY, SeriesInstanceUID=""), "study"
    )
    assert [s.SeriesInstanceUID for s in series] == [STUDY + ".1"]
    images = await find_on(
        dcmqrscp.port,
        query("IMAGE", StudyInstanceUID=STUDY, SeriesInstanceUID=STUDY + ".1", SOPInstanceUID=""),
        "study",
    )
    assert sorted(i.SOPInstanceUID for i in images) == [f"{STUDY}.1.{n}" for n in range(3)]


async def test_move_from_dcmqrscp_to_our_storage_scp(
    dcmqrscp: QR, receiver: tuple[int, list[Dataset]]
) -> None:
    async with scu().associate(
        "127.0.0.1", dcmqrscp.port, called_ae_title="DCMQRSCP", contexts=[query_sop_class("move", "study")]
    ) as client:
        results = await client.move(query("STUDY", StudyInstanceUID=STUDY), "COURIER", "study").collect()
    final = results[-1][0]
    assert int(final.Status) == 0
    assert int(final.NumberOfCompletedSuboperations) == 3
    assert sorted(ds.SOPInstanceUID for ds in receiver[1]) == [f"{STUDY}.1.{n}" for n in range(3)]


async def test_get_from_dcmqrscp_into_our_scu(dcmqrscp: QR) -> None:
    received: list[str] = []

    def store(request: Request) -> int:
        received.append(request.dataset.SOPInstanceUID)
        return 0

    async with scu().associate(
        "127.0.0.1", dcmqrscp.port, called_ae_title="DCMQRSCP",
        contexts=[query_sop_class("get", "study"), (CTImageStorage, [ExplicitVRLittleEndian])],
        role_selections=[RoleSelection(CTImageStorage, scu_role=False, scp_role=True)],
        handlers=Handlers(store=store),
    ) as client:  # fmt: skip
        results = await client.get(
            query("SERIES", StudyInstanceUID=STUDY, SeriesInstanceUID=STUDY + ".1"), "study"
        ).collect()
    assert int(results[-1][0].Status) == 0
    assert sorted(received) == [f"{STUDY}.1.{n}" for n in range(3)]


# ------------------------------------------------------------------------------------------------
# DCMTK's tools against our SCP


@dataclass
class OurScp:
    port: int
    stored: list[str]
    cancelled: list[str]


@pytest.fixture
async def our_scp(tmp_path: Path) -> AsyncIterator[OurScp]:
    instances = [make_ct(uid=f"{STUDY}.2.{n}", study_uid=STUDY, patient_id="OURS") for n in range(3)]
    stored: list[str] = []
    cancelled: list[str] = []
    destination = {"port": 0}

    def store(request: Request) -> int:
        stored.append(request.dataset.SOPInstanceUID)
        return 0

    async def find(request: Request):
        level = request.dataset.QueryRetrieveLevel
        for n in range(5):
            if request.cancelled.is_set():
                cancelled.append(level)
                return
            match = Dataset()
            match.QueryRetrieveLevel = level
            match.PatientID = "OURS"
            match.StudyInstanceUID = f"{STUDY}.{n}"
            yield match
            await asyncio.sleep(0.05)  # a slow PACS, so that a C-CANCEL arrives mid-query

    def get(request: Request):
        return instances

    def move(request: Request) -> MoveAnswer:
        if request.command.move_destination != "STORESCP":
            return MoveAnswer(destination=None, instances=[])
        return MoveAnswer(destination=("127.0.0.1", destination["port"]), instances=instances)

    ae = ApplicationEntity("OURSCP")
    server = await ae.start_server(
        Handlers(store=store, find=find, get=get, move=move), host="127.0.0.1", port=0
    )
    scp = OurScp(server.port, stored, cancelled)
    scp.destination = destination  # type: ignore[attr-defined]
    yield scp
    await server.close(grace=1)


async def test_echoscu_is_answered_and_released_cleanly(our_scp: OurScp) -> None:
    code, out = await tool(
        require_binary("echoscu", package="dcmtk"), "-v", "-aec", "OURSCP", "127.0.0.1", str(our_scp.port)
    )
    assert code == 0, out
    assert "Received Echo Response (Success)" in out
    assert "Releasing Association" in out


async def test_echoscu_with_128_contexts_is_accepted(our_scp: OurScp) -> None:
    code, out = await tool(
        require_binary("echoscu", package="dcmtk"),
        "-ppc",
        "128",
        "-aec",
        "OURSCP",
        "127.0.0.1",
        str(our_scp.port),
    )
    assert code == 0, out


async def test_storescu_stores_a_folder_into_our_scp(our_scp: OurScp, tmp_path: Path) -> None:
    folder = tmp_path / "send"
    folder.mkdir()
    for n in range(4):
        write_ct(folder / f"{n}.dcm", uid=f"1.2.3.800.{n}")
    code, out = await tool(
        require_binary("storescu", package="dcmtk"),
        "+sd",
        "-aec",
        "OURSCP",
        "127.0.0.1",
        str(our_scp.port),
        str(folder),
    )
    assert code == 0, out
    assert sorted(our_scp.stored) == [f"1.2.3.800.{n}" for n in range(4)]


@pytest.mark.parametrize(("model", "level"), [("-S", "STUDY"), ("-P", "PATIENT")])
async def test_findscu_gets_every_pending_match(
    our_scp: OurScp, tmp_path: Path, model: str, level: str
) -> None:
    out_dir = tmp_path / "found"
    out_dir.mkdir()
    code, out = await tool(
        require_binary("findscu", package="dcmtk"), model, "-aec", "OURSCP",
        "-k", f"QueryRetrieveLevel={level}", "-k", "PatientID", "-X", "-od", str(out_dir),
        "127.0.0.1", str(our_scp.port),
    )  # fmt: skip
    assert code == 0, out
    assert len(list(out_dir.iterdir())) == 5


async def test_findscu_cancel_reaches_our_handler(our_scp: OurScp) -> None:
    code, out = await tool(
        require_binary("findscu", package="dcmtk"), "-v", "-S", "--cancel", "2", "-aec", "OURSCP",
        "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", str(our_scp.port),
    )  # fmt: skip
    assert code == 0, out
    assert "Cancel" in out
    assert our_scp.cancelled == ["STUDY"]


async def test_getscu_retrieves_from_our_scp(our_scp: OurScp, tmp_path: Path) -> None:
    out_dir = tmp_path / "got"
    out_dir.mkdir()
    code, out = await tool(
        require_binary("getscu", package="dcmtk"), "-S", "-aec", "OURSCP", "-k", "QueryRetrieveLevel=STUDY",
        "-k", f"StudyInstanceUID={STUDY}", "-od", str(out_dir), "127.0.0.1", str(our_scp.port),
    )  # fmt: skip
    assert code == 0, out
    assert sorted(dcmread(p).SOPInstanceUID for p in out_dir.iterdir()) == [
        f"{STUDY}.2.{n}" for n in range(3)
    ]


async def test_movescu_moves_from_our_scp_to_its_own_storage_port(our_scp: OurScp, tmp_path: Path) -> None:
    out_dir = tmp_path / "moved"
    out_dir.mkdir()
    port = free_port()
    our_scp.destination["port"] = port  # type: ignore[attr-defined]
    code, out = await tool(
        require_binary("movescu", package="dcmtk"), "-S", "-aet", "STORESCP", "-aec", "OURSCP",
        "-aem", "STORESCP", "+P", str(port), "-k", "QueryRetrieveLevel=STUDY",
        "-k", f"StudyInstanceUID={STUDY}",
        "-od", str(out_dir), "127.0.0.1", str(our_scp.port),
    )  # fmt: skip
    assert code == 0, out
    assert sorted(dcmread(p).SOPInstanceUID for p in out_dir.iterdir()) == [
        f"{STUDY}.2.{n}" for n in range(3)
    ]


async def test_movescu_to_an_unknown_destination_gets_a801(our_scp: OurScp) -> None:
    code, out = await tool(
        require_binary("movescu", package="dcmtk"), "-S", "-aec", "OURSCP", "-aem", "NOWHERE",
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={STUDY}", "127.0.0.1", str(our_scp.port),
    )  # fmt: skip
    assert code != 0
    assert "MoveDestinationUnknown" in out


async def test_termscu_is_refused_politely(our_scp: OurScp) -> None:
    # termscu asks to terminate the server; we answer with a rejection, never by stopping.
    result = await asyncio.to_thread(
        run_tool,
        [require_binary("termscu", package="dcmtk"), "-aec", "OURSCP", "127.0.0.1", str(our_scp.port)],
    )
    code, _ = await tool(
        require_binary("echoscu", package="dcmtk"), "-aec", "OURSCP", "127.0.0.1", str(our_scp.port)
    )
    assert code == 0, result.stdout + result.stderr
