"""Verify a remote node with C-ECHO (PS3.4 Annex A) and describe the outcome in words."""

from __future__ import annotations

from dataclasses import dataclass

from app.nodes import Node
from app.settings import Settings


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    summary: str
    details: list[str]
    round_trip_ms: float | None


async def verify_node(node: Node, settings: Settings) -> VerifyResult:
    raise NotImplementedError("network engine not ready")
