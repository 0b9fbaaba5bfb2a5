"""Every Python example in docs/api.md runs as written (each starts its own servers on loopback)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"


def examples() -> list[tuple[str, str]]:
    text = API_DOC.read_text(encoding="utf-8")
    found: list[tuple[str, str]] = []
    for match in re.finditer(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M):
        title, body = match.group(1), match.group(2)
        for code in re.findall(r"```python\n(.*?)```", body, flags=re.S):
            found.append((title, code))
    return found


EXPECTED_OUTPUT = {
    "C-ECHO": "C-ECHO status 0x0000, peer COURIER_010",
    "C-STORE": "20 of 20 stored, pipelined",
    "C-FIND": "final status 0xFE00",
    "C-GET": "3 instances received",
    "C-MOVE": "C-MOVE to NOWHERE: 0xA801",
    "DIMSE-N": "N-DELETE 0x0000",
    "Events": "rejected: ",
}


def test_every_service_has_an_example() -> None:
    titles = " ".join(title for title, _ in examples())
    for service in EXPECTED_OUTPUT:
        assert service in titles


@pytest.mark.parametrize(("title", "code"), examples(), ids=[title.split(":")[0] for title, _ in examples()])
def test_example_runs_and_prints_what_it_promises(title: str, code: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    expected = next(text for key, text in EXPECTED_OUTPUT.items() if title.startswith(key))
    assert expected in run.stdout, run.stdout
