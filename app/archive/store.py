"""The archive facade: atomic stores, streaming receive, duplicates, delete, queries, notifications.

Write path (PS3.10 files, crash safe):
1. bytes go to ``root/.incoming/<random>.part`` and are fsynced;
2. only the indexed attributes are read back (``specific_tags``, ``stop_before_pixels``);
3. ``os.replace`` moves the file into ``root/<patient>/<study>/<series>/<sop>.dcm``, the folder is fsynced;
4. one SQLite transaction indexes it. A copy that replaces another always gets a fresh file name,
   and the old file is unlinked only after the transaction committed, so at every instant the index
   names complete files with the checksum they have. A crash between 3 and 4 leaves an unindexed
   complete file that :meth:`Archive.check_and_repair` finds.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from io import BytesIO
from pathlib import Path
from typing import Literal

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian

from app.archive import matching
from app.archive.errors import ArchiveFull, InvalidInstanceError
from app.archive.header import INDEXED_KEYWORDS, IndexedHeader, header_from_dataset, text_value
from app.archive.index import Index
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
from app.archive.paths import (
    INCOMING_DIR_NAME,
    INDEX_FILE_NAME,
    relative_instance_path,
    resolve_inside,
)
from app.archive.receive import IncomingInstance, PartFile, file_meta, is_disk_full, part10_header

_log = logging.getLogger(__name__)

Level = Literal["PATIENT", "STUDY", "SERIES", "IMAGE"]
ChangeCallback = Callable[[ArchiveChange], None]


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX; Windows has no directory handles to fsync)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove_empty_parents(path: Path, root: Path) -> None:
    """Remove the now-empty series/study/patient folders above a deleted file."""
    parent = path.parent
    while parent != root and parent.is_relative_to(root):
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


class Archive:
    """The local DICOM archive at ``root``. Thread safe: one writer at a time, readers in parallel.

    ``duplicate_policy`` decides what a second copy of an archived SOP Instance UID does; see
    :class:`DuplicatePolicy`.
    """

    def __init__(
        self, root: Path, *, duplicate_policy: DuplicatePolicy = DuplicatePolicy.KEEP_EXISTING
    ) -> None:
        self.root = Path(root).resolve()
        self.duplicate_policy = duplicate_policy
        self.incoming_dir = self.root / INCOMING_DIR_NAME
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        self.index = Index(self.root, INDEX_FILE_NAME)
        self._subscribers: list[ChangeCallback] = []
        self._subscribers_lock = threading.Lock()

    def close(self) -> None:
        """Close the index connections of every thread."""
        self.index.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- notifications -------------------------------------------------------------------------------

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` (from the writing thread) after each change; returns the unsubscribe function."""
        with self._subscribers_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._subscribers_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _notify(self, changes: Iterable[ArchiveChange]) -> None:
        with self._subscribers_lock:
            subscribers = list(self._subscribers)
        for change in changes:
            for callback in subscribers:
                try:
                    callback(change)
                except Exception:
                    # A subscriber (e.g. a GUI model) must never break a store that already succeeded.
                    _log.exception("archive change subscriber %r failed on %s", callback, change)

    # -- storing -------------------------------------------------------------------------------------

    def begin_receive(
        self, sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, source_ae: str = ""
    ) -> IncomingInstance:
        """Start streaming one instance's raw data-set bytes (in ``transfer_syntax``) into the archive."""
        header = part10_header(sop_class_uid, sop_instance_uid, transfer_syntax, source_ae)
        if self.duplicate_policy is DuplicatePolicy.KEEP_EXISTING:
            existing = self.index.instance(sop_instance_uid)
            if existing is not None:
                return IncomingInstance(
                    part=None,
                    header=header,
                    transfer_syntax=transfer_syntax,
                    source_ae=source_ae,
                    commit_part=self._commit_part,
                    existing=_with_outcome(existing, StoreOutcome.DUPLICATE_IGNORED),
                )
        return IncomingInstance(
            part=self._new_part(),
            header=header,
            transfer_syntax=transfer_syntax,
            source_ae=source_ae,
            commit_part=self._commit_part,
        )

    def store_dataset(
        self, ds: Dataset, *, transfer_syntax: str | None = None, source_ae: str = ""
    ) -> StoredInstance:
        """Encode ``ds`` with pydicom and store it.

        The transfer syntax is ``transfer_syntax``, else the data set's own, else explicit VR little endian.
        """
        own_meta = getattr(ds, "file_meta", None)
        syntax = transfer_syntax or (own_meta.get("TransferSyntaxUID") if own_meta else None)
        syntax = str(syntax or ExplicitVRLittleEndian)
        sop_class = text_value(ds, "SOPClassUID")
        sop_uid = text_value(ds, "SOPInstanceUID")
        if not sop_class or not sop_uid:
            raise InvalidInstanceError(
                "The data set has no SOP Class UID or SOP Instance UID and cannot be archived."
            )
        encoded = BytesIO()
        copy = Dataset(ds)  # shallow: the caller's data set keeps its own file meta
        copy.file_meta = file_meta(sop_class, sop_uid, syntax, source_ae)
        try:
            dcmwrite(encoded, copy, enforce_file_format=True)
        except (ValueError, TypeError, AttributeError, NotImplementedError) as error:
            raise InvalidInstanceError(f"pydicom cannot encode the data set in {syntax}: {error}") from error
        part = self._new_part()
        part.write(encoded.getbuffer())
        return self._commit_part(part, syntax, source_ae)

    def store_file(self, path: Path, *, source_ae: str = "") -> StoredInstance:
        """Copy an existing Part-10 file into the archive byte for byte (the import path)."""
        meta = dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).file_meta
        syntax = str(meta.get("TransferSyntaxUID", ""))
        if not (syntax and meta.get("MediaStorageSOPInstanceUID") and meta.get("MediaStorageSOPClassUID")):
            # No usable file meta: let pydicom decode and re-encode it with a proper header.
            return self.store_dataset(dcmread(path, force=True), source_ae=source_ae)
        part = self._new_part()
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                part.write(chunk)
        return self._commit_part(part, syntax, source_ae)

    def _new_part(self) -> PartFile:
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        try:
            return PartFile(self.incoming_dir, self.root)
        except OSError as error:
            if is_disk_full(error):
                raise ArchiveFull(str(self.root), str(error)) from error
            raise

    def _read_header(self, part: PartFile) -> IndexedHeader:
        try:
            ds = dcmread(part.path, stop_before_pixels=True, specific_tags=list(INDEXED_KEYWORDS))
            return header_from_dataset(ds)
        except InvalidInstanceError:
            part.discard()
            raise
        except Exception as error:  # pydicom raises many kinds on malformed bytes; all mean "cannot parse"
            part.discard()
            raise InvalidInstanceError(f"The received data set cannot be parsed: {error}") from error

    def _commit_part(self, part: PartFile, transfer_syntax: str, source_ae: str) -> StoredInstance:
        sha256 = part.finish()
        header = self._read_header(part)
        with self.index.write_lock:
            existing = self.index.instance(header.sop_uid)
            outcome, relative = self._placement(header, existing, sha256)
            if outcome is StoreOutcome.DUPLICATE_IGNORED:
                part.discard()
                assert existing is not None
                return _with_outcome(existing, outcome)
            final = self.root / relative
            received_at = time.time()
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part.path, final)
                fsync_directory(final.parent)
            except OSError as error:
                part.discard()
                if is_disk_full(error):
                    raise ArchiveFull(str(self.root), str(error)) from error
                raise
            try:
                with self.index.transaction() as connection:
                    if existing is not None and outcome is StoreOutcome.KEPT_BOTH:
                        self.index.supersede(connection, existing, received_at)
                    self.index.put_instance(
                        connection,
                        header,
                        transfer_syntax_uid=transfer_syntax,
                        relative_path=relative,
                        size=part.size,
                        sha256=sha256,
                        received_at=received_at,
                        source_ae=source_ae.strip(),
                    )
            except BaseException as error:
                final.unlink(missing_ok=True)
                remove_empty_parents(final, self.root)
                if isinstance(error, sqlite3.Error) and _is_sqlite_full(error):
                    raise ArchiveFull(str(self.root), str(error)) from error
                raise
            if existing is not None and outcome is StoreOutcome.REPLACED and existing.path != final:
                existing.path.unlink(missing_ok=True)
                remove_empty_parents(existing.path, self.root)
            stored = self.index.instance(header.sop_uid)
        assert stored is not None
        kind = ChangeKind.INSTANCE_ADDED if existing is None else ChangeKind.INSTANCE_REPLACED
        self._notify(
            [ArchiveChange(kind, header.patient_id, header.study_uid, header.series_uid, header.sop_uid)]
        )
        return _with_outcome(stored, outcome)

    def _placement(
        self, header: IndexedHeader, existing: StoredInstance | None, sha256: str
    ) -> tuple[StoreOutcome, str]:
        """Apply the duplicate policy: the outcome and the file (relative to root) to write."""
        base = relative_instance_path(header.patient_id, header.study_uid, header.series_uid, header.sop_uid)
        if existing is None:
            return StoreOutcome.STORED, base.as_posix()
        policy = self.duplicate_policy
        if policy is DuplicatePolicy.KEEP_EXISTING:
            return StoreOutcome.DUPLICATE_IGNORED, ""
        if policy is DuplicatePolicy.KEEP_BOTH_IF_DIFFERENT and existing.sha256 == sha256:
            return StoreOutcome.DUPLICATE_IGNORED, ""
        outcome = StoreOutcome.REPLACED if policy is DuplicatePolicy.REPLACE else StoreOutcome.KEPT_BOTH
        # Never overwrite a file on disk (the index may name it): the new copy gets a checksum-suffixed name.
        relative = base.as_posix()
        attempt = 0
        while (self.root / relative).exists():
            version = sha256[:12] if attempt == 0 else f"{sha256[:12]}{attempt}"
            relative = relative_instance_path(
                header.patient_id, header.study_uid, header.series_uid, header.sop_uid, version=version
            ).as_posix()
            attempt += 1
        return outcome, relative

    # -- deleting ------------------------------------------------------------------------------------

    def delete(
        self, *, studies: Iterable[str] = (), series: Iterable[str] = (), instances: Iterable[str] = ()
    ) -> int:
        """Delete whole studies, series and/or single instances (files included); returns instances removed.

        Rows go first, in one transaction, then the files: a crash in between leaves only unindexed
        files, which startup repair removes or re-indexes, never an index row without its file.
        """
        with self.index.write_lock:
            unique = {i.sop_instance_uid: i for i in self._select(studies, series, instances)}
            files: list[Path] = []
            with self.index.transaction() as connection:
                for sop_uid in unique:
                    files.extend(self.index.remove_instance(connection, sop_uid))
            for path in files:
                path.unlink(missing_ok=True)
                remove_empty_parents(path, self.root)
        self._notify(
            ArchiveChange(
                ChangeKind.INSTANCE_REMOVED,
                i.patient_id,
                i.study_instance_uid,
                i.series_instance_uid,
                i.sop_instance_uid,
            )
            for i in unique.values()
        )
        return len(unique)

    # -- import, export, repair (implemented in their own modules) ------------------------------------

    def import_paths(
        self,
        paths: Iterable[Path],
        *,
        progress: Callable[[ImportProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ImportReport:
        """Import files and folders recursively (DICOMDIR aware); see :mod:`app.archive.importer`."""
        from app.archive.importer import import_paths  # noqa: PLC0415 - these modules import this one

        return import_paths(self, paths, progress=progress, cancel=cancel)

    def export(
        self,
        folder: Path,
        *,
        studies: Iterable[str] = (),
        series: Iterable[str] = (),
        instances: Iterable[str] = (),
        progress: Callable[[ImportProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExportReport:
        """Copy the given studies/series/instances to ``folder``; see :mod:`app.archive.export`."""
        from app.archive.export import export_instances  # noqa: PLC0415 - these modules import this one

        return export_instances(
            self._select(studies, series, instances), folder, progress=progress, cancel=cancel
        )

    def _select(
        self, studies: Iterable[str], series: Iterable[str], instances: Iterable[str]
    ) -> list[StoredInstance]:
        """The instances of these studies, series and SOP Instance UIDs, each once."""
        chosen = (
            self.index.instances_where("st.study_uid", studies)
            + self.index.instances_where("se.series_uid", series)
            + self.index.instances_where("i.sop_uid", instances)
        )
        return list({i.sop_instance_uid: i for i in chosen}.values())

    def check_and_repair(self, *, reindex: bool = True) -> RepairReport:
        """Startup check after a crash; see :mod:`app.archive.repair`."""
        from app.archive.repair import check_and_repair  # noqa: PLC0415 - these modules import this one

        return check_and_repair(self, reindex=reindex)

    # -- queries -------------------------------------------------------------------------------------

    def get(self, sop_instance_uid: str) -> StoredInstance | None:
        """The archived instance with this SOP Instance UID, if any."""
        return self.index.instance(sop_instance_uid)

    def find(
        self, level: Level, identifier: Dataset, *, root: Literal["PATIENT", "STUDY"] = "STUDY"
    ) -> Iterator[Dataset]:
        """C-FIND: matches per PS3.4 C.2.2.2 (see :mod:`app.archive.matching`)."""
        return matching.find(self.index.connection(), level, identifier, root=root)

    def instances_for(self, level: Level, identifier: Dataset) -> list[StoredInstance]:
        """C-MOVE / C-GET: every instance under the unique keys of ``level`` in ``identifier``."""
        column, keyword = matching.UNIQUE_KEY_COLUMNS[level]
        uids = matching.unique_key_values(identifier, keyword)
        return self.index.instances_where(column, uids)

    def studies(self, search: str = "") -> list[StudySummary]:
        """Studies for the browser, newest first; ``search`` filters by name, ID, accession, description."""
        return self.index.studies(search)

    def series_of(self, study_uid: str) -> list[SeriesSummary]:
        return self.index.series_of(study_uid)

    def instances_of(self, series_uid: str) -> list[StoredInstance]:
        return self.index.instances_where("se.series_uid", [series_uid])

    def path_of(self, relative: str) -> Path:
        return resolve_inside(self.root, relative)


def _with_outcome(instance: StoredInstance, outcome: StoreOutcome) -> StoredInstance:
    return replace(instance, outcome=outcome)


def _is_sqlite_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error)
