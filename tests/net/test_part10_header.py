"""A sender reads only a file's Part-10 header, and reads it as pydicom does.

``read_part10_header`` takes the three UIDs from pydicom's raw file meta elements; every file that
ships with pydicom (all transfer syntaxes, odd and broken ones among them) must give what pydicom's
own ``dcmread`` says, or be refused in words where pydicom refuses it.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom import dcmread

from app.net.dataset_io import NotPart10File, read_part10_header
from app.net.errors import DimseError
from tests.net.datasets import write_ct

# The files inside the pydicom wheel (get_testdata_files would also fetch pydicom-data from the network).
FILES = sorted(str(p) for p in (Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm"))


def pydicom_header(path: str) -> tuple[str, str, str] | None:
    try:
        meta = dcmread(path, stop_before_pixels=True).file_meta
        return (
            str(meta.MediaStorageSOPClassUID),
            str(meta.MediaStorageSOPInstanceUID),
            str(meta.TransferSyntaxUID),
        )
    except Exception:
        return None


@pytest.mark.parametrize("path", FILES, ids=[Path(f).name for f in FILES])
def test_every_pydicom_test_file_gives_the_uids_pydicom_reads(path: str) -> None:
    expected = pydicom_header(path)
    try:
        header = read_part10_header(path)
    except DimseError:
        assert expected is None, "pydicom reads this file's meta group; so must the sender"
        return
    if expected is None:
        pytest.skip("pydicom cannot read this file's meta group in full; the sender only needs its UIDs")
    assert (header.sop_class_uid, header.sop_instance_uid, header.transfer_syntax) == expected


def test_the_data_set_starts_right_after_the_file_meta_group(tmp_path: Path) -> None:
    path = write_ct(tmp_path / "ct.dcm", rows=8)
    header = read_part10_header(path)
    with path.open("rb") as fp:
        fp.seek(header.dataset_offset)
        assert fp.read(4) == b"\x08\x00\x16\x00"  # (0008,0016) SOP Class UID, the data set's first element
    assert header.size == path.stat().st_size


def test_a_file_without_a_preamble_is_refused_in_words(tmp_path: Path) -> None:
    path = tmp_path / "notdicom.dcm"
    path.write_bytes(b"hello" * 100)
    with pytest.raises(NotPart10File, match=r"notdicom\.dcm"):
        read_part10_header(path)
