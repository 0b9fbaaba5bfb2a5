"""The C-STORE sub-operations of a C-GET or C-MOVE, as the SCP runs them (PS3.4 C.4.2.3, C.4.3.3).

The handler says what to send; this module sends it (back over the same association for C-GET, over
a new association to the destination for C-MOVE), reports the counts in a Pending response after each
sub-operation, honours C-CANCEL, and ends with the status PS3.4 defines: success, 0xB000 when some
sub-operations failed or warned, 0xA702 when none succeeded, 0xFE00 when cancelled, with the Failed
SOP Instance UID List (0008,0058) in the final identifier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from app.net.dataset_io import encode_dataset
from app.net.dimse import commands as c
from app.net.dimse.status import StatusCategory, category_of
from app.net.errors import DicomNetworkError
from app.net.scp import (
    CANCEL,
    HANDLER_FAILED,
    IDENTIFIER_DOES_NOT_MATCH,
    MOVE_DESTINATION_UNKNOWN,
    PENDING,
    SUBOPS_OUT_OF_RESOURCES,
    SUCCESS,
    WARNING_SUBOPS,
    MoveAnswer,
    Request,
    ServiceDispatcher,
    StatusError,
    call_handler,
    error_comment,
    iterate,
)
from app.net.scu import Client, StoreSource, as_store_source

log = logging.getLogger(__name__)


@dataclass
class SubOperationCounts:
    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list[str] = field(default_factory=list)

    def as_fields(self, *, final: bool) -> dict[str, int | None]:
        return {
            # PS3.4 C.4.2.1.4: Remaining is not sent in the final response of a completed retrieve.
            "number_of_remaining_suboperations": None if final and self.remaining == 0 else self.remaining,
            "number_of_completed_suboperations": self.completed,
            "number_of_failed_suboperations": self.failed,
            "number_of_warning_suboperations": self.warning,
        }

    def record(self, sop_instance_uid: str, category: StatusCategory) -> None:
        """Count one finished sub-operation."""
        self.remaining -= 1
        if category is StatusCategory.SUCCESS:
            self.completed += 1
        elif category is StatusCategory.WARNING:
            self.warning += 1
        else:
            self.failed += 1
            self.failed_uids.append(sop_instance_uid)

    def final_status(self) -> int:
        if self.failed == 0 and self.warning == 0:
            return SUCCESS
        if self.completed == 0 and self.warning == 0:
            return SUBOPS_OUT_OF_RESOURCES
        return WARNING_SUBOPS


def _failed_list(counts: SubOperationCounts) -> Dataset | None:
    if not counts.failed_uids:
        return None
    ds = Dataset()
    ds.FailedSOPInstanceUIDList = counts.failed_uids
    return ds


async def run_retrieve(dispatcher: ServiceDispatcher, request: Request, service: str) -> None:
    """Answer one C-GET or C-MOVE request completely (never raises for the peer's or handler's errors)."""
    await _Retrieve(dispatcher, request, service).run()


class _HandlerRefused(Exception):
    """The handler's answer ends the retrieve before any sub-operation: send this status."""

    def __init__(self, status: int, detail: Dataset | None) -> None:
        super().__init__(status)
        self.status = status
        self.detail = detail


