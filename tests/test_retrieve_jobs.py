"""Retrieve jobs against a real PACS on loopback (our own node with its own archive): C-MOVE to our
listener, C-GET over the same association, the A801 advice, queueing and cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from app.archive import Archive
from app.net.ae import ApplicationEntity
from app.net.contexts import DEFAULT_TRANSFER_SYNTAXES
from app.node import WorkstationNode
from app.nodes import Node
from app.retrieve_jobs import JobState, RetrieveJob, RetrieveQueue
from app.settings import Settings
from tests.net.datasets import make_ct

pytestmark = pytest.mark.timeout(120)

STUDY_1 = "1.2.826.0.1.3680043.8.498.401"
STUDY_2 = "1.2.826.0.1.3680043.8.498.402"


@dataclass
class Site:
    local: WorkstationNode
    local_archive: Archive
    pacs: WorkstationNode
    pacs_archive: Archive
    queue: RetrieveQueue

    def pacs_node(self, **changes: object) -> Node:
        assert self.pacs.port is not None
        return replace(Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=self.pacs.port), **changes)


async def fill(pacs: WorkstationNode, study: str, count: int) -> None:
    ae = ApplicationEntity("MODALITY")
    datasets = [make_ct(uid=f"{study}.9.{n}", study_uid=study, patient_id=study[-3:]) for n in range(count)]
    async with ae.associate(
        "127.0.0.1",
        pacs.port,
        called_ae_title="PACS",
        contexts=[(datasets[0].SOPClassUID, DEFAULT_TRANSFER_SYNTAXES)],
    ) as client:
        for ds in datasets:
            assert int((await client.store(ds)).Status) == 0


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    local_archive = Archive(tmp_path / "local")
    settings = replace(Settings(), ae_title="COURIER", listener_port=0, storage_folder=tmp_path / "local")
    local = WorkstationNode(settings, local_archive, host="127.0.0.1")
    await local.start()
    pacs_archive = Archive(tmp_path / "pacs")
    pacs_settings = replace(Settings(), ae_title="PACS", listener_port=0, storage_folder=tmp_path / "pacs")
    assert local.port is not None
    pacs = WorkstationNode(
        pacs_settings, pacs_archive, host="127.0.0.1", destinations={"COURIER": ("127.0.0.1", local.port)}
    )
    await pacs.start()
    await fill(pacs, STUDY_1, 3)
    await fill(pacs, STUDY_2, 2)
    queue = RetrieveQueue(settings, local.handlers, listener_port=lambda: local.port)
    yield Site(local, local_archive, pacs, pacs_archive, queue)
    await queue.close()
    await pacs.stop()
    await local.stop()
    pacs_archive.close()
    local_archive.close()


def local_uids(site: Site, study: str) -> list[str]:
    return sorted(
        i.sop_instance_uid
        for s in site.local_archive.series_of(study)
        for i in site.local_archive.instances_of(s.series_instance_uid)
    )


async def test_c_move_brings_a_study_into_the_local_archive(site: Site) -> None:
    seen: list[str] = []
    site.queue.on_change(lambda job: seen.append(job.state.value))
    job = site.queue.add(RetrieveJob(site.pacs_node(), STUDY_1))
    await site.queue.wait_idle()
    assert job.state is JobState.DONE, job.message
    assert (job.completed, job.failed, job.remaining) == (3, 0, 0)
    assert job.message == "3 instances retrieved"
    assert local_uids(site, STUDY_1) == [f"{STUDY_1}.9.{n}" for n in range(3)]
    assert seen[0] == "queued" and "retrieving" in seen and seen[-1] == "done"


async def test_c_get_brings_a_series_over_the_same_association(site: Site) -> None:
    job = site.queue.add(RetrieveJob(site.pacs_node(retrieve_method="C-GET"), STUDY_2, STUDY_2 + ".1"))
    await site.queue.wait_idle()
    assert job.state is JobState.DONE, job.message
    assert local_uids(site, STUDY_2) == [f"{STUDY_2}.9.{n}" for n in range(2)]


async def test_an_unknown_move_destination_says_what_to_add_on_the_pacs(site: Site) -> None:
    site.pacs.destinations.clear()
    job = site.queue.add(RetrieveJob(site.pacs_node(), STUDY_1))
    await site.queue.wait_idle()
    assert job.state is JobState.FAILED
    assert "PACS does not know our AE title 'COURIER' as a move destination" in job.message
    assert f"port {site.local.port}" in job.message


async def test_jobs_run_one_after_another(site: Site) -> None:
    order: list[tuple[int, str]] = []
    site.queue.on_change(lambda job: order.append((job.id, job.state.value)))
    first = site.queue.add(RetrieveJob(site.pacs_node(), STUDY_1))
    second = site.queue.add(RetrieveJob(site.pacs_node(), STUDY_2))
    await site.queue.wait_idle()
    assert first.state is second.state is JobState.DONE
    assert order.index((first.id, "done")) < order.index((second.id, "retrieving"))


async def test_a_waiting_job_can_be_cancelled_before_it_starts(site: Site) -> None:
    first = site.queue.add(RetrieveJob(site.pacs_node(), STUDY_1))
    second = site.queue.add(RetrieveJob(site.pacs_node(), STUDY_2))
    await site.queue.cancel(second)
    await site.queue.wait_idle()
    assert first.state is JobState.DONE
    assert second.state is JobState.CANCELLED
    assert local_uids(site, STUDY_2) == []


async def test_a_running_retrieve_is_cancelled_with_c_cancel_and_keeps_what_arrived(site: Site) -> None:
    big = "1.2.826.0.1.3680043.8.498.499"
    await fill(site.pacs, big, 60)
    job = site.queue.add(RetrieveJob(site.pacs_node(), big))
    async with asyncio.timeout(30):
        while job.completed < 1:
            await asyncio.sleep(0.005)  # polling the job's progress
    await site.queue.cancel(job)
    await site.queue.wait_idle()
    assert job.state is JobState.CANCELLED, job.message
    arrived = len(local_uids(site, big))
    assert 1 <= arrived < 60


async def test_an_unreachable_pacs_fails_in_words(site: Site) -> None:
    job = site.queue.add(RetrieveJob(site.pacs_node(port=1), STUDY_1))
    await site.queue.wait_idle()
    assert job.state is JobState.FAILED
    assert "Connection refused" in job.message


async def test_waiting_retrieves_survive_closing_and_resume_at_the_next_start(site: Site, tmp_path: Path) -> None:
    from app.nodes import NodeRegistry  # noqa: PLC0415

    registry = NodeRegistry(tmp_path / "nodes.json")
    registry.add(site.pacs_node())
    saved = tmp_path / "retrieves.json"
    first = RetrieveQueue(site.queue.settings, site.local.handlers, saved_to=saved, registry=registry)
    first.jobs.append(RetrieveJob(site.pacs_node(), STUDY_1, description="waiting when closed"))
    first._save()  # what add() does on every change, without starting the job
    await first.close()
    second = RetrieveQueue(site.queue.settings, site.local.handlers, saved_to=saved, registry=registry)
    assert [(j.study_instance_uid, j.description, j.state) for j in second.jobs] == [
        (STUDY_1, "waiting when closed", JobState.QUEUED)
    ]
    second.resume()
    await second.wait_idle()
    assert second.jobs[0].state is JobState.DONE
    assert local_uids(site, STUDY_1) == [f"{STUDY_1}.9.{n}" for n in range(3)]
    assert saved.read_text().strip() == "[]"
