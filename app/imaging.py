"""Pixel data to something a screen shows: 8-bit grey or RGB arrays with a window/level.  No Qt here.

pydicom decodes the pixel data (compressed transfer syntaxes through pylibjpeg or GDCM when they are
installed); this module applies the modality rescale, the window from the data set (or the data's own
range), MONOCHROME1 inversion and colour conversion, and says in words why an image cannot be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import convert_color_space
from pydicom.uid import UID


class ImageUnavailable(Exception):
    """The instance has no displayable image, or its encoding cannot be decoded here (says which)."""


@dataclass(frozen=True)
class Window:
    center: float
    width: float

    def adjusted(self, d_center: float, d_width: float) -> Window:
        return Window(self.center + d_center, max(1.0, self.width + d_width))


@dataclass(frozen=True)
class Frame:
    """One frame ready to show: ``pixels`` is uint8, (rows, columns) grey or (rows, columns, 3) RGB."""

    pixels: np.ndarray
    window: Window | None  # None for colour images

    @property
    def is_colour(self) -> bool:
        return self.pixels.ndim == 3


def _first(value: object) -> float:
    return float(value[0] if isinstance(value, MultiValue | list | tuple) else value)  # type: ignore[arg-type]


def frame_count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames", 1) or 1)


def default_window(ds: Dataset, values: np.ndarray) -> Window:
    """The data set's first VOI window (PS3.3 C.11.2), else the full range of the (rescaled) values."""
    if "WindowCenter" in ds and "WindowWidth" in ds:
        try:
            return Window(_first(ds.WindowCenter), max(1.0, _first(ds.WindowWidth)))
        except (TypeError, ValueError, IndexError):
            pass
    low, high = float(values.min()), float(values.max())
    return Window((low + high) / 2, max(1.0, high - low))


def decode(ds: Dataset) -> np.ndarray:
    """All frames of ``ds`` as an array (frames first when multi-frame), or ``ImageUnavailable``."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageUnavailable("no image: this instance has no pixel data")
    try:
        return ds.pixel_array
    except (RuntimeError, NotImplementedError) as exc:
        syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", ""))) if hasattr(ds, "file_meta") else None
        name = syntax.name if syntax else "this encoding"
        raise ImageUnavailable(
            f"compressed ({name}): no decoder installed (pip install pylibjpeg): {exc}"
        ) from exc
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        raise ImageUnavailable(f"the pixel data cannot be read: {exc}") from exc


def render(ds: Dataset, pixels: np.ndarray, index: int = 0, window: Window | None = None) -> Frame:
    """Frame ``index`` of ``pixels`` (from :func:`decode`) as 8 bits, with ``window`` or the default."""
    frames = frame_count(ds)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frame = pixels[index] if frames > 1 else pixels
    if samples == 3:
        photometric = str(ds.get("PhotometricInterpretation", "RGB"))
        if photometric.startswith("YBR"):
            frame = convert_color_space(frame, photometric, "RGB")
        return Frame(_to_uint8(frame.astype(np.float64), Window(127.5, 255.0)), None)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    values = frame.astype(np.float64) * slope + float(ds.get("RescaleIntercept", 0) or 0)
    window = window or default_window(ds, values)
    grey = _to_uint8(values, window)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        grey = 255 - grey  # PS3.3 C.7.6.3.1.2: the minimum value is white
    return Frame(grey, window)


def _to_uint8(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 linear window, to 0..255."""
    low = window.center - 0.5 - (window.width - 1) / 2
    scaled = (values - low) / max(window.width - 1, 1) * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)


def thumbnail(path: Path, size: int = 128) -> Frame:
    """The middle frame of an instance, shrunk to at most ``size`` pixels a side (for the browser)."""
    try:
        ds = dcmread(path)
    except Exception as exc:  # pydicom raises many kinds for a broken file
        raise ImageUnavailable(f"the file cannot be read: {exc}") from exc
    pixels = decode(ds)
    frame = render(ds, pixels, frame_count(ds) // 2)
    step = max(1, int(np.ceil(max(frame.pixels.shape[:2]) / size)))
    return Frame(np.ascontiguousarray(frame.pixels[::step, ::step]), frame.window)
