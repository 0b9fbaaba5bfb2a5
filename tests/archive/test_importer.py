"""Specification of importing folders, files and DICOMDIR media."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydicom.fileset import FileSet

from app.archive import Archive, ImportProgress
from tests.archive.helpers import make_instance

# The broken file in the tree makes pydicom warn while it is (rightly) refused.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def write_part10(path: Path, **attributes: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = make_instance(**attributes)  # type: ignore[arg-type]
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Two good files, junk, a broken DICOM file and an empty folder."""
    root = tmp_path / "tree"
    write_part10(root / "a.dcm", patient_id="A")
    write_part10(root / "deeper" / "still" / "IM0001", patient_id="B")
    (root / "notes.txt").write_text("not DICOM")
    (root / "thumbs.db").write_bytes(b"\x00" * 500)
    (root / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff" + b"garbage")
    (root / "empty").mkdir()
    return root


def test_a_tree_is_imported_recursively_junk_skipped_and_broken_files_reported(
    archive: Archive, tree: Path
) -> None:
    report = archive.import_paths([tree])

    assert report.imported == 2
    assert report.skipped_non_dicom == 2
    assert list(report.failed) == [(tree / "broken.dcm").resolve()]
    assert report.failed[(tree / "broken.dcm").resolve()]  # with a reason
    assert not report.cancelled
    assert sorted(s.patient_id for s in archive.studies()) == ["A", "B"]


def test_importing_again_counts_duplicates(archive: Archive, tree: Path) -> None:
    archive.import_paths([tree])
    again = archive.import_paths([tree / "a.dcm"])
    assert (again.imported, again.duplicates) == (0, 1)


def test_imported_files_are_byte_for_byte_copies(archive: Archive, tree: Path) -> None:
    archive.import_paths([tree / "a.dcm"])
    (study,) = archive.studies()
    (series,) = archive.series_of(study.study_instance_uid)
    (instance,) = archive.instances_of(series.series_instance_uid)
    assert instance.path.read_bytes() == (tree / "a.dcm").read_bytes()


def test_a_dicomdir_brings_in_the_files_it_references(archive: Archive, tmp_path: Path) -> None:
    media = tmp_path / "media"
    file_set = FileSet()
    uids = []
    for patient in ("M1", "M2"):
        ds = make_instance(patient_id=patient)
        uids.append(str(ds.SOPInstanceUID))
        file_set.add(ds)
    file_set.write(media)
    assert (media / "DICOMDIR").is_file()

    report = archive.import_paths([media / "DICOMDIR"])  # only the DICOMDIR is named

    assert (report.dicomdirs, report.imported, report.failed) == (1, 2, {})
    assert all(archive.get(uid) is not None for uid in uids)
    # Walking the media folder finds the same files once, not twice.
    assert archive.import_paths([media]).duplicates == 2


def test_progress_is_reported_after_every_file(archive: Archive, tree: Path) -> None:
    seen: list[ImportProgress] = []
    archive.import_paths([tree], progress=seen.append)
    assert [p.done for p in seen] == [1, 2, 3, 4, 5]
    assert {p.total for p in seen} == {5}


def test_cancel_stops_between_files(archive: Archive, tree: Path) -> None:
    cancel = threading.Event()
    report = archive.import_paths([tree], progress=lambda _: cancel.set(), cancel=cancel)
    assert report.cancelled
    assert report.imported + report.skipped_non_dicom + len(report.failed) == 1


def test_a_missing_path_is_not_an_error(archive: Archive, tmp_path: Path) -> None:
    report = archive.import_paths([tmp_path / "nowhere"])
    assert (report.imported, report.failed) == (0, {})
