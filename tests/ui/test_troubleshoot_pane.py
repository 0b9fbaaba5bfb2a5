"""The Troubleshooting pane in the workstation: a rejected association shows in the log with its reason,
its details and PDU trace; a node is probed; the log can be saved for a support ticket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pytestqt.qtbot import QtBot

from app.net.ae import ApplicationEntity
from app.net.contexts import DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.scp import Handlers
from app.nodes import Node, NodeRegistry
from app.settings import Settings
from app.ui.workstation import Workstation

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]


@pytest.fixture
def workstation(qtbot: QtBot, tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[Workstation]:
    settings = replace(Settings(), ae_title="COURIER", listener_port=0, storage_folder=tmp_path / "local")
    ws = Workstation(settings, NodeRegistry(tmp_path / "nodes.json"))
    qtbot.addWidget(ws.window)
    loop.run_until_complete(ws.start())
    yield ws
    loop.run_until_complete(ws.stop())


def test_a_rejected_verify_appears_in_the_log_with_its_reason_and_trace(
    workstation: Workstation, loop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        ae = ApplicationEntity("PACS")
        server = await ae.start_server(
            Handlers(),
            host="127.0.0.1",
            port=0,
            policy=ae.acceptor_policy(allowed_calling_ae_titles=["OTHER"]),
        )
        try:
            workstation.registry.add(Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=server.port))
            nodes = workstation.window.nodes_pane
            nodes.select("PACS")
            task = nodes.verify_selected()
            assert task is not None
            await task
        finally:
            await server.close(grace=1)

    loop.run_until_complete(scenario())
    pane = workstation.troubleshoot_pane
    pane.refresh()
    assert pane.table.rowCount() == 1
    assert pane.table.item(0, 1).text() == "outbound"
    assert pane.table.item(0, 3).text() == "PACS"
    assert "rejected: " in pane.table.item(0, 5).text()
    assert "calling AE title not recognized" in pane.table.item(0, 5).text()
    pane.table.selectRow(0)
    assert "calling AE title not recognized" in pane.details.toPlainText()
    assert "A-ASSOCIATE-RQ" in pane.trace.toPlainText() and "A-ASSOCIATE-RJ" in pane.trace.toPlainText()
    saved = pane.save_log(tmp_path / "support.txt")
    assert saved is not None and "calling AE title not recognized" in saved.read_text()


def test_inbound_associations_are_logged_too(workstation: Workstation, loop) -> None:
    async def scenario() -> None:
        async with ApplicationEntity("MODALITY").associate(
            "127.0.0.1", workstation.node.port, called_ae_title="COURIER", contexts=[VERIFICATION]
        ) as client:
            await client.echo()

    loop.run_until_complete(scenario())
    pane = workstation.troubleshoot_pane
    pane.refresh()
    inbound = [pane.table.item(r, 1).text() for r in range(pane.table.rowCount())]
    assert "inbound" in inbound
    row = inbound.index("inbound")
    assert pane.table.item(row, 3).text() == "MODALITY"
    pane.table.selectRow(row)
    assert "C-ECHO-RQ" in pane.details.toPlainText() and "Success (0x0000)" in pane.details.toPlainText()


def test_probe_node_fills_the_table(workstation: Workstation, loop) -> None:
    async def scenario() -> None:
        ae = ApplicationEntity("PACS")
        supported = {VERIFICATION: DEFAULT_TRANSFER_SYNTAXES, CTImageStorage: [ExplicitVRLittleEndian]}
        server = await ae.start_server(
            Handlers(), host="127.0.0.1", port=0, policy=ae.acceptor_policy(supported=supported)
        )
        try:
            workstation.registry.add(Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=server.port))
            pane = workstation.troubleshoot_pane
            pane.probe_node_choice.setCurrentText("PACS")
            task = pane.probe()
            assert task is not None
            await task
        finally:
            await server.close(grace=1)

    loop.run_until_complete(scenario())
    pane = workstation.troubleshoot_pane
    assert pane.probe_status.text().startswith("PACS: 2 of ")
    rows = {
        (pane.probe_table.item(r, 0).text(), pane.probe_table.item(r, 1).text()): pane.probe_table.item(
            r, 2
        ).text()
        for r in range(pane.probe_table.rowCount())
    }
    assert rows[("CT Image Storage", "Explicit VR Little Endian")] == "accepted"
    assert (
        rows[("MR Image Storage", "Explicit VR Little Endian")]
        == "rejected: abstract syntax (SOP class) not supported"
    )
