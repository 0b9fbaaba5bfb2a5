"""The service-class user side of every DIMSE service, on an established ``Association``.

``Client`` is what ``ApplicationEntity.associate`` yields.  Each method sends one request and returns
the peer's status as a pydicom ``Dataset`` (``Status`` plus whatever status detail the peer sent:
``ErrorComment``, ``OffendingElement``, sub-operation counts) and, where the service has one, the
data set or identifier.  Services with Pending responses (C-FIND, C-GET, C-MOVE) return an
``Operation``: an async iterator of ``(status, identifier)`` that can be cancelled (C-CANCEL).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

from app.net.association import Association
from app.net.dataset_io import decode_dataset, encode_dataset, iter_file_chunks, read_part10_header
from app.net.dimse.commands import (
    CEchoRQ,
    CFindRQ,
    CGetRQ,
    CMoveRQ,
    CStoreRQ,
    NActionRQ,
    NCreateRQ,
    NDeleteRQ,
    NEventReportRQ,
    NGetRQ,
    NSetRQ,
)
from app.net.dimse.framing import AssembledMessage
from app.net.dimse.status import StatusCategory, category_of
from app.net.errors import AssociationAborted, DicomTimeout, DimseError, NoAcceptedContext
from app.net.sop import QueryModel, query_sop_class
from app.net.status_dataset import status_dataset

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"


@dataclass(frozen=True, slots=True)
class StoreSource:
    """One instance to send: the SOP class and instance, its transfer syntax and where its bytes come from."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    path: Path | None = None
    dataset: Dataset | None = None
    dataset_offset: int = 0
    size: int = 0

    @classmethod
    def from_file(cls, path: Path | str) -> StoreSource:
        """Read only the file meta group; the data set is streamed when sent."""
        header = read_part10_header(path)
        return cls(
            header.sop_class_uid,
            header.sop_instance_uid,
            header.transfer_syntax,
            path=header.path,
            dataset_offset=header.dataset_offset,
            size=header.dataset_length,
        )

    @classmethod
    def from_dataset(cls, ds: Dataset, transfer_syntax: str | None = None) -> StoreSource:
        meta = getattr(ds, "file_meta", None)
        ts = transfer_syntax or (
            str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta else ""
        )
        try:
            return cls(str(ds.SOPClassUID), str(ds.SOPInstanceUID), ts, dataset=ds)
        except AttributeError as exc:
            raise DimseError(f"the data set has no {exc.name}: it cannot be stored") from exc


def as_store_source(item: StoreSource | Dataset | Path | str) -> StoreSource:
    if isinstance(item, StoreSource):
        return item
    if isinstance(item, Dataset):
        return StoreSource.from_dataset(item)
    return StoreSource.from_file(item)


