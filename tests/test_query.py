"""The query form's fields as C-FIND identifiers: presets, wildcards, return keys."""

from __future__ import annotations

from datetime import date

import pytest

from app.query import StudyQuery, series_identifier, study_date_range, study_identifier

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("Any date", ""),
        ("Today", "20261124"),
        ("Yesterday", "20261123"),
        ("Last 7 days", "20261118-20261124"),
        ("Last 30 days", "20261026-20261124"),
    ],
)
def test_date_presets_become_dicom_ranges(preset: str, expected: str) -> None:
    assert study_date_range(preset, TODAY) == expected


def test_a_custom_range_may_be_open_at_either_end_or_swapped() -> None:
    assert study_date_range("Custom range", TODAY, date(2024, 1, 1), None) == "20240101-"
    assert study_date_range("Custom range", TODAY, None, date(2024, 12, 31)) == "-20241231"
    assert (
        study_date_range("Custom range", TODAY, date(2024, 12, 31), date(2024, 1, 1)) == "20240101-20241231"
    )
    assert study_date_range("Custom range", TODAY, date(2024, 5, 5), date(2024, 5, 5)) == "20240505"


def test_an_empty_form_asks_for_every_study_with_its_return_keys() -> None:
    ds = study_identifier(StudyQuery(), TODAY)
    assert ds.QueryRetrieveLevel == "STUDY"
    assert ds.PatientName == "" and ds.StudyDate == "" and ds.StudyInstanceUID == ""
    assert "NumberOfStudyRelatedInstances" in ds


def test_a_plain_name_matches_as_a_prefix_and_wildcards_are_kept() -> None:
    assert study_identifier(StudyQuery(patient_name="smith")).PatientName == "smith*"
    assert study_identifier(StudyQuery(patient_name="SM?TH^J*")).PatientName == "SM?TH^J*"


def test_several_modalities_are_a_list() -> None:
    assert list(study_identifier(StudyQuery(modalities=("CT", "MR"))).ModalitiesInStudy) == ["CT", "MR"]
    assert study_identifier(StudyQuery(modalities=("CT",))).ModalitiesInStudy == "CT"


def test_birth_date_and_other_fields() -> None:
    ds = study_identifier(
        StudyQuery(
            patient_id=" P1 ", birth_date=date(1970, 2, 3), accession_number="A1", study_description="CT*"
        ),
        TODAY,
    )
    assert (ds.PatientID, ds.PatientBirthDate, ds.AccessionNumber, ds.StudyDescription) == (
        "P1", "19700203", "A1", "CT*",
    )  # fmt: skip


def test_series_identifier_lists_one_studys_series() -> None:
    ds = series_identifier("1.2.3")
    assert ds.QueryRetrieveLevel == "SERIES" and ds.StudyInstanceUID == "1.2.3" and "Modality" in ds
