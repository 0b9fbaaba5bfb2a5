"""Take the README's screenshots of each pane with real content.

Run under a virtual screen:
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/make_screenshots.py
It starts a demo PACS (our own node with a synthetic archive) in process, opens the workstation with
a private configuration, queries the PACS, retrieves a study, and saves one PNG per pane here.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
os.environ.setdefault("COURIER_CONFIG_DIR", tempfile.mkdtemp(prefix="courier-shots-"))

import qasync  # noqa: E402
from PySide6.QtCore import QItemSelectionModel  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

from app.archive import Archive  # noqa: E402
from app.node import WorkstationNode  # noqa: E402
from app.nodes import Node, NodeRegistry  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.ui.app import application, leave_without_finalizing  # noqa: E402
from app.ui.loop_lag import LoopLagMeter  # noqa: E402
from app.ui.query_model import UID_ROLE  # noqa: E402
from app.ui.workstation import Workstation  # noqa: E402


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.05)


async def save(widget: QWidget, name: str) -> None:
    await asyncio.sleep(0.3)  # let the loop paint (processEvents here would re-enter the running task)
    path = HERE / f"{name}.png"
    widget.grab().save(str(path))
    print(f"saved {path}")


async def main(work: Path) -> None:  # noqa: PLR0915 - a script: one scene after another
    pacs_archive = Archive(work / "pacs")
    pacs_settings = replace(
        Settings(), ae_title="DEMOPACS", listener_port=0, storage_folder=work / "pacs", demo_mode=True
    )
    pacs = WorkstationNode(pacs_settings, pacs_archive, host="127.0.0.1")
    settings = replace(Settings(), ae_title="COURIER", listener_port=0, storage_folder=work / "local")
    registry = NodeRegistry(work / "nodes.json")
    meter = LoopLagMeter()
    meter.start(asyncio.get_running_loop())
    ws = Workstation(settings, registry, lag_meter=meter)
    await ws.start()
    assert ws.node.port is not None
    pacs.destinations["COURIER"] = ("127.0.0.1", ws.node.port)
    await pacs.start()
    assert pacs.port is not None
    registry.add(Node(name="Demo PACS", ae_title="DEMOPACS", host="127.0.0.1", port=pacs.port,
                      notes="Courier's own demo node (courier serve --demo)"))  # fmt: skip
    registry.add(
        Node(name="Radiology PACS", ae_title="ORTHANC", host="10.20.0.15", port=4242, retrieve_method="C-GET")
    )
    registry.add(
        Node(name="CT scanner", ae_title="CT01", host="ct01.hospital.lan", port=104, storage_commitment=True)
    )
    window = ws.window
    window.resize(1320, 820)
    window.show()

    nodes = window.nodes_pane
    nodes.select("Demo PACS")
    task = nodes.verify_selected()
    if task is not None:
        await task
    window.show_pane("Nodes")
    await save(window, "nodes")

    window.show_pane("Query/Retrieve")
    pane = ws.query_pane
    pane.node_choice.setCurrentText("Demo PACS")
    task = pane.search()
    if task is not None:
        await task
    first = pane.proxy.index(0, 0)
    pane.tree.expand(first)
    study = pane.model.itemFromIndex(pane.proxy.mapToSource(first))
    await until(lambda: pane.model.series_loaded(str(study.data(UID_ROLE))))
    pane.tree.selectionModel().select(
        first, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    )
    pane.retrieve_selected()
    await ws.retrieves.wait_idle()
    for column in range(pane.model.columnCount()):
        pane.tree.resizeColumnToContents(column)
    await save(window, "query")
    await save(window, "shell")

    # Send Queue: the retrieved study sent back to the demo PACS, and a job with a failure.
    files = sorted((work / "local").rglob("*.dcm"))
    await ws.send_queue.add_paths("Demo PACS", files[:8])
    (work / "notes.txt").write_text("not DICOM")
    await ws.send_queue.add_paths("Demo PACS", [*files[8:12], work / "notes.txt"])
    await ws.send_queue.wait_idle()
    window.show_pane("Send Queue")
    ws.send_pane.refresh()
    ws.send_pane.table.selectRow(1)
    await save(window, "send")

    # Local Images: the study that arrived, with its thumbnails.
    window.show_pane("Local Images")
    browser = ws.browser_pane
    await browser.reload()
    await until(lambda: browser.table.rowCount() > 0)
    browser.table.selectRow(0)
    await until(lambda: browser.thumbnails_done.is_set() and browser.thumbs.count() > 0)
    await save(window, "browser")
    opened = browser.open_viewer(0)
    if opened is not None:
        await opened
        viewer = browser.windows[-1]
        viewer.resize(640, 640)
        await asyncio.sleep(0.3)
        await save(viewer, "viewer")
        viewer.close()

    # Troubleshooting: the associations of this session, one selected, and a probe of the PACS.
    window.show_pane("Troubleshooting")
    trouble = ws.troubleshoot_pane
    trouble.refresh()
    trouble.table.selectRow(0)
    await save(window, "troubleshooting")
    trouble.tabs.setCurrentIndex(1)
    trouble.probe_node_choice.setCurrentText("Demo PACS")
    probing = trouble.probe()
    if probing is not None:
        await probing
    await save(window, "probe")
    await ws.stop()
    await pacs.stop()
    pacs_archive.close()


if __name__ == "__main__":
    app = application([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as folder, loop:
        loop.run_until_complete(main(Path(folder)))
    leave_without_finalizing(0)
