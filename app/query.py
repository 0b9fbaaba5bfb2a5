"""What the query form asks, as C-FIND identifiers (PS3.4 C.6.2, Study Root): no Qt here.

Empty fields are return keys (universal matching); the study-date presets become DICOM date ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pydicom.dataset import Dataset

DATE_PRESETS: tuple[str, ...] = (
    "Any date",
    "Today",
    "Yesterday",
    "Last 7 days",
    "Last 30 days",
    "Custom range",
)

# What the study table shows; each is asked for as a return key.
STUDY_RETURN_KEYS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "StudyDescription",
    "ReferringPhysicianName",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "StudyInstanceUID",
)
SERIES_RETURN_KEYS: tuple[str, ...] = (
    "SeriesNumber",
    "Modality",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
    "SeriesDate",
    "SeriesInstanceUID",
)


@dataclass(frozen=True)
class StudyQuery:
    patient_name: str = ""
    patient_id: str = ""
    birth_date: date | None = None
    accession_number: str = ""
    date_preset: str = "Any date"
    date_from: date | None = None
    date_to: date | None = None
    modalities: tuple[str, ...] = ()
    study_description: str = ""
    referring_physician: str = ""


def dicom_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def study_date_range(preset: str, today: date, start: date | None = None, end: date | None = None) -> str:
    """The StudyDate matching value for a preset (PS3.4 C.2.2.2.5 range matching); "" is any date."""
    if preset == "Any date":
        return ""
    if preset == "Today":
        return dicom_date(today)
    if preset == "Yesterday":
        return dicom_date(today - timedelta(days=1))
    if preset == "Last 7 days":
        return f"{dicom_date(today - timedelta(days=6))}-{dicom_date(today)}"
    if preset == "Last 30 days":
        return f"{dicom_date(today - timedelta(days=29))}-{dicom_date(today)}"
    if preset == "Custom range":
        if start and end and start > end:
            start, end = end, start
        if start and end and start == end:
            return dicom_date(start)
        if not (start or end):
            return ""
        # An open end is allowed: "20240101-" is "since", "-20241231" is "until".
        return f"{dicom_date(start) if start else ''}-{dicom_date(end) if end else ''}"
    raise ValueError(f"unknown study date preset {preset!r}")


def _name_value(text: str) -> str:
    """Person names: what a clinician types ("smith") finds SMITH^JOHN; wildcards are kept."""
    text = text.strip()
    if not text or "*" in text or "?" in text:
        return text
    return text + "*"


def study_identifier(query: StudyQuery, today: date | None = None) -> Dataset:
    """The Study Root C-FIND identifier at STUDY level for ``query``."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in STUDY_RETURN_KEYS:
        setattr(ds, keyword, "")
    ds.PatientName = _name_value(query.patient_name)
    ds.PatientID = query.patient_id.strip()
    ds.PatientBirthDate = dicom_date(query.birth_date) if query.birth_date else ""
    ds.AccessionNumber = query.accession_number.strip()
    ds.StudyDate = study_date_range(query.date_preset, today or date.today(), query.date_from, query.date_to)
    ds.ModalitiesInStudy = list(query.modalities) if len(query.modalities) > 1 else "".join(query.modalities)
    ds.StudyDescription = query.study_description.strip()
    ds.ReferringPhysicianName = _name_value(query.referring_physician)
    return ds


def series_identifier(study_instance_uid: str) -> Dataset:
    """The Study Root C-FIND identifier listing one study's series."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_instance_uid
    for keyword in SERIES_RETURN_KEYS:
        setattr(ds, keyword, "")
    return ds
