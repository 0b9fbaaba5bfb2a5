"""Where an instance lives on disk, derived only from validated or hashed values.

Nothing read from a data set ever reaches the file system unchecked: UIDs must match the PS3.5 9.1
UID grammar (digits and dots, no leading zeros, at most 64 characters) or are replaced by a hash, and
the patient folder name keeps only a short safe ASCII slug followed by a hash of the full Patient ID.
So a SOP Instance UID of ``../../x`` or ``a/b`` can never escape the archive root.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path, PurePosixPath

# PS3.5 9.1: components of digits separated by '.', no leading zero unless the component is "0".
_UID_GRAMMAR = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_MAX_UID_LENGTH = 64
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SLUG_LENGTH = 24

INDEX_FILE_NAME = "index.sqlite"
INCOMING_DIR_NAME = ".incoming"
QUARANTINE_DIR_NAME = ".quarantine"
INSTANCE_SUFFIX = ".dcm"


def is_valid_uid(value: str) -> bool:
    """True if ``value`` follows the PS3.5 9.1 UID grammar and length limit."""
    return 0 < len(value) <= _MAX_UID_LENGTH and _UID_GRAMMAR.match(value) is not None


def _digest(value: str, length: int = 32) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def uid_component(uid: str) -> str:
    """A path component for a UID: the UID itself when valid, otherwise ``x`` + a hash of it."""
    uid = uid.strip("\0 ")
    return uid if is_valid_uid(uid) else f"x{_digest(uid)}"


def patient_component(patient_id: str) -> str:
    """A path component for a patient: safe ASCII slug of the ID + hash of the full ID.

    The hash keeps two IDs that slug identically (``A/B`` and ``A_B``) in separate folders.
    """
    ascii_id = unicodedata.normalize("NFKD", patient_id).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_UNSAFE.sub("_", ascii_id).strip("_")[:_SLUG_LENGTH] or "anonymous"
    return f"{slug}-{_digest(patient_id, 10)}"


def relative_instance_path(
    patient_id: str, study_uid: str, series_uid: str, sop_uid: str, *, version: str = ""
) -> PurePosixPath:
    """``<patient>/<study>/<series>/<sop>[~version].dcm`` relative to the archive root.

    ``version`` (a checksum prefix) names an additional copy kept by KEEP_BOTH_IF_DIFFERENT.
    """
    name = uid_component(sop_uid)
    if version:
        name = f"{name}~{_SLUG_UNSAFE.sub('', version)[:16]}"
    return PurePosixPath(
        patient_component(patient_id),
        uid_component(study_uid),
        uid_component(series_uid),
        name + INSTANCE_SUFFIX,
    )


def resolve_inside(root: Path, relative: str | PurePosixPath) -> Path:
    """``root / relative``, refusing any path (e.g. from a tampered index) that leaves ``root``."""
    candidate = (root / Path(relative)).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise ValueError(f"{relative!s} points outside the archive root {root}")
    return candidate
