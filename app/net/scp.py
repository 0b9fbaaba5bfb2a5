"""The service-class provider side: a dispatcher that answers requests with the application's handlers.

The application gives a ``Handlers`` object: plain functions or coroutines per service.  The
dispatcher does the protocol around them: decodes identifiers, streams Pending responses, honours
C-CANCEL, runs the C-STORE sub-operations of C-GET and C-MOVE, and turns every failure into the status
PS3.4/PS3.7 define for it, so that no handler bug can take the association (or the server) down.

Status codes chosen (PS3.7 Annex C, PS3.4 Annexes B and C):
- no handler for an accepted service: 0x0122 (SOP class not supported) for DIMSE-N, 0xC000-range
  "unable to process" for C-services (pynetdicom's 0xCx11 numbers, which peers already know);
- a handler raised: the same "unable to process" numbers, with the exception text as Error Comment;
- ``StatusError``: whatever status the handler chose (e.g. 0xA700 out of resources on a full disk);
- an identifier that does not parse: 0xA900 (identifier does not match SOP class);
- C-MOVE to an unknown destination: 0xA801.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from pydicom.dataset import Dataset

from app.net.association import Association
from app.net.dataset_io import decode_dataset, encode_dataset
from app.net.dimse import commands as c
from app.net.dimse.framing import AssembledMessage, DatasetSink
from app.net.disk_writer import AdaptiveSink, BackgroundSink, PendingDataset, shared_writer
from app.net.errors import DicomNetworkError, DimseError, NoAcceptedContext
from app.net.status_dataset import status_dataset

log = logging.getLogger(__name__)

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
WARNING_SUBOPS = 0xB000
IDENTIFIER_DOES_NOT_MATCH = 0xA900
MOVE_DESTINATION_UNKNOWN = 0xA801
SUBOPS_OUT_OF_RESOURCES = 0xA702
OUT_OF_RESOURCES = 0xA700
NO_SUCH_SOP_CLASS = 0x0122  # "SOP class not supported"
PROCESSING_FAILURE = 0x0110
HANDLER_FAILED = {"C-STORE": 0xC211, "C-FIND": 0xC311, "C-GET": 0xC411, "C-MOVE": 0xC511, "C-ECHO": 0x0110}


class StatusError(Exception):
    """Raise from a handler to answer with a specific status (and Error Comment)."""

    def __init__(self, status: int, comment: str = "") -> None:
        super().__init__(comment or f"status 0x{status:04X}")
        self.status = status
        self.comment = comment


Status = int | Dataset


@dataclass(frozen=True, slots=True)
class Request:
    """One incoming request and where it came from."""

    association: Association
    context_id: int
    abstract_syntax: str
    transfer_syntax: str
    command: Any
    raw: object | None  # the data set: bytes, or whatever the store sink returned
    cancelled: asyncio.Event

    @property
    def calling_ae_title(self) -> str:
        return self.association.info.remote_ae

    @property
    def peer(self) -> tuple[str, int]:
        return self.association.peer_host, self.association.peer_port

    @property
    def dataset(self) -> Dataset | None:
        """The request's data set decoded with pydicom (``None`` when it had none or went to a sink)."""
        if not isinstance(self.raw, bytes | bytearray | memoryview):
            return None
        return decode_dataset(self.raw, self.transfer_syntax)


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What a store sink factory knows before the data set arrives."""

    association: Association
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str

    @property
    def calling_ae_title(self) -> str:
        return self.association.info.remote_ae


@dataclass(frozen=True, slots=True)
class MoveAnswer:
    """A C-MOVE handler's answer: where the destination AE is and what to send there."""

    destination: tuple[str, int] | None
    instances: Iterable[Any] | AsyncIterable[Any] = ()


SubAssociationOpener = Callable[[str, str, int, Sequence[Any]], Awaitable[Any]]


