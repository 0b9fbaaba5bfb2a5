"""The Send Queue pane in the workstation window: a drop of files sends them; the table shows the job;
failed instances are listed with their reason; pause and resume; queued work survives a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from app.net.ae import ApplicationEntity
from app.net.contexts import DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.scp import Handlers, Request
from app.nodes import Node, NodeRegistry
from app.send_queue import JobState
from app.settings import Settings
from app.ui.workstation import Workstation
from tests.net.datasets import write_ct

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def drop(widget, paths: list[Path]) -> None:
    """What the file manager does when files are dropped on ``widget``."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)  # fmt: skip
    widget.dropEvent(event)


@pytest.fixture
def workstation(qtbot: QtBot, tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[Workstation]:
    settings = replace(Settings(), ae_title="COURIER", listener_port=0, storage_folder=tmp_path / "local")
    ws = Workstation(settings, NodeRegistry(tmp_path / "nodes.json"))
    qtbot.addWidget(ws.window)
    loop.run_until_complete(ws.start())
    yield ws
    loop.run_until_complete(ws.stop())


def test_dropped_files_are_sent_and_shown(workstation: Workstation, tmp_path: Path, loop) -> None:
    received: list[str] = []
    files = [write_ct(tmp_path / f"{n}.dcm", uid=f"1.2.3.5000.{n}") for n in range(5)]
    (tmp_path / "readme.txt").write_text("not DICOM")

    async def scenario() -> None:
        ae = ApplicationEntity("PACS")
        server = await ae.start_server(
            Handlers(store=lambda r: received.append(r.dataset.SOPInstanceUID) or 0), host="127.0.0.1", port=0
        )
        try:
            workstation.registry.add(Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=server.port))
            pane = workstation.send_pane
            pane.node_choice.setCurrentText("PACS")
            drop(pane, [*files, tmp_path / "readme.txt"])
            await until(lambda: bool(workstation.send_queue.jobs()))
            await workstation.send_queue.wait_idle()
        finally:
            await server.close(grace=1)

    loop.run_until_complete(scenario())
    pane = workstation.send_pane
    assert sorted(received) == [f"1.2.3.5000.{n}" for n in range(5)]
    assert pane.table.rowCount() == 1
    assert pane.table.item(0, 1).text() == "PACS"
    assert pane.table.item(0, 2).text() == "6 / 6"
    assert pane.table.item(0, 6).text() == "failed"  # the text file could not be sent
    pane.table.selectRow(0)
    assert pane.failures.count() == 1
    assert "readme.txt" in pane.failures.item(0).text() and "not a DICOM file" in pane.failures.item(0).text()
    assert pane.retry_button.isEnabled()


def test_a_rejected_context_is_shown_in_words(workstation: Workstation, tmp_path: Path, loop) -> None:
    files = [write_ct(tmp_path / "ct.dcm", uid="1.2.3.5100")]

    async def scenario() -> None:
        ae = ApplicationEntity("PACS")
        server = await ae.start_server(
            Handlers(), host="127.0.0.1", port=0,
            policy=ae.acceptor_policy(supported={VERIFICATION: DEFAULT_TRANSFER_SYNTAXES}),
        )  # fmt: skip
        try:
            workstation.registry.add(Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=server.port))
            await workstation.send_pane.send_paths(files)  # type: ignore[misc]
            await workstation.send_queue.wait_idle()
        finally:
            await server.close(grace=1)

    loop.run_until_complete(scenario())
    pane = workstation.send_pane
    pane.table.selectRow(0)
    assert "does not accept CT Image Storage in Explicit VR Little Endian" in pane.failures.item(0).text()


def test_pause_and_resume_from_the_pane(workstation: Workstation, tmp_path: Path, loop) -> None:
    files = [write_ct(tmp_path / f"{n}.dcm", uid=f"1.2.3.5200.{n}") for n in range(6)]
    gate = asyncio.Event()
    received: list[str] = []

    async def slow_store(request: Request) -> int:
        if len(received) >= 2:
            await gate.wait()
        received.append(request.dataset.SOPInstanceUID)
        return 0

    async def scenario() -> None:
        ae = ApplicationEntity("PACS")
        server = await ae.start_server(Handlers(store=slow_store), host="127.0.0.1", port=0)
        try:
            workstation.registry.add(Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=server.port))
            pane = workstation.send_pane
            await pane.send_paths(files)  # type: ignore[misc]
            await until(lambda: len(received) == 2)
            pane.table.selectRow(0)
            assert pane.pause_button.isEnabled()
            pane.pause_button.click()
            await until(lambda: workstation.send_queue.jobs()[0].state is JobState.PAUSED)
            assert pane.table.item(0, 6).text() == "paused"
            gate.set()
            pane.table.selectRow(0)
            pane.resume_button.click()
            await workstation.send_queue.wait_idle()
        finally:
            await server.close(grace=1)

    loop.run_until_complete(scenario())
    assert workstation.send_queue.jobs()[0].state is JobState.DONE
    assert len(set(received)) == 6


def test_files_dropped_on_a_node_in_the_nodes_pane_are_sent_to_it(workstation: Workstation, tmp_path: Path, loop) -> None:
    received: list[str] = []
    files = [write_ct(tmp_path / f"{n}.dcm", uid=f"1.2.3.5300.{n}") for n in range(3)]

    async def scenario() -> None:
        ae = ApplicationEntity("PACS")
        server = await ae.start_server(
            Handlers(store=lambda r: received.append(r.dataset.SOPInstanceUID) or 0), host="127.0.0.1", port=0
        )
        try:
            workstation.registry.add(Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=server.port))
            nodes = workstation.window.nodes_pane
            nodes.table.resize(600, 300)
            row_rect = nodes.table.visualItemRect(nodes.table.item(0, 0))
            assert nodes.drop_files(row_rect.center(), files) == "PACS"
            await until(lambda: bool(workstation.send_queue.jobs()))
            await workstation.send_queue.wait_idle()
        finally:
            await server.close(grace=1)

    loop.run_until_complete(scenario())
    assert sorted(received) == [f"1.2.3.5300.{n}" for n in range(3)]
    assert "queued for PACS" in workstation.window.nodes_pane.result_title.text()


def test_series_dragged_from_local_images_carry_their_files(workstation: Workstation, loop) -> None:
    from app.archive import seed_demo  # noqa: PLC0415

    seed_demo(workstation.archive, patients=1)
    browser = workstation.browser_pane

    async def scenario() -> None:
        await browser.reload()
        await until(lambda: browser.table.rowCount() > 0)
        browser.table.selectRow(0)
        browser.study_selected()
        await until(lambda: browser.thumbnails_done.is_set() and browser.thumbs.count() > 0)

    loop.run_until_complete(scenario())
    item = browser.thumbs.item(0)
    urls = browser.thumbs.mimeData([item]).urls()
    series = browser.series[0]
    assert len(urls) == series.number_of_instances
    assert all(Path(u.toLocalFile()).is_file() for u in urls)