class _Retrieve:
    def __init__(self, dispatcher: ServiceDispatcher, request: Request, service: str) -> None:
        self.dispatcher = dispatcher
        self.request = request
        self.service = service
        self.is_move = service == "C-MOVE"
        self.response_class: type = c.CMoveRSP if self.is_move else c.CGetRSP

    async def run(self) -> None:
        try:
            destination, sources, unreadable = await self._ask_handler()
        except _HandlerRefused as refused:
            await self._final(refused.status, refused.detail)
            return
        counts = SubOperationCounts(remaining=len(sources))
        counts.failed += len(unreadable)
        counts.failed_uids.extend(unreadable)
        if not sources:
            # Nothing matched (or nothing readable): PS3.4 C.4.2.3 answers at once with the counts;
            # there is no reason to reach the destination, which may not even be up.
            await self._final(counts.final_status(), None, counts)
            return
        try:
            client = await self._store_client(destination, sources)
        except DicomNetworkError as exc:
            where = self.request.command.move_destination
            await self._final(SUBOPS_OUT_OF_RESOURCES, error_comment(f"Cannot reach {where}: {exc}"))
            return
        try:
            await self._run_suboperations(client, sources, counts)
        finally:
            if self.is_move:
                await _release_quietly(client)
        if self.request.association.failure is not None:
            return  # our requestor is gone: nobody to answer
        if self.request.cancelled.is_set() and counts.remaining:
            await self._final(CANCEL, None, counts)
        else:
            counts.remaining = 0
            await self._final(counts.final_status(), None, counts)

    async def _ask_handler(self) -> tuple[tuple[str, int] | None, list[StoreSource], list[str]]:
        """(move destination, what to send, items that cannot be sent) — or ``_HandlerRefused``."""
        handlers = self.dispatcher.handlers
        handler = handlers.move if self.is_move else handlers.get
        if handler is None:
            raise _HandlerRefused(HANDLER_FAILED[self.service], error_comment(f"no {self.service} handler"))
        try:
            if self.request.dataset is None:
                raise StatusError(IDENTIFIER_DOES_NOT_MATCH, f"the {self.service} request has no identifier")
            answer = await call_handler(handler, self.request)
            destination = None
            if self.is_move:
                if not isinstance(answer, MoveAnswer) or answer.destination is None:
                    name = self.request.command.move_destination
                    comment = error_comment(f"Move destination unknown: {name}")
                    raise _HandlerRefused(MOVE_DESTINATION_UNKNOWN, comment)
                destination, answer = answer.destination, answer.instances
            sources, unreadable = await self._sources(answer)
        except StatusError as exc:
            raise _HandlerRefused(exc.status, error_comment(exc.comment) if exc.comment else None) from exc
        except DicomNetworkError as exc:
            raise _HandlerRefused(IDENTIFIER_DOES_NOT_MATCH, error_comment(str(exc))) from exc
        except _HandlerRefused:
            raise
        except Exception as exc:
            log.exception("%s handler failed", self.service)
            status = getattr(exc, "dicom_status", HANDLER_FAILED[self.service])
            raise _HandlerRefused(status, error_comment(f"{type(exc).__name__}: {exc}")) from exc
        return destination, sources, unreadable

    async def _sources(self, items: Any) -> tuple[list[StoreSource], list[str]]:
        sources: list[StoreSource] = []
        unreadable: list[str] = []
        async for item in iterate(items):
            try:
                sources.append(as_store_source(item))
            except DicomNetworkError as exc:
                log.warning("%s: cannot send %s: %s", self.service, item, exc)
                unreadable.append(str(getattr(item, "sop_instance_uid", item)))
        return sources, unreadable

    async def _store_client(self, destination: tuple[str, int] | None, sources: list[StoreSource]) -> Client:
        """C-GET stores back over the requestor's association; C-MOVE opens one to the destination."""
        if not self.is_move:
            return Client(self.request.association, store_role="scp")
        assert destination is not None and self.dispatcher.open_sub_association is not None
        host, port = destination
        called = self.request.command.move_destination
        client: Client = await self.dispatcher.open_sub_association(called, host, port, sources)
        return client

    async def _run_suboperations(
        self, client: Client, sources: list[StoreSource], counts: SubOperationCounts
    ) -> None:
        request = self.request
        originator = (request.calling_ae_title, request.command.message_id) if self.is_move else None
        for index, source in enumerate(sources):
            if request.cancelled.is_set():
                return
            try:
                status = await client.store(source, move_originator=originator)
                category = category_of(int(status.Status))
            except DicomNetworkError as exc:
                log.warning("%s sub-operation for %s failed: %s", self.service, source.sop_instance_uid, exc)
                category = StatusCategory.FAILURE
                if client.association.failure is not None and self.is_move:
                    # The destination went away: every remaining instance fails.
                    for rest in sources[index:]:
                        counts.record(rest.sop_instance_uid, StatusCategory.FAILURE)
                    return
            counts.record(source.sop_instance_uid, category)
            if counts.remaining:
                await self._pending(counts)

    async def _pending(self, counts: SubOperationCounts) -> None:
        fields = counts.as_fields(final=False)
        pending: Any = self.dispatcher._response(self.response_class, self.request, PENDING, None, **fields)
        await self.request.association.send_message(self.request.context_id, pending)

    async def _final(
        self, status: int, detail: Dataset | None, counts: SubOperationCounts | None = None
    ) -> None:
        fields = counts.as_fields(final=True) if counts else {}
        identifier = _failed_list(counts) if counts else None
        data = encode_dataset(identifier, self.request.transfer_syntax) if identifier is not None else None
        await self.dispatcher._final(self.request, self.response_class, status, detail, data, **fields)


async def _release_quietly(client: Client) -> None:
    try:
        await client.release()
    except DicomNetworkError:
        client.abort()
