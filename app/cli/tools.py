"""`courier echo | store | find | get | move`: the SCU tools, with DCMTK-like options."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from app.cli.common import (
    EXIT_DICOM_FAILURE,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_USAGE,
    OptionError,
    add_peer_arguments,
    association_options,
    dataset_text,
    emit_json,
    keyword_json,
    make_ae,
    parse_keys,
    status_words,
    suboperation_counts,
)
from app.net.ae import storage_contexts_for
from app.net.contexts import COMMON_STORAGE_SOP_CLASSES, DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.dimse.status import StatusCategory, category_of
from app.net.errors import DicomNetworkError
from app.net.files import write_part10
from app.net.pdu import RoleSelection
from app.net.scp import Handlers, Request, StatusError
from app.net.scu import Operation, StoreSource
from app.net.sop import query_sop_class
from app.net.tls import TlsConfigurationError


def register(subparsers: argparse._SubParsersAction) -> None:
    echo = subparsers.add_parser("echo", help="C-ECHO a node (is it alive, does it accept us?)")
    add_peer_arguments(echo)
    echo.add_argument("-r", "--repeat", type=int, default=1, help="send N echoes on one association")
    echo.set_defaults(run=run_echo)

    store = subparsers.add_parser("store", help="C-STORE files or folders to a node")
    add_peer_arguments(store)
    store.add_argument("paths", nargs="+", type=Path, help="DICOM files or folders")
    store.add_argument(
        "-r", "--recursive", action="store_true", help="also send the files in the folders' subfolders"
    )
    store.add_argument(
        "--async-ops",
        type=int,
        default=16,
        metavar="N",
        help="ask for N outstanding C-STOREs (default 16; the peer may grant fewer)",
    )
    store.set_defaults(run=run_store)

    for name, helptext in (
        ("find", "C-FIND: query a node"),
        ("get", "C-GET: retrieve to a folder over the same association"),
        ("move", "C-MOVE: ask a node to send to a destination"),
    ):
        sub = subparsers.add_parser(name, help=helptext)
        add_peer_arguments(sub)
        model = sub.add_mutually_exclusive_group()
        model.add_argument(
            "-P",
            "--patient",
            dest="model",
            action="store_const",
            const="patient",
            help="Patient Root information model",
        )
        model.add_argument(
            "-S",
            "--study",
            dest="model",
            action="store_const",
            const="study",
            help="Study Root information model (default)",
        )
        model.add_argument(
            "--root",
            dest="model",
            choices=("patient", "study", "worklist") if name == "find" else ("patient", "study"),
            help="information model (same as -P/-S" + ("/-W)" if name == "find" else ")"),
        )
        sub.add_argument(
            "-L",
            "--level",
            type=str.upper,
            choices=("PATIENT", "STUDY", "SERIES", "IMAGE"),
            help="query/retrieve level (default STUDY; same as -k QueryRetrieveLevel=...)",
        )
        if name == "find":
            model.add_argument(
                "-W",
                "--worklist",
                dest="model",
                action="store_const",
                const="worklist",
                help="Modality Worklist",
            )
        sub.add_argument(
            "-k",
            "--query-key",
            dest="key",
            action="append",
            default=[],
            metavar="KEY[=VALUE]",
            help="query key, e.g. -k QueryRetrieveLevel=STUDY -k PatientName=SMITH*",
        )
        sub.add_argument(
            "--cancel", type=int, default=None, metavar="N", help="send C-CANCEL after N pending responses"
        )
        sub.set_defaults(model="study")
        if name == "get":
            sub.add_argument(
                "-od",
                "--out",
                "--output-directory",
                dest="output_directory",
                type=Path,
                default=Path("."),
                help="where retrieved instances go",
            )
            sub.add_argument(
                "--sop-class",
                action="append",
                default=[],
                metavar="UID",
                help="storage SOP class to accept (default: the common ones)",
            )
        if name == "move":
            sub.add_argument(
                "-aem",
                "--dest",
                "--move-destination",
                dest="move_destination",
                required=True,
                metavar="AET",
                help="destination AE title (the peer must know it)",
            )
        sub.set_defaults(run={"find": run_find, "get": run_get, "move": run_move}[name])


def run_async(coro: object) -> int:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except DicomNetworkError as exc:
        print(f"courier: {exc}", file=sys.stderr)
        return EXIT_NETWORK
    except (OptionError, TlsConfigurationError) as exc:
        print(f"courier: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("courier: interrupted", file=sys.stderr)
        return 130


# ------------------------------------------------------------------------------------------------
# echo


def run_echo(args: argparse.Namespace) -> int:
    return run_async(_echo(args))


async def _echo(args: argparse.Namespace) -> int:
    ae = make_ae(args)
    started = time.perf_counter()
    async with ae.associate(
        args.host,
        args.port,
        called_ae_title=args.called_aet,
        contexts=[VERIFICATION],
        **association_options(args),
    ) as client:
        negotiated = client.negotiated
        worst = EXIT_OK
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            status = await client.echo()
            rtt = (time.perf_counter() - t0) * 1000
            ok = int(status.Status) == 0
            worst = worst if ok else EXIT_DICOM_FAILURE
            if args.json:
                emit_json(
                    {
                        "status": int(status.Status),
                        "round_trip_ms": round(rtt, 3),
                        "peer_implementation_class_uid": negotiated.peer_implementation_class_uid,
                        "peer_implementation_version_name": negotiated.peer_implementation_version_name,
                    }
                )
            else:
                print(
                    f"C-ECHO {args.called_aet}@{args.host}:{args.port}: "
                    f"{status_words(status, 'C-ECHO')} in {rtt:.1f} ms"
                )
    if not args.json:
        print(
            f"peer implementation: {negotiated.peer_implementation_class_uid or '?'} "
            f"{negotiated.peer_implementation_version_name or ''}".rstrip()
        )
        print(f"total {1000 * (time.perf_counter() - started):.1f} ms including association and release")
    return worst


# ------------------------------------------------------------------------------------------------
# store


def iter_files(paths: list[Path], *, recursive: bool = True) -> Iterator[Path]:
    """The files named, and those in the folders named (their subfolders too when ``recursive``)."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                if not recursive:
                    dirs.clear()
                for name in sorted(files):
                    yield Path(root) / name
        else:
            yield path


