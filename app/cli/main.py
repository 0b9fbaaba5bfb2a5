"""The `courier` command: the workstation (no arguments) and the DICOM command-line tools."""

from __future__ import annotations

import argparse
import sys

from app import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="courier", description="Courier DICOM workstation and network tools"
    )
    parser.add_argument("--version", action="version", version=f"courier {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    from app.cli import serve, tools  # noqa: PLC0415 - keeps `courier --version` fast

    tools.register(subparsers)
    serve.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from app.ui.app import run_gui  # noqa: PLC0415 - lazily: `courier echo` and friends must not import Qt

        return run_gui()
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
