"""The persistent send queue: jobs of instances to C-STORE to a node, kept in SQLite.

A job survives a restart or a crash: each instance's state is written when the node acknowledges it,
so a resumed job sends only what was not yet acknowledged (never twice what was).  Jobs run one at a
time on the event loop; an unreachable node is retried with a growing pause; a failed instance is
kept with its reason in words.  Optional storage commitment asks the node to commit what was sent
and records the answer.  No Qt here: the pane listens with ``on_change``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

from app.listeners import Listeners
from app.net.ae import storage_contexts_for
from app.net.contexts import STORAGE_COMMITMENT_PUSH
from app.net.dimse.status import StatusCategory, category_of, describe_status
from app.net.errors import (
    AssociationAborted,
    AssociationRejected,
    ConnectionFailed,
    ConnectionLost,
    DicomNetworkError,
    DicomTimeout,
    NoAcceptedContext,
)
from app.net.events import EventBus
from app.net.scp import Handlers, Request
from app.net.scu import StoreSource
from app.net.tls import TlsConfigurationError
from app.nodes import NodeRegistry
from app.settings import Settings
from app.verify import node_ae

log = logging.getLogger(__name__)

COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"  # PS3.4 J.3.5: the well-known Storage Commitment instance
BACKOFF_SECONDS = (5, 15, 30, 60, 120, 300)


class JobState(enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    PAUSED = "paused"
    WAITING = "waiting to retry"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobState.QUEUED, JobState.SENDING, JobState.WAITING)


@dataclass(frozen=True)
class JobView:
    """One row of the queue as the pane shows it."""

    id: int
    node: str
    state: JobState
    total: int
    sent: int
    failed: int
    committed: int
    total_bytes: int
    sent_bytes: int
    message: str
    rate_bytes_per_s: float
    commitment: bool

    @property
    def progress(self) -> float:
        return (self.sent + self.failed) / self.total if self.total else 1.0


@dataclass(frozen=True)
class FailedItem:
    path: str
    sop_instance_uid: str
    reason: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL NOT NULL DEFAULT 0,
    commitment INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    job INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    sop_class TEXT NOT NULL DEFAULT '',
    sop_instance TEXT NOT NULL DEFAULT '',
    transfer_syntax TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending, sent, failed, committed, not committed
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job, path)
);
"""


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named and files in the folders named, recursively, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