def run_store(args: argparse.Namespace) -> int:
    return run_async(_store(args))


async def _store(args: argparse.Namespace) -> int:
    sources: list[StoreSource] = []
    skipped = 0
    for path in iter_files(args.paths, recursive=args.recursive):
        try:
            sources.append(StoreSource.from_file(path))
        except DicomNetworkError as exc:
            skipped += 1
            print(f"courier: skipped {path}: {exc}", file=sys.stderr)
    if not sources:
        print("courier: no DICOM files to send", file=sys.stderr)
        return EXIT_USAGE
    contexts = storage_contexts_for(sources)
    if len(contexts) > 128:
        print(
            f"courier: {len(contexts)} SOP classes do not fit "
            "the 128 presentation contexts of one association",
            file=sys.stderr,
        )
        return EXIT_USAGE
    ae = make_ae(args)
    failures = 0
    sent_bytes = 0
    started = time.perf_counter()

    def on_result(source: StoreSource, outcome: Dataset | Exception) -> None:
        nonlocal failures, sent_bytes
        ok = isinstance(outcome, Dataset) and category_of(int(outcome.Status)) is not StatusCategory.FAILURE
        failures += 0 if ok else 1
        sent_bytes += source.size if ok else 0
        words = status_words(outcome, "C-STORE") if isinstance(outcome, Dataset) else str(outcome)
        if args.json:
            emit_json(
                {
                    "path": str(source.path),
                    "sop_instance_uid": source.sop_instance_uid,
                    "ok": ok,
                    "status": int(outcome.Status) if isinstance(outcome, Dataset) else None,
                    "message": words,
                }
            )
        elif not ok or args.verbose:
            print(f"{source.path}: {words}", file=sys.stderr if not ok else sys.stdout)

    window = (args.async_ops, 1) if args.async_ops and args.async_ops > 1 else None
    async with ae.associate(
        args.host,
        args.port,
        called_ae_title=args.called_aet,
        contexts=contexts,
        async_operations=window,
        **association_options(args),
    ) as client:
        results = await client.store_many(sources, on_result=on_result)
        for source, outcome in results:
            if source is None:
                failures += 1
                print(f"courier: {outcome}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    if not args.json:
        rate = len(sources) / elapsed if elapsed else 0
        print(
            f"sent {len(sources) - failures} of {len(sources)} instances ({sent_bytes / 1e6:.1f} MB) "
            f"in {elapsed:.2f} s, {rate:.0f}/s; {failures} failed, {skipped} skipped"
        )
    return EXIT_OK if failures == 0 else EXIT_DICOM_FAILURE


# ------------------------------------------------------------------------------------------------
# find / move / get


def _status_record(status: Dataset) -> dict[str, Any]:
    """A response's status for ``--json``: Status, the sub-operation counts and the error comment."""
    keys = (
        "Status",
        "NumberOfRemainingSuboperations",
        "NumberOfCompletedSuboperations",
        "NumberOfFailedSuboperations",
        "NumberOfWarningSuboperations",
        "ErrorComment",
    )
    return {key: value for key, value in keyword_json(status).items() if key in keys}


def _identifier(args: argparse.Namespace) -> Dataset:
    ds = parse_keys(args.key)
    if args.level:
        ds.QueryRetrieveLevel = args.level
    if "QueryRetrieveLevel" not in ds and args.model != "worklist":
        ds.QueryRetrieveLevel = "STUDY"
    return ds


async def _consume(operation: Operation, args: argparse.Namespace, service: str) -> int:
    pending = 0
    final: Dataset | None = None
    async for status, identifier in operation:
        if category_of(int(status.Status)) is StatusCategory.PENDING:
            pending += 1
            if args.json:
                emit_json(keyword_json(identifier) if identifier is not None else _status_record(status))
            elif identifier is not None:
                print(f"match {pending}:\n{dataset_text(identifier)}")
            elif "NumberOfCompletedSuboperations" in status:
                print(f"  {service}: {suboperation_counts(status)}")
            if args.cancel is not None and pending >= args.cancel:
                await operation.cancel()
        else:
            final = status
            if args.json:
                record = _status_record(status)
                if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
                    record["FailedSOPInstanceUIDList"] = keyword_json(identifier)["FailedSOPInstanceUIDList"]
                emit_json(record)
            else:
                counts = ""
                if "NumberOfCompletedSuboperations" in status:
                    counts = f" ({suboperation_counts(status)})"
                print(f"{service}: {status_words(status, service)}{counts}; {pending} pending responses")
    if final is None:
        return EXIT_DICOM_FAILURE
    category = category_of(int(final.Status))
    return EXIT_OK if category in (StatusCategory.SUCCESS, StatusCategory.CANCEL) else EXIT_DICOM_FAILURE


def run_find(args: argparse.Namespace) -> int:
    return run_async(_find(args))


async def _find(args: argparse.Namespace) -> int:
    try:
        identifier = _identifier(args)
    except ValueError as exc:
        print(f"courier: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ae = make_ae(args)
    sop = query_sop_class("find", args.model)
    async with ae.associate(
        args.host, args.port, called_ae_title=args.called_aet, contexts=[sop], **association_options(args)
    ) as client:
        return await _consume(client.find(identifier, args.model), args, "C-FIND")


def run_move(args: argparse.Namespace) -> int:
    return run_async(_move(args))


async def _move(args: argparse.Namespace) -> int:
    try:
        identifier = _identifier(args)
    except ValueError as exc:
        print(f"courier: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ae = make_ae(args)
    sop = query_sop_class("move", args.model)
    async with ae.associate(
        args.host, args.port, called_ae_title=args.called_aet, contexts=[sop], **association_options(args)
    ) as client:
        return await _consume(client.move(identifier, args.move_destination, args.model), args, "C-MOVE")


def run_get(args: argparse.Namespace) -> int:
    return run_async(_get(args))


async def _get(args: argparse.Namespace) -> int:
    try:
        identifier = _identifier(args)
    except ValueError as exc:
        print(f"courier: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out: Path = args.output_directory
    out.mkdir(parents=True, exist_ok=True)
    ae = make_ae(args)
    sop = query_sop_class("get", args.model)
    storage = list(args.sop_class) or list(COMMON_STORAGE_SOP_CLASSES)
    # PS3.8 allows 128 contexts: the C-GET model plus at most 127 storage classes we can receive.
    storage = storage[:127]
    contexts = [(sop, DEFAULT_TRANSFER_SYNTAXES), *[(s, DEFAULT_TRANSFER_SYNTAXES) for s in storage]]
    roles = [RoleSelection(s, scu_role=False, scp_role=True) for s in storage]
    handlers = Handlers(store=lambda request: _write_received(request, out))
    async with ae.associate(
        args.host,
        args.port,
        called_ae_title=args.called_aet,
        contexts=contexts,
        role_selections=roles,
        handlers=handlers,
        **association_options(args),
    ) as client:
        return await _consume(client.get(identifier, args.model), args, "C-GET")


def _write_received(request: Request, out: Path) -> int:
    """Write a C-GET sub-operation's instance as a Part-10 file named by its SOP Instance UID."""
    if not isinstance(request.raw, bytes | bytearray | memoryview):
        raise StatusError(0xC211, "the C-STORE request carried no data set")
    command = request.command
    write_part10(
        out,
        command.affected_sop_class_uid,
        command.affected_sop_instance_uid,
        request.transfer_syntax,
        request.raw,
    )
    return 0
