"""The association log, fed by real associations: contexts with reasons, DIMSE with statuses, PDUs."""

from __future__ import annotations

import pytest
from pydicom.uid import CTImageStorage, MRImageStorage

from app.assoc_log import MAX_PDUS, AssociationLog
from app.net.ae import ApplicationEntity
from app.net.contexts import DEFAULT_TRANSFER_SYNTAXES, VERIFICATION
from app.net.errors import AssociationRejected
from app.net.events import EventBus
from app.net.scp import Handlers
from tests.net.datasets import make_ct

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def echo_only():
    ae = ApplicationEntity("PACS")
    server = await ae.start_server(
        Handlers(), host="127.0.0.1", port=0,
        policy=ae.acceptor_policy(supported={VERIFICATION: DEFAULT_TRANSFER_SYNTAXES}, allowed_calling_ae_titles=["COURIER"]),
    )  # fmt: skip
    yield server
    await server.close(grace=1)


async def test_an_outbound_association_is_recorded_with_contexts_messages_and_pdus(echo_only) -> None:
    bus = EventBus()
    log = AssociationLog(bus)
    async with ApplicationEntity("COURIER", events=bus).associate(
        "127.0.0.1", echo_only.port, called_ae_title="PACS", contexts=[VERIFICATION, CTImageStorage]
    ) as client:
        await client.echo()
    [record] = log.records()
    assert (record.direction, record.local_ae, record.remote_ae, record.outcome) == (
        "outbound", "COURIER", "PACS", "released",
    )  # fmt: skip
    assert record.peer == f"127.0.0.1:{echo_only.port}"
    assert [c.text() for c in record.contexts] == [
        "[1] Verification SOP Class: accepted with Explicit VR Little Endian",
        "[3] CT Image Storage: rejected: abstract syntax (SOP class) not supported",
    ]
    assert record.peer_max_pdu and record.our_max_pdu
    assert "COURIER_010" in record.peer_implementation
    assert any("C-ECHO-RQ" in m for m in record.messages)
    assert any("C-ECHO-RSP" in m and "Success (0x0000)" in m for m in record.messages)
    assert any("A-ASSOCIATE-RQ" in p for p in record.pdus) and any("A-RELEASE-RP" in p for p in record.pdus)
    text = record.to_text()
    assert "abstract syntax (SOP class) not supported" in text and "PDU trace:" in text
    assert record.duration_s is not None and record.duration_s >= 0


async def test_a_rejected_association_is_recorded_with_its_reason_on_both_sides(echo_only) -> None:
    ours, theirs = EventBus(), echo_only.events
    log, server_log = AssociationLog(ours), AssociationLog(theirs)
    with pytest.raises(AssociationRejected):
        async with ApplicationEntity("STRANGER", events=ours).associate(
            "127.0.0.1", echo_only.port, called_ae_title="PACS", contexts=[VERIFICATION]
        ):
            pass
    [record] = log.records()
    assert record.outcome == "rejected" and record.failed
    assert "calling AE title not recognized" in record.error
    [inbound] = server_log.records()
    assert (inbound.direction, inbound.remote_ae, inbound.outcome) == ("inbound", "STRANGER", "rejected")
    server_log.close()


async def test_the_log_is_bounded_and_keeps_no_data_sets() -> None:
    bus = EventBus()
    log = AssociationLog(bus, limit=2)
    ae = ApplicationEntity("PACS")
    server = await ae.start_server(Handlers(store=lambda r: 0), host="127.0.0.1", port=0)
    try:
        client_ae = ApplicationEntity("COURIER", events=bus, max_pdu_length=4096)
        for _ in range(3):
            async with client_ae.associate(
                "127.0.0.1", server.port, called_ae_title="PACS", contexts=[VERIFICATION]
            ) as c:
                await c.echo()
        async with ApplicationEntity("COURIER", events=bus).associate(
            "127.0.0.1", server.port, called_ae_title="PACS", contexts=[CTImageStorage, MRImageStorage],
            max_pdu_length=4096,
        ) as c:  # fmt: skip
            await c.store(make_ct(rows=512))  # 512 kB in ~130 PDUs of 4 kB each way... and more
        records = log.records()
        assert len(records) == 2
        big = records[0]
        assert len(big.pdus) <= MAX_PDUS
        assert all(len(line) < 2000 for line in big.pdus)  # one line per P-DATA-TF, no data set kept
    finally:
        await server.close(grace=1)
