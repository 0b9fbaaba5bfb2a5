"""Run ``python -m MODULE ARGS`` in this process and, as it exits, write its peak memory (MB) to REPORT.

Usage: peak_memory.py REPORT MODULE [ARGS...]
The peak is VmHWM, the high-water mark of this process's own address space.  ``os.wait4``'s
``ru_maxrss`` would not do: Linux carries the parent's peak into a child at exec, so a sender spawned
by a 400 MB test process "peaks" at 400 MB however little it uses itself.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path

from bench.memory import peak_rss_mb


def write_peak(report: Path) -> None:
    report.write_text(str(peak_rss_mb()))


if __name__ == "__main__":
    report, module = Path(sys.argv[1]), sys.argv[2]
    atexit.register(write_peak, report)
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
