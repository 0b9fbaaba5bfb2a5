"""Peak memory of a process as Linux keeps it for that process alone.

``getrusage``'s ``ru_maxrss`` will not do: at ``exec`` Linux carries the peak of the address space
being replaced into the new program's, so a child spawned by a parent holding 2 GB reports a 2 GB
peak of its own (this made the bench's receivers and senders look 200 MB to 2 GB heavy).  ``VmHWM``
in ``/proc/PID/status`` is the high-water mark of the current address space only.
"""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident memory so far (VmHWM), in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM (the process has ended)")
