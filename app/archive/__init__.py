"""Courier's local DICOM archive: files on disk plus a SQLite index, no Qt, no networking.

Entry point: :class:`Archive`. The C-STORE SCP streams into it with ``begin_receive``; the
Q/R SCP answers from ``find`` and ``instances_for``; the browser reads ``studies``/``series_of``/
``instances_of`` and listens with ``subscribe``. Run ``check_and_repair`` once at startup.
"""

from app.archive.demo import seed_demo
from app.archive.errors import (
    ArchiveError,
    ArchiveFull,
    IncomingClosedError,
    InvalidInstanceError,
    InvalidQueryError,
)
from app.archive.model import (
    ArchiveChange,
    ChangeKind,
    DuplicatePolicy,
    ExportReport,
    ImportProgress,
    ImportReport,
    RepairReport,
    SeriesSummary,
    StoredInstance,
    StoreOutcome,
    StudySummary,
)
from app.archive.receive import IncomingInstance
from app.archive.store import Archive

__all__ = [
    "Archive",
    "ArchiveChange",
    "ArchiveError",
    "ArchiveFull",
    "ChangeKind",
    "DuplicatePolicy",
    "ExportReport",
    "ImportProgress",
    "ImportReport",
    "IncomingClosedError",
    "IncomingInstance",
    "InvalidInstanceError",
    "InvalidQueryError",
    "RepairReport",
    "SeriesSummary",
    "StoreOutcome",
    "StoredInstance",
    "StudySummary",
    "seed_demo",
]
