"""The persistent send queue against real receivers: sending, failures in words, retry with backoff,
resume after a restart with nothing sent twice, pause/resume/cancel/retry, storage commitment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from pydicom import dcmread

from app import send_queue
from app.net.ae import ApplicationEntity
from app.net.contexts import DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.scp import Handlers, Request
from app.net.server import DicomServer
from app.nodes import Node, NodeRegistry
from app.send_queue import JobState, SendQueue
from app.settings import Settings
from tests.net.datasets import write_ct
from tests.peers import free_port, start_orthanc, start_storescp

pytestmark = pytest.mark.timeout(120)
SETTINGS = replace(Settings(), ae_title="COURIER", dimse_timeout_s=20)


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)  # polling the queue's state


@dataclass
class Receiver:
    server: DicomServer
    received: list[str] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    hold_after: int | None = None  # hold every store after this many until the gate opens

    @property
    def port(self) -> int:
        return self.server.port


async def start_receiver(
    port: int = 0, *, supported: dict | None = None, hold_after: int | None = None
) -> Receiver:
    ae = ApplicationEntity("RECEIVER")
    receiver = Receiver(server=None, hold_after=hold_after)  # type: ignore[arg-type]

    async def store(request: Request) -> int:
        if receiver.hold_after is not None and len(receiver.received) >= receiver.hold_after:
            await receiver.gate.wait()
        receiver.received.append(request.dataset.SOPInstanceUID)
        return 0

    receiver.server = await ae.start_server(
        Handlers(store=store), host="127.0.0.1", port=port,
        policy=ae.acceptor_policy(supported=supported) if supported else None,
    )  # fmt: skip
    return receiver


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "study"
    (folder / "series").mkdir(parents=True)
    return [write_ct(folder / "series" / f"{n}.dcm", uid=f"1.2.3.4000.{n}") for n in range(12)]


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[SendQueue]:
    registry = NodeRegistry(tmp_path / "nodes.json")
    q = SendQueue(tmp_path / "queue.sqlite", registry, SETTINGS)
    q.start()
    yield q
    await q.stop()
    q.close()


def add_node(queue: SendQueue, port: int, **changes: object) -> Node:
    node = replace(Node(name="PACS", ae_title="RECEIVER", host="127.0.0.1", port=port), **changes)
    queue.registry.add(node)
    return node


async def test_a_dropped_folder_is_sent_and_the_job_says_so(queue: SendQueue, files: list[Path]) -> None:
    receiver = await start_receiver()
    try:
        add_node(queue, receiver.port)
        job = await queue.add_paths("PACS", [files[0].parents[1]])  # the study folder, recursively
        await queue.wait_idle()
        view = queue.job(job)
        assert view is not None and view.state is JobState.DONE, view
        assert (view.total, view.sent, view.failed) == (12, 12, 0)
        assert view.sent_bytes == view.total_bytes > 0
        assert view.message == "12 sent"
        assert sorted(receiver.received) == sorted(f"1.2.3.4000.{n}" for n in range(12))
    finally:
        await receiver.server.close(grace=1)


async def test_files_that_cannot_be_sent_are_listed_with_their_reason(
    queue: SendQueue, files: list[Path]
) -> None:
    (files[0].parent / "notes.txt").write_text("not DICOM")
    receiver = await start_receiver(supported={VERIFICATION: DEFAULT_TRANSFER_SYNTAXES})  # no CT storage
    try:
        add_node(queue, receiver.port)
        job = await queue.add_paths("PACS", [files[0].parent])
        await queue.wait_idle()
        view = queue.job(job)
        assert view is not None and view.state is JobState.FAILED
        assert view.message == "0 of 13 sent; 13 failed (see details)"
        reasons = {Path(item.path).name: item.reason for item in queue.failed_items(job)}
        assert reasons["notes.txt"].startswith("not a DICOM file that can be sent")
        assert reasons["0.dcm"] == (
            "the node does not accept CT Image Storage in Explicit VR Little Endian; Courier sends files as "
            "they are (conversion is not available yet)"
        )
    finally:
        await receiver.server.close(grace=1)


async def test_an_unreachable_node_is_retried_with_backoff_until_it_answers(
    queue: SendQueue, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_queue, "BACKOFF_SECONDS", (0.3, 0.3))
    port = free_port()
    add_node(queue, port)
    job = await queue.add_paths("PACS", files[:3])
    await until(lambda: queue.job(job).state is JobState.WAITING)  # type: ignore[union-attr]
    assert "Connection refused" in queue.job(job).message  # type: ignore[union-attr]
    assert "retrying in 0.3 s" in queue.job(job).message  # type: ignore[union-attr]
    receiver = await start_receiver(port)
    try:
        await queue.wait_idle()
        assert queue.job(job).state is JobState.DONE  # type: ignore[union-attr]
        assert len(receiver.received) == 3
    finally:
        await receiver.server.close(grace=1)


async def test_a_restart_mid_job_resumes_and_sends_nothing_twice(tmp_path: Path, files: list[Path]) -> None:
    receiver = await start_receiver(hold_after=5)
    registry = NodeRegistry(tmp_path / "nodes.json")
    registry.add(Node(name="PACS", ae_title="RECEIVER", host="127.0.0.1", port=receiver.port))
    first = SendQueue(tmp_path / "queue.sqlite", registry, SETTINGS)
    try:
        first.start()
        job = await first.add_paths("PACS", files)
        await until(lambda: first.job(job).sent >= 4)  # type: ignore[union-attr]
        await first.stop()  # the workstation closes (or dies) in the middle of the job
        first.close()
        acknowledged = len(receiver.received)
        receiver.gate.set()
        receiver.hold_after = None
        second = SendQueue(tmp_path / "queue.sqlite", registry, SETTINGS)
        second.start()
        await second.wait_idle()
        view = second.job(job)
        assert view is not None and view.state is JobState.DONE
        await second.stop()
        second.close()
        expected = [f"1.2.3.4000.{n}" for n in range(12)]
        # Everything arrived; what the receiver had acknowledged was not sent again.  (An instance
        # that was on the wire but not acknowledged may be sent again: that is what C-STORE allows.)
        assert sorted(set(receiver.received)) == sorted(expected)
        assert len(receiver.received) - len(set(receiver.received)) <= len(receiver.received) - acknowledged
        assert receiver.received[:acknowledged] == receiver.received[:acknowledged]
        assert len(receiver.received) <= 12 + 1
    finally:
        await receiver.server.close(grace=1)


async def test_pause_resume_cancel_and_retry(queue: SendQueue, files: list[Path]) -> None:
    receiver = await start_receiver(hold_after=3)
    try:
        add_node(queue, receiver.port)
        job = await queue.add_paths("PACS", files)
        await until(lambda: len(receiver.received) == 3)
        queue.pause(job)
        await until(lambda: queue.job(job).state is JobState.PAUSED)  # type: ignore[union-attr]
        receiver.gate.set()
        receiver.hold_after = None
        assert queue.job(job).sent == 3  # type: ignore[union-attr]
        queue.resume(job)
        await queue.wait_idle()
        assert queue.job(job).state is JobState.DONE  # type: ignore[union-attr]
        assert len(set(receiver.received)) == 12
        second = await queue.add_paths("PACS", files[:2])
        queue.cancel(second)
        await queue.wait_idle()
        assert queue.job(second).state is JobState.CANCELLED  # type: ignore[union-attr]
        queue.retry(second)
        await queue.wait_idle()
        assert queue.job(second).state is JobState.DONE  # type: ignore[union-attr]
    finally:
        await receiver.server.close(grace=1)


@pytest.mark.interop
async def test_sending_to_dcmtk_storescp(queue: SendQueue, files: list[Path], tmp_path: Path) -> None:
    peer = start_storescp(tmp_path / "scp", aet="RECEIVER")
    try:
        add_node(queue, peer.port)
        job = await queue.add_paths("PACS", files[:4])
        await queue.wait_idle()
        assert queue.job(job).state is JobState.DONE  # type: ignore[union-attr]
        got = sorted(dcmread(p).SOPInstanceUID for p in peer.extra["out"].iterdir())
        assert got == [f"1.2.3.4000.{n}" for n in range(4)]
    finally:
        peer.stop()


@pytest.mark.interop
async def test_storage_commitment_with_orthanc(queue: SendQueue, files: list[Path], tmp_path: Path) -> None:
    """Orthanc reports the commitment on a new association to us: our listener hands it to the queue."""
    listener_ae = ApplicationEntity("COURIER")
    listener = await listener_ae.start_server(
        Handlers(n_event_report=lambda request: queue.on_commitment_report(request.dataset) and 0),
        host="127.0.0.1", port=0,
    )  # fmt: skip
    orthanc = start_orthanc(
        tmp_path / "orthanc", modalities={"courier": ("COURIER", "127.0.0.1", listener.port)}
    )
    try:
        add_node(queue, orthanc.port, ae_title="ORTHANC", storage_commitment=True)
        job = await queue.add_paths("PACS", files[:3])
        await queue.wait_idle()
        view = queue.job(job)
        assert view is not None and view.state is JobState.DONE, view.message if view else None
        assert view.committed == 3
        assert view.message == "3 sent and committed"
    finally:
        orthanc.stop()
        await listener.close(grace=1)


async def test_a_receiver_that_dies_mid_job_is_retried_and_nothing_acknowledged_is_sent_again(
    queue: SendQueue, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_queue, "BACKOFF_SECONDS", (0.3, 0.3))
    received: list[str] = []
    state = {"die_after": 4}

    def store(request: Request) -> int:
        if state["die_after"] is not None and len(received) >= state["die_after"]:
            state["die_after"] = None
            request.association.abort()  # the PACS goes down in the middle of the job
            return 0xA700
        received.append(request.dataset.SOPInstanceUID)
        return 0

    server = await ApplicationEntity("RECEIVER").start_server(Handlers(store=store), host="127.0.0.1", port=0)
    try:
        add_node(queue, server.port)
        job = await queue.add_paths("PACS", files)
        await until(lambda: queue.job(job).state is JobState.WAITING)  # type: ignore[union-attr]
        assert "retrying in 0.3 s" in queue.job(job).message  # type: ignore[union-attr]
        await queue.wait_idle()
        assert queue.job(job).state is JobState.DONE  # type: ignore[union-attr]
        assert sorted(received) == sorted(f"1.2.3.4000.{n}" for n in range(12))  # each exactly once
    finally:
        await server.close(grace=1)
