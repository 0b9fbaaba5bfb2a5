"""The timeouts of an association, in seconds (``None`` waits for ever)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long each phase may take.

    ``dimse`` bounds the wait for one response and restarts at every Pending response, so a long
    C-FIND or C-MOVE that keeps reporting progress never times out; ``retrieve`` bounds a whole C-MOVE
    or C-GET (PS3.7 leaves both to the application; pynetdicom users lose long retrieves to a single
    30 s limit).  ``artim`` is PS3.8's ARTIM timer; ``idle`` closes an association nobody uses.
    """

    connect: float | None = 10.0
    acse: float | None = 30.0
    dimse: float | None = 60.0
    retrieve: float | None = 3600.0
    artim: float = 30.0
    idle: float | None = None
