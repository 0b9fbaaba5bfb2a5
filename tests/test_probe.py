"""Probe node: what a node accepts, per SOP class and transfer syntax, over as many associations as it takes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGBaseline8Bit, MRImageStorage

from app.net.ae import ApplicationEntity
from app.net.contexts import DEFAULT_TRANSFER_SYNTAXES, MAX_PRESENTATION_CONTEXTS, VERIFICATION
from app.net.events import AssociationAccepted, EventBus
from app.net.scp import Handlers
from app.nodes import Node
from app.probe import probe_node, probe_pairs, summary
from app.settings import Settings
from tests.peers import start_storescp

pytestmark = pytest.mark.timeout(60)


async def test_the_probe_reports_each_class_and_syntax_the_node_accepts_or_why_not() -> None:
    ae = ApplicationEntity("PACS")
    supported = {VERIFICATION: DEFAULT_TRANSFER_SYNTAXES, CTImageStorage: [ExplicitVRLittleEndian]}
    server = await ae.start_server(
        Handlers(), host="127.0.0.1", port=0, policy=ae.acceptor_policy(supported=supported)
    )
    bus = EventBus()
    associations: list[object] = []
    bus.subscribe(AssociationAccepted, associations.append)
    try:
        node = Node(name="PACS", ae_title="PACS", host="127.0.0.1", port=server.port)
        rows = await probe_node(node, replace(Settings(), ae_title="COURIER"), events=bus)
    finally:
        await server.close(grace=1)
    answers = {(r.sop_class, r.transfer_syntax): r.result for r in rows}
    assert answers[(CTImageStorage, ExplicitVRLittleEndian)] == "accepted"
    assert answers[(CTImageStorage, JPEGBaseline8Bit)] == "rejected: none of the proposed transfer syntaxes is supported"
    assert answers[(MRImageStorage, ExplicitVRLittleEndian)] == "rejected: abstract syntax (SOP class) not supported"
    assert answers[(VERIFICATION, ExplicitVRLittleEndian)] == "accepted"
    assert len(rows) == len(probe_pairs())  # every pair answered
    assert len(associations) == -(-len(probe_pairs()) // MAX_PRESENTATION_CONTEXTS) > 1
    assert summary(rows).startswith("2 of ")


@pytest.mark.interop
async def test_probe_dcmtk_storescp(tmp_path: Path) -> None:
    peer = start_storescp(tmp_path)
    try:
        node = Node(name="SCP", ae_title="STORESCP", host="127.0.0.1", port=peer.port)
        rows = await probe_node(node, Settings())
    finally:
        peer.stop()
    accepted = {(r.sop_class_name, r.transfer_syntax_name) for r in rows if r.accepted}
    assert ("CT Image Storage", "Explicit VR Little Endian") in accepted
    assert ("Verification SOP Class", "Implicit VR Little Endian") in accepted
    assert ("CT Image Storage", "JPEG Baseline (Process 1)") not in accepted  # storescp without +xa