class SendStore:
    """The SQLite side of the queue (thread safe; every write is one short transaction)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> None:
        with self._tx() as db:
            db.execute(sql, args)

    def add_job(
        self, node: str, commitment: bool, items: list[tuple[str, str, str, str, int, str, str]]
    ) -> int:
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO jobs (node, state, commitment, created) VALUES (?, ?, ?, ?)",
                (node, JobState.QUEUED.value, int(commitment), time.time()),
            )
            job = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT OR IGNORE INTO items (job, path, sop_class, sop_instance, transfer_syntax, size,"
                " state, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(job, *item) for item in items],
            )
        return job


def _describe_item(path: Path) -> tuple[str, str, str, str, int, str, str]:
    """(path, SOP class, SOP instance, transfer syntax, size, state, reason) of one file."""
    try:
        source = StoreSource.from_file(path)
    except (OSError, ValueError, DicomNetworkError) as exc:
        return (str(path), "", "", "", 0, "failed", f"not a DICOM file that can be sent: {exc}")
    return (str(path), source.sop_class_uid, source.sop_instance_uid, source.transfer_syntax,
            source.size, "pending", "")  # fmt: skip


class SendQueue:
    """Persistent C-STORE jobs, run one after another on the event loop."""

    def __init__(
        self, db_path: Path, registry: NodeRegistry, settings: Settings, *, events: EventBus | None = None
    ) -> None:
        self.store = SendStore(db_path)
        self.events = events  # where our associations report (the troubleshooting log)
        self.registry = registry
        self.settings = settings
        self._changed: Listeners[[]] = Listeners("send-queue")
        self._runner: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._current: tuple[int, asyncio.Task[None]] | None = None
        self._rates: dict[int, float] = {}
        self._commitments: dict[str, asyncio.Future[Dataset]] = {}
        # A job that was sending when the process stopped is simply queued again.
        self.store.execute(
            "UPDATE jobs SET state = ? WHERE state = ?", (JobState.QUEUED.value, JobState.SENDING.value)
        )

    # -- listening -----------------------------------------------------------------------------------

    def on_change(self, callback: Callable[[], None]) -> None:
        self._changed.add(callback)

    # -- what the pane asks --------------------------------------------------------------------------

    def jobs(self) -> list[JobView]:
        rows = self.store.query(
            """SELECT j.id, j.node, j.state, j.message, j.commitment, COUNT(i.path),
                      SUM(i.state IN ('sent', 'committed', 'not committed')), SUM(i.state = 'failed'),
                      SUM(i.state = 'committed'), COALESCE(SUM(i.size), 0),
                      COALESCE(SUM(CASE WHEN i.state IN ('sent', 'committed', 'not committed')
                                        THEN i.size END), 0)
               FROM jobs j LEFT JOIN items i ON i.job = j.id GROUP BY j.id ORDER BY j.id"""
        )
        return [
            JobView(
                int(r[0]),
                r[1],
                JobState(r[2]),
                int(r[5]),
                int(r[6] or 0),
                int(r[7] or 0),
                int(r[8] or 0),
                int(r[9]),
                int(r[10]),
                r[3],
                self._rates.get(int(r[0]), 0.0),
                bool(r[4]),
            )
            for r in rows
        ]

    def job(self, job_id: int) -> JobView | None:
        return next((j for j in self.jobs() if j.id == job_id), None)

    def failed_items(self, job_id: int) -> list[FailedItem]:
        return [
            FailedItem(path, uid, reason)
            for path, uid, reason in self.store.query(
                "SELECT path, sop_instance, reason FROM items"
                " WHERE job = ? AND state IN ('failed', 'not committed')",
                (job_id,),
            )
        ]

    def summary(self) -> str:
        active = [j for j in self.jobs() if j.state in ACTIVE]
        if not active:
            return ""
        left = sum(j.total - j.sent - j.failed for j in active)
        instances = f"{left} instance{'s' if left != 1 else ''}"
        return f"sending {instances} in {len(active)} job{'s' if len(active) != 1 else ''}"

    # -- what the user does ----------------------------------------------------------------------------

    async def add_paths(self, node_name: str, paths: Iterable[Path | str]) -> int:
        """Queue the DICOM files in ``paths`` (files or folders) for ``node_name``; returns the job id.
        Reading the headers happens in a worker thread."""
        node = self.registry.get(node_name)
        if node is None:
            raise KeyError(f"there is no node named {node_name!r}")
        files = [Path(p) for p in paths]
        items = await asyncio.to_thread(lambda: [_describe_item(f) for f in iter_files(files)])
        if not items:
            raise ValueError("nothing to send: no files in what was dropped")
        job = await asyncio.to_thread(self.store.add_job, node.name, node.storage_commitment, items)
        self._changed()
        self._kick()
        return job

    def pause(self, job_id: int) -> None:
        self._set_state(job_id, JobState.PAUSED, "paused", only_from=ACTIVE)
        self._stop_if_current(job_id)

    def resume(self, job_id: int) -> None:
        self._set_state(job_id, JobState.QUEUED, "", only_from=(JobState.PAUSED,))
        self._kick()

    def cancel(self, job_id: int) -> None:
        self._set_state(job_id, JobState.CANCELLED, "cancelled", only_from=(*ACTIVE, JobState.PAUSED))
        self._stop_if_current(job_id)

    def retry(self, job_id: int) -> None:
        """Send again what failed (and whatever was left) of a failed, cancelled or done job."""
        self.store.execute(
            "UPDATE items SET state = 'pending', reason = '' WHERE job = ? AND state = 'failed'"
            " AND sop_instance != ''",
            (job_id,),
        )
        self.store.execute("UPDATE jobs SET state = ?, message = '', attempts = 0, retry_at = 0 WHERE id = ?",
                           (JobState.QUEUED.value, job_id))  # fmt: skip
        self._changed()
        self._kick()

    def remove_finished(self) -> None:
        self.store.execute(
            "DELETE FROM jobs WHERE state IN (?, ?)", (JobState.DONE.value, JobState.CANCELLED.value)
        )
        self._changed()

    def _set_state(self, job_id: int, state: JobState, message: str, only_from: Iterable[JobState]) -> None:
        allowed = tuple(s.value for s in only_from)
        marks = ",".join("?" * len(allowed))
        self.store.execute(
            f"UPDATE jobs SET state = ?, message = ? WHERE id = ? AND state IN ({marks})",
            (state.value, message, job_id, *allowed),
        )
        self._changed()

    def _stop_if_current(self, job_id: int) -> None:
        if self._current is not None and self._current[0] == job_id:
            self._current[1].cancel()

    # -- running -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run_forever())

    async def stop(self) -> None:
        """Stop sending; the running job goes back to the queue (nothing acknowledged is lost)."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        self.store.execute(
            "UPDATE jobs SET state = ? WHERE state = ?", (JobState.QUEUED.value, JobState.SENDING.value)
        )

    def close(self) -> None:
        self.store.close()

    def _kick(self) -> None:
        self._wakeup.set()

    async def wait_idle(self) -> None:
        """Until no job is queued, sending or waiting (for tests and shutdown)."""
        while any(j.state in ACTIVE for j in self.jobs()):
            await asyncio.sleep(0.02)

    def _next_job(self) -> tuple[int | None, float | None]:
        """The job to send now, or how long until a waiting one may be retried."""
        now = time.time()
        rows = self.store.query(
            "SELECT id, state, retry_at FROM jobs WHERE state IN (?, ?) ORDER BY id",
            (JobState.QUEUED.value, JobState.WAITING.value),
        )
        soonest: float | None = None
        for job_id, state, retry_at in rows:
            if state == JobState.QUEUED.value or retry_at <= now:
                return int(job_id), None
            soonest = retry_at - now if soonest is None else min(soonest, retry_at - now)
        return None, soonest

    async def _run_forever(self) -> None:
        while True:
            self._wakeup.clear()
            job_id, wait = self._next_job()
            if job_id is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wakeup.wait()
                continue
            task = asyncio.ensure_future(self._send(job_id))
            self._current = (job_id, task)
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
                # paused or cancelled by the user: the state was set by pause()/cancel()
                if (
                    self.store.query("SELECT state FROM jobs WHERE id = ?", (job_id,))[0][0]
                    == JobState.SENDING.value
                ):
                    raise  # the queue itself is stopping
            finally:
                self._current = None
                self._rates.pop(job_id, None)
                self._changed()

    async def _send(self, job_id: int) -> None:  # noqa: PLR0915 - one job from start to end, in order
        node_name, commitment, attempts = self.store.query(
            "SELECT node, commitment, attempts FROM jobs WHERE id = ?", (job_id,)
        )[0]
        node = self.registry.get(node_name)
        if node is None:
            self._finish(job_id, JobState.FAILED, f"the node {node_name!r} is no longer in the node list")
            return
        pending = self.store.query(
            "SELECT path, sop_class, sop_instance, transfer_syntax, size FROM items"
            " WHERE job = ? AND state = 'pending'",
            (job_id,),
        )
        self.store.execute("UPDATE jobs SET state = ?, message = ? WHERE id = ?",
                           (JobState.SENDING.value, f"sending to {node.name}", job_id))  # fmt: skip
        self._changed()
        sources = [StoreSource.from_file(row[0]) if Path(row[0]).is_file() else None for row in pending]
        for row, source in zip(pending, sources, strict=True):
            if source is None:
                self._item(job_id, row[0], "failed", "the file is gone or unreadable")
        sources_ok = [s for s in sources if s is not None]
        started, sent_bytes = time.monotonic(), 0
        try:
            options = node.association_options()
            handlers = Handlers(n_event_report=self._commitment_report)
            async with node_ae(node, self.settings, self.events).associate(
                node.host, node.port, called_ae_title=node.ae_title,
                contexts=[*storage_contexts_for(sources_ok)[:127], STORAGE_COMMITMENT_PUSH] if commitment
                else storage_contexts_for(sources_ok)[:128],
                async_operations=(8, 1), handlers=handlers, **options,
            ) as client:  # fmt: skip

                def on_result(source: StoreSource, outcome: Dataset | Exception) -> None:
                    nonlocal sent_bytes
                    path = str(source.path)
                    if isinstance(outcome, Exception):
                        if _lost_with_the_association(outcome):
                            return  # not acknowledged: it stays pending and is sent when the job resumes
                        self._item(job_id, path, "failed", _reason(outcome, source))
                    else:
                        code = int(outcome.Status)
                        if category_of(code) in (StatusCategory.SUCCESS, StatusCategory.WARNING):
                            self._item(job_id, path, "sent", "")
                            sent_bytes += source.size
                            elapsed = time.monotonic() - started
                            self._rates[job_id] = sent_bytes / elapsed if elapsed > 0 else 0.0
                        else:
                            comment = outcome.get("ErrorComment")
                            words = describe_status(code, "C-STORE") + (f": {comment}" if comment else "")
                            self._item(job_id, path, "failed", words)
                    self._changed()

                await client.store_many(sources_ok, on_result=on_result)
                failure = client.association.failure
                if failure is not None:
                    raise failure  # the association ended under us: what is not acknowledged is retried
                if commitment:
                    await self._commit(job_id, client)
        except (
            ConnectionFailed,
            ConnectionLost,
            AssociationAborted,
            DicomTimeout,
            AssociationRejected,
        ) as exc:
            # Unreachable, gone mid-job or busy: what was acknowledged stays sent, the rest is retried
            # after a growing pause.  A permanent rejection (our AE title unknown) needs a person.
            transient = not isinstance(exc, AssociationRejected) or "transient" in str(exc).lower()
            if transient:
                delay = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS) - 1)]
                self.store.execute(
                    "UPDATE jobs SET state = ?, message = ?, attempts = attempts + 1, retry_at = ?"
                    " WHERE id = ?",
                    (JobState.WAITING.value, f"{exc}; retrying in {delay} s", time.time() + delay, job_id),
                )
                return
            self._finish(job_id, JobState.FAILED, str(exc))
            return
        except (DicomNetworkError, TlsConfigurationError) as exc:
            self._finish(job_id, JobState.FAILED, f"{exc}; press Retry to send what is left")
            return
        counts = self.store.query(
            "SELECT SUM(state = 'failed'), COUNT(*) FROM items WHERE job = ?", (job_id,)
        )[0]
        failed, total = int(counts[0] or 0), int(counts[1])
        if failed:
            self._finish(
                job_id, JobState.FAILED, f"{total - failed} of {total} sent; {failed} failed (see details)"
            )
        else:
            self._finish(job_id, JobState.DONE, f"{total} sent" + (" and committed" if commitment else ""))

    def _item(self, job_id: int, path: str, state: str, reason: str) -> None:
        self.store.execute("UPDATE items SET state = ?, reason = ? WHERE job = ? AND path = ?",
                           (state, reason, job_id, path))  # fmt: skip

    def _finish(self, job_id: int, state: JobState, message: str) -> None:
        self.store.execute("UPDATE jobs SET state = ?, message = ? WHERE id = ? AND state = ?",
                           (state.value, message, job_id, JobState.SENDING.value))  # fmt: skip
        log.info("send job %d %s: %s", job_id, state.value, message)

    # -- storage commitment (PS3.4 Annex J) ---------------------------------------------------------------

    async def _commit(self, job_id: int, client: object) -> None:
        rows = self.store.query(
            "SELECT sop_class, sop_instance FROM items WHERE job = ? AND state = 'sent'", (job_id,)
        )
        if not rows:
            return
        transaction = generate_uid()
        request = Dataset()
        request.TransactionUID = transaction
        references = []
        for sop_class, sop_instance in rows:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_instance
            references.append(item)
        request.ReferencedSOPSequence = references
        answer: asyncio.Future[Dataset] = asyncio.get_running_loop().create_future()
        self._commitments[transaction] = answer
        try:
            status, _ = await client.n_action(STORAGE_COMMITMENT_PUSH, COMMITMENT_INSTANCE, 1, request)  # type: ignore[attr-defined]
            if int(status.Status) != 0:
                raise DicomNetworkError(
                    f"the node refused storage commitment: {describe_status(int(status.Status))}"
                )
            self.store.execute(
                "UPDATE jobs SET message = ? WHERE id = ?", ("waiting for storage commitment", job_id)
            )
            self._changed()
            async with asyncio.timeout(self.settings.dimse_timeout_s):
                report = await answer
        except TimeoutError:
            raise DicomNetworkError("the node did not report the storage commitment in time") from None
        finally:
            self._commitments.pop(transaction, None)
        self._apply_commitment(job_id, report)

    def _apply_commitment(self, job_id: int, report: Dataset) -> None:
        for item in report.get("ReferencedSOPSequence", []):
            self.store.execute("UPDATE items SET state = 'committed' WHERE job = ? AND sop_instance = ?",
                               (job_id, str(item.ReferencedSOPInstanceUID)))  # fmt: skip
        for item in report.get("FailedSOPSequence", []):
            reason = f"not committed (reason 0x{int(item.get('FailureReason', 0)):04X})"
            self.store.execute(
                "UPDATE items SET state = 'not committed', reason = ? WHERE job = ? AND sop_instance = ?",
                (reason, job_id, str(item.ReferencedSOPInstanceUID)),
            )

    def _commitment_report(self, request: Request) -> int:
        """N-EVENT-REPORT on the sending association (what Orthanc does)."""
        if request.dataset is not None:
            self.on_commitment_report(request.dataset)
        return 0

    def on_commitment_report(self, report: Dataset) -> bool:
        """A storage commitment report, from the sending association or from our listener (a node may
        open a new association to report).  Returns whether it answered one of our requests."""
        waiting = self._commitments.get(str(report.get("TransactionUID", "")))
        if waiting is None or waiting.done():
            return False
        waiting.set_result(report)
        return True


def _lost_with_the_association(exc: Exception) -> bool:
    """The instance failed because the association ended (abort, lost connection, timeout, pause),
    not because of the instance itself."""
    return isinstance(exc, DicomNetworkError) and not isinstance(exc, NoAcceptedContext)


def _reason(exc: Exception, source: StoreSource) -> str:
    if isinstance(exc, NoAcceptedContext):
        return (
            f"the node does not accept {UID(source.sop_class_uid).name} in "
            f"{UID(source.transfer_syntax).name}; Courier sends files as they are "
            "(conversion is not available yet)"
        )
    if isinstance(exc, OSError):
        return f"the file could not be read: {exc}"
    return str(exc)
