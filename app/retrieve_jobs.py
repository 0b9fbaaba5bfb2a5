"""Retrieve jobs: bring studies or series from a PACS into the local archive, one job after another.

A job uses the node's retrieve method: C-MOVE to our own AE title (the PACS must know it, with our
address and listener port: when it does not, the job says so in those words), or C-GET, whose
C-STORE sub-operations arrive on the same association and go straight into the archive.  Progress
comes from the sub-operation counts of each pending response.  No Qt here: the pane listens with
``on_change``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from app.listeners import Listeners
from app.net.contexts import COMMON_STORAGE_SOP_CLASSES, DEFAULT_TRANSFER_SYNTAXES
from app.net.dimse.status import StatusCategory, category_of, describe_status
from app.net.errors import DicomNetworkError
from app.net.events import EventBus
from app.net.pdu import RoleSelection
from app.net.scp import Handlers
from app.net.scu import Operation
from app.net.sop import query_sop_class
from app.net.tls import TlsConfigurationError
from app.nodes import Node, NodeRegistry
from app.settings import Settings, atomic_write_text
from app.verify import node_ae

log = logging.getLogger(__name__)

MOVE_DESTINATION_UNKNOWN = 0xA801


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "retrieving"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class RetrieveJob:
    """One study or series to bring into the archive."""

    node: Node
    study_instance_uid: str
    series_instance_uid: str | None = None
    description: str = ""
    id: int = field(default_factory=itertools.count(1).__next__)
    state: JobState = JobState.QUEUED
    completed: int = 0
    failed: int = 0
    warning: int = 0
    remaining: int | None = None
    message: str = ""

    @property
    def level(self) -> str:
        return "SERIES" if self.series_instance_uid else "STUDY"

    @property
    def total(self) -> int | None:
        if self.remaining is None:
            return None
        return self.completed + self.failed + self.warning + self.remaining

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)

    def identifier(self) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = self.level
        ds.StudyInstanceUID = self.study_instance_uid
        if self.series_instance_uid:
            ds.SeriesInstanceUID = self.series_instance_uid
        return ds

    def progress_text(self) -> str:
        total = self.total
        done = self.completed + self.warning
        counts = f"{done} of {total}" if total is not None else f"{done}"
        extra = f", {self.failed} failed" if self.failed else ""
        return f"{counts}{extra}"


def our_address() -> str:
    """This computer's address as a PACS on the network would reach it (best guess, for the message)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        return str(probe.getsockname()[0])
    return socket.gethostname()


def unknown_destination_words(settings: Settings, node: Node, listener_port: int | None) -> str:
    port = listener_port or settings.listener_port
    return (
        f"{node.name} does not know our AE title {settings.ae_title!r} as a move destination: add "
        f"{settings.ae_title} with host {our_address()} and port {port} to {node.name}'s list of "
        f"DICOM nodes (or use C-GET for this node)"
    )


