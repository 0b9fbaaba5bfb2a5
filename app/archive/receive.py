"""Writing one instance into ``.incoming``: the part file and the streaming receive.

A C-STORE SCP has the data set's bytes in the negotiated transfer syntax and must not decode them:
:class:`IncomingInstance` writes a Part-10 file (PS3.10 7.1: 128-byte preamble, "DICM", the file
meta group written by pydicom) followed by the raw bytes as they arrive, hashing as it goes. Only
``commit`` makes the file visible; until then it is a ``.part`` file that startup repair removes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from app.archive.errors import ArchiveFull, IncomingClosedError
from app.archive.model import StoredInstance

# Courier's implementation identity (PS3.7 D.3.3.2), the same one the network engine announces.
IMPLEMENTATION_CLASS_UID = "2.25.254576454916562390043383617782276821203"
IMPLEMENTATION_VERSION_NAME = "COURIER_010"

_PREAMBLE = b"\0" * 128  # PS3.10 7.1: the preamble is all zeros when not used
_WRITE_BUFFER = 1 << 20


def file_meta(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, source_ae: str = ""
) -> FileMetaDataset:
    """The PS3.10 7.1 file meta information Courier writes for an instance."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if source_ae.strip():
        meta.SourceApplicationEntityTitle = source_ae.strip()
    return meta


def part10_header(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, source_ae: str = ""
) -> bytes:
    """Preamble, "DICM" and the file meta group (group 0002, explicit VR little endian)."""
    meta = file_meta(sop_class_uid, sop_instance_uid, transfer_syntax, source_ae)
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return _PREAMBLE + b"DICM" + buffer.getvalue()


def write_chunk(file: BinaryIO, data: bytes | memoryview) -> None:
    """The one place bytes reach the disk (tests inject ENOSPC here)."""
    file.write(data)


def sync_file(file: BinaryIO) -> None:
    """Flush and fsync, so a renamed file is complete even after a power cut."""
    file.flush()
    os.fsync(file.fileno())


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


class PartFile:
    """A ``.part`` file in ``.incoming`` that hashes what is written and cleans up after any failure."""

    def __init__(self, incoming_dir: Path, archive_root: Path) -> None:
        self._root = archive_root
        descriptor, name = tempfile.mkstemp(dir=incoming_dir, suffix=".part")
        self.path = Path(name)
        # Closed by finish() or discard(), not by a with-block: the file outlives this call.
        self._file: BinaryIO | None = open(descriptor, "wb", buffering=_WRITE_BUFFER)  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        if self._file is None:
            raise IncomingClosedError("This instance was already committed or aborted; start a new receive.")
        try:
            write_chunk(self._file, data)
        except OSError as error:
            self.discard()
            if is_disk_full(error):
                raise ArchiveFull(str(self._root), str(error)) from error
            raise
        self._hash.update(data)
        self.size += len(data)

    def finish(self) -> str:
        """Flush, fsync and close; returns the SHA-256 of the content. Removes the file on failure."""
        if self._file is None:
            raise IncomingClosedError("This instance was already committed or aborted; start a new receive.")
        try:
            sync_file(self._file)
            self._file.close()
        except OSError as error:
            self.discard()
            if is_disk_full(error):
                raise ArchiveFull(str(self._root), str(error)) from error
            raise
        self._file = None
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Close (ignoring errors: the disk may be full) and unlink."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


CommitPart = Callable[[PartFile, str, str], StoredInstance]


class IncomingInstance:
    """One instance being received; use as a context manager so an exception aborts it.

    ``write`` the data set's bytes as they arrive, then ``commit`` (returns the
    :class:`StoredInstance`) or ``abort``. When the duplicate policy already tells that the
    instance will be ignored, the bytes are accepted and dropped without touching the disk.
    """

    def __init__(
        self,
        *,
        part: PartFile | None,
        header: bytes,
        transfer_syntax: str,
        source_ae: str,
        commit_part: CommitPart,
        existing: StoredInstance | None = None,
    ) -> None:
        self._part = part
        self._transfer_syntax = transfer_syntax
        self._source_ae = source_ae
        self._commit_part = commit_part
        self._existing = existing
        self._closed = False
        if part is not None:
            part.write(header)

    @property
    def partial_path(self) -> Path | None:
        """The ``.part`` file being written (None when the instance is being dropped)."""
        return None if self._part is None else self._part.path

    def write(self, data: bytes | memoryview) -> None:
        """Append raw data-set bytes (in the transfer syntax given to ``begin_receive``)."""
        if self._closed:
            raise IncomingClosedError("This instance was already committed or aborted; start a new receive.")
        if self._part is not None:
            self._part.write(data)

    def commit(self) -> StoredInstance:
        """Make the instance durable and indexed; on ArchiveFull / InvalidInstanceError nothing is left."""
        if self._closed:
            raise IncomingClosedError("This instance was already committed or aborted; start a new receive.")
        self._closed = True
        if self._part is None:
            assert self._existing is not None
            return self._existing
        return self._commit_part(self._part, self._transfer_syntax, self._source_ae)

    def abort(self) -> None:
        """Drop the instance (e.g. the association was aborted); idempotent."""
        self._closed = True
        if self._part is not None:
            self._part.discard()

    def __enter__(self) -> IncomingInstance:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self._closed or kind is not None:
            self.abort()
