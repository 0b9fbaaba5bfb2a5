"""Fixtures for the archive specifications: a fresh archive per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.archive import Archive


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive(tmp_path / "archive") as opened:
        yield opened
