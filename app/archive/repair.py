"""Startup check: bring files and index back into agreement after a crash or a kill -9.

- ``.incoming`` only ever holds files still being written: all of them are removed.
- An index row whose file is gone is removed (the index must only name complete files).
- A ``.dcm`` file the index does not name is a complete file (it was renamed into place) whose
  index transaction never committed, or one left by an interrupted delete. If its SOP Instance UID is
  not archived it is re-indexed (``reindex=True``), otherwise it is a stale copy and removed; a file
  that cannot be parsed is moved to ``.quarantine`` for a person to look at.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from pydicom import dcmread

from app.archive.errors import ArchiveError, InvalidInstanceError
from app.archive.model import RepairReport
from app.archive.paths import INCOMING_DIR_NAME, INSTANCE_SUFFIX, QUARANTINE_DIR_NAME
from app.archive.store import Archive, remove_empty_parents

_log = logging.getLogger(__name__)


def _archive_files(archive: Archive) -> list[Path]:
    hidden = {INCOMING_DIR_NAME, QUARANTINE_DIR_NAME}
    files: list[Path] = []
    for directory, folders, names in os.walk(archive.root):
        folders[:] = [f for f in folders if f not in hidden]
        files.extend(Path(directory) / n for n in names if n.endswith(INSTANCE_SUFFIX))
    return sorted(files)


def check_and_repair(archive: Archive, *, reindex: bool = True) -> RepairReport:
    """Run at startup, before the SCP accepts associations; see the module docstring."""
    report = RepairReport()
    with archive.index.write_lock:
        if archive.incoming_dir.exists():
            for leftover in sorted(archive.incoming_dir.iterdir()):
                if leftover.is_file():
                    leftover.unlink(missing_ok=True)
                    report.removed_partials.append(leftover)
        _remove_rows_without_files(archive, report)
        indexed = archive.index.indexed_relative_paths()
        for path in _archive_files(archive):
            relative = path.relative_to(archive.root).as_posix()
            if relative in indexed:
                continue
            report.unindexed_files.append(path)
            if reindex:
                _adopt(archive, path, report)
    return report


def _remove_rows_without_files(archive: Archive, report: RepairReport) -> None:
    index = archive.index
    superseded = dict(index.superseded_rows())
    missing_current = [
        sop
        for relative, sop in index.indexed_relative_paths().items()
        if relative not in superseded and not (archive.root / relative).is_file()
    ]
    missing_superseded = [relative for relative in superseded if not (archive.root / relative).is_file()]
    if not (missing_current or missing_superseded):
        return
    with index.transaction() as connection:
        for sop in missing_current:
            index.remove_instance(connection, sop)  # superseded copies of it go with it
        for relative in missing_superseded:
            index.remove_superseded_row(connection, relative)
    report.removed_rows.extend(missing_current)


def _adopt(archive: Archive, path: Path, report: RepairReport) -> None:
    """Re-index an unindexed complete file, or drop it if its SOP Instance UID is already archived."""
    try:
        sop_uid = str(dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
    except Exception as error:  # any parse failure: keep the bytes for a person, out of the archive tree
        _quarantine(archive, path, report, str(error))
        return
    if archive.index.instance(sop_uid) is not None:
        path.unlink(missing_ok=True)
        remove_empty_parents(path, archive.root)
        return
    try:
        archive.store_file(path)
    except (ArchiveError, InvalidInstanceError, OSError, ValueError) as error:
        _quarantine(archive, path, report, str(error))
        return
    # store_file copied it to its canonical place; drop this copy unless it *is* that place.
    stored = archive.index.instance(sop_uid)
    if stored is not None and stored.path != path.resolve():
        path.unlink(missing_ok=True)
        remove_empty_parents(path, archive.root)
    report.reindexed.append(path)


def _quarantine(archive: Archive, path: Path, report: RepairReport, reason: str) -> None:
    target_dir = archive.root / QUARANTINE_DIR_NAME
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    shutil.move(path, target)
    remove_empty_parents(path, archive.root)
    _log.warning("quarantined unreadable archive file %s: %s", path, reason)
    report.quarantined.append(target)
