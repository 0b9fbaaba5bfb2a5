"""Data sets to and from the bytes a DIMSE message carries, and Part-10 files read in chunks.

pydicom does all the encoding and decoding; this module only chooses the encoding from the negotiated
transfer syntax (PS3.5 Annex A) and handles deflate, which is a property of the whole byte stream
rather than of any element.

Large instances never need to be decoded to be sent: ``read_part10_header`` finds where the data set
starts in a file and ``iter_file_chunks`` streams it from there, so a C-STORE of a 1 GB file holds one
chunk in memory at a time.
"""

from __future__ import annotations

import copy
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
from pydicom.filewriter import write_dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from app.net.errors import DimseError
from app.net.fast_write import write_little_endian

CHUNK_SIZE = 1 << 20


def _encoding_of(transfer_syntax: str) -> tuple[bool, bool]:
    """(implicit VR, little endian) for a transfer syntax; every compressed syntax is explicit LE."""
    if transfer_syntax == ImplicitVRLittleEndian:
        return True, True
    if transfer_syntax == ExplicitVRBigEndian:
        return False, False
    return False, True


# Binary VRs whose words pydicom keeps as raw bytes: they must be byte-swapped when the endianness changes.
_WORD_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _with_byte_order(ds: Dataset, little: bool) -> Dataset:
    """``ds`` with its raw binary words in the byte order of the target syntax (PS3.5 7.3).

    pydicom re-encodes decoded values (US, FL, ...) in the target order itself but writes OW/OF/...
    bytes as they are: a big endian instance sent as little endian would arrive with scrambled pixels.
    The caller's data set is left as it was.
    """
    original = getattr(ds, "original_encoding", (None, None))[1]
    if original is None or bool(original) == little:
        return ds
    swapped = copy.deepcopy(ds)
    _swap_words(swapped)
    return swapped


def _swap_words(ds: Dataset) -> None:
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _swap_words(item)
        elif element.VR in _WORD_SIZES and element.value and not element.is_undefined_length:
            size = _WORD_SIZES[element.VR]
            words = np.frombuffer(bytes(element.value), dtype=f"u{size}")
            element.value = words.byteswap().tobytes()


def encode_dataset(ds: Dataset, transfer_syntax: str) -> bytes:
    """The data set as it travels in a P-DATA value for ``transfer_syntax`` (no preamble, no file meta)."""
    implicit, little = _encoding_of(transfer_syntax)
    ds = _with_byte_order(ds, little)
    try:
        # Plain identifiers (C-FIND answers) take the fast path; anything else is pydicom's.
        data = write_little_endian(ds, implicit=implicit) if little else None
        if data is None:
            fp = DicomBytesIO()
            fp.is_implicit_VR = implicit
            fp.is_little_endian = little
            write_dataset(fp, ds)
            data = fp.getvalue()
    except Exception as exc:  # pydicom raises several types for an unencodable value
        raise DimseError(f"cannot encode the data set as {UID(transfer_syntax).name}: {exc}") from exc
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        # PS3.5 A.5: raw deflate (no zlib header) of the explicit VR little endian stream.
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(data) + compressor.flush()
    return data


def decode_dataset(data: bytes | bytearray | memoryview, transfer_syntax: str) -> Dataset:
    """Parse the bytes of a received data set (raises ``DimseError`` with words when they are not DICOM)."""
    raw = bytes(data)
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        try:
            raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise DimseError(f"the deflated data set cannot be inflated: {exc}") from exc
    implicit, little = _encoding_of(transfer_syntax)
    try:
        ds = read_dataset(BytesIO(raw), implicit, little)
    except Exception as exc:
        raise DimseError(f"the received data set is not valid {UID(transfer_syntax).name}: {exc}") from exc
    return ds


@dataclass(frozen=True, slots=True)
class Part10Header:
    """What a C-STORE needs from a file before streaming its data set."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    dataset_offset: int
    size: int

    @property
    def dataset_length(self) -> int:
        return self.size - self.dataset_offset


class NotPart10File(DimseError):
    """The file has no DICOM Part-10 header (preamble, DICM, file meta group)."""


_SENDER_META = (0x00020002, 0x00020003, 0x00020010)  # SOP class, SOP instance, transfer syntax


def _not_group_0002(tag: int, vr: str | None, length: int) -> bool:
    return tag >> 16 != 2


def read_part10_header(path: Path | str) -> Part10Header:
    """Read only the preamble and file meta group (PS3.10 7.1) of ``path``.

    pydicom reads the group; the three UIDs a sender needs are taken from its raw elements, without
    the conversion and validation a ``FileMetaDataset`` attribute costs (a third of the time of
    sending a small instance).  A file meta group that is not the plain Explicit VR Little Endian
    one PS3.10 prescribes goes through pydicom's full reader instead.
    """
    path = Path(path)
    try:
        with path.open("rb") as fp:
            if read_preamble(fp, force=False) is None:
                raise NotPart10File(f"{path} has no DICOM preamble")
            start = fp.tell()
            uids = _raw_uids(read_dataset(fp, False, True, stop_when=_not_group_0002))
            if uids is None:
                fp.seek(start)
                meta = _read_file_meta_info(fp)
                uids = (meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID)
            offset = fp.tell()
            size = os.fstat(fp.fileno()).st_size
    except NotPart10File:
        raise
    except OSError as exc:
        raise DimseError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except AttributeError as exc:
        raise NotPart10File(f"{path}: the file meta group lacks {exc.name}") from exc
    except Exception as exc:
        raise NotPart10File(f"{path} is not a readable DICOM file: {exc}") from exc
    sop_class, sop_instance, syntax = (str(uid) for uid in uids)
    return Part10Header(path, sop_class, sop_instance, syntax, dataset_offset=offset, size=size)


def _raw_uids(meta: Dataset) -> tuple[str, str, str] | None:
    """The sender's three UIDs as their raw values hold them, or ``None`` to ask pydicom proper."""
    uids: list[str] = []
    for tag in _SENDER_META:
        element = meta.get_item(tag)
        if (
            element is None
            or not element.is_raw
            or element.VR != "UI"
            or not isinstance(element.value, bytes)
        ):
            return None
        text = element.value.rstrip(b"\0 ")
        if not text.isascii():
            return None
        uids.append(text.decode("ascii"))
    return uids[0], uids[1], uids[2]


def iter_file_chunks(path: Path, offset: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes of ``path`` from ``offset`` on, ``chunk_size`` at a time."""
    with path.open("rb") as fp:
        fp.seek(offset)
        while chunk := fp.read(chunk_size):
            yield chunk
