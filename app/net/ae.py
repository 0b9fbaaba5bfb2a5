"""``ApplicationEntity``: the public face of the engine.

    ae = ApplicationEntity("COURIER")
    async with ae.associate("127.0.0.1", 11112, called_ae_title="PACS", contexts=[VERIFICATION]) as client:
        status = await client.echo()

    server = await ae.start_server(Handlers(store=...), port=11112)

An association is an async context manager: it releases on a normal exit and aborts when the block
raises.  The server serves any number of associations at once on the running event loop.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from app.net.association import Association, open_association
from app.net.contexts import (
    ALL_TRANSFER_SYNTAXES,
    DEFAULT_TRANSFER_SYNTAXES,
    QR_FIND,
    QR_GET,
    QR_MOVE,
    STORAGE_COMMITMENT_PUSH,
    STORAGE_SOP_CLASSES,
    VERIFICATION,
    build_presentation_contexts,
)
from app.net.events import EventBus
from app.net.negotiation import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    AcceptorPolicy,
    RequestorSettings,
    build_associate_rq,
)
from app.net.pdu import AsynchronousOperationsWindow, PresentationContextRQ, RoleSelection, UserIdentityRQ
from app.net.scp import Handlers, ServiceDispatcher
from app.net.scu import Client, StoreSource
from app.net.server import DicomServer
from app.net.timeouts import Timeouts

DEFAULT_MAX_PDU = 262144
ContextSpec = PresentationContextRQ | str | tuple[str, Sequence[str]]


def _as_context_requests(
    contexts: Iterable[ContextSpec], transfer_syntaxes: Sequence[str]
) -> tuple[PresentationContextRQ, ...]:
    """Accept SOP class UIDs, (SOP class, transfer syntaxes) pairs or ready contexts; number them."""
    pairs: list[tuple[str, Sequence[str]]] = []
    for spec in contexts:
        if isinstance(spec, PresentationContextRQ):
            pairs.append((spec.abstract_syntax, spec.transfer_syntaxes))
        elif isinstance(spec, str):
            pairs.append((spec, transfer_syntaxes))
        else:
            pairs.append((spec[0], tuple(spec[1])))
    return build_presentation_contexts(pairs)


def storage_contexts_for(
    sources: Sequence[StoreSource], extra_transfer_syntaxes: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES
) -> list[tuple[str, tuple[str, ...]]]:
    """One context per SOP class of ``sources``, proposing each file's own transfer syntax first."""
    wanted: dict[str, list[str]] = {}
    for source in sources:
        syntaxes = wanted.setdefault(source.sop_class_uid, [])
        if source.transfer_syntax and source.transfer_syntax not in syntaxes:
            syntaxes.append(source.transfer_syntax)
    contexts: list[tuple[str, tuple[str, ...]]] = []
    for sop_class, syntaxes in wanted.items():
        for ts in extra_transfer_syntaxes:
            if ts not in syntaxes:
                syntaxes.append(ts)
        contexts.append((sop_class, tuple(syntaxes)))
    return contexts


