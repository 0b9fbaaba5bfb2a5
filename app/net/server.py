"""A listening socket that accepts many associations at once.

Each connection becomes an acceptor ``Association``; negotiation follows an ``AcceptorPolicy`` and
requests go to one shared ``Dispatcher``.  The server caps concurrent associations (PS3.8 lets it
answer "local limit exceeded", a transient rejection, so the peer retries later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import weakref
from collections.abc import Callable

from app.net import dul
from app.net.association import Association, Dispatcher
from app.net.events import EventBus
from app.net.negotiation import AcceptorPolicy, negotiate_as_acceptor
from app.net.pdu import AAssociateAC, AAssociateRJ, AAssociateRQ, RejectResult, RejectSource
from app.net.timeouts import Timeouts

log = logging.getLogger(__name__)

# PS3.8 Table 9-21, source 3 (presentation), reason 2.
LOCAL_LIMIT_EXCEEDED = 2


class DicomServer:
    """Serve associations on ``host:port`` until ``close``."""

    def __init__(
        self,
        *,
        policy: AcceptorPolicy | Callable[[], AcceptorPolicy],
        dispatcher: Dispatcher,
        timeouts: Timeouts | None = None,
        events: EventBus | None = None,
        max_associations: int = 64,
        max_dataset_size: int | None = None,
    ) -> None:
        self._policy = policy
        self.max_dataset_size = max_dataset_size  # per received data set, in bytes; None = no limit
        self.dispatcher = dispatcher
        self.timeouts = timeouts or Timeouts()
        self.events = events or EventBus()
        self.max_associations = max_associations
        # Weak: an association whose TLS handshake fails never gets connection_made/connection_lost,
        # so it must not stay here for ever (a hostile peer could grow the set without bound).
        self.active: weakref.WeakSet[Association] = weakref.WeakSet()
        self._server: asyncio.Server | None = None

    @property
    def policy(self) -> AcceptorPolicy:
        return self._policy() if callable(self._policy) else self._policy

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def is_serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(
        self, host: str = "0.0.0.0", port: int = 11112, *, tls: ssl.SSLContext | None = None
    ) -> None:
        """Bind and listen (DICOM TLS with ``tls``); raises ``OSError`` (e.g. address in use) for the
        caller to put in words."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_association,
            host,
            port,
            reuse_address=True,
            ssl=tls,
            ssl_handshake_timeout=self.timeouts.artim if tls is not None else None,
        )

    def _new_association(self) -> Association:
        policy = self.policy
        assoc = Association(
            role=dul.Role.ACCEPTOR,
            local_ae=policy.ae_title,
            timeouts=self.timeouts,
            max_pdu_length=policy.max_pdu_length,
            events=self.events,
            dispatcher=self.dispatcher,
            acceptor=lambda rq: self._answer(rq, policy, assoc.peer_host),
            max_dataset_size=self.max_dataset_size,
        )
        self.active.add(assoc)
        assoc.closed.add_done_callback(lambda _: self.active.discard(assoc))
        return assoc

    def _answer(
        self, rq: AAssociateRQ, policy: AcceptorPolicy, peer_host: str
    ) -> AAssociateAC | AAssociateRJ:
        established = sum(1 for a in self.active if a.negotiated is not None)
        if established >= self.max_associations:
            return AAssociateRJ(
                RejectResult.REJECTED_TRANSIENT,
                RejectSource.SERVICE_PROVIDER_PRESENTATION,
                LOCAL_LIMIT_EXCEEDED,
            )
        return negotiate_as_acceptor(rq, policy, peer_host)

    async def close(self, *, grace: float = 5.0) -> None:
        """Stop listening; give open associations ``grace`` seconds to finish, then abort them."""
        if self._server is not None:
            self._server.close()
        pending = [a.closed for a in tuple(self.active)]
        if pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.gather(*pending, return_exceptions=True)
        for assoc in tuple(self.active):
            assoc.abort()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> DicomServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
