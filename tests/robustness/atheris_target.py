"""Coverage-guided fuzzing (atheris / libFuzzer) of the sans-IO core: the PDU decoder, the DIMSE
command decoder and the acceptor's state machine fed arbitrary bytes.

Run directly: ``python tests/robustness/atheris_target.py -runs=100000 [corpus_dir]``.  A typed
protocol error is the expected answer to bad bytes; any other exception is a finding, and libFuzzer
exits non-zero with the input that caused it.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from app.net import dul
    from app.net.dimse.commands import decode_command
    from app.net.errors import DicomNetworkError
    from app.net.pdu import AAssociateAC
    from app.net.pdu_codec import decode_pdu

EXPECTED = (DicomNetworkError,)


def fuzz_one(data: bytes) -> None:
    with contextlib.suppress(EXPECTED):
        decode_pdu(data)
    with contextlib.suppress(EXPECTED):
        decode_command(data)
    # The acceptor's Upper Layer, fed the bytes in two pieces; answered with an acceptance whenever
    # an association indication comes out, so the fuzzer reaches the established states too.
    layer = dul.UpperLayer(dul.Role.ACCEPTOR, max_pdu_length=16384)
    layer.connection_established()
    half = len(data) // 2
    for piece in (data[:half], data[half:]):
        try:
            effects = layer.data_received(piece)
        except EXPECTED:
            return
        for effect in effects:
            if isinstance(effect, dul.AssociateIndication):
                rq = effect.request
                ac = AAssociateAC(
                    called_ae_title=rq.called_ae_title or "ANY",
                    calling_ae_title=rq.calling_ae_title or "ANY",
                    presentation_contexts=(),
                )
                try:
                    layer.accept(ac)
                except EXPECTED:
                    return
    if layer.state is not dul.State.STA1:  # as the transport does: Sta1 has no connection to close
        layer.connection_closed()


def main() -> None:
    atheris.Setup(sys.argv, fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
