"""Connections from the gateway to the brokers: TCP, TLS, and SASL the gateway owns.

The rules file's ``kafka:`` section says how membrane reaches Kafka. With
``SSL`` or ``SASL_SSL`` every upstream connection is TLS. With
``SASL_PLAINTEXT`` or ``SASL_SSL``, a sidecar (or client-id) gateway
authenticates each upstream connection itself — SaslHandshake v1, then
SaslAuthenticate v2 with PLAIN or SCRAM — before the client's first frame
is forwarded, so the credentials live in the gateway and never in the agent,
whose client connects to the gateway in plaintext without SASL. A gateway
whose identity mode is ``sasl`` never authenticates by itself: there the
client's own SASL exchange passes through.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from bus.errors import ProtocolError, UpstreamError
from bus.gateway import versions as api
from bus.gateway.codec import decode_response, encode_request, request_type
from bus.gateway.frames import read_frame
from bus.gateway.scram import HASHES, ScramClient
from bus.gateway.streams import WatchedReader, open_connection
from bus.rules.transports import KafkaSettings
from bus.secrets import from_env

Streams = tuple[WatchedReader, asyncio.StreamWriter]

# Bounds the TCP (and TLS) connect, and separately the SASL exchange: a broker
# that accepts connections but does not answer must not hold a client forever.
CONNECT_TIMEOUT = 10.0
# Correlation ids of the gateway's own requests, before any client request.
OWN_CORRELATION = 0x7FFF0000


def _secret(variable: str | None, what: str) -> str | None:
    return from_env(variable, f"$.kafka.{what}")


def tls_context(settings: KafkaSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ssl_cafile)
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile is not None:
        password = _secret(settings.ssl_password_env, "ssl_password_env")
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile, password)
    return context


class UpstreamConnector:
    """Opens (and, when configured, authenticates) one upstream connection."""

    def __init__(
        self, settings: KafkaSettings, *, own_sasl: bool, timeout: float = CONNECT_TIMEOUT
    ) -> None:
        protocol = settings.security_protocol
        self.timeout = timeout
        self.tls = tls_context(settings) if protocol in ("SSL", "SASL_SSL") else None
        self.mechanism: str | None = None
        self.user = ""
        self._password = ""
        if own_sasl and protocol.startswith("SASL"):
            self.mechanism = settings.sasl_mechanism
            self.user = settings.sasl_username or ""
            self._password = _secret(settings.sasl_password_env, "sasl_password_env") or ""

    async def open(self, host: str, port: int) -> Streams:
        try:
            streams = await asyncio.wait_for(
                open_connection(host, port, tls=self.tls), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(f"cannot reach {host}:{port}: {exc}", retriable=True) from None
        if self.mechanism is not None:
            try:
                await asyncio.wait_for(self._authenticate(*streams), self.timeout)
            except TimeoutError:
                streams[1].close()
                raise UpstreamError(
                    f"{host}:{port} did not complete SASL within {self.timeout:g}s",
                    retriable=True,
                ) from None
            except BaseException:
                streams[1].close()
                raise
        return streams

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert self.mechanism is not None
        handshake = await _exchange(reader, writer, api.SASL_HANDSHAKE, 1, mechanism=self.mechanism)
        if handshake.error_code != 0:
            raise UpstreamError(
                f"broker refused SASL mechanism {self.mechanism} "
                f"(offers {', '.join(handshake.mechanisms)})",
                retriable=False,
            )
        if self.mechanism == "PLAIN":
            await _authenticate_step(reader, writer, f"\0{self.user}\0{self._password}".encode())
            return
        if self.mechanism not in HASHES:
            raise UpstreamError(
                f"SASL mechanism {self.mechanism} is not supported", retriable=False
            )
        scram = ScramClient(self.mechanism, self.user, self._password)
        server_first = await _authenticate_step(reader, writer, scram.first())
        server_final = await _authenticate_step(reader, writer, scram.final(server_first))
        scram.verify(server_final)


async def _authenticate_step(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, auth: bytes
) -> bytes:
    answer = await _exchange(reader, writer, api.SASL_AUTHENTICATE, 2, auth_bytes=auth)
    if answer.error_code != 0:
        raise UpstreamError(f"SASL authentication failed: {answer.error_message}", retriable=False)
    return bytes(answer.auth_bytes)


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    api_key: int,
    version: int,
    **fields: Any,
) -> Any:
    kind = request_type(api_key, version)
    assert kind is not None, "kio has SaslHandshake v1 and SaslAuthenticate v2"
    header = kind.__header_schema__(
        request_api_key=api_key,
        request_api_version=version,
        correlation_id=OWN_CORRELATION + api_key,
        client_id="membrane-gateway",
    )
    writer.write(encode_request(header, kind(**fields)))
    await writer.drain()
    body = await read_frame(reader)
    if body is None:
        raise UpstreamError("broker closed the connection during SASL", retriable=True)
    try:
        return decode_response(api_key, version, body)
    except ProtocolError as exc:
        raise UpstreamError(f"unreadable SASL answer: {exc}", retriable=False) from None
