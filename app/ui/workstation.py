"""The running workstation: its services built once, shown in one window, started and stopped on the
qasync loop.

``Workstation(settings, registry)`` opens the archive at the settings' storage folder, builds the
DICOM node (the built-in listener), the retrieve queue and the main window with its panes.
``await start()`` starts the listener; ``await stop()`` cancels running retrieves, releases
associations, stops the listener and closes the archive, losing nothing queued.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtGui import QAction, QIcon, QKeySequence

from app.archive import Archive
from app.assoc_log import AssociationLog
from app.net.events import EventBus
from app.node import WorkstationNode
from app.nodes import Node, NodeRegistry
from app.retrieve_jobs import RetrieveQueue
from app.send_queue import SendQueue
from app.settings import Settings, config_dir, save_settings
from app.ui.browser_pane import BrowserPane
from app.ui.loop_lag import LoopLagMeter
from app.ui.main_window import MainWindow
from app.ui.nodes_pane import NodesPane
from app.ui.query_pane import QueryPane
from app.ui.send_pane import SendPane, drop_on_node
from app.ui.settings_dialog import SettingsDialog
from app.ui.troubleshoot_pane import TroubleshootPane
from app.verify import VerifyResult, verify_node

log = logging.getLogger(__name__)

SEND_QUEUE_FILE = "send_queue.sqlite"
RETRIEVES_FILE = "retrieves.json"


class Workstation:
    def __init__(
        self, settings: Settings, registry: NodeRegistry, *, lag_meter: LoopLagMeter | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.events = EventBus()
        self.archive = Archive(settings.storage_folder)
        self.node = WorkstationNode(settings, self.archive, registry, events=self.events)
        self.log = AssociationLog(self.events)
        self.retrieves = RetrieveQueue(
            settings,
            self.node.handlers,
            listener_port=lambda: self.node.port,
            events=self.events,
            saved_to=config_dir() / RETRIEVES_FILE,
            registry=registry,
        )
        self.send_queue = SendQueue(config_dir() / SEND_QUEUE_FILE, registry, settings, events=self.events)
        self.node.commitment_reports = self.send_queue.on_commitment_report
        nodes_pane = NodesPane(registry, settings, verifier=self._verify)
        self.window = MainWindow(settings, registry, lag_meter, nodes_pane=nodes_pane)
        self.query_pane = QueryPane(registry, settings, self.retrieves, events=self.events)
        self.window.add_pane("Query/Retrieve", self.query_pane, QIcon.fromTheme("system-search"))
        self.send_pane = SendPane(self.send_queue, registry)
        nodes_pane.set_drop_handler(lambda name, paths: drop_on_node(self.send_queue, name, paths))
        self.window.add_pane("Send Queue", self.send_pane, QIcon.fromTheme("mail-send"))
        self.browser_pane = BrowserPane(
            self.archive,
            send_callback=lambda name, paths: drop_on_node(self.send_queue, name, paths),
            node_names=lambda: [n.name for n in registry.list()],
        )
        self.window.add_pane("Local Images", self.browser_pane, QIcon.fromTheme("image-x-generic"))
        self.troubleshoot_pane = TroubleshootPane(
            self.log, registry, settings, events=self.events, lag_meter=lag_meter
        )
        self.window.add_pane("Troubleshooting", self.troubleshoot_pane, QIcon.fromTheme("dialog-information"))
        self.window.status.set_listener(self.node)
        self.window.status.set_summary(self.queue_summary)
        self.retrieves.on_change(lambda _job: self.window.status.refresh())
        self.send_queue.on_change(self.window.status.refresh)
        self._add_menu()
        self._stopped = False

    def _add_menu(self) -> None:
        menu = self.window.menuBar().addMenu("&Courier")
        settings_action = QAction("&Settings…", self.window)
        settings_action.setShortcut(QKeySequence("Ctrl+,"))
        settings_action.triggered.connect(self.edit_settings)
        quit_action = QAction("&Quit", self.window)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.window.close)
        menu.addAction(settings_action)
        menu.addSeparator()
        menu.addAction(quit_action)
        self.settings_action = settings_action

    async def _verify(self, node: Node, settings: Settings) -> VerifyResult:
        return await verify_node(node, settings, events=self.events)

    def queue_summary(self) -> str:
        """The status bar's few words about work in progress ("" when idle)."""
        return "; ".join(part for part in (self.retrieves.summary(), self.send_queue.summary()) if part)

    async def start(self) -> None:
        if self.settings.listener_enabled:
            await self.node.start()
        self.send_queue.start()
        self.retrieves.resume()
        self.window.status.refresh()

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.window)
        if dialog.exec():
            self.apply_settings(dialog.settings())

    def apply_settings(self, new: Settings) -> asyncio.Task[None]:
        """Save ``new`` and restart the listener with it (the storage folder applies at the next start)."""
        folder_changed = new.storage_folder != self.settings.storage_folder
        self.settings = replace(new, storage_folder=self.settings.storage_folder) if folder_changed else new
        save_settings(new)
        self.window.settings = self.settings
        self.window.status.settings = self.settings
        self.node.settings = self.settings
        self.retrieves.settings = self.settings
        self.send_queue.settings = self.settings
        self.query_pane.settings = self.settings
        self.troubleshoot_pane.settings = self.settings
        self.window.nodes_pane.settings = self.settings
        if folder_changed:
            self.window.status.showMessage(
                "The new storage folder is used from the next start of Courier.", 10000
            )
        return asyncio.ensure_future(self._restart_listener())

    async def _restart_listener(self) -> None:
        await self.node.stop()
        self.node.rebuild_ae()
        if self.settings.listener_enabled:
            await self.node.start()
        self.window.status.refresh()

    async def stop(self) -> None:
        """Cancel the running retrieve, release associations, stop the listener, close the archive.

        Each step runs even if one before it failed: a shutdown must not leave the listener open
        or the queue's database unclosed because of an unrelated error."""
        if self._stopped:
            return
        self._stopped = True
        steps: list[tuple[str, Callable[[], object]]] = [
            ("status bar", lambda: self.window.status.set_summary(lambda: "")),
            ("retrieves", self.retrieves.close),
            ("send queue", self.send_queue.stop),  # what is left stays queued for the next start
            ("send queue database", self.send_queue.close),
            ("listener", self.node.stop),
            ("local images", self.browser_pane.shutdown),
            ("archive", self.archive.close),
        ]
        for what, step in steps:
            try:
                result = step()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("stopping the %s failed", what)
        log.info("workstation stopped")
