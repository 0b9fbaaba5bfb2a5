"""The workstation window driven as a clinician would: the built-in listener starts, a PACS is
verified, queried (results stream in, a study expands into its series), a study is retrieved into the
local archive, a retrieve is cancelled; closing stops everything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.qtbot import QtBot

from app.archive import Archive
from app.net.ae import ApplicationEntity
from app.net.scp import Handlers
from app.node import WorkstationNode
from app.nodes import Node, NodeRegistry
from app.retrieve_jobs import JobState
from app.settings import Settings
from app.ui.query_model import KIND_ROLE
from app.ui.workstation import Workstation

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    """Let the loop run until ``condition`` holds (a deadline, not a sleep)."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
def workstation(qtbot: QtBot, tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[Workstation]:
    settings = replace(Settings(), ae_title="COURIER", listener_port=0, storage_folder=tmp_path / "local")
    registry = NodeRegistry(tmp_path / "nodes.json")
    ws = Workstation(settings, registry)
    qtbot.addWidget(ws.window)
    ws.window.show()
    loop.run_until_complete(ws.start())
    yield ws
    loop.run_until_complete(ws.stop())


@pytest.fixture
def pacs(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, workstation: Workstation
) -> Iterator[WorkstationNode]:
    """A demo PACS (our own node with a seeded archive) that knows the workstation as a move destination."""
    archive = Archive(tmp_path / "pacs")
    settings = replace(
        Settings(), ae_title="PACS", listener_port=0, storage_folder=tmp_path / "pacs", demo_mode=True
    )
    assert workstation.node.port is not None
    node = WorkstationNode(
        settings, archive, host="127.0.0.1", destinations={"COURIER": ("127.0.0.1", workstation.node.port)}
    )
    loop.run_until_complete(node.start())
    yield node
    loop.run_until_complete(node.stop())
    archive.close()


def add_pacs(workstation: Workstation, pacs: WorkstationNode, **changes: object) -> Node:
    assert pacs.port is not None
    node = replace(Node(name="Demo PACS", ae_title="PACS", host="127.0.0.1", port=pacs.port), **changes)
    workstation.registry.add(node)
    return node


def test_the_window_opens_with_its_panes_and_the_listener_running(workstation: Workstation) -> None:
    assert workstation.window.pane_names()[:2] == ["Nodes", "Query/Retrieve"]
    assert workstation.node.is_listening
    text = workstation.window.status.listener_label.text()
    assert text == f"COURIER on port {workstation.node.port}: listening"


def test_verify_a_pacs_from_the_nodes_pane(workstation: Workstation, pacs: WorkstationNode, loop) -> None:
    add_pacs(workstation, pacs)
    pane = workstation.window.nodes_pane
    pane.select("Demo PACS")
    task = pane.verify_selected()
    assert task is not None
    loop.run_until_complete(task)
    assert "Demo PACS is reachable" in pane.result_title.text()
    assert "COURIER_010" in pane.result_details.toPlainText()


def test_query_streams_studies_expands_series_and_retrieves_into_the_archive(
    qtbot: QtBot, workstation: Workstation, pacs: WorkstationNode, loop: asyncio.AbstractEventLoop
) -> None:
    add_pacs(workstation, pacs)
    workstation.window.show_pane("Query/Retrieve")
    pane = workstation.query_pane
    pane.node_choice.setCurrentText("Demo PACS")
    pane.patient_name.setText("doe")
    qtbot.keyClick(pane.patient_name, Qt.Key.Key_Return)  # Enter runs the query
    assert pane.query_task is not None
    loop.run_until_complete(pane.query_task)
    assert pane.model.study_count() >= 1
    assert "from Demo PACS" in pane.status.text()
    names = {pane.model.item(r, 0).text() for r in range(pane.model.rowCount())}
    assert names == {"DOE JANE"}

    first = pane.proxy.index(0, 0)
    pane.tree.expand(first)
    study_item = pane.model.itemFromIndex(pane.proxy.mapToSource(first))
    loop.run_until_complete(until(lambda: study_item.child(0).data(KIND_ROLE) == "series"))
    assert study_item.rowCount() >= 1

    pane.tree.selectionModel().select(
        first, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    )
    jobs = pane.retrieve_selected()
    assert len(jobs) == 1
    loop.run_until_complete(workstation.retrieves.wait_idle())
    assert jobs[0].state is JobState.DONE, jobs[0].message
    study_uid = jobs[0].study_instance_uid
    local = workstation.archive.series_of(study_uid)
    assert (
        sum(len(workstation.archive.instances_of(s.series_instance_uid)) for s in local) == jobs[0].completed
    )
    assert pane.jobs_table.item(0, 2).text() == "done"


def test_a_running_query_is_cancelled_with_c_cancel(workstation: Workstation, loop) -> None:
    """A PACS that sends one match and then keeps the query open until it is cancelled."""
    cancelled: list[bool] = []

    async def slow_find(request):
        match = Dataset()
        match.StudyInstanceUID = "1.2.3"
        match.PatientName = "SLOW^PACS"
        yield match
        await request.cancelled.wait()
        cancelled.append(True)

    async def scenario() -> None:
        ae = ApplicationEntity("PACS")
        server = await ae.start_server(Handlers(find=slow_find), host="127.0.0.1", port=0)
        try:
            workstation.registry.add(
                Node(name="Slow PACS", ae_title="PACS", host="127.0.0.1", port=server.port)
            )
            pane = workstation.query_pane
            pane.node_choice.setCurrentText("Slow PACS")
            task = pane.search()
            assert task is not None
            await until(lambda: pane.model.study_count() == 1)
            assert pane.cancel_button.isEnabled()
            pane.cancel_button.click()
            await task
        finally:
            await server.close(grace=1)

    loop.run_until_complete(scenario())
    pane = workstation.query_pane
    assert cancelled == [True]  # the PACS saw our C-CANCEL
    assert pane.status.text().endswith("(cancelled)")
    assert not pane.cancel_button.isEnabled()


def test_retrieve_with_an_unknown_destination_says_what_to_add(
    workstation: Workstation, pacs: WorkstationNode, loop
) -> None:
    pacs.destinations.clear()
    add_pacs(workstation, pacs)
    pane = workstation.query_pane
    pane.node_choice.setCurrentText("Demo PACS")
    loop.run_until_complete(pane.search())
    pane.tree.selectionModel().select(
        pane.proxy.index(0, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    [job] = pane.retrieve_selected()
    loop.run_until_complete(workstation.retrieves.wait_idle())
    assert job.state is JobState.FAILED
    assert "add COURIER with host" in job.message and f"port {workstation.node.port}" in job.message
    assert "add COURIER" in pane.jobs_table.item(0, 4).text()


def test_closing_the_window_stops_the_listener(workstation: Workstation, loop) -> None:
    port = workstation.node.port
    workstation.window.close()
    loop.run_until_complete(workstation.stop())
    assert not workstation.node.is_listening
    assert port is not None
