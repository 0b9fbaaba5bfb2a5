"""Synthetic instances for tests, written with pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def make_ct(
    *,
    rows: int = 64,
    uid: str | None = None,
    patient_id: str = "PID1",
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
) -> Dataset:
    """A small CT image with deterministic pixel data (so a round trip can be compared)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "DOE^JANE"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = study_uid + ".1"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = rows
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = (np.arange(rows * rows, dtype=np.uint16) % 4096).tobytes()
    return ds


def write_ct(path: Path, **kw: object) -> Path:
    make_ct(**kw).save_as(path, enforce_file_format=True)  # type: ignore[arg-type]
    return path
