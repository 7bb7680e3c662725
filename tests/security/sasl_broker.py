"""A Kafka listener that speaks just enough SASL to receive a client's credentials.

It answers ApiVersions, accepts the SASL handshake for PLAIN and SCRAM,
records what the client sends in SaslAuthenticate, and refuses it
(``SASL_AUTHENTICATION_FAILED``), so the client retries and logs its
failure. It proves that a secret taken from the environment really reaches
the Kafka client (it is on the wire) while the tests check it never reaches
a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType

from kio.schema.api_versions.v0 import ApiVersionsResponse
from kio.schema.api_versions.v0.response import ApiVersion
from kio.schema.errors import ErrorCode
from kio.static.primitive import i16

from bus.errors import ProtocolError
from bus.gateway.codec import decode_request, encode_response, response_type
from bus.gateway.frames import read_frame, read_request_prefix

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class SaslRecorder:
    """``async with SaslRecorder() as broker``: ``broker.port``, ``broker.received``.

    With ``tls`` (a server-side context) the listener speaks TLS, as a
    ``SASL_SSL`` listener does.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[bytes] = []
        self.port = 0
        self._tls = tls
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SaslRecorder:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ProtocolError, asyncio.IncompleteReadError,
                                 ssl.SSLError):
            while (body := await read_frame(reader)) is not None:
                prefix = read_request_prefix(body)
                reply = self._answer(prefix.api_key, prefix.api_version, body)
                if reply is None:
                    break
                writer.write(encode_response(prefix.correlation_id, reply))
                await writer.drain()
        writer.close()

    def _answer(self, api_key: int, version: int, body: bytes) -> object | None:
        if api_key == API_VERSIONS:
            keys = (ApiVersion(api_key=i16(API_VERSIONS), min_version=i16(0), max_version=i16(0)),
                    ApiVersion(api_key=i16(SASL_HANDSHAKE), min_version=i16(0),
                               max_version=i16(1)),
                    ApiVersion(api_key=i16(SASL_AUTHENTICATE), min_version=i16(0),
                               max_version=i16(0)),
                    ApiVersion(api_key=i16(3), min_version=i16(0), max_version=i16(1)))
            return ApiVersionsResponse(error_code=ErrorCode.none, api_keys=keys)
        kind = response_type(api_key, version)
        if api_key == SASL_HANDSHAKE and kind is not None:
            return kind(error_code=ErrorCode.none, mechanisms=MECHANISMS)
        if api_key == SASL_AUTHENTICATE and kind is not None:
            _, request = decode_request(api_key, version, body)
            self.received.append(bytes(request.auth_bytes))
            return kind(error_code=ErrorCode.sasl_authentication_failed,
                        error_message="authentication failed", auth_bytes=b"")
        return None
