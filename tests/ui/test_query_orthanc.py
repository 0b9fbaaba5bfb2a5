"""Query/Retrieve against Orthanc with studies loaded: the clinician's path, end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.qtbot import QtBot

from app.nodes import Node, NodeRegistry
from app.retrieve_jobs import JobState
from app.settings import Settings
from app.ui.workstation import Workstation
from tests.net.datasets import write_ct
from tests.peers import Orthanc, free_port, start_orthanc

pytestmark = [pytest.mark.gui, pytest.mark.interop, pytest.mark.timeout(180)]
STUDY = "1.2.826.0.1.3680043.8.498.950"


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.fixture
def setup(qtbot: QtBot, tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[tuple[Workstation, Orthanc]]:
    port = free_port()
    orthanc = start_orthanc(tmp_path / "orthanc", modalities={"courier": ("COURIER", "127.0.0.1", port)})
    for n in range(3):
        orthanc.upload(write_ct(tmp_path / f"{n}.dcm", uid=f"{STUDY}.1.{n}", study_uid=STUDY, patient_id="ORTHGUI"))
    settings = replace(Settings(), ae_title="COURIER", listener_port=port, storage_folder=tmp_path / "local")
    ws = Workstation(settings, NodeRegistry(tmp_path / "nodes.json"))
    qtbot.addWidget(ws.window)
    loop.run_until_complete(ws.start())
    ws.registry.add(Node(name="Orthanc", ae_title="ORTHANC", host="127.0.0.1", port=orthanc.port))
    yield ws, orthanc
    loop.run_until_complete(ws.stop())
    orthanc.stop()


def test_query_orthanc_expand_and_retrieve_with_c_move(setup, qtbot: QtBot, loop) -> None:
    ws, _orthanc = setup
    pane = ws.query_pane
    pane.node_choice.setCurrentText("Orthanc")
    pane.patient_id.setText("ORTHGUI")
    qtbot.keyClick(pane.patient_id, Qt.Key.Key_Return)
    assert pane.query_task is not None
    loop.run_until_complete(pane.query_task)
    assert pane.model.study_count() == 1, pane.status.text()
    first = pane.proxy.index(0, 0)
    pane.tree.expand(first)
    study = pane.model.itemFromIndex(pane.proxy.mapToSource(first))
    loop.run_until_complete(until(lambda: pane.model.series_loaded(STUDY)))
    assert study.rowCount() == 1 and study.child(0).text().startswith("Series")
    pane.tree.selectionModel().select(first, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    [job] = pane.retrieve_selected()
    loop.run_until_complete(ws.retrieves.wait_idle())
    assert job.state is JobState.DONE, job.message
    assert sorted(i.sop_instance_uid for s in ws.archive.series_of(STUDY) for i in ws.archive.instances_of(s.series_instance_uid)) == [
        f"{STUDY}.1.{n}" for n in range(3)
    ]
