"""Streams that say when they ended, even while nothing reads them.

asyncio reports a closed connection only to a coroutine reading it. The
gateway does not always read both sides: between requests nothing reads the
broker's socket, and while a request is held or waits for room nothing reads
the client's. ``WatchedReader.ended`` completes as soon as the transport sees
the peer's end (EOF or an error), so the connection can wait on it beside
its pumps and notice a peer that left while it was not reading.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable

Accept = Callable[["WatchedReader", asyncio.StreamWriter], Awaitable[None]]


class WatchedReader(asyncio.StreamReader):
    """A StreamReader whose ``ended`` future completes at the peer's EOF or a lost connection."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def feed_eof(self) -> None:
        super().feed_eof()
        self._end()

    def set_exception(self, exc: Exception) -> None:
        super().set_exception(exc)
        self._end()

    def _end(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


async def serve(accept: Accept, sock: socket.socket) -> asyncio.Server:
    """``asyncio.start_server`` on a bound socket, with watched readers."""
    loop = asyncio.get_running_loop()

    def protocol() -> asyncio.StreamReaderProtocol:
        return asyncio.StreamReaderProtocol(WatchedReader(), accept)  # type: ignore[arg-type]

    return await loop.create_server(protocol, sock=sock)


async def open_connection(
    host: str, port: int, *, tls: ssl.SSLContext | None
) -> tuple[WatchedReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` with a watched reader."""
    loop = asyncio.get_running_loop()
    reader = WatchedReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.create_connection(
        lambda: protocol, host, port, ssl=tls, server_hostname=host if tls else None
    )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
