"""The workstation's own DICOM node: Verification, Storage and Query/Retrieve SCP over the archive.

One :class:`WorkstationNode` runs the listener of the GUI and of ``courier serve``.  Received instances
stream straight into the archive (the node never decodes a data set it only stores); C-FIND, C-MOVE
and C-GET answer from the archive's index.  Blocking archive work (SQLite, fsync) runs in threads so
the event loop, which may also be the GUI's, never waits on the disk.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydicom.dataset import Dataset

from app.archive import Archive, ArchiveFull, InvalidQueryError, seed_demo
from app.archive.matching import Level
from app.listeners import Listeners
from app.net.ae import ApplicationEntity, default_supported
from app.net.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    EventBus,
)
from app.net.negotiation import AcceptorPolicy
from app.net.scp import Handlers, MoveAnswer, Request, StatusError, StoreInfo
from app.net.server import DicomServer
from app.net.sop import query_sop_class
from app.net.timeouts import Timeouts
from app.nodes import NodeRegistry
from app.settings import Settings

log = logging.getLogger(__name__)

# PS3.4 Annex B.2.3 / C.4: the statuses the node answers with.
OUT_OF_RESOURCES = 0xA700
STORE_PROCESSING_FAILURE = 0x0110
IDENTIFIER_DOES_NOT_MATCH = 0xA900
DEFAULT_MAX_DATASET_SIZE = 8 * 1024**3  # 8 GiB: far above any real instance, far below a full disk
LEVELS: tuple[Level, ...] = ("PATIENT", "STUDY", "SERIES", "IMAGE")
Root = Literal["PATIENT", "STUDY"]
PATIENT_ROOT_CLASSES = frozenset(query_sop_class(op, "patient") for op in ("find", "move", "get"))


class ArchiveSink:
    """Receives one C-STORE data set straight into the archive (a ``DatasetSink``).

    A failure while writing (a full disk) does not abort the association: the sink remembers it,
    drops the rest of the data set, and the store handler answers the failure status, so the peer
    learns why and nothing already stored is touched.
    """

    def __init__(self, archive: Archive, info: StoreInfo) -> None:
        self.sop_instance_uid = info.sop_instance_uid
        self.error: Exception | None = None
        self.incoming: Any = None
        try:
            self.incoming = archive.begin_receive(
                info.sop_class_uid, info.sop_instance_uid, info.transfer_syntax, info.calling_ae_title
            )
        except (ArchiveFull, OSError) as exc:
            self.error = exc

    def write(self, data: memoryview) -> None:
        if self.error is not None:
            return
        try:
            self.incoming.write(data)
        except (ArchiveFull, OSError) as exc:
            self.error = exc
            self.incoming.abort()

    def close(self) -> ArchiveSink:
        return self  # committed by the store handler, in a thread (fsync and SQLite)

    def abort(self) -> None:
        if self.incoming is not None:
            self.incoming.abort()


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def listen_problem_words(port: int, exc: OSError) -> str:
    """Why the listener could not start, in words a user can act on."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use by another program (choose another port in the settings)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"port {port} needs administrator rights (ports below 1024); choose a port above 1024"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "the listening address is not one of this computer's"
    return f"could not listen on port {port}: {exc.strerror or exc}"


