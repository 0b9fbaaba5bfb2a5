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


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.close()
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