class Operation:
    """A C-FIND, C-GET or C-MOVE in progress: iterate for ``(status, identifier)``; ``cancel()`` to stop.

    The last item is the final response (a non-Pending status).  Leaving the iteration early sends a
    C-CANCEL and drains the remaining responses, so the association stays usable.
    """

    def __init__(
        self,
        client: Client,
        context_id: int,
        request: CFindRQ | CGetRQ | CMoveRQ,
        identifier: bytes,
        transfer_syntax: str,
        *,
        total_timeout: float | None = None,
    ) -> None:
        self._client = client
        self._assoc = client.association
        self._context_id = context_id
        self._request = request
        self._identifier = identifier
        self._transfer_syntax = transfer_syntax
        self._total_timeout = total_timeout
        self._cancel_sent = False
        self._started = False
        self.final_status: Dataset | None = None

    @property
    def message_id(self) -> int:
        return self._request.message_id

    async def cancel(self) -> None:
        """C-CANCEL-RQ: the peer answers with a Cancel status (0xFE00) as the final response."""
        if self._cancel_sent or self.final_status is not None:
            return
        self._cancel_sent = True
        await self._assoc.send_cancel(self._context_id, self.message_id)

    def __aiter__(self) -> AsyncIterator[tuple[Dataset, Dataset | None]]:
        return self._run()

    async def _run(self) -> AsyncIterator[tuple[Dataset, Dataset | None]]:
        if self._started:
            raise DimseError("an operation can be iterated only once")
        self._started = True
        assoc = self._assoc
        name = type(self._request).__name__.replace("RQ", "-RQ").replace("C", "C-", 1)
        queue = assoc.expect_responses(self.message_id)
        finished = False
        try:
            async with asyncio.timeout(self._total_timeout):
                await assoc.send_message(self._context_id, self._request, self._identifier)
                while True:
                    # The DIMSE timeout restarts at every response: a long query that keeps answering is fine.
                    message = await assoc.next_response(queue, assoc.timeouts.dimse, name)
                    status = status_dataset(message.command)
                    identifier = self._decode(message)
                    if category_of(int(status.Status)) is not StatusCategory.PENDING:
                        self.final_status = status
                        finished = True
                        yield status, identifier
                        return
                    yield status, identifier
        except TimeoutError:
            raise DicomTimeout(
                f"the {name} did not finish within {self._total_timeout:g} s (retrieve timeout)"
            ) from None
        finally:
            if not finished and assoc.failure is None:
                await self._drain_after_cancel(queue)
            assoc.forget_responses(self.message_id)

    async def _drain_after_cancel(self, queue: asyncio.Queue) -> None:
        # The consumer left early: ask the peer to stop and swallow responses until the final one.
        assoc = self._assoc
        with contextlib.suppress(Exception):
            await self.cancel()
            while True:
                message = await assoc.next_response(queue, assoc.timeouts.dimse, "C-CANCEL")
                status = status_dataset(message.command)
                if category_of(int(status.Status)) is not StatusCategory.PENDING:
                    self.final_status = status
                    return

    def _decode(self, message: AssembledMessage) -> Dataset | None:
        if message.dataset is None:
            return None
        return decode_dataset(message.dataset, self._transfer_syntax)  # type: ignore[arg-type]

    async def collect(self) -> list[tuple[Dataset, Dataset | None]]:
        """Run to the end and return every response."""
        return [item async for item in self]


