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
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from app.net.dataset_io import encode_dataset
from app.net.dimse import commands as c
from app.net.dimse.status import StatusCategory, category_of
from app.net.errors import DicomNetworkError

if TYPE_CHECKING:
    from app.net.scp import Request, ServiceDispatcher
    from app.net.scu import Client, StoreSource

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

    def final_status(self) -> int:
        from app.net.scp import SUBOPS_OUT_OF_RESOURCES, SUCCESS, WARNING_SUBOPS

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
    from app.net.scp import (
        HANDLER_FAILED,
        IDENTIFIER_DOES_NOT_MATCH,
        MOVE_DESTINATION_UNKNOWN,
        SUBOPS_OUT_OF_RESOURCES,
        MoveAnswer,
        StatusError,
        _call,
        _comment,
        _iterate,
    )
    from app.net.scu import Client, as_store_source

    response_class = c.CGetRSP if service == "C-GET" else c.CMoveRSP
    handler = dispatcher.handlers.get if service == "C-GET" else dispatcher.handlers.move

    async def final(status: int, detail: Dataset | None, counts: SubOperationCounts | None = None) -> None:
        fields = counts.as_fields(final=True) if counts else {}
        identifier = _failed_list(counts) if counts else None
        data = encode_dataset(identifier, request.transfer_syntax) if identifier is not None else None
        await dispatcher._final(request, response_class, status, detail, data, **fields)

    if handler is None:
        await final(HANDLER_FAILED[service], _comment(f"no {service} handler"))
        return
    try:
        if request.dataset is None:
            raise StatusError(IDENTIFIER_DOES_NOT_MATCH, f"the {service} request has no identifier")
        answer = await _call(handler, request)
        destination = None
        if service == "C-MOVE":
            if not isinstance(answer, MoveAnswer) or answer.destination is None:
                name = request.command.move_destination
                await final(MOVE_DESTINATION_UNKNOWN, _comment(f"Move destination unknown: {name}"))
                return
            destination = answer.destination
            answer = answer.instances
        sources: list[StoreSource] = []
        bad: list[str] = []
        async for item in _iterate(answer):
            try:
                sources.append(as_store_source(item))
            except DicomNetworkError as exc:
                log.warning("%s: cannot send %s: %s", service, item, exc)
                bad.append(str(item))
    except StatusError as exc:
        await final(exc.status, _comment(exc.comment) if exc.comment else None)
        return
    except DicomNetworkError as exc:
        await final(IDENTIFIER_DOES_NOT_MATCH, _comment(str(exc)))
        return
    except Exception as exc:
        log.exception("%s handler failed", service)
        await final(
            getattr(exc, "dicom_status", HANDLER_FAILED[service]), _comment(f"{type(exc).__name__}: {exc}")
        )
        return

    counts = SubOperationCounts(remaining=len(sources))
    counts.failed += len(bad)
    client: Client
    if service == "C-GET":
        client = Client(request.association, store_role="scp")
    else:
        assert destination is not None and dispatcher.open_sub_association is not None
        try:
            client = await dispatcher.open_sub_association(
                request.command.move_destination, destination[0], destination[1], sources
            )
        except DicomNetworkError as exc:
            await final(
                SUBOPS_OUT_OF_RESOURCES, _comment(f"Cannot reach {request.command.move_destination}: {exc}")
            )
            return
    try:
        await _run_suboperations(dispatcher, request, service, client, sources, counts, response_class)
    finally:
        if service == "C-MOVE":
            try:
                await client.release()
            except DicomNetworkError:
                client.abort()
    if request.association.failure is not None:
        return
    from app.net.scp import CANCEL

    if request.cancelled.is_set() and counts.remaining:
        await final(CANCEL, None, counts)
    else:
        counts.remaining = 0
        await final(counts.final_status(), None, counts)


async def _run_suboperations(
    dispatcher: ServiceDispatcher,
    request: Request,
    service: str,
    client: Client,
    sources: list[StoreSource],
    counts: SubOperationCounts,
    response_class: type,
) -> None:
    from app.net.scp import PENDING

    originator = (request.calling_ae_title, request.command.message_id) if service == "C-MOVE" else None
    for index, source in enumerate(sources):
        if request.cancelled.is_set():
            return
        try:
            status = await client.store(source, move_originator=originator)
            category = category_of(int(status.Status))
        except DicomNetworkError as exc:
            log.warning("%s sub-operation for %s failed: %s", service, source.sop_instance_uid, exc)
            category = StatusCategory.FAILURE
            if client.association.failure is not None and service == "C-MOVE":
                # The destination went away: every remaining instance fails.
                for rest in sources[index:]:
                    counts.failed += 1
                    counts.failed_uids.append(rest.sop_instance_uid)
                    counts.remaining -= 1
                return
        counts.remaining -= 1
        if category is StatusCategory.SUCCESS:
            counts.completed += 1
        elif category is StatusCategory.WARNING:
            counts.warning += 1
        else:
            counts.failed += 1
            counts.failed_uids.append(source.sop_instance_uid)
        if counts.remaining:
            pending: Any = dispatcher._response(
                response_class, request, PENDING, None, **counts.as_fields(final=False)
            )
            await request.association.send_message(request.context_id, pending)
