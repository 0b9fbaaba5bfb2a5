"""Shared fixtures: real peers on loopback, started and stopped by the test that uses them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import peers

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[peers.PeerProcess]:
    """DCMTK's storescp (AE STORESCP) writing into tmp_path/received."""
    peer = peers.start_storescp(tmp_path / "storescp")
    yield peer
    peer.stop()


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[peers.Orthanc]:
    """A private Orthanc (AE ORTHANC) with no known modalities."""
    server = peers.start_orthanc(tmp_path / "orthanc")
    yield server
    server.stop()
