"""Specification of storing: Part-10 files, streaming receive, duplicates, atomicity, full disk."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from app.archive import (
    Archive,
    ArchiveChange,
    ArchiveFull,
    ChangeKind,
    DuplicatePolicy,
    IncomingClosedError,
    InvalidInstanceError,
    StoreOutcome,
)
from app.archive import receive as receive_module
from app.archive import store as store_module
from app.archive.index import Index
from tests.archive.helpers import dataset_bytes, make_instance


def archived_files(archive: Archive) -> list[Path]:
    return sorted(p for p in archive.root.rglob("*.dcm") if ".incoming" not in p.parts)


def index_count(archive: Archive, table: str = "instances") -> int:
    return archive.index.connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def stream(archive: Archive, ds: Any, syntax: str = ExplicitVRLittleEndian, chunk: int = 100) -> Any:
    payload = dataset_bytes(ds, syntax)
    incoming = archive.begin_receive(ds.SOPClassUID, ds.SOPInstanceUID, syntax, source_ae="MODALITY1")
    for start in range(0, len(payload), chunk):
        incoming.write(memoryview(payload)[start : start + chunk])
    return incoming.commit()


class TestStoreDataset:
    def test_writes_a_part10_file_under_patient_study_series_and_indexes_it(self, archive: Archive) -> None:
        ds = make_instance(patient_id="PAT-7")
        stored = archive.store_dataset(ds, source_ae="CT1")

        assert stored.outcome is StoreOutcome.STORED
        assert stored.path.is_relative_to(archive.root)
        assert stored.path.parts[-4].startswith("PAT-7-")
        assert stored.path.parts[-3:] == (
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            f"{ds.SOPInstanceUID}.dcm",
        )
        reread = pydicom.dcmread(stored.path)
        assert reread.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert reread.file_meta.SourceApplicationEntityTitle == "CT1"
        assert (reread.pixel_array == ds.pixel_array).all()
        assert stored.sha256 == hashlib.sha256(stored.path.read_bytes()).hexdigest()
        assert stored.size == stored.path.stat().st_size
        assert archive.get(ds.SOPInstanceUID) == stored

    def test_uses_the_requested_transfer_syntax(self, archive: Archive) -> None:
        stored = archive.store_dataset(make_instance(), transfer_syntax=ImplicitVRLittleEndian)
        assert pydicom.dcmread(stored.path).file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        assert stored.transfer_syntax_uid == ImplicitVRLittleEndian

    def test_leaves_the_callers_data_set_untouched(self, archive: Archive) -> None:
        ds = make_instance()
        meta_before = list(ds.file_meta)
        archive.store_dataset(ds, source_ae="X")
        assert list(ds.file_meta) == meta_before
        assert "SourceApplicationEntityTitle" not in ds.file_meta

    def test_refuses_a_data_set_without_study_uid_and_leaves_nothing(self, archive: Archive) -> None:
        ds = make_instance()
        del ds.StudyInstanceUID
        with pytest.raises(InvalidInstanceError, match="StudyInstanceUID"):
            archive.store_dataset(ds)
        assert archived_files(archive) == []
        assert list(archive.incoming_dir.iterdir()) == []
        assert index_count(archive) == 0


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
class TestPathsNeverComeFromUncheckedValues:
    @pytest.mark.parametrize("bad_uid", ["../../x", "a/b", "..", "/etc/passwd", "1.2.3\\..\\..\\x", "1.02.3"])
    def test_a_malicious_sop_instance_uid_stays_inside_the_archive(
        self, archive: Archive, bad_uid: str
    ) -> None:
        stored = archive.store_dataset(make_instance(sop_uid=bad_uid, study_uid="../../s", series_uid="a/b"))

        assert stored.path.resolve().is_relative_to(archive.root)
        assert stored.path.parent.parent.parent.parent == archive.root
        assert stored.path.name.startswith("x") and "/" not in stored.path.name
        assert archive.get(bad_uid) is not None  # the index keeps the real UID

    def test_a_malicious_patient_id_becomes_a_slug_plus_hash(self, archive: Archive) -> None:
        one = archive.store_dataset(make_instance(patient_id="../../etc"))
        two = archive.store_dataset(make_instance(patient_id="__/__/etc"))
        assert one.path.parts[-4] != two.path.parts[-4]
        for stored in (one, two):
            assert stored.path.parent.parent.parent.parent == archive.root


class TestStreamingReceive:
    @pytest.mark.parametrize(
        "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]
    )
    def test_raw_bytes_become_a_part10_file_identical_to_what_was_sent(
        self, archive: Archive, syntax: str
    ) -> None:
        ds = make_instance(pixel_size=64)
        stored = stream(archive, ds, syntax)

        assert stored.transfer_syntax_uid == syntax
        assert stored.source_ae == "MODALITY1"
        reread = pydicom.dcmread(stored.path)
        assert reread.file_meta.TransferSyntaxUID == syntax
        assert reread.SOPInstanceUID == ds.SOPInstanceUID
        assert (reread.pixel_array == ds.pixel_array).all()
        assert stored.path.read_bytes().endswith(dataset_bytes(ds, syntax))

    def test_commit_reads_only_the_header_never_the_pixel_data(
        self, archive: Archive, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[dict[str, Any]] = []
        real_dcmread = store_module.dcmread

        def spy(*args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return real_dcmread(*args, **kwargs)

        monkeypatch.setattr(store_module, "dcmread", spy)
        stream(archive, make_instance())
        assert calls and all(c.get("stop_before_pixels") and c.get("specific_tags") for c in calls)

    def test_the_index_does_not_name_the_instance_before_commit(self, archive: Archive) -> None:
        ds = make_instance()
        incoming = archive.begin_receive(ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian)
        incoming.write(dataset_bytes(ds))
        assert archive.get(ds.SOPInstanceUID) is None
        assert incoming.partial_path is not None and incoming.partial_path.parent == archive.incoming_dir
        incoming.commit()
        assert archive.get(ds.SOPInstanceUID) is not None
        assert list(archive.incoming_dir.iterdir()) == []

    def test_abort_removes_the_partial_file(self, archive: Archive) -> None:
        ds = make_instance()
        incoming = archive.begin_receive(ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian)
        incoming.write(dataset_bytes(ds)[:50])
        incoming.abort()
        assert list(archive.incoming_dir.iterdir()) == []
        assert archive.get(ds.SOPInstanceUID) is None
        with pytest.raises(IncomingClosedError):
            incoming.write(b"more")

    def test_an_exception_inside_the_with_block_aborts(self, archive: Archive) -> None:
        ds = make_instance()
        with (
            pytest.raises(RuntimeError),
            archive.begin_receive(ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian) as incoming,
        ):
            incoming.write(dataset_bytes(ds)[:50])
            raise RuntimeError("association aborted")
        assert list(archive.incoming_dir.iterdir()) == []

    @pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's complaints about the garbage
    def test_garbage_bytes_are_refused_and_cleaned_up(self, archive: Archive) -> None:
        incoming = archive.begin_receive("1.2.3", "1.2.3.4", ExplicitVRLittleEndian)
        incoming.write(b"\xff" * 300)
        with pytest.raises(InvalidInstanceError):
            incoming.commit()
        assert list(archive.incoming_dir.iterdir()) == []
        assert archived_files(archive) == []


class TestDuplicatePolicies:
    def test_keep_existing_ignores_the_second_copy_without_writing_it(self, tmp_path: Path) -> None:
        with Archive(tmp_path / "a", duplicate_policy=DuplicatePolicy.KEEP_EXISTING) as archive:
            ds = make_instance(StudyDescription="FIRST")
            first = archive.store_dataset(ds)
            ds.StudyDescription = "SECOND"
            incoming = archive.begin_receive(ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian)
            assert incoming.partial_path is None
            incoming.write(dataset_bytes(ds))
            second = incoming.commit()

            assert second.outcome is StoreOutcome.DUPLICATE_IGNORED
            assert second.path == first.path and second.sha256 == first.sha256
            assert pydicom.dcmread(first.path).StudyDescription == "FIRST"
            assert archive.store_dataset(ds).outcome is StoreOutcome.DUPLICATE_IGNORED
            assert archived_files(archive) == [first.path]

    def test_replace_swaps_in_the_new_copy_and_removes_the_old_file(self, tmp_path: Path) -> None:
        with Archive(tmp_path / "a", duplicate_policy=DuplicatePolicy.REPLACE) as archive:
            ds = make_instance(StudyDescription="FIRST")
            first = archive.store_dataset(ds)
            ds.StudyDescription = "SECOND"
            second = archive.store_dataset(ds)

            assert second.outcome is StoreOutcome.REPLACED
            assert pydicom.dcmread(second.path).StudyDescription == "SECOND"
            assert archived_files(archive) == [second.path]
            assert not first.path.exists() or first.path == second.path
            assert index_count(archive) == 1
            assert archive.studies()[0].study_description == "SECOND"

    def test_replace_moving_an_instance_to_another_patient_prunes_the_old_hierarchy(
        self, tmp_path: Path
    ) -> None:
        with Archive(tmp_path / "a", duplicate_policy=DuplicatePolicy.REPLACE) as archive:
            ds = make_instance(patient_id="WRONG", patient_name="WRONG^NAME")
            archive.store_dataset(ds)
            ds.PatientID, ds.PatientName = "RIGHT", "RIGHT^NAME"
            archive.store_dataset(ds)
            assert [s.patient_id for s in archive.studies()] == ["RIGHT"]
            assert index_count(archive, "patients") == 1

    def test_keep_both_ignores_identical_content(self, tmp_path: Path) -> None:
        with Archive(tmp_path / "a", duplicate_policy=DuplicatePolicy.KEEP_BOTH_IF_DIFFERENT) as archive:
            ds = make_instance()
            archive.store_dataset(ds)
            assert archive.store_dataset(ds).outcome is StoreOutcome.DUPLICATE_IGNORED
            assert len(archived_files(archive)) == 1
            assert index_count(archive, "superseded") == 0

    def test_keep_both_stores_different_content_and_indexes_the_newest(self, tmp_path: Path) -> None:
        with Archive(tmp_path / "a", duplicate_policy=DuplicatePolicy.KEEP_BOTH_IF_DIFFERENT) as archive:
            ds = make_instance(StudyDescription="FIRST")
            first = archive.store_dataset(ds)
            ds.StudyDescription = "SECOND"
            second = archive.store_dataset(ds)

            assert second.outcome is StoreOutcome.KEPT_BOTH
            assert first.path.exists() and second.path.exists() and first.path != second.path
            assert "~" in second.path.name
            assert archive.get(ds.SOPInstanceUID).path == second.path  # type: ignore[union-attr]
            superseded = archive.index.superseded_rows()
            assert superseded == [(archive.index.relative(first.path), ds.SOPInstanceUID)]
            assert archive.check_and_repair().clean  # the superseded copy is not an orphan

            assert archive.delete(instances=[ds.SOPInstanceUID]) == 1
            assert archived_files(archive) == []
            assert index_count(archive, "superseded") == 0


class TestAtomicity:
    def test_a_failed_rename_leaves_no_partial_file_and_the_index_unchanged(
        self, archive: Archive, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        kept = archive.store_dataset(make_instance())

        def broken_replace(*_: Any) -> None:
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(store_module.os, "replace", broken_replace)
        with pytest.raises(OSError, match="I/O error"):
            archive.store_dataset(make_instance())
        assert list(archive.incoming_dir.iterdir()) == []
        assert archived_files(archive) == [kept.path]
        assert index_count(archive) == 1

    def test_a_failed_index_transaction_removes_the_renamed_file(
        self, archive: Archive, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        kept = archive.store_dataset(make_instance())

        def broken_put(*_: Any, **__: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(Index, "put_instance", broken_put)
        with pytest.raises(sqlite3.OperationalError):
            archive.store_dataset(make_instance(patient_id="OTHER"))
        assert archived_files(archive) == [kept.path]
        assert [p.name for p in archive.root.iterdir() if p.is_dir() and not p.name.startswith(".")] == [
            kept.path.parts[-4]
        ]
        assert index_count(archive) == 1


class TestFullDisk:
    def test_enospc_while_writing_raises_archive_full_and_removes_the_partial_file(
        self, archive: Archive, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        kept = archive.store_dataset(make_instance())
        kept_bytes = kept.path.read_bytes()
        ds = make_instance(pixel_size=64)
        incoming = archive.begin_receive(ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian)
        incoming.write(b"")  # header written fine

        def full_disk(*_: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(receive_module, "write_chunk", full_disk)
        with pytest.raises(ArchiveFull, match="disk is full"):
            incoming.write(dataset_bytes(ds))
        assert list(archive.incoming_dir.iterdir()) == []
        assert archived_files(archive) == [kept.path] and kept.path.read_bytes() == kept_bytes
        assert index_count(archive) == 1

    def test_enospc_on_fsync_at_commit_raises_archive_full(
        self, archive: Archive, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def full_disk(*_: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(receive_module, "sync_file", full_disk)
        with pytest.raises(ArchiveFull):
            stream(archive, make_instance())
        assert list(archive.incoming_dir.iterdir()) == []
        assert archived_files(archive) == []

    def test_a_full_database_raises_archive_full_and_removes_the_file(
        self, archive: Archive, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def full_database(*_: Any, **__: Any) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(Index, "put_instance", full_database)
        with pytest.raises(ArchiveFull):
            archive.store_dataset(make_instance())
        assert archived_files(archive) == []
        assert index_count(archive) == 0


class TestNotifications:
    def test_subscribers_hear_added_replaced_and_removed_from_the_writing_thread(
        self, tmp_path: Path
    ) -> None:
        with Archive(tmp_path / "a", duplicate_policy=DuplicatePolicy.REPLACE) as archive:
            heard: list[tuple[ArchiveChange, str]] = []
            archive.subscribe(lambda change: heard.append((change, threading.current_thread().name)))
            ds = make_instance(patient_id="P9")

            writer = threading.Thread(target=archive.store_dataset, args=(ds,), name="scp-worker")
            writer.start()
            writer.join()
            archive.store_dataset(ds)
            archive.delete(studies=[ds.StudyInstanceUID])

            assert [(c.kind, thread) for c, thread in heard] == [
                (ChangeKind.INSTANCE_ADDED, "scp-worker"),
                (ChangeKind.INSTANCE_REPLACED, "MainThread"),
                (ChangeKind.INSTANCE_REMOVED, "MainThread"),
            ]
            assert heard[0][0] == ArchiveChange(
                "instance-added",
                "P9",
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,  # type: ignore[arg-type]
            )

    def test_a_failing_subscriber_cannot_break_a_store(
        self, archive: Archive, caplog: pytest.LogCaptureFixture
    ) -> None:
        def broken(_: ArchiveChange) -> None:
            raise ValueError("GUI model exploded")

        heard: list[ArchiveChange] = []
        archive.subscribe(broken)
        archive.subscribe(heard.append)
        stored = archive.store_dataset(make_instance())
        assert stored.outcome is StoreOutcome.STORED
        assert len(heard) == 1
        assert "GUI model exploded" in caplog.text

    def test_unsubscribe_stops_notifications(self, archive: Archive) -> None:
        heard: list[ArchiveChange] = []
        unsubscribe = archive.subscribe(heard.append)
        unsubscribe()
        unsubscribe()  # idempotent
        archive.store_dataset(make_instance())
        assert heard == []


class TestDeleteAndBrowse:
    def seed(self, archive: Archive) -> dict[str, str]:
        study, series_a, series_b = generate_uid(), generate_uid(), generate_uid()
        for number in (1, 2):
            archive.store_dataset(make_instance(study_uid=study, series_uid=series_a, InstanceNumber=number))
        archive.store_dataset(
            make_instance(study_uid=study, series_uid=series_b, modality="MR", SeriesNumber=2)
        )
        archive.store_dataset(
            make_instance(patient_id="P2", patient_name="ROE^RICHARD", StudyDate="20210101")
        )
        return {"study": study, "series_a": series_a, "series_b": series_b}

    def test_browser_lists_studies_series_and_instances(self, archive: Archive) -> None:
        uids = self.seed(archive)
        studies = archive.studies()
        assert [s.patient_name for s in studies] == ["ROE^RICHARD", "DOE^JANE"]  # newest first
        doe = studies[1]
        assert (doe.modalities, doe.number_of_series, doe.number_of_instances) == (("CT", "MR"), 2, 3)
        assert [s.series_instance_uid for s in archive.series_of(uids["study"])] == [
            uids["series_a"],
            uids["series_b"],
        ]
        assert [i.instance_number for i in archive.instances_of(uids["series_a"])] == [1, 2]
        assert [s.patient_id for s in archive.studies("roe")] == ["P2"]
        assert archive.studies("100%_") == []  # LIKE metacharacters are literal

    def test_deleting_a_series_removes_its_files_rows_and_empty_folders(self, archive: Archive) -> None:
        uids = self.seed(archive)
        files = [i.path for i in archive.instances_of(uids["series_a"])]
        assert archive.delete(series=[uids["series_a"]]) == 2
        assert not any(p.exists() for p in files)
        assert not files[0].parent.exists()
        assert [s.series_instance_uid for s in archive.series_of(uids["study"])] == [uids["series_b"]]

    def test_deleting_a_study_removes_the_patient_when_it_was_the_last(self, archive: Archive) -> None:
        uids = self.seed(archive)
        assert archive.delete(studies=[uids["study"]]) == 3
        assert [s.patient_id for s in archive.studies()] == ["P2"]
        assert index_count(archive, "patients") == 1
        assert len(archived_files(archive)) == 1

    def test_deleting_an_instance_and_unknown_uids(self, archive: Archive) -> None:
        uids = self.seed(archive)
        one = archive.instances_of(uids["series_a"])[0]
        assert archive.delete(instances=[one.sop_instance_uid, "9.9.9"], studies=["8.8.8"]) == 1
        assert archive.get(one.sop_instance_uid) is None and not one.path.exists()


class TestConcurrency:
    def test_a_writer_thread_and_a_reader_thread_work_side_by_side(self, archive: Archive) -> None:
        errors: list[BaseException] = []
        done = threading.Event()
        study = generate_uid()

        def write() -> None:
            try:
                for number in range(30):
                    stream(archive, make_instance(study_uid=study, InstanceNumber=number))
            except BaseException as error:
                errors.append(error)
            finally:
                done.set()

        writer = threading.Thread(target=write)
        writer.start()
        reads = 0
        while not done.is_set():
            for summary in archive.studies():
                assert summary.number_of_instances <= 30
            reads += 1
        writer.join()
        assert errors == []
        assert archive.studies()[0].number_of_instances == 30
        assert reads > 0
