"""A synthetic archive so Q/R and the browser can be tried without a PACS.

Small CT and MR images (64 by 64 pixels, 16-bit, a few per series) with realistic names, dates, modalities
and descriptions, all made with pydicom and numpy; UIDs are fresh ``2.25`` UIDs from pydicom.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from app.archive.model import StoredInstance
from app.archive.store import Archive

_PATIENTS = (
    ("DOE^JANE", "F"),
    ("SMITH^JOHN", "M"),
    ("MÜLLER^ANNA", "F"),
    ("GARCIA^LUIS", "M"),
    ("TANAKA^YUKI", "F"),
    ("NOWAK^PIOTR", "M"),
    ("OKAFOR^CHIDI", "M"),
    ("ROSSI^GIULIA", "F"),
)
_PHYSICIANS = ("HOUSE^GREGORY", "GREY^MEREDITH", "KILDARE^JAMES")
_PROTOCOLS = {
    "CT": ("CT HEAD W/O CONTRAST", ("AXIAL 5MM", "BONE WINDOW", "SCOUT")),
    "CT2": ("CT CHEST ABDOMEN PELVIS", ("AXIAL 3MM", "CORONAL MPR", "SCOUT")),
    "MR": ("MR BRAIN W/WO CONTRAST", ("T1 SAG", "T2 AX", "FLAIR AX", "DWI")),
    "MR2": ("MR KNEE LEFT", ("PD COR", "T1 SAG", "PD FS AX")),
}


def _image(rng: random.Random, modality: str, size: int, index: int) -> np.ndarray:
    """A soft disc whose radius changes through the series (something recognisable to scroll through)."""
    y, x = np.mgrid[0:size, 0:size]
    radius = size * (0.25 + 0.15 * np.sin(index / 3))
    disc = ((x - size / 2) ** 2 + (y - size / 2) ** 2) < radius**2
    base = 1000 if modality == "CT" else 200
    noise = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 40, (size, size))
    return (disc * base + noise).astype(np.uint16)


def _instance(patient: Dataset, study: Dataset, series: Dataset, number: int, pixels: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.update(patient)
    ds.update(study)
    ds.update(series)
    ds.SOPClassUID = CTImageStorage if series.Modality == "CT" else MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [0, 0, float(number * 5)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 5
    ds.set_pixel_data(pixels, "MONOCHROME2", 16)
    if series.Modality == "CT":
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.file_meta = FileMetaDataset()  # replaced by the archive's own file meta
    return ds


def seed_demo(
    archive: Archive,
    *,
    patients: int = 5,
    studies_per_patient: int = 2,
    images_per_series: int = 4,
    image_size: int = 64,
    seed: int = 1,
) -> list[StoredInstance]:
    """Store synthetic patients → studies → series → images into ``archive``; returns what was stored."""
    rng = random.Random(seed)
    stored: list[StoredInstance] = []
    for p_index in range(patients):
        name, sex = _PATIENTS[p_index % len(_PATIENTS)]
        patient = Dataset()
        patient.SpecificCharacterSet = "ISO_IR 192"
        patient.PatientName = name if p_index < len(_PATIENTS) else f"{name}{p_index}"
        patient.PatientID = f"DEMO{p_index + 1:04d}"
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 60))
        patient.PatientBirthDate = birth.strftime("%Y%m%d")
        patient.PatientSex = sex
        for s_index in range(studies_per_patient):
            protocol_key = rng.choice(tuple(_PROTOCOLS))
            modality = protocol_key.rstrip("2")
            description, series_names = _PROTOCOLS[protocol_key]
            when = date(2020, 1, 1) + timedelta(days=rng.randrange(5 * 365))
            study = Dataset()
            study.StudyInstanceUID = generate_uid()
            study.StudyDate = when.strftime("%Y%m%d")
            study.StudyTime = f"{rng.randrange(7, 19):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}"
            study.AccessionNumber = f"A{rng.randrange(10**7):07d}"
            study.StudyID = str(s_index + 1)
            study.StudyDescription = description
            study.ReferringPhysicianName = rng.choice(_PHYSICIANS)
            for number, series_description in enumerate(series_names, start=1):
                series = Dataset()
                series.SeriesInstanceUID = generate_uid()
                series.Modality = modality
                series.SeriesNumber = number
                series.SeriesDescription = series_description
                series.BodyPartExamined = (
                    "HEAD" if "HEAD" in description or "BRAIN" in description else "CHEST"
                )
                for image in range(1, images_per_series + 1):
                    pixels = _image(rng, modality, image_size, image)
                    ds = _instance(patient, study, series, image, pixels)
                    stored.append(
                        archive.store_dataset(ds, transfer_syntax=ExplicitVRLittleEndian, source_ae="DEMO")
                    )
    return stored
