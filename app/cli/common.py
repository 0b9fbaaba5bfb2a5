"""What every `courier` network tool shares: AE options, timeouts, logging of the association, exit codes."""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID

from app.net.ae import ApplicationEntity
from app.net.dimse.commands import describe_message
from app.net.dimse.status import describe_status
from app.net.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    AssociationReleased,
    AssociationRequested,
    DimseReceived,
    DimseSent,
    EventBus,
    PduReceived,
    PduSent,
)
from app.net.identity import username_identity
from app.net.pdu import describe_context_result
from app.net.timeouts import Timeouts
from app.net.tls import DICOM_TLS_PORT, TlsSettings, client_context
from app.net.trace import describe_pdu

# Exit codes: scripts tell a DICOM failure from a network problem.
EXIT_OK = 0
EXIT_DICOM_FAILURE = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3


class OptionError(ValueError):
    """Command-line options that cannot work together; the message says which."""


def add_peer_arguments(parser: argparse.ArgumentParser, *, default_called: str = "ANY-SCP") -> None:
    parser.add_argument("host", help="peer host name or address")
    parser.add_argument("port", type=int, help="peer TCP port")
    add_ae_arguments(parser)
    parser.add_argument(
        "-aec",
        "--called-aet",
        default=default_called,
        metavar="AET",
        help=f"called AE title (default {default_called})",
    )


def add_ae_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-aet", "--aetitle", default="COURIER", metavar="AET", help="our AE title (default COURIER)"
    )
    parser.add_argument(
        "-pdu",
        "--max-pdu",
        type=int,
        default=262144,
        metavar="BYTES",
        help="maximum PDU we receive (default 262144)",
    )
    parser.add_argument(
        "-to", "--connect-timeout", type=float, default=10.0, metavar="S", help="TCP connect timeout"
    )
    parser.add_argument(
        "-ta", "--acse-timeout", type=float, default=30.0, metavar="S", help="association timeout"
    )
    parser.add_argument(
        "-td",
        "--dimse-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="DIMSE timeout (restarts at each pending response)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log the association: contexts, messages, statuses"
    )
    parser.add_argument("-d", "--debug", action="store_true", help="also dump every PDU")
    parser.add_argument(
        "--json", action="store_true", help="print results as JSON lines (DICOM JSON model for data sets)"
    )
    add_security_arguments(parser)


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("security (DICOM TLS, user identity)")
    group.add_argument(
        "--tls",
        action="store_true",
        help=f"use DICOM TLS (PS3.15; the usual port is {DICOM_TLS_PORT}); with --ca, trust only that CA",
    )
    group.add_argument(
        "--ca", dest="tls_ca", type=Path, metavar="PEM", help="CA certificate(s) that signed the peer's"
    )
    group.add_argument(
        "--cert", dest="tls_cert", type=Path, metavar="PEM", help="our certificate, for mutual TLS"
    )
    group.add_argument("--key", dest="tls_key", type=Path, metavar="PEM", help="the private key of --cert")
    group.add_argument(
        "--no-verify",
        action="store_true",
        help="encrypt without checking the peer's certificate (testing only)",
    )
    group.add_argument("--username", metavar="NAME", help="present a user identity (PS3.7 D.3.3.7)")
    group.add_argument("--password", metavar="PASSCODE", help="with --username: its passcode")


def tls_settings(args: argparse.Namespace) -> TlsSettings | None:
    """The TLS settings the options ask for, or ``None`` for a plain TCP association."""
    if not (args.tls or args.tls_ca or args.tls_cert or args.tls_key or args.no_verify):
        return None
    return TlsSettings(
        ca_file=args.tls_ca, cert_file=args.tls_cert, key_file=args.tls_key, verify_peer=not args.no_verify
    )


