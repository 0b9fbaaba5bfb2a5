"""The `courier` command line: version and help."""

import subprocess
import sys

from app import __version__


def test_version_is_printed() -> None:
    out = subprocess.run([sys.executable, "-m", "app.cli.main", "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0
    assert __version__ in out.stdout