class RetrieveQueue:
    """Runs retrieve jobs one after another on the event loop."""

    def __init__(
        self,
        settings: Settings,
        store_handlers: Callable[[], Handlers],
        *,
        listener_port: Callable[[], int | None] = lambda: None,
        events: EventBus | None = None,
        saved_to: Path | None = None,
        registry: NodeRegistry | None = None,
    ) -> None:
        """``store_handlers`` answer C-GET's C-STORE sub-operations (the workstation node's, which
        write into the archive); ``listener_port`` is our listener's port, for the A801 message.
        With ``saved_to`` (and the ``registry`` to find the nodes again), waiting and running jobs
        are kept in that file and come back, queued, in the next session: closing loses nothing."""
        self.settings = settings
        self.store_handlers = store_handlers
        self.listener_port = listener_port
        self.events = events  # where our associations report (the troubleshooting log)
        self.jobs: list[RetrieveJob] = []
        self._changed: Listeners[[RetrieveJob]] = Listeners("retrieve-job")
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._current: tuple[RetrieveJob, asyncio.Task[None]] | None = None
        self._operation: Operation | None = None
        self.saved_to = saved_to
        self.registry = registry
        self._restore()
        self._changed.add(lambda _job: self._save())

    def _save(self) -> None:
        if self.saved_to is None:
            return
        unfinished = [
            {"node": j.node.name, "study": j.study_instance_uid, "series": j.series_instance_uid,
             "description": j.description}
            for j in self.jobs if not j.finished
        ]  # fmt: skip
        try:
            atomic_write_text(self.saved_to, json.dumps(unfinished, indent=1))
        except OSError as exc:
            log.error("cannot save the retrieve queue to %s: %s", self.saved_to, exc)

    def _restore(self) -> None:
        if self.saved_to is None or self.registry is None or not self.saved_to.exists():
            return
        try:
            entries = json.loads(self.saved_to.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.error("the saved retrieve queue %s cannot be read: %s", self.saved_to, exc)
            return
        for entry in entries if isinstance(entries, list) else []:
            node = self.registry.get(str(entry.get("node", "")))
            if node is None or not entry.get("study"):
                continue  # the node was removed meanwhile
            self.jobs.append(
                RetrieveJob(node, str(entry["study"]), entry.get("series"), str(entry.get("description", "")))
            )

    def resume(self) -> None:
        """Start the jobs restored from the last session, if any."""
        if any(not j.finished for j in self.jobs) and (self._runner is None or self._runner.done()):
            self._runner = asyncio.ensure_future(self._run_all())

    def on_change(self, callback: Callable[[RetrieveJob], None]) -> None:
        self._changed.add(callback)

    def add(self, job: RetrieveJob) -> RetrieveJob:
        self.jobs.append(job)
        self._changed(job)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run_all())
        self._wakeup.set()
        return job

    def summary(self) -> str:
        waiting = sum(1 for j in self.jobs if j.state is JobState.QUEUED)
        running = sum(1 for j in self.jobs if j.state is JobState.RUNNING)
        if not (waiting or running):
            return ""
        return f"retrieving {running}, {waiting} waiting"

    async def cancel(self, job: RetrieveJob) -> None:
        """Cancel a waiting job at once; a running one with C-CANCEL (the PACS stops after the current
        sub-operation, and what arrived is kept)."""
        if job.state is JobState.QUEUED:
            job.state = JobState.CANCELLED
            job.message = "cancelled before it started"
            self._changed(job)
            return
        if self._current is not None and self._current[0] is job and self._operation is not None:
            job.message = "cancelling…"
            self._changed(job)
            try:
                await self._operation.cancel()
            except DicomNetworkError:
                self._current[1].cancel()

    async def wait_idle(self) -> None:
        """Until no job is waiting or running (for tests and for a clean shutdown)."""
        while any(not j.finished for j in self.jobs):
            self._wakeup.clear()
            await self._wakeup.wait()

    async def close(self) -> None:
        """Stop: the running retrieve is cancelled (C-CANCEL when possible) and, like the waiting
        ones, kept for the next session; what already arrived stays in the archive."""
        interrupted = self._current[0] if self._current is not None else None
        if interrupted is not None:
            await self.cancel(interrupted)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if interrupted is not None:
            interrupted.state = JobState.QUEUED
            interrupted.message = "interrupted when Courier closed; continues at the next start"
        self._save()

    async def _run_all(self) -> None:
        while True:
            job = next((j for j in self.jobs if j.state is JobState.QUEUED), None)
            if job is None:
                return
            task = asyncio.ensure_future(self._run(job))
            self._current = (job, task)
            try:
                await task
            except asyncio.CancelledError:
                if not job.finished:
                    job.state = JobState.CANCELLED
                    job.message = job.message or "cancelled"
                if not task.done():
                    raise
            finally:
                self._current = None
                self._operation = None
                self._changed(job)
                self._wakeup.set()

    async def _run(self, job: RetrieveJob) -> None:
        job.state = JobState.RUNNING
        job.message = f"{'C-GET' if job.node.retrieve_method == 'C-GET' else 'C-MOVE'} from {job.node.name}"
        self._changed(job)
        try:
            if job.node.retrieve_method == "C-GET":
                await self._get(job)
            else:
                await self._move(job)
        except (DicomNetworkError, TlsConfigurationError) as exc:
            job.state = JobState.FAILED
            job.message = str(exc)
        log.info("retrieve %d %s: %s", job.id, job.state.value, job.message)

    async def _move(self, job: RetrieveJob) -> None:
        model = "study"
        ae = node_ae(job.node, self.settings, self.events)
        async with ae.associate(
            job.node.host, job.node.port, called_ae_title=job.node.ae_title,
            contexts=[query_sop_class("move", model)], **job.node.association_options(),
        ) as client:  # fmt: skip
            self._operation = client.move(job.identifier(), self.settings.ae_title, model)
            await self._follow(job, self._operation, "C-MOVE")

    async def _get(self, job: RetrieveJob) -> None:
        model = "study"
        storage = list(COMMON_STORAGE_SOP_CLASSES)[:126]  # PS3.8: at most 128 contexts in all
        contexts: list[str | tuple[str, Sequence[str]]] = [query_sop_class("get", model)]
        contexts += [(sop, DEFAULT_TRANSFER_SYNTAXES) for sop in storage]
        ae = node_ae(job.node, self.settings, self.events)
        async with ae.associate(
            job.node.host, job.node.port, called_ae_title=job.node.ae_title, contexts=contexts,
            role_selections=[RoleSelection(sop, scu_role=False, scp_role=True) for sop in storage],
            handlers=self.store_handlers(), **job.node.association_options(),
        ) as client:  # fmt: skip
            self._operation = client.get(job.identifier(), model)
            await self._follow(job, self._operation, "C-GET")

    async def _follow(self, job: RetrieveJob, operation: Operation, service: str) -> None:
        final: Dataset | None = None
        async for status, _identifier in operation:
            self._counts(job, status)
            if category_of(int(status.Status)) is StatusCategory.PENDING:
                self._changed(job)
            else:
                final = status
        if final is None:
            job.state = JobState.FAILED
            job.message = f"{job.node.name} ended the {service} without a final status"
            return
        code = int(final.Status)
        category = category_of(code)
        job.remaining = 0 if category is not StatusCategory.CANCEL else job.remaining
        if code == MOVE_DESTINATION_UNKNOWN:
            job.state = JobState.FAILED
            job.message = unknown_destination_words(self.settings, job.node, self.listener_port())
        elif category is StatusCategory.CANCEL:
            job.state = JobState.CANCELLED
            job.message = f"cancelled; {job.completed} instances had arrived"
        elif category in (StatusCategory.SUCCESS, StatusCategory.WARNING) and not job.failed:
            job.state = JobState.DONE
            job.message = f"{job.completed + job.warning} instances retrieved"
        else:
            job.state = JobState.FAILED
            comment = final.get("ErrorComment")
            job.message = f"{describe_status(code, service)}; {job.progress_text()}" + (
                f": {comment}" if comment else ""
            )

    @staticmethod
    def _counts(job: RetrieveJob, status: Dataset) -> None:
        for attribute, keyword in (
            ("completed", "NumberOfCompletedSuboperations"),
            ("failed", "NumberOfFailedSuboperations"),
            ("warning", "NumberOfWarningSuboperations"),
        ):
            if status.get(keyword) is not None:
                setattr(job, attribute, int(status.get(keyword)))
        if status.get("NumberOfRemainingSuboperations") is not None:
            job.remaining = int(status.get("NumberOfRemainingSuboperations"))