class WorkstationNode:
    """The workstation's SCP over ``archive``, listening on ``settings.listener_port``."""

    def __init__(
        self,
        settings: Settings,
        archive: Archive,
        registry: NodeRegistry | None = None,
        *,
        events: EventBus | None = None,
        destinations: Mapping[str, tuple[str, int]] | None = None,
        host: str = "0.0.0.0",
        allowed_calling_ae_titles: frozenset[str] | None = None,
        calling_ae_hosts: Mapping[str, frozenset[str]] | None = None,
        max_associations: int = 64,
        max_dataset_size: int | None = DEFAULT_MAX_DATASET_SIZE,
    ) -> None:
        self.settings = settings
        self.archive = archive
        self.registry = registry
        self.destinations = {aet.strip(): address for aet, address in (destinations or {}).items()}
        self.host = host
        self.allowed_calling_ae_titles = allowed_calling_ae_titles
        self.max_associations = max_associations
        self.calling_ae_hosts = dict(calling_ae_hosts or {})  # AE title -> the addresses it may call from
        self.max_dataset_size = max_dataset_size  # per received data set: one peer cannot fill the disk
        self._events = events or EventBus()
        self._ae = self._make_ae()
        self._server: DicomServer | None = None
        # Storage commitment reports (PS3.4 J.3.3) a node sends us on a new association: the send
        # queue connects here to learn which of the instances it sent were committed.
        self.commitment_reports: Callable[[Dataset], object] | None = None
        self._problem: str | None = None
        self._changed: Listeners[[]] = Listeners("listener-state")
        self._active: set[int] = set()  # association ids of accepted inbound associations
        self._events.subscribe(AssociationAccepted, self._on_accepted)
        self._events.subscribe(ConnectionClosed, self._on_closed)
        self._events.subscribe(AssociationRejected, self._on_rejected)
        self._events.subscribe(AssociationAborted, lambda _e: self._changed())

    def _make_ae(self) -> ApplicationEntity:
        settings = self.settings
        return ApplicationEntity(
            settings.ae_title,
            max_pdu_length=settings.max_pdu,
            timeouts=Timeouts(
                connect=settings.connect_timeout_s,
                acse=settings.acse_timeout_s,
                dimse=settings.dimse_timeout_s,
                retrieve=settings.retrieve_timeout_s,
                idle=settings.network_idle_timeout_s or None,
            ),
            events=self._events,
        )

    def rebuild_ae(self) -> None:
        """Take up changed settings (AE title, maximum PDU, timeouts); call while stopped."""
        self._ae = self._make_ae()

    # -- what the GUI and the CLI see ---------------------------------------------------------------

    @property
    def ae(self) -> ApplicationEntity:
        """Our AE (title, maximum PDU, timeouts, events), for outgoing associations too."""
        return self._ae

    @property
    def port(self) -> int | None:
        return self._server.port if self._server is not None and self._server.is_serving else None

    @property
    def is_listening(self) -> bool:
        return self._server is not None and self._server.is_serving

    def state_text(self) -> str:
        title = self.settings.ae_title
        if self.is_listening:
            return f"{title} on port {self.port}: listening"
        if self._problem:
            return f"{title} on port {self.settings.listener_port}: not listening: {self._problem}"
        return f"{title} on port {self.settings.listener_port}: not listening"

    def active_associations(self) -> int:
        return len(self._active)

    def on_change(self, callback: Callable[[], None]) -> None:
        self._changed.add(callback)

    def _on_accepted(self, event: AssociationAccepted) -> None:
        if event.info.role == "acceptor":
            self._active.add(event.info.association_id)
            log.info(
                "association from %s (%s:%s) accepted", event.info.remote_ae, event.info.peer_host,
                event.info.peer_port,
            )  # fmt: skip
            self._changed()

    def _on_closed(self, event: ConnectionClosed) -> None:
        if event.info.association_id in self._active:
            self._active.discard(event.info.association_id)
            self._changed()

    def _on_rejected(self, event: AssociationRejected) -> None:
        if event.info.role == "acceptor":
            log.warning("association from %s:%s rejected: %s", event.info.peer_host, event.info.peer_port,
                        event.reason)  # fmt: skip

    # -- life cycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the archive, seed the demo when asked, and listen.  Never raises for a port problem:
        ``state_text()`` says why the node is not listening."""
        report = await asyncio.to_thread(self.archive.check_and_repair)
        if not report.clean:
            log.warning(
                "archive repaired at start: %d partial files removed, %d index rows without file, "
                "%d files re-indexed, %d unreadable files quarantined",
                len(report.removed_partials), len(report.removed_rows), len(report.unindexed_files),
                len(report.quarantined),
            )  # fmt: skip
        if self.settings.demo_mode and not await asyncio.to_thread(self.archive.studies):
            await asyncio.to_thread(seed_demo, self.archive)
            log.info("demo archive seeded")
        self._problem = None
        try:
            self._server = await self._ae.start_server(
                self.handlers(),
                host=self.host,
                port=self.settings.listener_port,
                policy=self.policy,  # read at each association: registry changes apply at once
                max_associations=self.max_associations,
                max_dataset_size=self.max_dataset_size,
            )
        except OSError as exc:
            self._server = None
            self._problem = listen_problem_words(self.settings.listener_port, exc)
            log.error("%s", self.state_text())
        else:
            log.info("%s", self.state_text())
        self._changed()

    async def stop(self) -> None:
        """Stop listening; open associations get a moment to finish, then are aborted."""
        server, self._server = self._server, None
        if server is not None:
            await server.close(grace=2)
        self._active.clear()
        self._changed()

    # -- policy and handlers --------------------------------------------------------------------------

    def policy(self) -> AcceptorPolicy:
        allowed = self.allowed_calling_ae_titles
        hosts: dict[str, frozenset[str]] = dict(self.calling_ae_hosts)
        if self.settings.accept_only_known_calling_aes:
            nodes = self.registry.list() if self.registry is not None else []
            allowed = frozenset({n.ae_title for n in nodes} | set(allowed or ()))
            # A known node given by address may call only from that address (a host name is not
            # resolved here: that would block the loop; such a node is known by its title alone).
            for node in nodes:
                if _is_ip_address(node.host):
                    hosts[node.ae_title] = hosts.get(node.ae_title, frozenset()) | {node.host}
        return self._ae.acceptor_policy(
            supported=default_supported(),
            allowed_calling_ae_titles=allowed,
            calling_ae_hosts=hosts or None,
            # Modalities often call with whatever title they were given: answer to any called title.
            require_called_ae_title=False,
            max_operations_performed=16,
        )

    def handlers(self) -> Handlers:
        return Handlers(
            store_sink=lambda info: ArchiveSink(self.archive, info),
            # The GUI's loop (and every association of `courier serve`) never waits on the disk.
            disk_io="thread",
            store=self._store,
            find=self._find,
            move=self._move,
            get=self._get,
            n_event_report=self._n_event_report,
        )

    def _n_event_report(self, request: Request) -> int:
        if request.dataset is not None and self.commitment_reports is not None:
            self.commitment_reports(request.dataset)
        log.info("N-EVENT-REPORT from %s (event type %s)", request.calling_ae_title,
                 getattr(request.command, "event_type_id", "?"))  # fmt: skip
        return 0

    async def _store(self, request: Request) -> int:
        sink = request.raw  # what ArchiveSink.close() returned
        if not isinstance(sink, ArchiveSink):  # pragma: no cover - the sink factory always makes one
            raise StatusError(STORE_PROCESSING_FAILURE, "the data set did not reach the archive")
        if sink.error is not None:
            raise self._store_failure(sink.error)
        try:
            stored = await asyncio.to_thread(sink.incoming.commit)
        except (ArchiveFull, OSError) as exc:
            raise self._store_failure(exc) from exc
        except Exception as exc:
            log.exception("storing %s failed", sink.sop_instance_uid)
            raise StatusError(STORE_PROCESSING_FAILURE, f"the archive could not store it: {exc}") from exc
        log.info(
            "stored %s from %s (%s)", stored.sop_instance_uid, request.calling_ae_title, stored.outcome.value
        )
        return 0

    def _store_failure(self, exc: Exception) -> StatusError:
        if isinstance(exc, ArchiveFull) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
            log.error("archive full: %s", exc)
            return StatusError(OUT_OF_RESOURCES, "the workstation's disk is full; nothing was stored")
        log.error("storing failed: %s", exc)
        return StatusError(STORE_PROCESSING_FAILURE, f"the archive could not store it: {exc}")

    @staticmethod
    def _query(request: Request) -> tuple[Level, Root, Dataset]:
        """The level, the information model's root and the identifier of a C-FIND/C-MOVE/C-GET."""
        identifier = request.dataset
        if not isinstance(identifier, Dataset):
            raise StatusError(IDENTIFIER_DOES_NOT_MATCH, "the request carries no identifier")
        level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
        if level not in LEVELS:
            raise StatusError(
                IDENTIFIER_DOES_NOT_MATCH,
                f"Query/Retrieve Level {level or '(empty)'} is not one of PATIENT, STUDY, SERIES, IMAGE",
            )
        root: Root = "PATIENT" if request.command.affected_sop_class_uid in PATIENT_ROOT_CLASSES else "STUDY"
        return level, root, identifier

    async def _find(self, request: Request) -> AsyncIterator[Dataset]:
        level, root, identifier = self._query(request)
        try:
            matches = await asyncio.to_thread(lambda: list(self.archive.find(level, identifier, root=root)))
        except InvalidQueryError as exc:
            raise StatusError(IDENTIFIER_DOES_NOT_MATCH, str(exc)) from exc
        log.info("C-FIND from %s at %s level: %d matches", request.calling_ae_title, level, len(matches))
        for match in matches:
            if request.cancelled.is_set():
                return
            yield match

    async def _instances(self, request: Request) -> list[Path]:
        level, _root, identifier = self._query(request)
        try:
            instances = await asyncio.to_thread(self.archive.instances_for, level, identifier)
        except InvalidQueryError as exc:
            raise StatusError(IDENTIFIER_DOES_NOT_MATCH, str(exc)) from exc
        return [instance.path for instance in instances]

    def destination(self, ae_title: str) -> tuple[str, int] | None:
        """Where a C-MOVE destination AE title lives: ``--dest`` entries first, then the registry."""
        wanted = ae_title.strip()
        if wanted in self.destinations:
            return self.destinations[wanted]
        node = self.registry.by_ae_title(wanted) if self.registry is not None else None
        return (node.host, node.port) if node is not None else None

    async def _move(self, request: Request) -> MoveAnswer:
        destination = self.destination(request.command.move_destination)
        if destination is None:
            log.warning(
                "C-MOVE from %s to unknown destination %s", request.calling_ae_title,
                request.command.move_destination,
            )  # fmt: skip
            return MoveAnswer(destination=None, instances=[])
        paths = await self._instances(request)
        log.info("C-MOVE from %s: %d instances to %s at %s:%s", request.calling_ae_title, len(paths),
                 request.command.move_destination, *destination)  # fmt: skip
        return MoveAnswer(destination=destination, instances=paths)

    async def _get(self, request: Request) -> list[Path]:
        paths = await self._instances(request)
        log.info("C-GET from %s: %d instances", request.calling_ae_title, len(paths))
        return paths
