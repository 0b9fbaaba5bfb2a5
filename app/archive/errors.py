"""The errors the local archive raises, each with a message a technologist can act on."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base class of every error raised by :mod:`app.archive`."""


class ArchiveFull(ArchiveError):
    """The disk holding the archive ran out of space (ENOSPC) while an instance was written.

    The partial file has been removed; the index and every instance stored before are intact.
    """

    def __init__(self, root: str, detail: str = "") -> None:
        message = (
            f"The archive disk is full: no space left on the device holding {root}. "
            "Free some space (delete old studies or move the archive to a larger disk) and resend."
        )
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)
        self.root = root


class InvalidInstanceError(ArchiveError):
    """A data set cannot be archived because an attribute the index needs is missing or malformed."""


class InvalidQueryError(ArchiveError):
    """A C-FIND/C-MOVE identifier breaks the PS3.4 C.4.1 rules (level, root or hierarchical keys)."""


class IncomingClosedError(ArchiveError):
    """``write``/``commit`` was called on an incoming instance already committed or aborted."""
