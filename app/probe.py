"""Probe a node: which SOP classes and transfer syntaxes does it accept?  No Qt here.

Each SOP class is proposed once per transfer syntax (one syntax per presentation context), so the
answer says exactly which syntaxes the node takes for each class, not only the one it prefers.  PS3.8
allows 128 contexts per association: the probe uses as many associations as it needs, each released
at once, with no DIMSE message.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
)

from app.net.contexts import (
    COMMON_STORAGE_SOP_CLASSES,
    MAX_PRESENTATION_CONTEXTS,
    QR_FIND,
    QR_GET,
    QR_MOVE,
    STORAGE_COMMITMENT_PUSH,
    VERIFICATION,
)
from app.net.events import EventBus
from app.net.pdu import describe_context_result
from app.nodes import Node
from app.settings import Settings
from app.verify import node_ae

PROBE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEG2000Lossless,
    RLELossless,
)
SERVICE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian)


@dataclass(frozen=True)
class ProbeRow:
    sop_class: str
    transfer_syntax: str
    result: str  # "accepted" or the reason it was rejected

    @property
    def accepted(self) -> bool:
        return self.result == "accepted"

    @property
    def sop_class_name(self) -> str:
        return UID(self.sop_class).name

    @property
    def transfer_syntax_name(self) -> str:
        return UID(self.transfer_syntax).name


def probe_pairs() -> list[tuple[str, str]]:
    """(SOP class, transfer syntax) pairs to ask about: services in the uncompressed syntaxes, the
    common storage classes in every common syntax."""
    services = (VERIFICATION, STORAGE_COMMITMENT_PUSH, *QR_FIND, *QR_MOVE, *QR_GET)
    pairs: list[tuple[str, str]] = [(sop, ts) for sop in services for ts in SERVICE_SYNTAXES]
    pairs += [(sop, ts) for sop in COMMON_STORAGE_SOP_CLASSES for ts in PROBE_TRANSFER_SYNTAXES]
    return pairs


def batches(
    pairs: list[tuple[str, str]], size: int = MAX_PRESENTATION_CONTEXTS
) -> list[list[tuple[str, str]]]:
    return [pairs[start : start + size] for start in range(0, len(pairs), size)]


async def probe_node(node: Node, settings: Settings, *, events: EventBus | None = None) -> list[ProbeRow]:
    """Associate with ``node`` as often as needed and report every pair's answer.  Raises the engine's
    ``DicomNetworkError`` (in words) when the node cannot be reached or refuses us."""
    rows: list[ProbeRow] = []
    for batch in batches(probe_pairs()):
        async with node_ae(node, settings, events).associate(
            node.host, node.port, called_ae_title=node.ae_title, contexts=[(sop, [ts]) for sop, ts in batch],
            **node.association_options(),
        ) as client:  # fmt: skip
            contexts = client.negotiated.contexts
            for proposed in contexts.proposed:
                result = contexts.result_of(proposed.context_id)
                words = describe_context_result(result) if result is not None else "no answer"
                rows.append(ProbeRow(proposed.abstract_syntax, proposed.transfer_syntaxes[0], words))
    return rows


def summary(rows: list[ProbeRow]) -> str:
    accepted = {row.sop_class for row in rows if row.accepted}
    classes = {row.sop_class for row in rows}
    contexts = f"{sum(r.accepted for r in rows)} of {len(rows)} contexts"
    return f"{len(accepted)} of {len(classes)} SOP classes accepted ({contexts})"
