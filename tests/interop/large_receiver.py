"""A Courier storage SCP in its own process, receiving straight into files (for the 1 GB test).

Usage: large_receiver.py OUT_DIR PORT_FILE
Writes the port it listens on to PORT_FILE; runs until SIGTERM.  The test reads this process's peak
memory (VmHWM) from /proc while it is still running.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from app.net.ae import ApplicationEntity
from app.net.files import Part10FileSink
from app.net.scp import Handlers, Request, StoreInfo


async def main(out: Path, port_file: Path) -> None:
    def sink(info: StoreInfo) -> Part10FileSink:
        return Part10FileSink(out, info.sop_class_uid, info.sop_instance_uid, info.transfer_syntax)

    def store(request: Request) -> int:
        return 0  # the data set is already on disk: request.raw is its path

    ae = ApplicationEntity("BIGSCP", max_pdu_length=262144)
    server = await ae.start_server(Handlers(store=store, store_sink=sink), host="127.0.0.1", port=0)
    port_file.write_text(str(server.port))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.close(grace=1)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
