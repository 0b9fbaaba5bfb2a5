"""The `courier` command: the workstation (no arguments) and the DICOM command-line tools."""

from __future__ import annotations

import argparse
import sys

from app import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="courier", description="Courier DICOM workstation and network tools")
    parser.add_argument("--version", action="version", version=f"courier {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        print("courier: the workstation window is not built yet; see `courier --help` for the tools.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
