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


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process as soon as pytest is done when Qt was loaded.

    PySide6 6.x can crash while Python finalizes after a session that created and destroyed many
    widgets on a qasync loop ("bool_dealloc" in the garbage collector), turning a green run red
    after every test has passed.  Nothing is left to do at that point, so skip the finalization.
    """
    import sys  # noqa: PLC0415

    if "PySide6" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        status = getattr(config, "_courier_exitstatus", None)
        os._exit(int(status) if status is not None else 0)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._courier_exitstatus = exitstatus  # type: ignore[attr-defined]
