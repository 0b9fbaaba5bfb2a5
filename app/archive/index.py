"""The SQLite index of the archive: schema, writes in one transaction, and browser queries.

Rules of this file:
- WAL journal, so the GUI keeps reading while the C-STORE SCP writes.
- One writer at a time (a process-wide lock around ``BEGIN IMMEDIATE``); one connection per thread.
- The index only ever names complete files: rows are written after the file is in place and
  removed before the file is unlinked.
- Paths are stored relative to the archive root, so the archive folder can be moved as a whole.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.archive.header import IndexedHeader
from app.archive.model import SeriesSummary, StoredInstance, StudySummary
from app.archive.paths import resolve_inside

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    patient_birth_date TEXT NOT NULL DEFAULT '',
    patient_sex TEXT NOT NULL DEFAULT '',
    UNIQUE (patient_id, patient_name)
);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    patient_key INTEGER NOT NULL REFERENCES patients (id),
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    accession_number TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT '',
    study_description TEXT NOT NULL DEFAULT '',
    referring_physician_name TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS studies_by_patient ON studies (patient_key);
CREATE INDEX IF NOT EXISTS studies_by_date ON studies (study_date);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES studies (study_uid),
    modality TEXT NOT NULL DEFAULT '',
    series_number INTEGER,
    series_description TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS series_by_study ON series (study_uid);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY,
    series_uid TEXT NOT NULL REFERENCES series (series_uid),
    sop_class_uid TEXT NOT NULL,
    instance_number INTEGER,
    transfer_syntax_uid TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    received_at REAL NOT NULL,
    source_ae TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS instances_by_series ON instances (series_uid);
CREATE TABLE IF NOT EXISTS superseded (
    path TEXT PRIMARY KEY,
    sop_uid TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    received_at REAL NOT NULL,
    superseded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS superseded_by_sop ON superseded (sop_uid);
"""

_INSTANCE_COLUMNS = """
    i.sop_uid, i.sop_class_uid, i.series_uid, se.study_uid, p.patient_id, i.transfer_syntax_uid,
    i.path, i.size, i.sha256, i.received_at, i.source_ae, i.instance_number
"""
_INSTANCE_JOINS = """
    FROM instances i
    JOIN series se ON se.series_uid = i.series_uid
    JOIN studies st ON st.study_uid = se.study_uid
    JOIN patients p ON p.id = st.patient_key
"""


def _casefold(value: Any) -> Any:
    # Registered as SQL casefold(): PS3.4 C.2.2.2.1 lets person names match case-insensitively,
    # and SQLite's own NOCASE only folds ASCII.
    return value.casefold() if isinstance(value, str) else value


