"""Importing files and folders (recursively, DICOMDIR aware) into the archive.

Every file is looked at once: a DICOMDIR (PS3.10 8) is not an instance, but the files its
directory records reference are imported even when they sit outside the walked folders; other
files without the PS3.10 "DICM" prefix are skipped and counted; a file that claims to be DICOM but
cannot be parsed is counted as failed with the reason. One bad file never stops the import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from app.archive.errors import ArchiveError, ArchiveFull
from app.archive.model import ImportProgress, ImportReport, StoreOutcome
from app.archive.store import Archive

_log = logging.getLogger(__name__)
_PREFIX_OFFSET = 128  # PS3.10 7.1: "DICM" follows the 128-byte preamble

ProgressCallback = Callable[[ImportProgress], None]


def has_dicm_prefix(path: Path) -> bool:
    """True for a PS3.10 file (preamble + "DICM"); unreadable files count as not DICOM."""
    try:
        with path.open("rb") as file:
            file.seek(_PREFIX_OFFSET)
            return file.read(4) == b"DICM"
    except OSError:
        return False


def _walk(path: Path) -> Iterator[Path]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file():
                yield child
    elif path.is_file():
        yield path


def referenced_files(dicomdir: Path) -> list[Path]:
    """The files referenced by a DICOMDIR's directory records (Referenced File ID, relative to it)."""
    ds = dcmread(dicomdir)
    files = []
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        # PS3.10 8.3: components of up to 8 characters; refuse anything that would climb out.
        if any(part in ("", ".", "..") or "/" in part or "\\" in part for part in parts):
            continue
        candidate = dicomdir.parent.joinpath(*parts)
        if not candidate.exists():
            # ISO 9660 media often lower-case what the DICOMDIR spells in upper case.
            candidate = dicomdir.parent.joinpath(*(p.lower() for p in parts))
        files.append(candidate)
    return files


def collect_files(paths: Iterable[Path], report: ImportReport) -> list[Path]:
    """Every candidate file once, DICOMDIRs replaced by the files they reference."""
    seen: dict[Path, None] = {}
    for root in paths:
        for path in _walk(Path(root)):
            if path.name.upper() == "DICOMDIR":
                try:
                    for referenced in referenced_files(path):
                        seen.setdefault(referenced.resolve(), None)
                    report.dicomdirs += 1
                except (InvalidDicomError, OSError, ValueError, AttributeError) as error:
                    report.failed[path] = f"unreadable DICOMDIR: {error}"
                continue
            seen.setdefault(path.resolve(), None)
    return list(seen)


def import_paths(
    archive: Archive,
    paths: Iterable[Path],
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ImportReport:
    """Import files and folders; see the module docstring. ArchiveFull stops the import (and is raised)."""
    report = ImportReport()
    files = collect_files(paths, report)
    total = len(files)
    for done, path in enumerate(files, start=1):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        _import_one(archive, path, report)
        if progress is not None:
            progress(ImportProgress(done=done, total=total, current=path))
    return report


def _import_one(archive: Archive, path: Path, report: ImportReport) -> None:
    if not path.is_file():
        report.failed[path] = "referenced by a DICOMDIR but missing"
        return
    if not has_dicm_prefix(path):
        report.skipped_non_dicom += 1
        return
    try:
        stored = archive.store_file(path)
    except ArchiveFull:
        raise
    except (ArchiveError, InvalidDicomError, OSError, ValueError, TypeError, KeyError, EOFError) as error:
        report.failed[path] = str(error) or type(error).__name__
        return
    except Exception as error:  # pydicom raises many kinds on broken files; one file never stops the rest
        _log.exception("import of %s failed", path)
        report.failed[path] = f"{type(error).__name__}: {error}"
        return
    if stored.outcome is StoreOutcome.DUPLICATE_IGNORED:
        report.duplicates += 1
    else:
        report.imported += 1
