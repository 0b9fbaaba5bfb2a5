"""A data set changes byte order in transit (PS3.5 7.3): its binary words are swapped, not scrambled."""

from __future__ import annotations

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from app.net.dataset_io import decode_dataset, encode_dataset


def test_a_big_endian_instance_sent_little_endian_keeps_its_pixels() -> None:
    big = dcmread(get_testdata_file("MR_small_bigendian.dcm"))
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        received = decode_dataset(encode_dataset(big, syntax), syntax)
        received.file_meta = FileMetaDataset()
        received.file_meta.TransferSyntaxUID = syntax
        assert received.pixel_array.tolist() == big.pixel_array.tolist()
    assert big.original_encoding == (False, False)  # the caller's data set is untouched


def test_a_little_endian_instance_sent_big_endian_keeps_its_pixels() -> None:
    little = dcmread(get_testdata_file("MR_small.dcm"))
    received = decode_dataset(encode_dataset(little, ExplicitVRBigEndian), ExplicitVRBigEndian)
    received.file_meta = FileMetaDataset()
    received.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    assert received.pixel_array.tolist() == little.pixel_array.tolist()
