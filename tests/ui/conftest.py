"""GUI fixtures: a private config folder and a qasync loop on the pytest-qt QApplication."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from app.nodes import Node, NodeRegistry
from app.settings import CONFIG_DIR_ENV, Settings


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def _qasync_loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    # One qasync loop for the whole session: a closed QEventLoop can leave Qt timers behind that
    # fire into deleted objects when a second loop runs on the same QApplication.
    event_loop = qasync.QEventLoop(qapp, already_running=False)
    yield event_loop
    event_loop.close()


@pytest.fixture
def loop(_qasync_loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.AbstractEventLoop]:
    asyncio.set_event_loop(_qasync_loop)
    yield _qasync_loop
    asyncio.set_event_loop(None)


@pytest.fixture
def registry(config_dir: Path) -> NodeRegistry:
    nodes = NodeRegistry(config_dir / "nodes.json")
    nodes.add(Node(name="Main PACS", ae_title="ORTHANC", host="10.0.0.5", port=4242))
    nodes.add(Node(name="CT scanner", ae_title="CT01", host="ct.local", port=104, retrieve_method="C-GET"))
    return nodes


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(storage_folder=tmp_path / "archive")
