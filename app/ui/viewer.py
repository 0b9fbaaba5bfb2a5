"""A simple viewer: scroll through a series (every frame of every instance), window/level by dragging,
zoom to fit, the frame number.  Files are read and frames decoded in worker threads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from app.imaging import Frame, ImageUnavailable, Window, decode, frame_count, render


def to_qimage(frame: Frame) -> QImage:
    """A QImage that owns a copy of the pixels (the array may go away)."""
    pixels = np.ascontiguousarray(frame.pixels)
    height, width = pixels.shape[:2]
    if frame.is_colour:
        image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888)
    else:
        image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_Grayscale8)
    return image.copy()


@dataclass
class _Instance:
    dataset: Dataset
    pixels: np.ndarray | None
    problem: str = ""


def _load(paths: list[Path]) -> list[_Instance]:
    """Read and decode the series (worker thread)."""
    loaded: list[_Instance] = []
    for path in paths:
        try:
            ds = dcmread(path)
        except Exception as exc:  # a broken file must not stop the others
            loaded.append(_Instance(Dataset(), None, f"{path.name}: cannot be read: {exc}"))
            continue
        try:
            loaded.append(_Instance(ds, decode(ds)))
        except ImageUnavailable as exc:
            loaded.append(_Instance(ds, None, str(exc)))
    loaded.sort(key=lambda i: int(i.dataset.get("InstanceNumber", 0) or 0))
    return loaded


class Viewer(QWidget):
    """``await viewer.open(paths)``; wheel or arrow keys scroll, dragging sets window/level."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Courier viewer")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image = QLabel("Loading…")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image.setMinimumSize(256, 256)
        self.image.setStyleSheet("background: black; color: #ddd;")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.show_frame)
        self.position = QLabel()
        self.position.setObjectName("framePosition")
        self.levels = QLabel()
        self.levels.setObjectName("windowLevel")
        bottom = QHBoxLayout()
        bottom.addWidget(self.slider, 1)
        bottom.addWidget(self.position)
        bottom.addWidget(self.levels)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 1)
        layout.addLayout(bottom)
        self.frames: list[tuple[_Instance, int]] = []
        self.levels_window: Window | None = None
        self.current: Frame | None = None
        self._drag: QPoint | None = None

    async def open(self, paths: list[Path]) -> None:
        instances = await asyncio.to_thread(_load, paths)
        self.frames = [
            (inst, n)
            for inst in instances
            for n in range(frame_count(inst.dataset) if inst.pixels is not None else 1)
        ]
        self.slider.setRange(0, max(0, len(self.frames) - 1))
        self.levels_window = None
        self.show_frame(0)

    @property
    def index(self) -> int:
        return self.slider.value()

    def show_frame(self, index: int) -> None:
        if not self.frames:
            self.image.setText("No image in this series")
            return
        index = max(0, min(index, len(self.frames) - 1))
        if self.slider.value() != index:
            self.slider.setValue(index)  # calls back here
            return
        instance, frame_index = self.frames[index]
        self.position.setText(f"Frame {index + 1} / {len(self.frames)}")
        if instance.pixels is None:
            self.current = None
            self.image.setPixmap(QPixmap())
            self.image.setText(instance.problem)
            return
        frame = render(instance.dataset, instance.pixels, frame_index, self.levels_window)
        self.current = frame
        if frame.window is not None:
            self.levels_window = frame.window
            self.levels.setText(f"C {frame.window.center:.0f}  W {frame.window.width:.0f}")
        self._paint()

    def _paint(self) -> None:
        if self.current is None:
            return
        pixmap = QPixmap.fromImage(to_qimage(self.current))
        self.image.setPixmap(pixmap.scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))  # fmt: skip

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override: zoom to fit
        super().resizeEvent(event)
        self._paint()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        self.show_frame(self.index + (1 if event.angleDelta().y() < 0 else -1))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        steps = {Qt.Key.Key_Down: 1, Qt.Key.Key_Right: 1, Qt.Key.Key_PageDown: 10,
                 Qt.Key.Key_Up: -1, Qt.Key.Key_Left: -1, Qt.Key.Key_PageUp: -10}  # fmt: skip
        if event.key() in steps:
            self.show_frame(self.index + steps[Qt.Key(event.key())])
        elif event.key() == Qt.Key.Key_Home:
            self.show_frame(0)
        elif event.key() == Qt.Key.Key_End:
            self.show_frame(len(self.frames) - 1)
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._drag = event.position().toPoint()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._drag is None or self.levels_window is None:
            return
        point = event.position().toPoint()
        delta = point - self._drag
        self._drag = point
        # Horizontal drag: width (contrast); vertical: center (brightness), as most viewers do.
        scale = max(1.0, self.levels_window.width / 256)
        self.set_window(self.levels_window.adjusted(delta.y() * scale, delta.x() * 2 * scale))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._drag = None

    def set_window(self, window: Window) -> None:
        self.levels_window = window
        self.show_frame(self.index)
