"""Received data sets written as DICOM Part-10 files, atomically and without decoding them.

A receiver has the data set's bytes in the negotiated transfer syntax; a Part-10 file is those bytes
behind a preamble, "DICM" and a file meta group (PS3.10 7.1) that pydicom writes for us.  File names
never come from unchecked data-set values: a SOP Instance UID that is not a valid UID is replaced by
a hash, so nothing a peer sends can choose a path outside the folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

from app.net.negotiation import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def safe_file_stem(sop_instance_uid: str) -> str:
    """The UID itself when it is a valid UID (digits and dots, ≤ 64), else a hash of it."""
    if _UID.match(sop_instance_uid) and len(sop_instance_uid) <= 64:
        return sop_instance_uid
    return "x" + hashlib.sha256(sop_instance_uid.encode("utf-8", "replace")).hexdigest()[:32]


def part10_header(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> bytes:
    """Preamble, "DICM" and the file meta group for a data set about to follow."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID or PYDICOM_IMPLEMENTATION_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    return fp.getvalue()


class Part10FileSink:
    """A ``DatasetSink`` that streams a received data set into ``folder/<uid>.dcm`` (atomic on close)."""

    def __init__(self, folder: Path, sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.final_path = folder / f"{safe_file_stem(sop_instance_uid)}.dcm"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".part")
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        self._file.write(part10_header(sop_class_uid, sop_instance_uid, transfer_syntax))

    def write(self, data: memoryview) -> None:
        self._file.write(data)

    def close(self) -> Path:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.final_path)
        return self.final_path

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def write_part10(
    folder: Path,
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    data: bytes | bytearray | memoryview,
) -> Path:
    """Write a whole received data set as a Part-10 file; returns its path."""
    sink = Part10FileSink(folder, sop_class_uid, sop_instance_uid, transfer_syntax)
    try:
        sink.write(memoryview(data))
        return sink.close()
    except BaseException:
        sink.abort()
        raise
