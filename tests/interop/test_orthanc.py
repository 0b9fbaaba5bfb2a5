"""Our SCU against Orthanc: echo, store, find at every level of both roots, move to our SCP, get,
storage commitment, and a refusal put in words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from app.net.ae import ApplicationEntity
from app.net.contexts import STORAGE_COMMITMENT_PUSH, VERIFICATION
from app.net.errors import AssociationAborted, AssociationRejected, DicomNetworkError
from app.net.pdu import RoleSelection
from app.net.scp import Handlers, Request
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from tests.net.datasets import make_ct
from tests.peers import Orthanc, free_port, start_orthanc

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

STUDY = "1.2.826.0.1.3680043.8.498.700"
SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]


@dataclass
class Site:
    orthanc: Orthanc
    port: int  # our storage SCP, known to Orthanc as COURIER
    received: list[str] = field(default_factory=list)
    reports: list[Dataset] = field(default_factory=list)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    port = free_port()
    orthanc = start_orthanc(tmp_path / "orthanc", modalities={"courier": ("COURIER", "127.0.0.1", port)})
    state = Site(orthanc, port)

    def store(request: Request) -> int:
        state.received.append(request.dataset.SOPInstanceUID)
        return 0

    def report(request: Request) -> int:
        state.reports.append(request.dataset)
        return 0

    ours = ApplicationEntity("COURIER")
    server = await ours.start_server(
        Handlers(store=store, n_event_report=report), host="127.0.0.1", port=port
    )
    try:
        yield state
    finally:
        await server.close(grace=1)
        orthanc.stop()


def scu(title: str = "COURIER") -> ApplicationEntity:
    return ApplicationEntity(title, timeouts=Timeouts(connect=5, acse=10, dimse=30))


async def fill(site: Site, count: int = 3) -> list[str]:
    uids = [f"{STUDY}.1.{n}" for n in range(count)]
    async with scu().associate(
        "127.0.0.1", site.orthanc.port, called_ae_title="ORTHANC", contexts=[(CTImageStorage, SYNTAXES)]
    ) as client:
        for uid in uids:
            assert (
                int((await client.store(make_ct(uid=uid, study_uid=STUDY, patient_id="ORTH1"))).Status) == 0
            )
    return uids


def query(level: str, **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


async def find(site: Site, identifier: Dataset, model: str, title: str = "COURIER") -> list[Dataset]:
    async with scu(title).associate(
        "127.0.0.1", site.orthanc.port, called_ae_title="ORTHANC", contexts=[query_sop_class("find", model)]
    ) as client:
        results = await client.find(identifier, model).collect()
    assert int(results[-1][0].Status) == 0, results[-1][0]
    return [match for _status, match in results if match is not None]


async def test_echo(site: Site) -> None:
    async with scu().associate(
        "127.0.0.1", site.orthanc.port, called_ae_title="ORTHANC", contexts=[VERIFICATION]
    ) as c:
        assert int((await c.echo()).Status) == 0


async def test_store_reaches_orthanc(site: Site) -> None:
    uids = await fill(site)
    instances = site.orthanc.rest("/instances?expand")
    assert sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in instances) == uids  # type: ignore[index,union-attr]


async def test_find_at_every_level_of_both_roots(site: Site) -> None:
    await fill(site)
    assert [p.PatientID for p in await find(site, query("PATIENT", PatientID="ORTH*"), "patient")] == [
        "ORTH1"
    ]
    studies = await find(site, query("STUDY", PatientID="ORTH1", StudyInstanceUID=""), "patient")
    assert [s.StudyInstanceUID for s in studies] == [STUDY]
    studies = await find(site, query("STUDY", StudyInstanceUID="", PatientName="DOE*"), "study")
    assert [s.StudyInstanceUID for s in studies] == [STUDY]
    series = await find(
        site, query("SERIES", StudyInstanceUID=STUDY, SeriesInstanceUID="", Modality=""), "study"
    )
    assert [(s.SeriesInstanceUID, s.Modality) for s in series] == [(STUDY + ".1", "CT")]
    images = await find(
        site,
        query("IMAGE", StudyInstanceUID=STUDY, SeriesInstanceUID=STUDY + ".1", SOPInstanceUID=""),
        "study",
    )
    assert sorted(i.SOPInstanceUID for i in images) == [f"{STUDY}.1.{n}" for n in range(3)]


async def test_move_to_our_storage_scp(site: Site) -> None:
    uids = await fill(site)
    async with scu().associate(
        "127.0.0.1", site.orthanc.port, called_ae_title="ORTHANC", contexts=[query_sop_class("move", "study")]
    ) as client:
        results = await client.move(query("STUDY", StudyInstanceUID=STUDY), "COURIER", "study").collect()
    assert int(results[-1][0].Status) == 0
    assert sorted(site.received) == uids


async def test_get_into_our_scu(site: Site) -> None:
    uids = await fill(site)
    got: list[str] = []

    def store(request: Request) -> int:
        got.append(request.dataset.SOPInstanceUID)
        return 0

    async with scu().associate(
        "127.0.0.1", site.orthanc.port, called_ae_title="ORTHANC",
        contexts=[query_sop_class("get", "study"), (CTImageStorage, SYNTAXES)],
        role_selections=[RoleSelection(CTImageStorage, scu_role=False, scp_role=True)],
        handlers=Handlers(store=store),
    ) as client:  # fmt: skip
        results = await client.get(query("STUDY", StudyInstanceUID=STUDY), "study").collect()
    assert int(results[-1][0].Status) == 0
    assert sorted(got) == uids


async def test_a_query_from_an_ae_orthanc_does_not_know_is_refused_in_words(site: Site) -> None:
    with pytest.raises(DicomNetworkError) as refused:
        await find(site, query("STUDY", StudyInstanceUID=""), "study", title="STRANGER")
    # Orthanc accepts the association, then aborts it at the C-FIND from an AE it does not know.
    assert isinstance(refused.value, AssociationAborted | AssociationRejected)
    assert "check that the peer knows our AE title" in str(refused.value)


async def test_storage_commitment_is_answered_with_an_n_event_report(site: Site) -> None:
    uids = await fill(site)
    request = Dataset()
    request.TransactionUID = "1.2.826.0.1.3680043.8.498.701"
    items = []
    for uid in uids:
        item = Dataset()
        item.ReferencedSOPClassUID = CTImageStorage
        item.ReferencedSOPInstanceUID = uid
        items.append(item)
    request.ReferencedSOPSequence = items
    async with scu().associate(
        "127.0.0.1", site.orthanc.port, called_ae_title="ORTHANC",
        contexts=[(STORAGE_COMMITMENT_PUSH, SYNTAXES)],
        handlers=Handlers(n_event_report=lambda r: site.reports.append(r.dataset) or 0),
    ) as client:  # fmt: skip
        status, _reply = await client.n_action(STORAGE_COMMITMENT_PUSH, "1.2.840.10008.1.20.1.1", 1, request)
        assert int(status.Status) == 0
        # Orthanc answers on a new association to the modality, or on this one: wait for either.
        async with asyncio.timeout(30):
            while not site.reports:
                await asyncio.sleep(0.05)  # polling for the N-EVENT-REPORT
    report = site.reports[0]
    assert report.TransactionUID == "1.2.826.0.1.3680043.8.498.701"
    committed = sorted(i.ReferencedSOPInstanceUID for i in report.ReferencedSOPSequence)
    assert committed == uids