@dataclass
class Handlers:
    """The application's answers, per service; each may be a plain function or a coroutine function.

    - ``echo(request) -> status`` (default: success)
    - ``store(request) -> status``; ``store_sink(info) -> DatasetSink | None`` to receive into a file.
      ``disk_io`` says where the sink runs (``app.net.disk_writer``): ``"adaptive"`` (the default) on
      the event loop while the disk keeps up, in the disk writer's thread once an operation is slow;
      ``"thread"`` always in the thread, so the loop never waits on the disk (what a GUI needs);
      ``"inline"`` always on the loop.
    - ``find(request)`` yields identifiers (or ``(status, identifier)``); each goes out as Pending
    - ``get(request)`` yields what to send back: Datasets, file paths or ``scu.StoreSource``
    - ``move(request) -> MoveAnswer``
    - ``n_event_report``, ``n_get``, ``n_set``, ``n_action``, ``n_create``, ``n_delete``:
      ``(request) -> status`` or ``(status, dataset)``
    """

    echo: Callable[[Request], Any] | None = None
    store: Callable[[Request], Any] | None = None
    store_sink: Callable[[StoreInfo], DatasetSink | None] | None = None
    disk_io: Literal["adaptive", "thread", "inline"] = "adaptive"
    find: Callable[[Request], Any] | None = None
    get: Callable[[Request], Any] | None = None
    move: Callable[[Request], Any] | None = None
    n_event_report: Callable[[Request], Any] | None = None
    n_get: Callable[[Request], Any] | None = None
    n_set: Callable[[Request], Any] | None = None
    n_action: Callable[[Request], Any] | None = None
    n_create: Callable[[Request], Any] | None = None
    n_delete: Callable[[Request], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def call_handler(handler: Callable[[Request], Any], request: Request) -> Any:
    result = handler(request)
    if inspect.isawaitable(result):
        result = await result
    return result


async def iterate(source: Any) -> Any:
    """Iterate a sync or async iterable uniformly (sync iterables advance between awaits)."""
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source or ():
            yield item
            # Let the loop read what the peer sends meanwhile (a C-CANCEL, other associations).
            await asyncio.sleep(0)


def _has_field(cls: type, name: str) -> bool:
    return any(f.name == name for f in fields(cls))


def _status_of(value: Any) -> tuple[int, Dataset | None]:
    if isinstance(value, Dataset):
        return int(value.get("Status", SUCCESS)), value
    return int(value if value is not None else SUCCESS), None


def _detail(status_ds: Dataset | None) -> Dataset | None:
    if status_ds is None:
        return None
    detail = Dataset()
    for element in status_ds:
        if element.keyword != "Status":
            detail.add(element)
    return detail if len(detail) else None


def _store_failure(exc: BaseException) -> tuple[int, Dataset]:
    """The C-STORE status for a data set its sink could not keep (PS3.4 B.2.3)."""
    log.error("a received data set could not be written: %s", exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OUT_OF_RESOURCES, error_comment("the receiver's disk is full; the instance was not stored")
    return PROCESSING_FAILURE, error_comment(f"the instance could not be written: {exc}")


def error_comment(text: str) -> Dataset:
    ds = Dataset()
    ds.ErrorComment = text[:64]  # PS3.7: Error Comment is LO, at most 64 characters
    return ds


class ServiceDispatcher:
    """Implements ``association.Dispatcher`` over ``Handlers``."""

    def __init__(
        self, handlers: Handlers, *, open_sub_association: SubAssociationOpener | None = None
    ) -> None:
        self.handlers = handlers
        self.open_sub_association = open_sub_association

    # -------------------------------------------------------------------------------------------

    def sink_for(self, assoc: Association, command: Any, context_id: int) -> DatasetSink | None:
        if self.handlers.store_sink is None or not isinstance(command, c.CStoreRQ):
            return None
        context = assoc.negotiated.contexts.by_id(context_id) if assoc.negotiated else None
        if context is None:
            return None
        info = StoreInfo(
            assoc, command.affected_sop_class_uid, command.affected_sop_instance_uid, context.transfer_syntax
        )
        factory = self.handlers.store_sink
        if self.handlers.disk_io == "inline":
            return factory(info)
        sink_class = BackgroundSink if self.handlers.disk_io == "thread" else AdaptiveSink
        return sink_class(lambda: factory(info), writer=shared_writer(), loop=asyncio.get_running_loop())

    async def handle(self, assoc: Association, message: AssembledMessage, cancelled: asyncio.Event) -> None:
        context = assoc.negotiated.contexts.by_id(message.context_id) if assoc.negotiated else None
        if context is None:
            raise DimseError(f"request on unknown presentation context {message.context_id}")
        raw, failure = message.dataset, None
        if isinstance(raw, PendingDataset):
            # Answer only once the data set is on disk; if it could not be written, say why.
            try:
                raw = await raw.result()
            except Exception as exc:
                raw, failure = None, exc
        request = Request(
            association=assoc,
            context_id=message.context_id,
            abstract_syntax=context.abstract_syntax,
            transfer_syntax=context.transfer_syntax,
            command=message.command,
            raw=raw,
            cancelled=cancelled,
        )
        if failure is not None:
            await self._final(request, c.CStoreRSP, *_store_failure(failure))
            return
        command = message.command
        if isinstance(command, c.CEchoRQ):
            await self._simple(request, self.handlers.echo or (lambda r: SUCCESS), c.CEchoRSP, "C-ECHO")
        elif isinstance(command, c.CStoreRQ):
            await self._simple(request, self.handlers.store, c.CStoreRSP, "C-STORE")
        elif isinstance(command, c.CFindRQ):
            await self._find(request)
        elif isinstance(command, c.CGetRQ):
            await self._retrieve(request, "C-GET")
        elif isinstance(command, c.CMoveRQ):
            await self._retrieve(request, "C-MOVE")
        else:
            await self._n_service(request)

    # -------------------------------------------------------------------------------------------
    # One request, one response

    def _response(
        self, response_class: type, request: Request, status: int, detail: Dataset | None, **fields: Any
    ) -> Any:
        rq = request.command
        base: dict[str, Any] = {
            "message_id_being_responded_to": rq.message_id,
            "status": status,
            "status_detail": detail,
        }
        for name in ("affected_sop_class_uid", "affected_sop_instance_uid"):
            if hasattr(rq, name) and _has_field(response_class, name):
                base[name] = getattr(rq, name)
        base.update(fields)
        return response_class(**base)

    async def _answer_with_handler(
        self, request: Request, handler: Callable[[Request], Any] | None, service: str
    ) -> tuple[int, Dataset | None, Any]:
        """Run ``handler`` and turn whatever happens into (status, detail, returned value)."""
        if handler is None:
            return (
                HANDLER_FAILED.get(service, NO_SUCH_SOP_CLASS),
                error_comment(f"no {service} handler"),
                None,
            )
        try:
            value = await call_handler(handler, request)
        except StatusError as exc:
            return exc.status, error_comment(exc.comment) if exc.comment else None, None
        except DimseError as exc:
            return IDENTIFIER_DOES_NOT_MATCH, error_comment(str(exc)), None
        except Exception as exc:
            status = getattr(exc, "dicom_status", None)
            if isinstance(status, int):
                return status, error_comment(str(exc)), None
            log.exception("%s handler failed", service)
            return (
                HANDLER_FAILED.get(service, PROCESSING_FAILURE),
                error_comment(f"{type(exc).__name__}: {exc}"),
                None,
            )
        extra = None
        if isinstance(value, tuple) and len(value) == 2:
            value, extra = value
        status, status_ds = _status_of(value)
        return status, _detail(status_ds), extra

    async def _simple(
        self, request: Request, handler: Callable[[Request], Any] | None, response_class: type, service: str
    ) -> None:
        status, detail, _ = await self._answer_with_handler(request, handler, service)
        await request.association.send_message(
            request.context_id, self._response(response_class, request, status, detail)
        )

    # -------------------------------------------------------------------------------------------
    # C-FIND

    async def _find(self, request: Request) -> None:
        assoc = request.association
        if self.handlers.find is None:
            await self._final(
                request, c.CFindRSP, HANDLER_FAILED["C-FIND"], error_comment("no C-FIND handler")
            )
            return
        try:
            request.dataset  # noqa: B018 - parse now: a broken identifier is the requestor's error
            results = await call_handler(self.handlers.find, request)
            async for item in iterate(results):
                if request.cancelled.is_set():
                    await self._final(request, c.CFindRSP, CANCEL, None)
                    return
                status, identifier = item if isinstance(item, tuple) else (PENDING, item)
                code, status_ds = _status_of(status)
                if code not in (PENDING, 0xFF01):
                    await self._final(request, c.CFindRSP, code, _detail(status_ds))
                    return
                data = encode_dataset(identifier, request.transfer_syntax)
                await assoc.send_message(
                    request.context_id, self._response(c.CFindRSP, request, code, None), data
                )
        except DicomNetworkError as exc:
            if assoc.failure is not None:
                return
            await self._final(request, c.CFindRSP, IDENTIFIER_DOES_NOT_MATCH, error_comment(str(exc)))
            return
        except StatusError as exc:
            await self._final(
                request, c.CFindRSP, exc.status, error_comment(exc.comment) if exc.comment else None
            )
            return
        except Exception as exc:
            log.exception("C-FIND handler failed")
            status = getattr(exc, "dicom_status", HANDLER_FAILED["C-FIND"])
            await self._final(request, c.CFindRSP, status, error_comment(f"{type(exc).__name__}: {exc}"))
            return
        await self._final(request, c.CFindRSP, CANCEL if request.cancelled.is_set() else SUCCESS, None)

    async def _final(
        self,
        request: Request,
        response_class: type,
        status: int,
        detail: Dataset | None,
        data: bytes | None = None,
        **fields: Any,
    ) -> None:
        await request.association.send_message(
            request.context_id, self._response(response_class, request, status, detail, **fields), data
        )

    # -------------------------------------------------------------------------------------------
    # C-GET and C-MOVE

    async def _retrieve(self, request: Request, service: str) -> None:
        # Imported here because app.net.retrieve builds on this module (a cycle at import time).
        from app.net.retrieve import run_retrieve  # noqa: PLC0415

        await run_retrieve(self, request, service)

    # -------------------------------------------------------------------------------------------
    # DIMSE-N

    _N_SERVICES: dict[type, tuple[str, type, str]] = {
        c.NEventReportRQ: ("n_event_report", c.NEventReportRSP, "N-EVENT-REPORT"),
        c.NGetRQ: ("n_get", c.NGetRSP, "N-GET"),
        c.NSetRQ: ("n_set", c.NSetRSP, "N-SET"),
        c.NActionRQ: ("n_action", c.NActionRSP, "N-ACTION"),
        c.NCreateRQ: ("n_create", c.NCreateRSP, "N-CREATE"),
        c.NDeleteRQ: ("n_delete", c.NDeleteRSP, "N-DELETE"),
    }

    async def _n_service(self, request: Request) -> None:
        entry = self._N_SERVICES.get(type(request.command))
        if entry is None:
            raise DimseError(f"unsupported request {type(request.command).__name__}")
        attribute, response_class, service = entry
        handler = getattr(self.handlers, attribute)
        detail: Dataset | None
        if handler is None:
            status, detail, reply = NO_SUCH_SOP_CLASS, error_comment(f"no {service} handler"), None
        else:
            status, detail, reply = await self._answer_with_handler(request, handler, service)
        rq = request.command
        fields: dict[str, Any] = {}
        # PS3.7 10.3: N-responses name the instance they are about.
        sop_class = getattr(rq, "affected_sop_class_uid", None) or getattr(
            rq, "requested_sop_class_uid", None
        )
        sop_instance = getattr(rq, "affected_sop_instance_uid", None) or getattr(
            rq, "requested_sop_instance_uid", None
        )
        if isinstance(reply, Dataset) and service == "N-CREATE" and sop_instance is None:
            sop_instance = str(reply.get("SOPInstanceUID", "")) or None
        for name, value in (
            ("affected_sop_class_uid", sop_class),
            ("affected_sop_instance_uid", sop_instance),
        ):
            if _has_field(response_class, name):
                fields[name] = value
        for name in ("event_type_id", "action_type_id"):
            if _has_field(response_class, name) and hasattr(rq, name):
                fields[name] = getattr(rq, name)
        data = encode_dataset(reply, request.transfer_syntax) if isinstance(reply, Dataset) else None
        response = self._response(response_class, request, status, detail, **fields)
        await request.association.send_message(request.context_id, response, data)


def as_path(item: Any) -> Path | None:
    return Path(item) if isinstance(item, str | Path) else None


__all__ = [
    "Handlers",
    "MoveAnswer",
    "NoAcceptedContext",
    "Request",
    "ServiceDispatcher",
    "StatusError",
    "StoreInfo",
    "status_dataset",
]
