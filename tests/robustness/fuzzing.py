"""What a hostile or broken peer sends: valid conversations, their PDUs mutated, reordered and cut.

Used by the live-acceptor fuzz tests.  Every stream is built from PDUs our own codec encodes (so the
mutations start from something the acceptor would otherwise accept) and then damaged by hypothesis.
"""

from __future__ import annotations

from hypothesis import strategies as st
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from app.net.contexts import VERIFICATION
from app.net.dimse.commands import CEchoRQ, encode_command
from app.net.negotiation import RequestorSettings, build_associate_rq
from app.net.pdu import (
    AAbort,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    PresentationContextRQ,
    PresentationDataValue,
)
from app.net.pdu_codec import encode_pdu

CALLED = "FUZZ-SCP"


def associate_rq(calling: str = "FUZZER") -> bytes:
    contexts = [
        PresentationContextRQ(1, VERIFICATION, (ImplicitVRLittleEndian, ExplicitVRLittleEndian)),
        PresentationContextRQ(3, "1.2.840.10008.5.1.4.1.1.2", (ExplicitVRLittleEndian,)),
    ]
    return encode_pdu(
        build_associate_rq(
            RequestorSettings(calling_ae_title=calling, called_ae_title=CALLED, contexts=contexts)
        )
    )


def echo_pdata(message_id: int = 1, context_id: int = 1) -> bytes:
    command = encode_command(CEchoRQ(message_id=message_id, affected_sop_class_uid=VERIFICATION))
    return encode_pdu(PDataTF((PresentationDataValue(context_id, True, True, command),)))


def pdata(context_id: int, is_command: bool, is_last: bool, payload: bytes) -> bytes:
    return encode_pdu(PDataTF((PresentationDataValue(context_id, is_command, is_last, payload),)))


RELEASE_RQ = encode_pdu(AReleaseRQ())
RELEASE_RP = encode_pdu(AReleaseRP())
ABORT = encode_pdu(AAbort(AbortSource.SERVICE_USER, 0))

# The building blocks of a conversation, valid and otherwise.
_pieces = st.one_of(
    st.just(associate_rq()),
    st.builds(echo_pdata, st.integers(1, 0xFFFF), st.sampled_from([1, 3, 5, 255])),
    st.builds(pdata, st.integers(0, 255), st.booleans(), st.booleans(), st.binary(max_size=300)),
    st.sampled_from([RELEASE_RQ, RELEASE_RP, ABORT]),
    st.binary(min_size=1, max_size=64),  # raw noise
)


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted or removed, or a length field lied about."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        if not buf:
            break
        kind = draw(st.sampled_from(["flip", "insert", "delete", "length"]))
        at = draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del buf[at : at + draw(st.integers(1, 8))]
        elif len(buf) >= 6:
            # The PDU length (bytes 2..5): huge, zero or off by a little.
            claimed = draw(st.sampled_from([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, len(buf) + 1, len(buf) - 7]))
            buf[2:6] = max(claimed, 0).to_bytes(4, "big")
    return bytes(buf)


@st.composite
def hostile_streams(draw: st.DrawFn) -> bytes:
    """A byte stream a peer might send: a conversation of pieces, some of them mutated, maybe cut short."""
    pieces = draw(st.lists(_pieces, min_size=1, max_size=6))
    out = b"".join(draw(mutated(p)) if draw(st.booleans()) else p for p in pieces)
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return out


# Streams found interesting while fuzzing (or written from the standard's corner cases): each is a
# regression test of its own.  Name -> bytes.
CORPUS: dict[str, bytes] = {
    "empty_stream": b"",
    "one_byte": b"\x01",
    "header_claims_4gb": b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 16,
    "pdata_claims_4gb": b"\x04\x00\xff\xff\xff\xff\x00\x00",
    "unknown_pdu_type": b"\x09\x00\x00\x00\x00\x04abcd",
    "pdata_before_association": echo_pdata(),
    "release_before_association": RELEASE_RQ,
    "release_rp_unsolicited": RELEASE_RP,
    "abort_first": ABORT,
    "associate_then_truncated_pdata": associate_rq() + echo_pdata()[:9],
    "associate_twice": associate_rq() + associate_rq(),
    "associate_then_echo_on_unknown_context": associate_rq() + echo_pdata(context_id=7),
    "associate_then_dataset_before_command": associate_rq() + pdata(1, False, True, b"\x08\x00\x00\x00"),
    "associate_then_garbage_command": associate_rq() + pdata(1, True, True, b"\xff" * 40),
    "associate_then_pdv_length_zero": associate_rq() + b"\x04\x00\x00\x00\x00\x06\x00\x00\x00\x00\x01\x03",
    "associate_then_release_rp": associate_rq() + RELEASE_RP,
    "associate_then_echo_then_release": associate_rq() + echo_pdata() + RELEASE_RQ,
    "associate_with_ae_title_of_nuls": associate_rq().replace(b"FUZZER", b"\x00" * 6),
    "associate_truncated_in_item": associate_rq()[:40],
}
