"""Local Images driven as a user would: studies listed and searched, thumbnails rendered in workers,
live updates when an instance arrives, import by drop, delete, send, the tag viewer and the viewer."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from app.archive import Archive, seed_demo
from app.imaging import Window
from app.ui.browser_pane import BrowserPane
from app.ui.tag_view import TagView
from app.ui.viewer import Viewer
from tests.net.datasets import make_ct

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    store = Archive(tmp_path / "archive")
    seed_demo(store, patients=2)
    yield store
    store.close()


@pytest.fixture
def pane(qtbot: QtBot, archive: Archive, loop: asyncio.AbstractEventLoop) -> Iterator[BrowserPane]:
    sent: list[tuple[str, list[Path]]] = []
    widget = BrowserPane(
        archive, send_callback=lambda node, paths: sent.append((node, paths)), node_names=lambda: ["PACS"]
    )
    widget.sent = sent  # type: ignore[attr-defined]
    qtbot.addWidget(widget)
    widget.show()
    loop.run_until_complete(until(lambda: widget.table.rowCount() == 4))
    yield widget
    for window in widget.windows:
        window.close()
    loop.run_until_complete(widget.shutdown())  # before the archive closes under its worker threads


def test_studies_are_listed_with_counts_and_searchable(pane: BrowserPane, loop) -> None:
    assert pane.status.text().startswith("4 studies, ")  # nothing done yet: only the counts
    pane.search.setText(pane.studies[0].patient_id)
    loop.run_until_complete(until(lambda: pane.table.rowCount() == 2))
    assert {pane.table.item(r, 1).text() for r in range(2)} == {pane.studies[0].patient_id}


def test_selecting_a_study_renders_a_thumbnail_per_series(pane: BrowserPane, loop) -> None:
    pane.table.selectRow(0)
    loop.run_until_complete(until(lambda: pane.thumbnails_done.is_set() and pane.thumbs.count() > 0))
    study = pane.selected_study()
    assert study is not None and pane.thumbs.count() == study.number_of_series
    icon = pane.thumbs.item(0).icon().pixmap(64, 64).toImage()
    # The demo images are a bright disc on a dark background: a real rendering, not the black placeholder.
    assert icon.pixelColor(32, 32).lightness() > icon.pixelColor(1, 1).lightness()


def test_clicking_through_studies_faster_than_thumbnails_render_draws_the_last_one(
    pane: BrowserPane, loop
) -> None:
    spawned: list[asyncio.Future[object]] = []

    async def click_through() -> None:
        for click in range(16):
            pane.table.selectRow(click % pane.table.rowCount())
            spawned.extend(pane.tasks)
            await asyncio.sleep(0.003)  # a quick user: the previous study's thumbnails are in flight
        await until(lambda: not pane.tasks)

    loop.run_until_complete(click_through())
    # A selection that replaced the list under the previous one's thumbnail workers broke nothing.
    failures = [task.exception() for task in spawned if task.exception() is not None]
    assert failures == []
    loop.run_until_complete(until(pane.thumbnails_done.is_set))
    study = pane.selected_study()
    assert study is not None and pane.thumbs.count() == study.number_of_series


def test_an_instance_stored_while_the_pane_is_open_appears(pane: BrowserPane, archive: Archive, loop) -> None:
    async def store_from_another_thread() -> None:
        await asyncio.to_thread(
            archive.store_dataset, make_ct(uid="1.2.3.6000", patient_id="LIVE1", study_uid="1.2.3.6001")
        )
        await until(lambda: pane.table.rowCount() == 5)

    loop.run_until_complete(store_from_another_thread())
    assert "LIVE1" in {pane.table.item(r, 1).text() for r in range(5)}


def test_files_dropped_on_the_pane_are_imported(pane: BrowserPane, tmp_path: Path, loop) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "ct.dcm")
    (folder / "notes.txt").write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    pane.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier))  # fmt: skip
    loop.run_until_complete(until(lambda: pane.status.text().startswith("Imported")))
    assert pane.status.text().startswith("Imported 1, 1 non-DICOM files skipped — ")
    loop.run_until_complete(until(lambda: pane.table.rowCount() == 5))


def test_send_delete_and_export(pane: BrowserPane, archive: Archive, tmp_path: Path, loop) -> None:
    pane.table.selectRow(0)
    loop.run_until_complete(until(lambda: pane.thumbnails_done.is_set() and pane.thumbs.count() > 0))
    study = pane.selected_study()
    assert study is not None
    loop.run_until_complete(pane.send_selected("PACS"))  # type: ignore[arg-type]
    [(node, paths)] = pane.sent  # type: ignore[attr-defined]
    assert node == "PACS" and len(paths) == study.number_of_instances and all(p.is_file() for p in paths)
    loop.run_until_complete(pane.export_selected(tmp_path / "out"))  # type: ignore[arg-type]
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == study.number_of_instances
    loop.run_until_complete(pane.delete_selected(confirm=False))  # type: ignore[arg-type]
    assert pane.table.rowCount() == 3
    assert archive.series_of(study.study_instance_uid) == []


def test_the_tag_viewer_finds_an_element(qtbot: QtBot) -> None:
    from pydicom import dcmread  # noqa: PLC0415

    view = TagView(dcmread(get_testdata_file("CT_small.dcm")))
    qtbot.addWidget(view)
    assert view.filter("PatientName") == 1 or view.filter("Patient's Name") == 1
    assert view.filter("0010,0010") >= 1
    assert view.filter("no such thing anywhere") == 0


def test_the_viewer_scrolls_frames_and_changes_window_level(qtbot: QtBot, archive: Archive, loop) -> None:
    study = archive.studies()[0]
    series = archive.series_of(study.study_instance_uid)[0]
    paths = [i.path for i in archive.instances_of(series.series_instance_uid)]
    viewer = Viewer()
    qtbot.addWidget(viewer)
    viewer.resize(400, 400)
    viewer.show()
    loop.run_until_complete(viewer.open(paths))
    assert viewer.position.text() == f"Frame 1 / {len(paths)}"
    first = viewer.current.pixels.copy()  # type: ignore[union-attr]
    qtbot.keyClick(viewer, Qt.Key.Key_Down)
    assert viewer.position.text() == f"Frame 2 / {len(paths)}"
    assert not np.array_equal(first, viewer.current.pixels)  # type: ignore[union-attr]  # another slice
    before = viewer.levels_window
    assert before is not None
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(viewer, QPoint(160, 130))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(160, 130))
    after = viewer.levels_window
    assert after is not None and after != before
    assert viewer.levels.text() == f"C {after.center:.0f}  W {after.width:.0f}"
    viewer.set_window(Window(0, 1))  # a threshold: everything is black or white (or the one middle value)
    assert len(np.unique(viewer.current.pixels)) <= 3  # type: ignore[union-attr]
