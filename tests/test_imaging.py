"""Pixels to screen values: rescale, window/level, MONOCHROME1, colour, multi-frame, compressed, and
words when an image cannot be shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from app.imaging import ImageUnavailable, Window, decode, default_window, frame_count, render, thumbnail
from tests.net.datasets import make_ct


def test_the_data_sets_window_is_applied_after_the_rescale() -> None:
    ds = make_ct(rows=64)
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 40, 400
    frame = render(ds, decode(ds))
    assert frame.window == Window(40, 400)
    values = ds.pixel_array.astype(float) - 1024
    expected = np.clip((values - (40 - 0.5 - 399 / 2)) / 399 * 255, 0, 255).astype(np.uint8)
    assert np.array_equal(frame.pixels, expected)


def test_without_a_window_the_full_range_is_shown() -> None:
    ds = make_ct(rows=64)
    frame = render(ds, decode(ds))
    assert frame.pixels.min() == 0 and frame.pixels.max() == 255
    assert default_window(ds, ds.pixel_array.astype(float)).width == 4095


def test_monochrome1_is_inverted() -> None:
    ds = make_ct(rows=64)
    plain = render(ds, decode(ds)).pixels
    ds.PhotometricInterpretation = "MONOCHROME1"
    assert np.array_equal(render(ds, decode(ds)).pixels, 255 - plain)


def test_colour_and_compressed_and_multiframe_images() -> None:
    rgb = dcmread(get_testdata_file("SC_rgb_small_odd.dcm"))
    frame = render(rgb, decode(rgb))
    assert frame.is_colour and frame.pixels.shape == (rgb.Rows, rgb.Columns, 3)
    jpeg = dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))  # needs pylibjpeg, in the test extra
    assert render(jpeg, decode(jpeg)).pixels.shape == (jpeg.Rows, jpeg.Columns, 3)
    multi = dcmread(get_testdata_file("SC_rgb_rle_2frame.dcm"))  # RLE: pydicom's own decoder
    assert frame_count(multi) == 2
    assert not np.array_equal(render(multi, decode(multi), 0).pixels, render(multi, decode(multi), 1).pixels)


def test_an_image_that_cannot_be_shown_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageUnavailable, match="no pixel data"):
        decode(Dataset())
    jpeg = dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))

    def no_decoder(self: Dataset) -> None:
        raise RuntimeError("Unable to decode the pixel data: no plugins available")

    monkeypatch.setattr(Dataset, "pixel_array", property(no_decoder))
    with pytest.raises(ImageUnavailable, match=r"compressed \(JPEG Baseline \(Process 1\)\): no decoder installed"):
        decode(jpeg)
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"not dicom at all")
    with pytest.raises(ImageUnavailable, match="cannot be read"):
        thumbnail(broken)


def test_a_thumbnail_is_small() -> None:
    frame = thumbnail(Path(get_testdata_file("CT_small.dcm")), 32)
    assert max(frame.pixels.shape) <= 32
