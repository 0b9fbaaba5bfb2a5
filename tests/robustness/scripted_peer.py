"""A peer that follows a script instead of the protocol: it sends exactly what a fault test needs,
when it needs it, over a real loopback socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from pydicom.uid import ImplicitVRLittleEndian

from app.net.ae import ApplicationEntity
from app.net.dimse.commands import DimseMessage, decode_command, encode_command
from app.net.negotiation import negotiate_as_acceptor
from app.net.pdu import PDU, AAssociateRQ, PDataTF, PresentationDataValue
from app.net.pdu_codec import decode_pdu, encode_pdu

HEADER = 6


@dataclass
class Wire:
    """One connection, read and written PDU by PDU."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def read_pdu(self) -> PDU:
        header = await self.reader.readexactly(HEADER)
        body = await self.reader.readexactly(int.from_bytes(header[2:6], "big"))
        return decode_pdu(header + body)

    async def send(self, pdu: PDU) -> None:
        self.writer.write(encode_pdu(pdu))
        await self.writer.drain()

    async def read_command(self) -> DimseMessage:
        """The next DIMSE command (its PDVs may span several P-DATA-TF); data-set PDVs are skipped."""
        parts: list[bytes] = []
        while True:
            pdu = await self.read_pdu()
            assert isinstance(pdu, PDataTF), f"expected P-DATA-TF, got {pdu!r}"
            for pdv in pdu.values:
                if pdv.is_command:
                    parts.append(bytes(pdv.data))
                    if pdv.is_last:
                        return decode_command(b"".join(parts))

    async def send_command(self, message: DimseMessage, context_id: int) -> None:
        await self.send(PDataTF((PresentationDataValue(context_id, True, True, encode_command(message)),)))

    async def accept(self, title: str = "SCRIPTED") -> AAssociateRQ:
        """Read the A-ASSOCIATE-RQ and accept whatever it proposes in Implicit VR Little Endian."""
        rq = await self.read_pdu()
        assert isinstance(rq, AAssociateRQ)
        supported = {c.abstract_syntax: (ImplicitVRLittleEndian,) for c in rq.presentation_contexts}
        policy = ApplicationEntity(title).acceptor_policy(supported=supported)
        await self.send(negotiate_as_acceptor(rq, policy))  # type: ignore[arg-type]
        return rq

    def drop(self) -> None:
        """The network goes away: RST, no A-ABORT, no FIN handshake."""
        self.writer.transport.abort()


Script = Callable[[Wire], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted_peer(script: Script) -> AsyncIterator[int]:
    """Listen on a free loopback port; every connection runs ``script``.  Yields the port."""
    failures: list[BaseException] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(Wire(reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the other side hung up: that is what several scripts provoke
        except BaseException as exc:
            failures.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
    if failures:
        raise failures[0]
