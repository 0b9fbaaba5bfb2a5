"""The few attributes the index keeps, read from a data set without touching its pixel data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from app.archive.errors import InvalidInstanceError

# What the index stores; the commit of a streamed receive reads only these (plus the character set,
# without which person names cannot be decoded) with ``specific_tags`` and ``stop_before_pixels``.
INDEXED_KEYWORDS: tuple[str, ...] = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    "ReferringPhysicianName",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SOPInstanceUID",
    "SOPClassUID",
    "InstanceNumber",
)


@dataclass(frozen=True, slots=True)
class IndexedHeader:
    """The index's view of one instance (strings are never None; empty means absent)."""

    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    study_uid: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    referring_physician_name: str
    series_uid: str
    modality: str
    series_number: int | None
    series_description: str
    sop_uid: str
    sop_class_uid: str
    instance_number: int | None


def text_value(ds: Dataset, keyword: str) -> str:
    """The attribute as stripped text; multiple values joined by a backslash, as on the wire."""
    value: Any = ds.get(keyword, None)
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):  # multi-valued (e.g. a CS with a backslash)
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip("\0 ")


def _person_name(ds: Dataset, keyword: str) -> str:
    value: Any = ds.get(keyword, None)
    if value is None:
        return ""
    # PS3.5 6.2: trailing empty components ("SMITH^JOHN^^^") carry no meaning; drop them so that
    # an exact match on "SMITH^JOHN" finds the instance.
    text = str(value if isinstance(value, PersonName) else PersonName(value)).strip("\0 ")
    return "=".join(group.rstrip("^") for group in text.split("=")).rstrip("=")


def _date(ds: Dataset, keyword: str) -> str:
    # ACR-NEMA style "2020.01.31" still appears in old files; the index keeps YYYYMMDD.
    return text_value(ds, keyword).replace(".", "")


def _time(ds: Dataset, keyword: str) -> str:
    return text_value(ds, keyword).replace(":", "")


def _integer(ds: Dataset, keyword: str) -> int | None:
    text = text_value(ds, keyword)
    try:
        return int(float(text)) if text else None
    except ValueError:
        return None


def _required_uid(ds: Dataset, keyword: str) -> str:
    uid = text_value(ds, keyword)
    if not uid:
        raise InvalidInstanceError(
            f"The data set has no {keyword}; the archive files every instance under its patient, "
            "study and series, so the sending system must fill it in."
        )
    return uid


def header_from_dataset(ds: Dataset) -> IndexedHeader:
    """Extract the indexed attributes; raises :class:`InvalidInstanceError` if a hierarchy UID is missing."""
    return IndexedHeader(
        patient_name=_person_name(ds, "PatientName"),
        patient_id=text_value(ds, "PatientID"),
        patient_birth_date=_date(ds, "PatientBirthDate"),
        patient_sex=text_value(ds, "PatientSex"),
        study_uid=_required_uid(ds, "StudyInstanceUID"),
        study_date=_date(ds, "StudyDate"),
        study_time=_time(ds, "StudyTime"),
        accession_number=text_value(ds, "AccessionNumber"),
        study_id=text_value(ds, "StudyID"),
        study_description=text_value(ds, "StudyDescription"),
        referring_physician_name=_person_name(ds, "ReferringPhysicianName"),
        series_uid=_required_uid(ds, "SeriesInstanceUID"),
        modality=text_value(ds, "Modality"),
        series_number=_integer(ds, "SeriesNumber"),
        series_description=text_value(ds, "SeriesDescription"),
        sop_uid=_required_uid(ds, "SOPInstanceUID"),
        sop_class_uid=_required_uid(ds, "SOPClassUID"),
        instance_number=_integer(ds, "InstanceNumber"),
    )