def association_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``ApplicationEntity.associate``: the TLS context and the user identity.

    Raises ``TlsConfigurationError`` naming an unusable certificate or key file, ``OptionError`` for
    options that do not go together."""
    options: dict[str, Any] = {}
    settings = tls_settings(args)
    if settings is not None:
        options["tls"] = client_context(settings)
    if args.username:
        options["user_identity"] = username_identity(args.username, args.password)
    elif args.password:
        raise OptionError("--password needs --username")
    return options


def make_ae(args: argparse.Namespace, *, retrieve_timeout: float | None = 3600.0) -> ApplicationEntity:
    events = EventBus()
    ae = ApplicationEntity(
        ae_title=args.aetitle,
        max_pdu_length=args.max_pdu,
        timeouts=Timeouts(
            connect=args.connect_timeout,
            acse=args.acse_timeout,
            dimse=args.dimse_timeout,
            retrieve=retrieve_timeout,
        ),
        events=events,
    )
    if args.verbose or args.debug:
        attach_log(events, sys.stderr, pdus=args.debug)
    return ae


def attach_log(events: EventBus, out: TextIO, *, pdus: bool) -> None:
    """Print what happens on every association, in the words of the troubleshooting pane."""

    def line(text: str) -> None:
        print(text, file=out, flush=True)

    def accepted(e: AssociationAccepted) -> None:
        line(
            f"I: association accepted ({e.info.local_ae} ↔ {e.info.remote_ae} "
            f"at {e.info.peer_host}:{e.info.peer_port})"
        )
        proposed = {c.context_id: c.abstract_syntax for c in e.request.presentation_contexts}
        for ctx in e.accept.presentation_contexts:
            name = UID(proposed.get(ctx.context_id, "")).name
            ts = f" with {UID(ctx.transfer_syntax).name}" if ctx.transfer_syntax and ctx.result == 0 else ""
            line(f"I:   context {ctx.context_id} {name}: {describe_context_result(ctx.result)}{ts}")

    events.subscribe(
        AssociationRequested,
        lambda e: line(
            f"I: requesting association {e.request.calling_ae_title} → {e.request.called_ae_title}"
        ),
    )
    events.subscribe(AssociationAccepted, accepted)
    events.subscribe(AssociationRejected, lambda e: line(f"E: {e.reason}"))
    events.subscribe(AssociationReleased, lambda e: line("I: association released"))
    events.subscribe(AssociationAborted, lambda e: line(f"E: {e.reason}"))
    events.subscribe(DimseSent, lambda e: line(f"I: sent {describe_message(e.message)}"))
    events.subscribe(DimseReceived, lambda e: line(f"I: received {describe_message(e.message)}"))
    if pdus:
        events.subscribe(PduSent, lambda e: line("D: sent PDU\n" + describe_pdu(e.pdu)))
        events.subscribe(PduReceived, lambda e: line("D: received PDU\n" + describe_pdu(e.pdu)))


_TAG_FORM = re.compile(r"^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$")


def parse_keys(keys: Sequence[str]) -> Dataset:
    """DCMTK's ``-k`` syntax: ``Keyword=value``, ``Keyword`` (return key) or ``(gggg,eeee)=value``."""
    ds = Dataset()
    for key in keys:
        name, _, value = key.partition("=")
        name = name.strip()
        match = _TAG_FORM.match(name)
        if match:
            tag = Tag(int(match.group(1), 16), int(match.group(2), 16))
        else:
            found = tag_for_keyword(name)
            if found is None:
                raise ValueError(
                    f"unknown attribute {name!r} in -k {key!r}: "
                    "use a DICOM keyword such as PatientName or a tag (0010,0010)"
                )
            tag = Tag(found)
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            raise ValueError(f"attribute {name} is not in the DICOM dictionary") from None
        if vr == "SQ":
            ds.add_new(tag, vr, [])
        else:
            ds.add_new(tag, vr, value or None)
    return ds


def dataset_text(ds: Dataset | None) -> str:
    if ds is None:
        return ""
    return "\n".join(
        f"  {el.tag} {el.keyword or 'Unknown'}: {el.repval if el.VR in ('OB', 'OW', 'SQ') else el.value}"
        for el in ds
    )


_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


def keyword_json(ds: Dataset) -> dict[str, Any]:
    """A data set as JSON-ready values keyed by DICOM keyword (a tag like ``(0009,1001)`` for private
    elements): what a script reading ``--json`` wants, rather than the DICOM JSON model's tag keys."""
    return {
        element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})": _json_value(element)
        for element in ds
    }


def _json_value(element: Any) -> Any:
    value = element.value
    if element.VR == "SQ":
        return [keyword_json(item) for item in value]
    if element.VR in _BINARY_VRS:
        return base64.b64encode(bytes(value)).decode("ascii") if value else None
    if value is None or value == "":
        return None
    if element.VM > 1:
        return [_scalar(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool | int | float) and not isinstance(value, str):
        return int(value) if isinstance(value, int) else float(value)
    return str(value)


def emit_json(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def status_words(status: Dataset, service: str | None = None) -> str:
    text = describe_status(int(status.Status), service)
    comment = status.get("ErrorComment")
    return f"{text}: {comment}" if comment else text


def suboperation_counts(status: Dataset) -> str:
    """ "3 completed, 0 failed, 0 warning, 2 remaining" from a C-MOVE/C-GET response."""
    parts = [
        f"{status.get(f'Number{kind}Suboperations', 0)} {word}"
        for kind, word in (("OfCompleted", "completed"), ("OfFailed", "failed"), ("OfWarning", "warning"))
    ]
    if "NumberOfRemainingSuboperations" in status:
        parts.append(f"{status.NumberOfRemainingSuboperations} remaining")
    return ", ".join(parts)