class Client:
    """The SCU methods over one established association."""

    def __init__(self, association: Association, *, store_role: str = "scu") -> None:
        self.association = association
        # On a C-GET's association the acceptor sends C-STORE in the SCP role the requestor granted.
        self.store_role = store_role

    @property
    def negotiated(self):  # type: ignore[no-untyped-def]
        assert self.association.negotiated is not None
        return self.association.negotiated

    def _context(self, sop_class_uid: str, transfer_syntax: str | None = None, *, role: str = "scu"):  # type: ignore[no-untyped-def]
        return self.negotiated.contexts.find(sop_class_uid, transfer_syntax, role=role)

    # -------------------------------------------------------------------------------------------
    # Verification

    async def echo(self) -> Dataset:
        """C-ECHO (PS3.7 9.1.5): the peer's status, 0x0000 when it is alive and speaks DICOM."""
        ctx = self._context(VERIFICATION_SOP_CLASS)
        rq = CEchoRQ(
            message_id=self.association.next_message_id(), affected_sop_class_uid=VERIFICATION_SOP_CLASS
        )
        response = await self.association.request(ctx.context_id, rq, what="C-ECHO")
        return status_dataset(response.command)

    # -------------------------------------------------------------------------------------------
    # Storage

    def _store_context(self, source: StoreSource):  # type: ignore[no-untyped-def]
        if source.path is not None:
            # A file goes in its own transfer syntax: nothing is decoded or converted on the way.
            return self._context(source.sop_class_uid, source.transfer_syntax, role=self.store_role)
        try:
            return self._context(source.sop_class_uid, source.transfer_syntax or None, role=self.store_role)
        except NoAcceptedContext:
            if source.transfer_syntax and UID(source.transfer_syntax).is_compressed:
                raise
            # An uncompressed data set in memory can be encoded in whichever uncompressed syntax was accepted.
            return self._context(source.sop_class_uid, role=self.store_role)

    def _store_payload(self, source: StoreSource, transfer_syntax: str) -> bytes | Iterable[bytes]:
        if source.path is not None:
            return iter_file_chunks(source.path, source.dataset_offset)
        assert source.dataset is not None
        return encode_dataset(source.dataset, transfer_syntax)

    async def store(
        self,
        item: StoreSource | Dataset | Path | str,
        *,
        priority: int = 0,
        move_originator: tuple[str, int] | None = None,
    ) -> Dataset:
        """C-STORE one instance (a file is streamed from disk in chunks, never loaded whole)."""
        source = as_store_source(item)
        ctx = self._store_context(source)
        rq = self._store_request(source, priority, move_originator)
        payload = self._store_payload(source, ctx.transfer_syntax)
        response = await self.association.request(ctx.context_id, rq, payload, what="C-STORE")
        return status_dataset(response.command)

    def _store_request(
        self, source: StoreSource, priority: int, move_originator: tuple[str, int] | None
    ) -> CStoreRQ:
        return CStoreRQ(
            message_id=self.association.next_message_id(),
            affected_sop_class_uid=source.sop_class_uid,
            affected_sop_instance_uid=source.sop_instance_uid,
            priority=priority,
            move_originator_application_entity_title=move_originator[0] if move_originator else None,
            move_originator_message_id=move_originator[1] if move_originator else None,
        )

    async def store_many(
        self,
        items: Iterable[StoreSource | Dataset | Path | str],
        *,
        on_result: Callable[[StoreSource, Dataset | Exception], None] | None = None,
        priority: int = 0,
    ) -> list[tuple[StoreSource | None, Dataset | Exception]]:
        """C-STORE many instances, pipelined up to the negotiated asynchronous operations window.

        With a window of 1 this is a plain loop; when the peer grants more outstanding operations the
        next request goes out before the previous response is back (PS3.7 D.3.3.3), which is what
        makes many small instances fast.  A failure of one instance (no context, unreadable file) is
        reported for that instance and the others go on; a lost association stops everything.
        """
        window = self.negotiated.max_operations_invoked
        limit = asyncio.Semaphore(1 << 16 if window == 0 else max(1, window))
        results: list[tuple[StoreSource | None, Dataset | Exception]] = []
        tasks: set[asyncio.Task[None]] = set()
        assoc = self.association

        async def one(source: StoreSource, rq: CStoreRQ, queue: asyncio.Queue, context_id: int) -> None:
            try:
                response = await assoc.next_response(queue, assoc.timeouts.dimse, "C-STORE")
                outcome: Dataset | Exception = status_dataset(response.command)
            except Exception as exc:
                outcome = exc
            finally:
                assoc.forget_responses(rq.message_id)
                limit.release()
            results.append((source, outcome))
            if on_result is not None:
                on_result(source, outcome)

        for item in items:
            try:
                source = as_store_source(item)
                ctx = self._store_context(source)
                payload = self._store_payload(source, ctx.transfer_syntax)
            except (DimseError, NoAcceptedContext) as exc:
                src = item if isinstance(item, StoreSource) else None
                results.append((src, exc))
                if on_result is not None and src is not None:
                    on_result(src, exc)
                continue
            await limit.acquire()
            if assoc.failure is not None:
                limit.release()
                break
            rq = self._store_request(source, priority, None)
            queue = assoc.expect_responses(rq.message_id)
            try:
                await assoc.send_message(ctx.context_id, rq, payload)
            except Exception:
                assoc.forget_responses(rq.message_id)
                limit.release()
                raise
            task = asyncio.create_task(one(source, rq, queue, ctx.context_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        if assoc.failure is not None and isinstance(assoc.failure, AssociationAborted):
            raise assoc.failure
        return results

    # -------------------------------------------------------------------------------------------
    # Query / retrieve

    def _query(
        self,
        kind: str,
        identifier: Dataset,
        model: QueryModel | str,
        build: Callable[[str, int], CFindRQ | CGetRQ | CMoveRQ],
        total_timeout: float | None,
    ) -> Operation:
        sop_class = query_sop_class(kind, model)
        ctx = self._context(sop_class)
        rq = build(sop_class, self.association.next_message_id())
        data = encode_dataset(identifier, ctx.transfer_syntax)
        return Operation(self, ctx.context_id, rq, data, ctx.transfer_syntax, total_timeout=total_timeout)

    def find(self, identifier: Dataset, model: QueryModel | str = "study", *, priority: int = 0) -> Operation:
        """C-FIND: ``async for status, match in client.find(ds, "study")`` (patient, study, worklist)."""
        return self._query(
            "find",
            identifier,
            model,
            lambda sop, mid: CFindRQ(message_id=mid, affected_sop_class_uid=sop, priority=priority),
            None,
        )

    def move(
        self, identifier: Dataset, destination: str, model: QueryModel | str = "study", *, priority: int = 0
    ) -> Operation:
        """C-MOVE to ``destination`` (an AE title the peer knows); statuses carry the sub-operation counts."""
        return self._query(
            "move",
            identifier,
            model,
            lambda sop, mid: CMoveRQ(
                message_id=mid, affected_sop_class_uid=sop, priority=priority, move_destination=destination
            ),
            self.association.timeouts.retrieve,
        )

    def get(self, identifier: Dataset, model: QueryModel | str = "study", *, priority: int = 0) -> Operation:
        """C-GET: the instances arrive as C-STORE requests on this association, for the store handler."""
        return self._query(
            "get",
            identifier,
            model,
            lambda sop, mid: CGetRQ(message_id=mid, affected_sop_class_uid=sop, priority=priority),
            self.association.timeouts.retrieve,
        )

    # -------------------------------------------------------------------------------------------
    # DIMSE-N

    async def _n_request(
        self, sop_class_uid: str, rq: object, dataset: Dataset | None, what: str
    ) -> tuple[Dataset, Dataset | None]:
        ctx = self._context(sop_class_uid)
        data = encode_dataset(dataset, ctx.transfer_syntax) if dataset is not None else None
        response = await self.association.request(ctx.context_id, rq, data, what=what)  # type: ignore[arg-type]
        raw = response.dataset
        has_reply = isinstance(raw, bytes | bytearray | memoryview)
        reply = decode_dataset(raw, ctx.transfer_syntax) if has_reply else None  # type: ignore[arg-type]
        return status_dataset(response.command), reply

    async def n_event_report(
        self, sop_class_uid: str, sop_instance_uid: str, event_type_id: int, event_info: Dataset | None = None
    ) -> tuple[Dataset, Dataset | None]:
        rq = NEventReportRQ(
            message_id=self.association.next_message_id(),
            affected_sop_class_uid=sop_class_uid,
            affected_sop_instance_uid=sop_instance_uid,
            event_type_id=event_type_id,
        )
        return await self._n_request(sop_class_uid, rq, event_info, "N-EVENT-REPORT")

    async def n_get(
        self, sop_class_uid: str, sop_instance_uid: str, attributes: Sequence[int] = ()
    ) -> tuple[Dataset, Dataset | None]:
        rq = NGetRQ(
            message_id=self.association.next_message_id(),
            requested_sop_class_uid=sop_class_uid,
            requested_sop_instance_uid=sop_instance_uid,
            attribute_identifier_list=tuple(attributes),
        )
        return await self._n_request(sop_class_uid, rq, None, "N-GET")

    async def n_set(
        self, sop_class_uid: str, sop_instance_uid: str, modification: Dataset
    ) -> tuple[Dataset, Dataset | None]:
        rq = NSetRQ(
            message_id=self.association.next_message_id(),
            requested_sop_class_uid=sop_class_uid,
            requested_sop_instance_uid=sop_instance_uid,
        )
        return await self._n_request(sop_class_uid, rq, modification, "N-SET")

    async def n_action(
        self,
        sop_class_uid: str,
        sop_instance_uid: str,
        action_type_id: int,
        action_info: Dataset | None = None,
    ) -> tuple[Dataset, Dataset | None]:
        rq = NActionRQ(
            message_id=self.association.next_message_id(),
            requested_sop_class_uid=sop_class_uid,
            requested_sop_instance_uid=sop_instance_uid,
            action_type_id=action_type_id,
        )
        return await self._n_request(sop_class_uid, rq, action_info, "N-ACTION")

    async def n_create(
        self, sop_class_uid: str, sop_instance_uid: str | None = None, attributes: Dataset | None = None
    ) -> tuple[Dataset, Dataset | None]:
        rq = NCreateRQ(
            message_id=self.association.next_message_id(),
            affected_sop_class_uid=sop_class_uid,
            affected_sop_instance_uid=sop_instance_uid,
        )
        return await self._n_request(sop_class_uid, rq, attributes, "N-CREATE")

    async def n_delete(self, sop_class_uid: str, sop_instance_uid: str) -> tuple[Dataset, Dataset | None]:
        rq = NDeleteRQ(
            message_id=self.association.next_message_id(),
            requested_sop_class_uid=sop_class_uid,
            requested_sop_instance_uid=sop_instance_uid,
        )
        return await self._n_request(sop_class_uid, rq, None, "N-DELETE")

    # -------------------------------------------------------------------------------------------

    async def release(self) -> None:
        await self.association.release()

    def abort(self) -> None:
        self.association.abort()
