"""Upstream security: TLS to the brokers, and SASL the gateway performs itself.

The embedded broker speaks plaintext without SASL, so these tests put a small
front in the test process between the gateway and the real broker: a TLS
terminator, and a SASL front that plays the broker's side of SaslHandshake
and SaslAuthenticate (PLAIN, SCRAM-SHA-256) before relaying bytes. The
broker is advertised at the front's address, so every connection the
gateway opens — bootstrap and per-broker — goes through it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import hmac
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kio.schema.errors import ErrorCode
from kio.schema.sasl_authenticate.v2 import SaslAuthenticateResponse
from kio.schema.sasl_handshake.v1 import SaslHandshakeResponse

from bus.embedded import find_tansu, free_port
from bus.errors import ProtocolError
from bus.gateway.codec import decode_request, encode_response
from bus.gateway.frames import read_frame, read_request_prefix
from bus.gateway.scram import ScramClient
from bus.gateway.server import Gateway
from bus.policy import PolicyHolder, load_policy

Front = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

RULES = """
version: 1
kafka: {kafka}
agents: {{alice: {{}}, bob: {{}}}}
edges: [{{name: a-b, from: alice, to: bob}}]
"""


def test_scram_client_matches_rfc_7677() -> None:
    client = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert client.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert client.final(server_first) == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    client.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    with pytest.raises(ProtocolError, match="signature"):
        client.verify(b"v=AAAA")
    with pytest.raises(ProtocolError, match="invalid-proof"):
        client.verify(b"e=invalid-proof")


def test_scram_client_refuses_a_weak_or_foreign_challenge() -> None:
    client = ScramClient("SCRAM-SHA-512", "u", "p", nonce="abc")
    with pytest.raises(ProtocolError, match="iteration"):
        client.final(b"r=abcdef,s=c2FsdA==,i=100")
    with pytest.raises(ProtocolError, match="malformed"):
        client.final(b"r=zzz,s=c2FsdA==,i=4096")  # nonce not extending ours


@contextlib.asynccontextmanager
async def serve(front: Front, port: int, tls: ssl.SSLContext | None = None) -> AsyncIterator[None]:
    server = await asyncio.start_server(front, "127.0.0.1", port, ssl=tls)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def relay(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    await asyncio.gather(pump(a[0], b[1]), pump(b[0], a[1]))


@pytest.fixture
def hidden_broker() -> Iterator[tuple[int, int]]:
    """A tansu broker listening on one port and advertising another (the front's)."""
    listen, advertised = free_port(), free_port()
    process = subprocess.Popen(
        [
            find_tansu(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{listen}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{advertised}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not answers(listen):
            assert process.poll() is None and time.monotonic() < deadline, "tansu did not start"
            time.sleep(0.02)
        yield listen, advertised
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


async def round_trip(gateway: Gateway, bob: Gateway) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=gateway.bootstrap, request_timeout_ms=10000)
    try:
        await producer.start()
        await producer.send_and_wait("agents.bob.inbox", b"secured", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bob.bootstrap, auto_offset_reset="earliest")
    try:
        await consumer.start()
        consumer.assign([TopicPartition("agents.bob.inbox", 0)])
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert dict(record.headers)["membrane-from"] == b"alice"
    return bytes(record.value)


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def gateways(rules: Path, port: int) -> tuple[Gateway, Gateway]:
    holder = PolicyHolder(load_policy(rules))
    return tuple(  # type: ignore[return-value]
        Gateway(holder, upstream=f"127.0.0.1:{port}", listen="127.0.0.1:0", agent=agent)
        for agent in ("alice", "bob")
    )


@pytest.mark.e2e
async def test_upstream_tls(tmp_path: Path, hidden_broker: tuple[int, int]) -> None:
    listen, front_port = hidden_broker
    cert, key = self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    handshakes: list[str] = []

    async def terminate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handshakes.append(writer.get_extra_info("ssl_object").version())
        await relay((reader, writer), await asyncio.open_connection("127.0.0.1", listen))

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(kafka=f"{{security_protocol: SSL, ssl_cafile: '{cert}'}}"))
    alice, bob = await gateways(rules, front_port)
    async with serve(terminate, front_port, server_tls), alice, bob:
        assert await round_trip(alice, bob) == b"secured"
    assert handshakes and all(v.startswith("TLS") for v in handshakes)


class SaslFront:
    """The broker's side of SASL (PLAIN or SCRAM-SHA-256), then a byte relay."""

    def __init__(self, broker_port: int, users: dict[str, str]) -> None:
        self.broker_port = broker_port
        self.users = users
        self.authenticated: list[tuple[str, str]] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handshake = await read_frame(reader)
        assert handshake is not None
        prefix = read_request_prefix(handshake)
        assert (prefix.api_key, prefix.api_version) == (17, 1), "SASL must come first"
        _, request = decode_request(17, 1, handshake)
        writer.write(
            encode_response(
                prefix.correlation_id,
                SaslHandshakeResponse(
                    error_code=ErrorCode.none, mechanisms=("PLAIN", "SCRAM-SHA-256")
                ),
            )
        )
        user = await (self._plain if request.mechanism == "PLAIN" else self._scram)(reader, writer)
        self.authenticated.append((request.mechanism, user))
        await relay((reader, writer), await asyncio.open_connection("127.0.0.1", self.broker_port))

    async def _step(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        body = await read_frame(reader)
        assert body is not None
        prefix = read_request_prefix(body)
        assert prefix.api_key == 36
        _, request = decode_request(36, 2, body)
        return prefix.correlation_id, bytes(request.auth_bytes)

    def _answer(self, writer: asyncio.StreamWriter, correlation_id: int, auth: bytes) -> None:
        writer.write(
            encode_response(
                correlation_id,
                SaslAuthenticateResponse(
                    error_code=ErrorCode.none,
                    error_message=None,
                    auth_bytes=auth,
                    session_lifetime=datetime.timedelta(0),
                ),
            )
        )

    async def _plain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        correlation_id, auth = await self._step(reader)
        _, user, password = auth.decode().split("\0")
        assert self.users[user] == password
        self._answer(writer, correlation_id, b"")
        return user

    async def _scram(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        correlation_id, first = await self._step(reader)
        bare = first.decode().split(",", 2)[2]
        user, client_nonce = (part[2:] for part in bare.split(","))
        salt, rounds, nonce = b"pepper-salt", 4096, client_nonce + "srv"
        server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={rounds}"
        self._answer(writer, correlation_id, server_first.encode())
        correlation_id, final = await self._step(reader)
        without_proof, _, proof = final.decode().rpartition(",p=")
        salted = hashlib.pbkdf2_hmac("sha256", self.users[user].encode(), salt, rounds)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        assert base64.b64decode(proof) == expected, "wrong password"
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        verifier = base64.b64encode(hmac.digest(server_key, auth_message, "sha256")).decode()
        self._answer(writer, correlation_id, f"v={verifier}".encode())
        return user


@pytest.mark.e2e
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
async def test_the_gateway_authenticates_upstream_itself(
    tmp_path: Path,
    hidden_broker: tuple[int, int],
    mechanism: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listen, front_port = hidden_broker
    monkeypatch.setenv("GATEWAY_KAFKA_PASSWORD", "s3cret")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        RULES.format(
            kafka=(
                f"{{security_protocol: SASL_PLAINTEXT, sasl_mechanism: {mechanism}, "
                "sasl_username: gw-user, sasl_password_env: GATEWAY_KAFKA_PASSWORD}"
            )
        )
    )
    front = SaslFront(listen, {"gw-user": "s3cret"})
    alice, bob = await gateways(rules, front_port)
    async with serve(front, front_port), alice, bob:
        assert await round_trip(alice, bob) == b"secured"  # the clients never did SASL
    assert front.authenticated and set(front.authenticated) == {(mechanism, "gw-user")}
