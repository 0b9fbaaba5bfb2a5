"""Verify a remote node with C-ECHO (PS3.4 Annex A) and describe the outcome in words.

What a technologist needs from "Verify": could we connect at all (refused, timed out, name not
resolved), did the node accept our association (or reject it, and why), what software answers
(implementation class UID and version name), and how long a round trip takes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.net.ae import ApplicationEntity
from app.net.contexts import VERIFICATION
from app.net.dimse.status import describe_status
from app.net.errors import (
    AssociationAborted,
    AssociationRejected,
    ConnectionFailed,
    DicomNetworkError,
    DicomTimeout,
    NoAcceptedContext,
)
from app.net.events import EventBus
from app.net.timeouts import Timeouts
from app.net.tls import TlsConfigurationError
from app.nodes import Node
from app.settings import Settings


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    summary: str
    details: list[str]
    round_trip_ms: float | None


def node_ae(node: Node, settings: Settings, events: EventBus | None = None) -> ApplicationEntity:
    """Our AE as configured, with this node's maximum PDU and timeouts."""
    return ApplicationEntity(
        settings.ae_title,
        max_pdu_length=node.max_pdu,
        timeouts=Timeouts(
            connect=node.connect_timeout_s,
            acse=node.acse_timeout_s,
            dimse=node.dimse_timeout_s,
            retrieve=settings.retrieve_timeout_s,
        ),
        events=events or EventBus(),
    )


async def verify_node(node: Node, settings: Settings, *, events: EventBus | None = None) -> VerifyResult:
    """C-ECHO ``node`` on a fresh association and say what happened."""
    where = f"{node.ae_title} at {node.address}"
    tls = " over TLS" if node.tls else ""
    try:
        options = node.association_options()
    except TlsConfigurationError as exc:
        return VerifyResult(False, f"{node.name}: the TLS settings cannot be used", [str(exc)], None)
    started = time.perf_counter()
    try:
        async with node_ae(node, settings, events).associate(
            node.host, node.port, called_ae_title=node.ae_title, contexts=[VERIFICATION], **options
        ) as client:
            associated = time.perf_counter()
            echo_started = time.perf_counter()
            status = await client.echo()
            round_trip = (time.perf_counter() - echo_started) * 1000
            negotiated = client.negotiated
    except ConnectionFailed as exc:
        return VerifyResult(False, f"Cannot connect to {node.name}", [str(exc)], None)
    except AssociationRejected as exc:
        return VerifyResult(
            False,
            f"{node.name} refused the association",
            [str(exc), _rejection_hint(exc, settings, node)],
            None,
        )
    except NoAcceptedContext as exc:
        return VerifyResult(False, f"{node.name} does not offer Verification (C-ECHO)", [str(exc)], None)
    except DicomTimeout as exc:
        return VerifyResult(False, f"{node.name} stopped answering", [str(exc)], None)
    except AssociationAborted as exc:
        return VerifyResult(False, f"{node.name} aborted the association", [str(exc)], None)
    except DicomNetworkError as exc:
        return VerifyResult(False, f"Verify of {node.name} failed", [str(exc)], None)
    code = int(status.Status)
    details = [
        f"Connected to {where}{tls}; association accepted in {(associated - started) * 1000:.0f} ms",
        f"C-ECHO status: {describe_status(code, 'C-ECHO')}",
        f"Round trip: {round_trip:.1f} ms",
        f"Peer implementation class UID: {negotiated.peer_implementation_class_uid or '(not given)'}",
        f"Peer implementation version: {negotiated.peer_implementation_version_name or '(not given)'}",
        f"Maximum PDU the peer receives: {negotiated.peer_max_pdu_length or 'unlimited'}",
    ]
    if code != 0:
        return VerifyResult(False, f"{node.name} answered C-ECHO with a failure", details, round_trip)
    return VerifyResult(True, f"{node.name} is reachable: C-ECHO succeeded in {round_trip:.1f} ms", details,
                        round_trip)  # fmt: skip


def _rejection_hint(exc: AssociationRejected, settings: Settings, node: Node) -> str:
    text = str(exc).lower()
    if "calling ae" in text:
        return (
            f"The node does not know our AE title {settings.ae_title!r}: add it on the node "
            "(with this computer's address and our port), or change our AE title in the settings."
        )
    if "called ae" in text:
        return f"The node is not called {node.ae_title!r}: check the AE title in this node's settings."
    if "transient" in text:
        return "The node is busy or limits its associations: try again in a moment."
    return "Check the node's configuration for our AE title and address."
