"""`courier serve PORT`: run the workstation's DICOM node (Verification, Storage, Query/Retrieve)
over an archive folder until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from app.archive import Archive
from app.cli.common import EXIT_NETWORK, EXIT_OK, EXIT_USAGE, OptionError, attach_log
from app.net.negotiation import check_ae_title
from app.node import WorkstationNode
from app.nodes import NodeRegistry
from app.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run a DICOM node: C-ECHO, C-STORE into an archive, C-FIND/C-MOVE/C-GET from it",
        description=(
            "Run the workstation's DICOM node without the window. Received instances are kept in the "
            "transfer syntax they arrived in, under --out, with a SQLite index; other nodes can query "
            "and retrieve them (Patient Root and Study Root, every level)."
        ),
    )
    serve.add_argument("port", type=int, help="TCP port to listen on (0 picks a free one)")
    serve.add_argument(
        "-od", "--out", type=Path, default=None, metavar="DIR",
        help="archive folder (default: the workstation's storage folder)",
    )  # fmt: skip
    serve.add_argument(
        "-aet", "--aet", "--aetitle", dest="aetitle", default="COURIER", metavar="AET", help="our AE title"
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    serve.add_argument(
        "--dest", action="append", default=[], metavar="AET=HOST:PORT",
        help="a C-MOVE destination (repeatable); the node registry's nodes are destinations too",
    )  # fmt: skip
    serve.add_argument(
        "--allow", action="append", default=[], metavar="AET[@ADDRESS]",
        help="accept only these calling AE titles, optionally only from ADDRESS (repeatable)",
    )  # fmt: skip
    serve.add_argument("--demo", action="store_true", help="seed a small synthetic archive when it is empty")
    serve.add_argument("-pdu", "--max-pdu", type=int, default=262144, metavar="BYTES", help="maximum PDU")
    serve.add_argument(
        "--max-associations", type=int, default=64, metavar="N", help="concurrent associations (default 64)"
    )
    serve.add_argument(
        "--max-dataset-size", type=int, default=8192, metavar="MB",
        help="largest data set accepted, in MB (default 8192); larger ones are refused and discarded",
    )  # fmt: skip
    serve.add_argument("-v", "--verbose", action="store_true", help="log associations and stored instances")
    serve.add_argument("-d", "--debug", action="store_true", help="also log every DIMSE message and PDU")
    serve.set_defaults(run=run_serve)


def parse_destination(text: str) -> tuple[str, tuple[str, int]]:
    """``AET=HOST:PORT`` → (AET, (HOST, PORT)), or ``OptionError`` saying what is wrong."""
    aet, sep, address = text.partition("=")
    host, colon, port_text = address.rpartition(":")
    if not sep or not colon or not host or not port_text.isdigit():
        raise OptionError(f"--dest {text!r}: write it as AET=HOST:PORT, e.g. VIEWER=10.0.0.7:104")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise OptionError(f"--dest {text!r}: the port must be between 1 and 65535")
    try:
        check_ae_title(aet.strip(), "destination AE title")
    except ValueError as exc:
        raise OptionError(f"--dest {text!r}: {exc}") from None
    return aet.strip(), (host, port)


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname).1s %(message)s",
        stream=sys.stderr,
    )
    # Stored instances and associations are what a `serve` user watches: show them without -v.
    logging.getLogger("app.node").setLevel(logging.INFO)
    try:
        destinations = dict(parse_destination(d) for d in args.dest)
        args.allowed = [parse_allowed(a) for a in args.allow]
        check_ae_title(args.aetitle, "our AE title (-aet)")
    except (OptionError, ValueError) as exc:
        print(f"courier: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_serve(args, destinations))
    except KeyboardInterrupt:
        return EXIT_OK


def parse_allowed(text: str) -> tuple[str, str | None]:
    """``AET`` or ``AET@ADDRESS`` → (AET, ADDRESS or None)."""
    title, _, address = text.partition("@")
    try:
        check_ae_title(title.strip(), "allowed calling AE title")
    except ValueError as exc:
        raise OptionError(f"--allow {text!r}: {exc}") from None
    return title.strip(), address.strip() or None


def bound_addresses(allowed: list[tuple[str, str | None]]) -> dict[str, frozenset[str]]:
    """The addresses each allowed AE title is bound to (titles given without one are not bound)."""
    hosts: dict[str, set[str]] = {}
    for title, address in allowed:
        if address is not None:
            hosts.setdefault(title, set()).add(address)
    return {title: frozenset(addresses) for title, addresses in hosts.items()}


async def _serve(args: argparse.Namespace, destinations: dict[str, tuple[str, int]]) -> int:
    settings = replace(
        load_settings(),
        ae_title=args.aetitle,
        listener_port=args.port,
        **({"storage_folder": args.out} if args.out else {}),
        max_pdu=args.max_pdu,
        demo_mode=args.demo,
        accept_only_known_calling_aes=False,
    )
    archive = Archive(settings.storage_folder)
    allowed: list[tuple[str, str | None]] = args.allowed
    node = WorkstationNode(
        settings,
        archive,
        NodeRegistry(),
        destinations=destinations,
        host=args.host,
        allowed_calling_ae_titles=frozenset(title for title, _ in allowed) if allowed else None,
        calling_ae_hosts=bound_addresses(allowed),
        max_associations=args.max_associations,
        max_dataset_size=args.max_dataset_size * 1024 * 1024,
    )
    if args.verbose or args.debug:
        attach_log(node.ae.events, sys.stderr, pdus=args.debug)
    await node.start()
    if not node.is_listening:
        print(f"courier: {node.state_text()}", file=sys.stderr)
        archive.close()
        return EXIT_NETWORK
    print(f"{node.state_text()}; archive {archive.root}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still raises KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await node.stop()
        archive.close()
        print("courier: stopped", file=sys.stderr)
    return EXIT_OK
