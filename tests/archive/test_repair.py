"""Specification of the startup check: crashes (including kill -9) leave no half instance behind."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.archive import Archive
from tests.archive.helpers import make_instance

REPO = Path(__file__).resolve().parents[2]


def assert_consistent(archive: Archive) -> None:
    """Every index row names a complete file with its checksum; every file is indexed; nothing incoming."""
    indexed = archive.index.indexed_relative_paths()
    for relative in indexed:
        path = archive.root / relative
        assert path.is_file(), relative
    for study in archive.studies():
        for series in archive.series_of(study.study_instance_uid):
            for instance in archive.instances_of(series.series_instance_uid):
                assert hashlib.sha256(instance.path.read_bytes()).hexdigest() == instance.sha256
    on_disk = {
        p.relative_to(archive.root).as_posix()
        for p in archive.root.rglob("*.dcm")
        if not p.relative_to(archive.root).parts[0].startswith(".")
    }
    assert on_disk == set(indexed)
    assert list(archive.incoming_dir.iterdir()) == []


class TestCheckAndRepair:
    def test_a_healthy_archive_needs_nothing(self, archive: Archive) -> None:
        archive.store_dataset(make_instance())
        assert archive.check_and_repair().clean

    def test_leftover_partial_files_are_removed(self, archive: Archive) -> None:
        leftover = archive.incoming_dir / "abc.part"
        leftover.write_bytes(b"half an instance")
        report = archive.check_and_repair()
        assert report.removed_partials == [leftover]
        assert not leftover.exists()

    def test_rows_whose_file_vanished_are_removed_with_their_empty_hierarchy(self, archive: Archive) -> None:
        kept = archive.store_dataset(make_instance(patient_id="KEEP"))
        lost = archive.store_dataset(make_instance(patient_id="LOST"))
        lost.path.unlink()

        report = archive.check_and_repair()

        assert report.removed_rows == [lost.sop_instance_uid]
        assert archive.get(lost.sop_instance_uid) is None
        assert [s.patient_id for s in archive.studies()] == [kept.patient_id]
        assert_consistent(archive)

    def test_a_complete_but_unindexed_file_is_reindexed(self, archive: Archive, tmp_path: Path) -> None:
        stored = archive.store_dataset(make_instance())
        saved = tmp_path / "saved.dcm"
        shutil.copyfile(stored.path, saved)
        archive.delete(instances=[stored.sop_instance_uid])
        stored.path.parent.mkdir(parents=True)
        shutil.copyfile(saved, stored.path)  # as if the index transaction never committed

        report = archive.check_and_repair()

        assert report.unindexed_files == [stored.path] and report.reindexed == [stored.path]
        assert archive.get(stored.sop_instance_uid) is not None
        assert_consistent(archive)

    def test_reindex_false_only_reports(self, archive: Archive, tmp_path: Path) -> None:
        stored = archive.store_dataset(make_instance())
        with archive.index.transaction() as connection:
            archive.index.remove_instance(connection, stored.sop_instance_uid)
        report = archive.check_and_repair(reindex=False)
        assert report.unindexed_files == [stored.path] and report.reindexed == []
        assert stored.path.exists()

    def test_a_stale_copy_of_an_archived_instance_is_removed(self, archive: Archive) -> None:
        stored = archive.store_dataset(make_instance())
        stale = stored.path.with_name(f"{stored.sop_instance_uid}~deadbeef.dcm")
        shutil.copyfile(stored.path, stale)
        archive.check_and_repair()
        assert not stale.exists()
        assert_consistent(archive)

    def test_an_unreadable_file_is_quarantined_not_deleted(self, archive: Archive) -> None:
        archive.store_dataset(make_instance())
        junk = archive.root / "somebody" / "put.dcm"
        junk.parent.mkdir()
        junk.write_bytes(b"not dicom at all")
        report = archive.check_and_repair()
        assert [p.name for p in report.quarantined] == ["put.dcm"]
        assert report.quarantined[0].read_bytes() == b"not dicom at all"
        assert_consistent(archive)


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.archive import Archive
    from app.archive.index import Index
    from tests.archive.helpers import dataset_bytes, make_instance

    root, stop_at = Path(sys.argv[1]), sys.argv[2]
    archive = Archive(root)
    if stop_at == "before-index":
        real_put = Index.put_instance
        def put_then_wait(*args, **kwargs):
            if committed >= 3:
                print("renamed", flush=True)
                sys.stdin.readline()  # killed here: file in place, index not yet written
            return real_put(*args, **kwargs)
        Index.put_instance = put_then_wait
    committed = 0
    while True:
        ds = make_instance(pixel_size=128, patient_id=f"P{committed % 2}")
        payload = memoryview(dataset_bytes(ds))
        incoming = archive.begin_receive(ds.SOPClassUID, ds.SOPInstanceUID, "1.2.840.10008.1.2.1", "KILLME")
        for start in range(0, len(payload), 4096):
            incoming.write(payload[start : start + 4096])
            if stop_at == "mid-write" and committed >= 3 and start == 4096 * 4:
                print("mid-write", flush=True)
                sys.stdin.readline()  # killed here, half the data set written
        incoming.commit()
        committed += 1
        print("committed", flush=True)
    """
)


@pytest.mark.parametrize("stop_at", ["mid-write", "before-index"])
def test_kill_9_while_receiving_leaves_no_half_instance_after_repair(tmp_path: Path, stop_at: str) -> None:
    root = tmp_path / "archive"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), stop_at],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:
            lines.append(line.strip())
            if line.strip() in ("mid-write", "renamed"):
                break
        assert lines[-1] in ("mid-write", "renamed"), lines
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        if child.stdin:
            child.stdin.close()
        if child.stdout:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    committed = lines.count("committed")
    assert committed == 3

    with Archive(root) as archive:
        report = archive.check_and_repair()
        if stop_at == "mid-write":
            assert len(report.removed_partials) == 1
            assert sum(s.number_of_instances for s in archive.studies()) == committed
        else:
            # The renamed file is complete: it is adopted rather than lost.
            assert len(report.reindexed) == 1
            assert sum(s.number_of_instances for s in archive.studies()) == committed + 1
        assert_consistent(archive)
        assert archive.check_and_repair().clean
