"""Kafka wire frames: a big-endian int32 size followed by that many bytes.

Every request starts with the same fixed prefix in every header version
(``api_key`` int16, ``api_version`` int16, ``correlation_id`` int32, then a
nullable int16-length ``client_id``), and every response starts with the
``correlation_id``. That prefix is all the gateway reads from frames it passes
through untouched, so it never needs a schema for them.
"""

from __future__ import annotations

import asyncio
import struct

from bus.errors import ProtocolError

SIZE = struct.Struct(">i")
REQUEST_PREFIX = struct.Struct(">hhi")
CLIENT_ID_LENGTH = struct.Struct(">h")
CORRELATION = struct.Struct(">i")

# Kafka brokers reject requests larger than socket.request.max.bytes (100 MiB by
# default); the gateway applies the same bound to both directions.
DEFAULT_MAX_FRAME = 100 * 1024 * 1024


async def read_frame(
    reader: asyncio.StreamReader, max_size: int = DEFAULT_MAX_FRAME
) -> bytes | None:
    """The next frame's body, or None at a clean end of stream."""
    try:
        head = await reader.readexactly(SIZE.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("truncated-frame", "connection closed inside a frame size") from None
    (size,) = SIZE.unpack(head)
    if size < 0 or size > max_size:
        raise ProtocolError("frame-too-large", f"frame of {size} bytes (max {max_size})")
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise ProtocolError(
            "truncated-frame", f"connection closed inside a {size}-byte frame"
        ) from None


def framed(body: bytes) -> bytes:
    return SIZE.pack(len(body)) + body


class RequestPrefix:
    """The fields every request header starts with."""

    __slots__ = ("api_key", "api_version", "client_id", "correlation_id")

    def __init__(
        self, api_key: int, api_version: int, correlation_id: int, client_id: str | None
    ) -> None:
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id
        self.client_id = client_id

    def __repr__(self) -> str:
        return (
            f"RequestPrefix(api_key={self.api_key}, api_version={self.api_version}, "
            f"correlation_id={self.correlation_id}, client_id={self.client_id!r})"
        )


def read_request_prefix(body: bytes) -> RequestPrefix:
    """Parse the version-independent start of a request header."""
    end = REQUEST_PREFIX.size + CLIENT_ID_LENGTH.size
    if len(body) < end:
        raise ProtocolError("short-header", f"request header of {len(body)} bytes is too short")
    api_key, api_version, correlation_id = REQUEST_PREFIX.unpack_from(body, 0)
    (length,) = CLIENT_ID_LENGTH.unpack_from(body, REQUEST_PREFIX.size)
    client_id: str | None = None
    if length >= 0:
        if len(body) < end + length:
            raise ProtocolError("short-header", "client id runs past the end of the request")
        client_id = body[end : end + length].decode("utf-8", errors="replace")
    return RequestPrefix(api_key, api_version, correlation_id, client_id)


def response_correlation_id(body: bytes) -> int:
    if len(body) < CORRELATION.size:
        raise ProtocolError("short-header", "response shorter than its correlation id")
    return int(CORRELATION.unpack_from(body, 0)[0])