class AssociationContext:
    """``async with ae.associate(...) as client``: release on success, abort on error."""

    def __init__(
        self,
        ae: ApplicationEntity,
        host: str,
        port: int,
        settings: RequestorSettings,
        handlers: Handlers | None,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._tls = tls
        self._ae = ae
        self._host = host
        self._port = port
        self._settings = settings
        self._handlers = handlers
        self.client: Client | None = None

    async def open(self) -> Client:
        dispatcher = ServiceDispatcher(
            self._handlers or Handlers(), open_sub_association=self._ae.open_sub_association
        )
        assoc = await open_association(
            self._host,
            self._port,
            build_associate_rq(self._settings),
            local_ae=self._ae.ae_title,
            timeouts=self._ae.timeouts,
            max_pdu_length=self._settings.max_pdu_length,
            events=self._ae.events,
            dispatcher=dispatcher,
            tls=self._tls,
        )
        self.client = Client(assoc)
        return self.client

    async def __aenter__(self) -> Client:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.client is None:
            return
        if exc_type is None:
            await self.client.release()
        else:
            self.client.abort()


@dataclass
class ApplicationEntity:
    """Our AE: its title, limits and timeouts, and where its notification events go."""

    ae_title: str = "COURIER"
    max_pdu_length: int = DEFAULT_MAX_PDU
    timeouts: Timeouts = field(default_factory=Timeouts)
    events: EventBus = field(default_factory=EventBus)
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version_name: str = IMPLEMENTATION_VERSION_NAME

    def associate(
        self,
        host: str,
        port: int,
        *,
        called_ae_title: str = "ANY-SCP",
        contexts: Iterable[ContextSpec] = (VERIFICATION,),
        transfer_syntaxes: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES,
        role_selections: Sequence[RoleSelection] = (),
        async_operations: tuple[int, int] | None = None,
        user_identity: UserIdentityRQ | None = None,
        handlers: Handlers | None = None,
        max_pdu_length: int | None = None,
        timeouts: Timeouts | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> AssociationContext:
        """Prepare an association; ``async with`` opens it.  ``handlers`` answer what the peer sends us
        on it (C-GET's C-STORE sub-operations, N-EVENT-REPORT)."""
        settings = RequestorSettings(
            calling_ae_title=self.ae_title,
            called_ae_title=called_ae_title,
            contexts=_as_context_requests(contexts, transfer_syntaxes),
            max_pdu_length=self.max_pdu_length if max_pdu_length is None else max_pdu_length,
            role_selections=tuple(role_selections),
            async_ops_window=AsynchronousOperationsWindow(*async_operations) if async_operations else None,
            user_identity=user_identity,
        )
        ae = self if timeouts is None else replace(self, timeouts=timeouts)
        return AssociationContext(ae, host, port, settings, handlers, tls=tls)

    async def open_sub_association(
        self, called_ae_title: str, host: str, port: int, sources: Sequence[StoreSource]
    ) -> Client:
        """The C-MOVE sub-association to a destination, proposing what ``sources`` need."""
        contexts = storage_contexts_for(sources) or [
            (STORAGE_SOP_CLASSES[0], tuple(DEFAULT_TRANSFER_SYNTAXES))
        ]
        return await self.associate(host, port, called_ae_title=called_ae_title, contexts=contexts).open()

    def acceptor_policy(
        self,
        *,
        supported: Mapping[str, Sequence[str]] | None = None,
        allowed_calling_ae_titles: Iterable[str] | None = None,
        require_called_ae_title: bool = False,
        max_operations_performed: int = 1,
        **extra: Any,
    ) -> AcceptorPolicy:
        """An acceptor policy for our AE; by default every service we implement with the common syntaxes."""
        if supported is None:
            supported = default_supported()
        return AcceptorPolicy(
            ae_title=self.ae_title,
            supported=supported,
            require_called_ae_title=require_called_ae_title,
            allowed_calling_ae_titles=frozenset(allowed_calling_ae_titles)
            if allowed_calling_ae_titles is not None
            else None,
            max_pdu_length=self.max_pdu_length,
            max_operations_performed=max_operations_performed,
            max_operations_invoked=max_operations_performed,
            implementation_class_uid=self.implementation_class_uid,
            implementation_version_name=self.implementation_version_name,
            **extra,
        )

    async def start_server(
        self,
        handlers: Handlers,
        *,
        host: str = "0.0.0.0",
        port: int = 11112,
        policy: AcceptorPolicy | Callable[[], AcceptorPolicy] | None = None,
        max_associations: int = 64,
        tls: ssl.SSLContext | None = None,
        max_dataset_size: int | None = None,
    ) -> DicomServer:
        """Listen on ``host:port`` and answer with ``handlers`` (``port`` 0 picks a free port).

        ``policy`` may be a function: it is then asked again for each association (for settings that
        change while the server runs, such as the known calling AE titles)."""
        server = DicomServer(
            policy=policy or self.acceptor_policy(),
            dispatcher=ServiceDispatcher(handlers, open_sub_association=self.open_sub_association),
            timeouts=self.timeouts,
            events=self.events,
            max_associations=max_associations,
            max_dataset_size=max_dataset_size,
        )
        await server.start(host, port, tls=tls)
        return server


def default_supported() -> dict[str, Sequence[str]]:
    """Verification, storage commitment, every storage SOP class and Q/R find/move/get with the common
    uncompressed syntaxes; storage also with every compressed syntax pydicom knows (instances are kept
    as they arrive)."""
    supported: dict[str, Sequence[str]] = {
        VERIFICATION: DEFAULT_TRANSFER_SYNTAXES,
        STORAGE_COMMITMENT_PUSH: DEFAULT_TRANSFER_SYNTAXES,
    }
    for sop_class in STORAGE_SOP_CLASSES:
        supported[sop_class] = ALL_TRANSFER_SYNTAXES
    for sop_class in (*QR_FIND, *QR_MOVE, *QR_GET):
        supported[sop_class] = DEFAULT_TRANSFER_SYNTAXES
    return supported


__all__ = ["ApplicationEntity", "Association", "AssociationContext", "Client", "Handlers", "StoreSource"]