class Index:
    """The archive's SQLite index at ``root/index.sqlite``."""

    def __init__(self, root: Path, file_name: str) -> None:
        self.root = root
        self.path = root / file_name
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self.write_lock = threading.RLock()
        connection = self.connection()
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(_SCHEMA)
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- connections -------------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE in ``transaction``).
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.create_function("casefold", 1, _casefold, deterministic=True)
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised with every other writer of this archive."""
        with self.write_lock:
            connection = self.connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # -- rows -> values ----------------------------------------------------------------------------

    def _stored(self, row: Any) -> StoredInstance:
        (sop, sop_class, series, study, patient, syntax, path, size, sha, received, ae, number) = row
        return StoredInstance(
            sop_instance_uid=str(sop),
            sop_class_uid=str(sop_class),
            series_instance_uid=str(series),
            study_instance_uid=str(study),
            patient_id=str(patient),
            transfer_syntax_uid=str(syntax),
            path=resolve_inside(self.root, str(path)),
            size=int(size),
            sha256=str(sha),
            received_at=datetime.fromtimestamp(float(received), UTC),
            source_ae=str(ae),
            instance_number=None if number is None else int(number),
        )

    # -- writes (inside ``transaction``) -------------------------------------------------------------

    def put_instance(
        self,
        connection: sqlite3.Connection,
        header: IndexedHeader,
        *,
        transfer_syntax_uid: str,
        relative_path: str,
        size: int,
        sha256: str,
        received_at: float,
        source_ae: str,
    ) -> None:
        """Insert or update the patient, study, series and instance rows of one file."""
        previous = connection.execute(
            "SELECT se.series_uid, se.study_uid FROM instances i JOIN series se USING (series_uid) "
            "WHERE i.sop_uid = ?",
            (header.sop_uid,),
        ).fetchone()
        (patient_key,) = connection.execute(
            "INSERT INTO patients (patient_id, patient_name, patient_birth_date, patient_sex) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (patient_id, patient_name) DO UPDATE SET "
            "patient_birth_date = excluded.patient_birth_date, patient_sex = excluded.patient_sex "
            "RETURNING id",
            (header.patient_id, header.patient_name, header.patient_birth_date, header.patient_sex),
        ).fetchone()
        old_patient = connection.execute(
            "SELECT patient_key FROM studies WHERE study_uid = ?", (header.study_uid,)
        ).fetchone()
        connection.execute(
            "INSERT INTO studies (study_uid, patient_key, study_date, study_time, accession_number, "
            "study_id, study_description, referring_physician_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (study_uid) DO UPDATE SET patient_key = excluded.patient_key, "
            "study_date = excluded.study_date, study_time = excluded.study_time, "
            "accession_number = excluded.accession_number, study_id = excluded.study_id, "
            "study_description = excluded.study_description, "
            "referring_physician_name = excluded.referring_physician_name",
            (
                header.study_uid,
                patient_key,
                header.study_date,
                header.study_time,
                header.accession_number,
                header.study_id,
                header.study_description,
                header.referring_physician_name,
            ),
        )
        connection.execute(
            "INSERT INTO series (series_uid, study_uid, modality, series_number, series_description) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (series_uid) DO UPDATE SET study_uid = excluded.study_uid, "
            "modality = excluded.modality, series_number = excluded.series_number, "
            "series_description = excluded.series_description",
            (
                header.series_uid,
                header.study_uid,
                header.modality,
                header.series_number,
                header.series_description,
            ),
        )
        connection.execute(
            "INSERT INTO instances (sop_uid, series_uid, sop_class_uid, instance_number, "
            "transfer_syntax_uid, path, size, sha256, received_at, source_ae) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sop_uid) DO UPDATE SET series_uid = excluded.series_uid, "
            "sop_class_uid = excluded.sop_class_uid, instance_number = excluded.instance_number, "
            "transfer_syntax_uid = excluded.transfer_syntax_uid, path = excluded.path, size = excluded.size, "
            "sha256 = excluded.sha256, received_at = excluded.received_at, source_ae = excluded.source_ae",
            (
                header.sop_uid,
                header.series_uid,
                header.sop_class_uid,
                header.instance_number,
                transfer_syntax_uid,
                relative_path,
                size,
                sha256,
                received_at,
                source_ae,
            ),
        )
        # A replaced instance may have moved to another series/study/patient: prune what it left empty.
        if previous is not None:
            self._prune(connection, series_uid=previous[0], study_uid=previous[1])
        if old_patient is not None and old_patient[0] != patient_key:
            self._prune_patient(connection, old_patient[0])

    def supersede(self, connection: sqlite3.Connection, instance: StoredInstance, when: float) -> None:
        """Record the current copy of an instance as superseded (KEEP_BOTH_IF_DIFFERENT)."""
        connection.execute(
            "INSERT OR REPLACE INTO superseded (path, sop_uid, size, sha256, received_at, superseded_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                self.relative(instance.path),
                instance.sop_instance_uid,
                instance.size,
                instance.sha256,
                instance.received_at.timestamp(),
                when,
            ),
        )

    def remove_instance(self, connection: sqlite3.Connection, sop_uid: str) -> list[Path]:
        """Delete one instance's rows; returns every file (current and superseded) to unlink."""
        row = connection.execute(
            "SELECT i.path, se.series_uid, se.study_uid FROM instances i JOIN series se USING (series_uid) "
            "WHERE i.sop_uid = ?",
            (sop_uid,),
        ).fetchone()
        paths = [
            str(path)
            for (path,) in connection.execute("SELECT path FROM superseded WHERE sop_uid = ?", (sop_uid,))
        ]
        connection.execute("DELETE FROM superseded WHERE sop_uid = ?", (sop_uid,))
        if row is not None:
            paths.insert(0, row[0])
            connection.execute("DELETE FROM instances WHERE sop_uid = ?", (sop_uid,))
            self._prune(connection, series_uid=row[1], study_uid=row[2])
        return [resolve_inside(self.root, path) for path in paths]

    def remove_superseded_row(self, connection: sqlite3.Connection, relative_path: str) -> None:
        connection.execute("DELETE FROM superseded WHERE path = ?", (relative_path,))

    def _prune(self, connection: sqlite3.Connection, *, series_uid: str, study_uid: str) -> None:
        connection.execute(
            "DELETE FROM series WHERE series_uid = ? AND NOT EXISTS "
            "(SELECT 1 FROM instances WHERE series_uid = ?)",
            (series_uid, series_uid),
        )
        patient = connection.execute(
            "SELECT patient_key FROM studies WHERE study_uid = ?", (study_uid,)
        ).fetchone()
        connection.execute(
            "DELETE FROM studies WHERE study_uid = ? "
            "AND NOT EXISTS (SELECT 1 FROM series WHERE study_uid = ?)",
            (study_uid, study_uid),
        )
        if patient is not None:
            self._prune_patient(connection, patient[0])

    @staticmethod
    def _prune_patient(connection: sqlite3.Connection, patient_key: int) -> None:
        connection.execute(
            "DELETE FROM patients WHERE id = ? AND NOT EXISTS (SELECT 1 FROM studies WHERE patient_key = ?)",
            (patient_key, patient_key),
        )

    # -- reads ---------------------------------------------------------------------------------------

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    def instance(self, sop_uid: str) -> StoredInstance | None:
        row = (
            self.connection()
            .execute(f"SELECT {_INSTANCE_COLUMNS} {_INSTANCE_JOINS} WHERE i.sop_uid = ?", (sop_uid,))
            .fetchone()
        )
        return None if row is None else self._stored(row)

    def instances_where(self, column: str, uids: Iterable[str]) -> list[StoredInstance]:
        """Instances whose ``column`` (``st.study_uid``, ``se.series_uid``, ``i.sop_uid``) is in ``uids``."""
        if column not in {"st.study_uid", "se.series_uid", "i.sop_uid", "p.patient_id"}:
            raise ValueError(f"not an instance hierarchy column: {column}")
        wanted = list(dict.fromkeys(uids))
        result: list[StoredInstance] = []
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.connection().execute(
                f"SELECT {_INSTANCE_COLUMNS} {_INSTANCE_JOINS} WHERE {column} IN ({marks}) "
                "ORDER BY st.study_uid, se.series_number, se.series_uid, i.instance_number, i.sop_uid",
                chunk,
            )
            result.extend(self._stored(row) for row in rows)
        return result

    def indexed_relative_paths(self) -> dict[str, str]:
        """Every file the index names (current and superseded) → its SOP Instance UID."""
        connection = self.connection()
        paths = {
            str(path): str(sop) for path, sop in connection.execute("SELECT path, sop_uid FROM instances")
        }
        paths.update(
            {str(path): str(sop) for path, sop in connection.execute("SELECT path, sop_uid FROM superseded")}
        )
        return paths

    def superseded_rows(self) -> list[tuple[str, str]]:
        return [
            (str(p), str(s)) for p, s in self.connection().execute("SELECT path, sop_uid FROM superseded")
        ]

    def studies(self, search: str = "") -> list[StudySummary]:
        """Studies, newest first; ``search`` matches name, ID, accession or description (case-insensitive)."""
        where, params = "", []
        if search.strip():
            where = (
                "WHERE casefold(p.patient_name) LIKE ? ESCAPE '\\' "
                "OR casefold(p.patient_id) LIKE ? ESCAPE '\\' "
                "OR casefold(st.accession_number) LIKE ? ESCAPE '\\' "
                "OR casefold(st.study_description) LIKE ? ESCAPE '\\'"
            )
            escaped = search.strip().casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params = [f"%{escaped}%"] * 4
        rows = self.connection().execute(
            "SELECT st.study_uid, p.patient_name, p.patient_id, p.patient_birth_date, p.patient_sex, "
            "st.study_date, st.study_time, st.accession_number, st.study_id, st.study_description, "
            "st.referring_physician_name, "
            "(SELECT group_concat(DISTINCT modality) FROM series WHERE study_uid = st.study_uid), "
            "(SELECT COUNT(*) FROM series WHERE study_uid = st.study_uid), "
            "(SELECT COUNT(*) FROM instances i JOIN series se USING (series_uid) "
            "WHERE se.study_uid = st.study_uid) "
            f"FROM studies st JOIN patients p ON p.id = st.patient_key {where} "
            "ORDER BY st.study_date DESC, st.study_time DESC, p.patient_name",
            params,
        )
        return [
            StudySummary(
                study_instance_uid=row[0],
                patient_name=row[1],
                patient_id=row[2],
                patient_birth_date=row[3],
                patient_sex=row[4],
                study_date=row[5],
                study_time=row[6],
                accession_number=row[7],
                study_id=row[8],
                study_description=row[9],
                referring_physician_name=row[10],
                modalities=tuple(sorted(m for m in (row[11] or "").split(",") if m)),
                number_of_series=row[12],
                number_of_instances=row[13],
            )
            for row in rows
        ]

    def series_of(self, study_uid: str) -> list[SeriesSummary]:
        rows = self.connection().execute(
            "SELECT series_uid, study_uid, modality, series_number, series_description, "
            "(SELECT COUNT(*) FROM instances i WHERE i.series_uid = se.series_uid) "
            "FROM series se WHERE study_uid = ? ORDER BY series_number, series_uid",
            (study_uid,),
        )
        return [SeriesSummary(*row) for row in rows]
