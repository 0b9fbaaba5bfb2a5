"""Coverage-guided fuzzing of the sans-IO core with atheris (libFuzzer), seeded with our corpus.

A short run is part of every ``./test``; a long one is marked slow.  atheris is Linux-only; where it
is not installed the test says so and skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robustness.fuzzing import CORPUS

pytest.importorskip("atheris", reason="atheris is not installed (it has wheels for Linux only)")

pytestmark = pytest.mark.timeout(1200)

TARGET = Path(__file__).with_name("atheris_target.py")
ROOT = Path(__file__).resolve().parents[2]


def fuzz(tmp_path: Path, runs: int) -> subprocess.CompletedProcess[str]:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, data in CORPUS.items():
        (seeds / name).write_bytes(data)
    return subprocess.run(
        [sys.executable, str(TARGET), f"-runs={runs}", "-max_len=4096", f"-artifact_prefix={tmp_path}/",
         str(seeds)],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=1100, check=False,
    )  # fmt: skip


def report(result: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    crashes = [p.name for p in tmp_path.glob("crash-*")]
    return f"atheris found {crashes}:\n{result.stderr[-3000:]}"


def test_twenty_thousand_coverage_guided_inputs_raise_only_protocol_errors(tmp_path: Path) -> None:
    result = fuzz(tmp_path, 20_000)
    assert result.returncode == 0, report(result, tmp_path)
    assert "Done 20000 runs" in result.stderr


@pytest.mark.slow
def test_half_a_million_coverage_guided_inputs_raise_only_protocol_errors(tmp_path: Path) -> None:
    result = fuzz(tmp_path, 500_000)
    assert result.returncode == 0, report(result, tmp_path)
