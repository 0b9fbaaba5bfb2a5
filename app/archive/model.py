"""Value objects of the archive API: policies, stored instances, change events, reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


class DuplicatePolicy(enum.Enum):
    """What to do when an instance arrives whose SOP Instance UID is already archived.

    KEEP_EXISTING
        The archived copy wins; the new one is discarded (streamed bytes are not even written).
    REPLACE
        The new copy replaces the archived one: same file path when the hierarchy is unchanged
        (overwritten atomically with ``os.replace``), and the index row is updated.
    KEEP_BOTH_IF_DIFFERENT
        Identical content (same SHA-256) is ignored. Different content is stored in a second file
        ``<sop>~<sha256 prefix>.dcm``; the index points to the newest copy and the older copy is
        listed in the ``superseded`` table (kept on disk, removed by ``delete``).
    """

    KEEP_EXISTING = "keep-existing"
    REPLACE = "replace"
    KEEP_BOTH_IF_DIFFERENT = "keep-both-if-different"


class StoreOutcome(enum.Enum):
    """What a store did with an instance (the C-STORE SCP maps this onto a status)."""

    STORED = "stored"  # new SOP Instance UID
    REPLACED = "replaced"  # REPLACE policy overwrote an archived copy
    KEPT_BOTH = "kept-both"  # KEEP_BOTH_IF_DIFFERENT stored a second, different copy
    DUPLICATE_IGNORED = "duplicate-ignored"  # the archived copy was kept; nothing written


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """One archived instance as the index knows it."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    transfer_syntax_uid: str
    path: Path
    size: int
    sha256: str
    received_at: datetime
    source_ae: str = ""
    instance_number: int | None = None
    outcome: StoreOutcome = StoreOutcome.STORED


class ChangeKind(enum.StrEnum):
    """Kinds of :class:`ArchiveChange` (string values, so ``kind == "instance-added"`` works)."""

    INSTANCE_ADDED = "instance-added"
    INSTANCE_REPLACED = "instance-replaced"
    INSTANCE_REMOVED = "instance-removed"


@dataclass(frozen=True, slots=True)
class ArchiveChange:
    """A change to the archive, sent to subscribers from the thread that made it."""

    kind: ChangeKind
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str


@dataclass(frozen=True, slots=True)
class StudySummary:
    """One row of the study browser."""

    study_instance_uid: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    referring_physician_name: str
    modalities: tuple[str, ...]
    number_of_series: int
    number_of_instances: int


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """One series of a study, for the browser."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    number_of_instances: int


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Progress of :meth:`Archive.import_paths`, reported after each file."""

    done: int
    total: int
    current: Path | None


@dataclass(slots=True)
class ImportReport:
    """What an import did. ``failed`` maps each broken DICOM file to the reason it was refused."""

    imported: int = 0
    duplicates: int = 0
    skipped_non_dicom: int = 0
    dicomdirs: int = 0
    failed: dict[Path, str] = field(default_factory=dict)
    cancelled: bool = False


@dataclass(slots=True)
class ExportReport:
    """What an export did."""

    exported: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False


@dataclass(slots=True)
class RepairReport:
    """What :meth:`Archive.check_and_repair` found and fixed at startup."""

    removed_partials: list[Path] = field(default_factory=list)
    removed_rows: list[str] = field(default_factory=list)  # SOP UIDs whose file was missing
    unindexed_files: list[Path] = field(default_factory=list)  # complete files the index did not name
    reindexed: list[Path] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)  # unreadable files moved to .quarantine

    @property
    def clean(self) -> bool:
        """True if the archive needed no repair."""
        return not (self.removed_partials or self.removed_rows or self.unindexed_files or self.quarantined)
