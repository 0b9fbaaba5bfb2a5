"""Data sets and raw data-set bytes for the archive specifications."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)


def make_instance(
    *,
    patient_id: str = "P1",
    patient_name: str = "DOE^JANE",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    modality: str = "CT",
    pixel_size: int = 8,
    **attributes: Any,
) -> Dataset:
    """A small CT image; keyword arguments set any further attribute."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.StudyDate = "20200115"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC1"
    ds.StudyID = "1"
    ds.StudyDescription = "CT HEAD"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.SeriesDescription = "AXIAL"
    ds.InstanceNumber = 1
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    if pixel_size:
        pixels = np.arange(pixel_size * pixel_size, dtype=np.uint16).reshape(pixel_size, -1)
        ds.set_pixel_data(pixels, "MONOCHROME2", 16, generate_instance_uid=False)
    return ds


def dataset_bytes(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    """The data set encoded as a C-STORE SCP receives it: no preamble, no file meta."""
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = transfer_syntax == ImplicitVRLittleEndian
    write_dataset(buffer, ds)
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        # PS3.5 A.5: the whole explicit VR little endian data set, raw deflate (no zlib header).
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return compressor.compress(buffer.getvalue()) + compressor.flush()
    return buffer.getvalue()
