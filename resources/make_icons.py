"""Render resources/courier.svg into the PNGs of app/resources (.venv/bin/python resources/make_icons.py)."""

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

here = Path(__file__).parent
target = here.parent / "app" / "resources"
app = QGuiApplication([])
renderer = QSvgRenderer(str(here / "courier.svg"))
for size in (16, 32, 48, 64, 128, 256):
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    image.save(str(target / f"courier-{size}.png"))
(target / "courier.svg").write_bytes((here / "courier.svg").read_bytes())
