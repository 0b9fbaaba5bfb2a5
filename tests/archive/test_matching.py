"""Specification of C-FIND matching (PS3.4 C.2.2.2) and of the C-MOVE/C-GET look-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from app.archive import Archive, InvalidQueryError
from tests.archive.helpers import make_instance

S1, S2, S3, S4 = "1.2.1", "1.2.2", "1.2.3", "1.2.4"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    root: Path = tmp_path_factory.mktemp("matching")
    with Archive(root / "archive") as archive:

        def add(study: str, series: str, sop: str, **kw: Any) -> None:
            archive.store_dataset(
                make_instance(study_uid=study, series_uid=series, sop_uid=sop, pixel_size=0, **kw)
            )

        doe = {
            "patient_id": "P1",
            "patient_name": "DOE^JANE",
            "StudyDate": "20200115",
            "StudyTime": "101500",
            "StudyDescription": "CT HEAD",
            "AccessionNumber": "ACC1",
        }
        add(S1, "1.3.1", "1.4.1", modality="CT", SeriesNumber=1, InstanceNumber=1, **doe)
        add(S1, "1.3.1", "1.4.2", modality="CT", SeriesNumber=1, InstanceNumber=2, **doe)
        add(S1, "1.3.2", "1.4.3", modality="MR", SeriesNumber=2, InstanceNumber=1, **doe)
        add(
            S2,
            "1.3.3",
            "1.4.4",
            modality="MR",
            patient_id="P2",
            patient_name="Smith^John",
            StudyDate="20201231",
            StudyTime="235959",
            StudyDescription="MR KNEE",
            AccessionNumber="ACC2",
        )
        add(
            S3,
            "1.3.4",
            "1.4.5",
            modality="CR",
            patient_id="P3",
            patient_name="O'BRIEN^PAT_100%",
            StudyDate="",
            StudyTime="",
            StudyDescription="CHEST [PA] 100%_",
            AccessionNumber="ACC3",
        )
        add(
            S4,
            "1.3.5",
            "1.4.6",
            modality="CT",
            patient_id="P4",
            patient_name="MÜLLER^ANNA",
            StudyDate="20190601",
            StudyTime="080000",
            StudyDescription="CT CHEST",
            AccessionNumber="ACC4",
            SpecificCharacterSet="ISO_IR 192",
        )
        yield archive


def query(**keys: Any) -> Dataset:
    identifier = Dataset()
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return identifier


def studies(archive: Archive, **keys: Any) -> list[str]:
    keys.setdefault("StudyInstanceUID", "")
    return sorted(r.StudyInstanceUID for r in archive.find("STUDY", query(**keys)))


class TestUniversalAndSingleValue:
    def test_empty_values_match_everything_and_are_returned(self, archive: Archive) -> None:
        results = list(archive.find("STUDY", query(PatientName="", StudyDate="", StudyInstanceUID="")))
        assert sorted(r.StudyInstanceUID for r in results) == [S1, S2, S3, S4]
        doe = next(r for r in results if r.StudyInstanceUID == S1)
        assert (doe.PatientName, doe.StudyDate) == ("DOE^JANE", "20200115")

    @pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
    def test_a_lone_asterisk_is_universal_matching_and_matches_empty_values(self, archive: Archive) -> None:
        assert studies(archive, StudyDate="*", AccessionNumber="*") == [S1, S2, S3, S4]

    def test_single_value_is_exact_and_case_sensitive_for_non_names(self, archive: Archive) -> None:
        assert studies(archive, PatientID="P1") == [S1]
        assert studies(archive, StudyDescription="CT HEAD") == [S1]
        assert studies(archive, StudyDescription="ct head") == []
        assert studies(archive, StudyDescription="CT") == []

    def test_person_names_match_case_insensitively_including_non_ascii(self, archive: Archive) -> None:
        assert studies(archive, PatientName="smith^john") == [S2]
        assert studies(archive, PatientName="müller^anna") == [S4]
        assert studies(archive, PatientName="DOE^JANE^^") == [S1]  # trailing empty components

    def test_several_keys_must_all_match(self, archive: Archive) -> None:
        assert studies(archive, PatientID="P1", AccessionNumber="ACC1") == [S1]
        assert studies(archive, PatientID="P1", AccessionNumber="ACC2") == []


class TestWildcards:
    def test_asterisk_matches_any_run_of_characters(self, archive: Archive) -> None:
        assert studies(archive, PatientName="DOE*") == [S1]
        assert studies(archive, StudyDescription="*KNEE") == [S2]
        assert studies(archive, StudyDescription="CT*") == [S1, S4]
        assert studies(archive, PatientName="*an*") == [S1, S4]  # case-insensitive for PN

    def test_question_mark_matches_exactly_one_character(self, archive: Archive) -> None:
        assert studies(archive, PatientName="D?E^JANE") == [S1]
        assert studies(archive, AccessionNumber="ACC?") == [S1, S2, S3, S4]
        assert studies(archive, AccessionNumber="ACC??") == []

    def test_sql_and_glob_metacharacters_are_literal(self, archive: Archive) -> None:
        assert studies(archive, StudyDescription="CHEST [PA]*") == [S3]
        assert studies(archive, StudyDescription="*100%_") == [S3]
        assert studies(archive, StudyDescription="*[P]*") == []
        assert studies(archive, StudyDescription="%") == []
        assert studies(archive, PatientName="o'brien*") == [S3]


class TestRanges:
    def test_closed_date_range_is_inclusive(self, archive: Archive) -> None:
        assert studies(archive, StudyDate="20200115-20201231") == [S1, S2]

    def test_open_ranges(self, archive: Archive) -> None:
        assert studies(archive, StudyDate="20200601-") == [S2]
        assert studies(archive, StudyDate="-20200115") == [S1, S4]  # S3 has no date: no match

    def test_a_single_date_is_exact(self, archive: Archive) -> None:
        assert studies(archive, StudyDate="20190601") == [S4]

    def test_time_ranges_compare_at_the_precision_given(self, archive: Archive) -> None:
        assert studies(archive, StudyTime="1000-1100") == [S1]
        assert studies(archive, StudyTime="-1015") == [S1, S4]  # 10:15:00 is inside "up to 10:15"
        assert studies(archive, StudyTime="2359-") == [S2]


class TestLists:
    def test_a_list_of_uids_matches_any_of_them(self, archive: Archive) -> None:
        assert studies(archive, StudyInstanceUID=[S1, S3]) == [S1, S3]
        assert studies(archive, StudyInstanceUID=f"{S2}\\{S4}") == [S2, S4]

    def test_modalities_in_study_matches_studies_with_any_series_of_those_modalities(
        self, archive: Archive
    ) -> None:
        assert studies(archive, ModalitiesInStudy="MR") == [S1, S2]
        assert studies(archive, ModalitiesInStudy=["CT", "CR"]) == [S1, S3, S4]


class TestResponses:
    def test_only_requested_keys_plus_level_and_unique_key_come_back(self, archive: Archive) -> None:
        (result,) = archive.find("STUDY", query(PatientID="P2"))
        assert sorted(e.keyword for e in result) == ["PatientID", "QueryRetrieveLevel", "StudyInstanceUID"]
        assert (result.QueryRetrieveLevel, result.StudyInstanceUID) == ("STUDY", S2)

    def test_derived_study_attributes(self, archive: Archive) -> None:
        (result,) = archive.find(
            "STUDY",
            query(
                StudyInstanceUID=S1,
                ModalitiesInStudy="",
                NumberOfStudyRelatedSeries="",
                NumberOfStudyRelatedInstances="",
            ),
        )
        assert list(result.ModalitiesInStudy) == ["CT", "MR"]
        assert (result.NumberOfStudyRelatedSeries, result.NumberOfStudyRelatedInstances) == (2, 3)

    def test_unknown_and_lower_level_keys_come_back_empty(self, archive: Archive) -> None:
        (result,) = archive.find(
            "STUDY", query(StudyInstanceUID=S1, InstitutionName="", SOPInstanceUID="1.4.1")
        )
        assert result.InstitutionName in (None, "")
        assert result.SOPInstanceUID in (None, "")

    def test_non_ascii_values_are_announced_as_utf8(self, archive: Archive) -> None:
        (result,) = archive.find("STUDY", query(StudyInstanceUID=S4, PatientName=""))
        assert result.SpecificCharacterSet == "ISO_IR 192"
        assert str(result.PatientName) == "MÜLLER^ANNA"


class TestLevelsAndRoots:
    def test_patient_level_under_patient_root(self, archive: Archive) -> None:
        results = list(
            archive.find(
                "PATIENT",
                query(PatientID="", PatientName="", NumberOfPatientRelatedStudies=""),
                root="PATIENT",
            )
        )
        assert sorted(r.PatientID for r in results) == ["P1", "P2", "P3", "P4"]
        assert next(r for r in results if r.PatientID == "P1").NumberOfPatientRelatedStudies == 1

    def test_study_root_has_no_patient_level(self, archive: Archive) -> None:
        with pytest.raises(InvalidQueryError, match="no PATIENT level"):
            archive.find("PATIENT", query(PatientID=""), root="STUDY")

    def test_study_level_under_patient_root_needs_a_single_patient_id(self, archive: Archive) -> None:
        with pytest.raises(InvalidQueryError, match="single PatientID"):
            archive.find("STUDY", query(StudyInstanceUID=""), root="PATIENT")
        found = archive.find("STUDY", query(PatientID="P1", StudyInstanceUID=""), root="PATIENT")
        assert [r.StudyInstanceUID for r in found] == [S1]

    @pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
    def test_series_level_needs_the_study_uid(self, archive: Archive) -> None:
        with pytest.raises(InvalidQueryError, match="single StudyInstanceUID"):
            archive.find("SERIES", query(SeriesInstanceUID="", Modality="CT"))
        with pytest.raises(InvalidQueryError):
            archive.find("SERIES", query(StudyInstanceUID="1.2.*", SeriesInstanceUID=""))
        found = archive.find(
            "SERIES", query(StudyInstanceUID=S1, Modality="", NumberOfSeriesRelatedInstances="")
        )
        assert sorted((r.Modality, r.NumberOfSeriesRelatedInstances) for r in found) == [("CT", 2), ("MR", 1)]

    def test_image_level_with_integer_keys(self, archive: Archive) -> None:
        found = archive.find(
            "IMAGE", query(StudyInstanceUID=S1, SeriesInstanceUID="1.3.1", InstanceNumber="2", SOPClassUID="")
        )
        assert [r.SOPInstanceUID for r in found] == ["1.4.2"]
        with pytest.raises(InvalidQueryError, match="single SeriesInstanceUID"):
            archive.find("IMAGE", query(StudyInstanceUID=S1, SOPInstanceUID=""))

    def test_an_unknown_level_is_refused(self, archive: Archive) -> None:
        with pytest.raises(InvalidQueryError, match="Level"):
            archive.find("FRAME", query())  # type: ignore[arg-type]


class TestInstancesForRetrieve:
    @pytest.mark.parametrize(
        ("level", "keys", "expected"),
        [
            ("PATIENT", {"PatientID": "P1"}, ["1.4.1", "1.4.2", "1.4.3"]),
            ("STUDY", {"StudyInstanceUID": [S2, S4]}, ["1.4.4", "1.4.6"]),
            ("SERIES", {"StudyInstanceUID": S1, "SeriesInstanceUID": "1.3.2"}, ["1.4.3"]),
            ("IMAGE", {"SOPInstanceUID": ["1.4.1", "1.4.5", "9.9"]}, ["1.4.1", "1.4.5"]),
            ("STUDY", {"StudyInstanceUID": "9.9.9"}, []),
        ],
    )
    def test_unique_keys_select_the_instances_to_send(
        self, archive: Archive, level: Any, keys: dict[str, Any], expected: list[str]
    ) -> None:
        found = archive.instances_for(level, query(**keys))
        assert sorted(i.sop_instance_uid for i in found) == expected
        assert all(i.path.is_file() for i in found)
