"""Specification of exporting to a folder and of the demo archive."""

from __future__ import annotations

import threading
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from app.archive import Archive, ImportProgress, seed_demo
from tests.archive.helpers import make_instance


def test_export_copies_the_chosen_study_byte_for_byte(archive: Archive, tmp_path: Path) -> None:
    study = generate_uid()
    chosen = [archive.store_dataset(make_instance(study_uid=study)) for _ in range(3)]
    archive.store_dataset(make_instance())  # another study, not exported
    seen: list[ImportProgress] = []

    report = archive.export(tmp_path / "out", studies=[study], progress=seen.append)

    assert len(report.exported) == 3 and report.failed == {} and not report.cancelled
    assert sorted(p.read_bytes() for p in report.exported) == sorted(i.path.read_bytes() for i in chosen)
    assert all(p.is_relative_to(tmp_path / "out") for p in report.exported)
    assert [p.done for p in seen] == [1, 2, 3]


def test_export_of_series_and_instances_and_cancel(archive: Archive, tmp_path: Path) -> None:
    series = generate_uid()
    first = archive.store_dataset(make_instance(series_uid=series))
    second = archive.store_dataset(make_instance(series_uid=series, study_uid=first.study_instance_uid))
    cancel = threading.Event()
    cancel.set()
    assert archive.export(tmp_path / "none", series=[series], cancel=cancel).cancelled
    report = archive.export(tmp_path / "out", series=[series], instances=[second.sop_instance_uid])
    assert len(report.exported) == 2  # the instance is not exported twice


def test_export_reports_a_missing_file_and_goes_on(archive: Archive, tmp_path: Path) -> None:
    study = generate_uid()
    lost = archive.store_dataset(make_instance(study_uid=study))
    archive.store_dataset(make_instance(study_uid=study))
    lost.path.unlink()
    report = archive.export(tmp_path / "out", studies=[study])
    assert list(report.failed) == [lost.sop_instance_uid]
    assert len(report.exported) == 1


def test_the_demo_archive_is_queryable_like_a_pacs(archive: Archive) -> None:
    stored = seed_demo(archive, patients=3, studies_per_patient=2, images_per_series=2)

    studies = archive.studies()
    assert len({s.patient_id for s in studies}) == 3
    assert len(studies) == 6
    assert all(s.modalities and set(s.modalities) <= {"CT", "MR"} for s in studies)
    assert sum(s.number_of_instances for s in studies) == len(stored)
    image = pydicom.dcmread(stored[0].path)
    assert image.pixel_array.shape == (64, 64)

    identifier = Dataset()
    identifier.PatientName = "doe*"
    identifier.StudyDescription = ""
    assert [r.PatientName for r in archive.find("STUDY", identifier)] == ["DOE^JANE", "DOE^JANE"]
    assert archive.check_and_repair().clean
