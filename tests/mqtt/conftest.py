"""Fixtures of the MQTT tests: a real Mosquitto broker on a free loopback port.

Each broker writes its own config into the test's temporary directory and
owns the one process it starts; teardown ends only that process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus.embedded import free_port
from bus.engine.engine import Engine
from bus.metrics import Metrics
from bus.mqtt.bridge import MqttBridge
from bus.mqtt.codec import DEFAULT_MAX_PAYLOAD
from bus.mqtt.router import OutcomeSink
from bus.policy import PolicyHolder, load_policy
from tests.polling import wait_until

__all__ = ["wait_until"]  # shared with the MQTT tests that import it from here

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

ROBOTS_RULES = """\
version: 1
groups:
  robots: {members: [alice, bob], transport: mqtt}
edges:
  - {name: pair, from: robots, to: robots}
"""
"""Two MQTT agents that may talk to each other: the fleet most tests need."""

# Generous per-client queues: tests publish thousands of QoS 1 messages while
# the bridge is away, and Mosquitto's default (1,000) would drop the rest.
# ``user``: started as root, Mosquitto would drop to the ``mosquitto`` user,
# which cannot read the test's private temporary directory.
BASE_CONFIG = """\
listener {port} 127.0.0.1
user {user}
persistence false
max_queued_messages 200000
max_inflight_messages 100
log_dest file {log}
log_type error
log_type warning
log_type notice
"""


class MosquittoBroker:
    """``mosquitto -c <generated config>``; ``extra`` lines are appended to the config."""

    def __init__(self, directory: Path, *, extra: str = "", anonymous: bool = True) -> None:
        self.directory = directory
        self.host = "127.0.0.1"
        self.port = free_port()
        self.log = directory / "mosquitto.log"
        self.config = directory / "mosquitto.conf"
        body = BASE_CONFIG.format(port=self.port, log=self.log, user=getpass.getuser())
        if anonymous:
            body += "allow_anonymous true\n"
        self.config.write_text(body + extra)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


StartMosquitto = Callable[..., MosquittoBroker]


@pytest.fixture
def start_mosquitto(tmp_path: Path) -> Iterator[StartMosquitto]:
    """Starts brokers with extra config lines; every one is stopped after the test."""
    started: list[MosquittoBroker] = []

    def start(*, extra: str = "", anonymous: bool = True) -> MosquittoBroker:
        directory = tmp_path / f"mosquitto-{len(started)}"
        directory.mkdir()
        broker = MosquittoBroker(directory, extra=extra, anonymous=anonymous)
        started.append(broker)
        broker.start()
        return broker

    try:
        yield start
    finally:
        for broker in started:
            broker.stop()


def password_file(directory: Path, users: tuple[str, ...]) -> Path:
    """A Mosquitto password file where each user's password is ``<user>-secret``."""
    path = directory / "passwd"
    for user in users:
        create = ["-c"] if not path.exists() else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(path), user, f"{user}-secret"],
            check=True, capture_output=True)
    return path


@pytest.fixture
def mosquitto(start_mosquitto: StartMosquitto) -> MosquittoBroker:
    """Mosquitto with anonymous access, stopped after the test."""
    return start_mosquitto()


# -- the bridge and MQTT agents -------------------------------------------------


class Received:
    """One message as an agent (or a quarantine reader) saw it."""

    __slots__ = ("headers", "payload", "topic")

    def __init__(self, topic: str, headers: dict[str, str], payload: bytes) -> None:
        self.topic = topic
        self.headers = headers
        self.payload = payload

    def __repr__(self) -> str:
        return f"Received({self.topic!r}, {self.headers!r}, {self.payload!r})"


def _received(message: aiomqtt.Message, protocol: str) -> Received:
    raw = message.payload if isinstance(message.payload, bytes) else b""
    if protocol == "3.1.1":
        envelope = json.loads(raw)
        body = envelope.get("payload", "").encode() if "payload" in envelope else b""
        if "payload_base64" in envelope:
            body = base64.b64decode(envelope["payload_base64"])
        return Received(message.topic.value, dict(envelope.get("headers", {})), body)
    pairs = getattr(message.properties, "UserProperty", []) if message.properties else []
    return Received(message.topic.value, dict(pairs), raw)


class MqttPeer:
    """A test MQTT client: an agent reading its inbox, or a quarantine reader."""

    def __init__(self, client: aiomqtt.Client, protocol: str) -> None:
        self.client = client
        self.protocol = protocol
        self.inbox: asyncio.Queue[Received] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def listen(self, *topics: str) -> None:
        for topic in topics:
            await self.client.subscribe(topic, qos=1)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.client.messages:
            self.inbox.put_nowait(_received(message, self.protocol))

    async def publish(
        self,
        topic: str,
        payload: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        raw: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publish as an agent would: user properties (5) or a JSON envelope (3.1.1)."""
        if self.protocol == "3.1.1" and not raw:
            body: dict[str, object] = {"payload": payload.decode()}
            if headers:
                body["headers"] = headers
            payload = json.dumps(body).encode()
        elif self.protocol == "5" and headers:
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = list(headers.items())
        await self.client.publish(topic, payload, qos=1, properties=properties)

    async def take(self, count: int, timeout: float = 30.0) -> list[Received]:
        async def collect() -> list[Received]:
            return [await self.inbox.get() for _ in range(count)]

        return await asyncio.wait_for(collect(), timeout)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)


ConnectPeer = Callable[..., Awaitable[MqttPeer]]


@pytest.fixture
async def mqtt_peer(mosquitto: MosquittoBroker) -> AsyncIterator[ConnectPeer]:
    """Connects test clients to ``mosquitto``: ``await mqtt_peer("alice", protocol="5")``
    subscribes to alice's inbox; ``listen=("membrane/quarantine",)`` to other topics;
    with ``password``, the client logs in as user ``name``."""
    peers: list[MqttPeer] = []

    async def connect(
        name: str, *, protocol: str = "5", listen: tuple[str, ...] | None = None,
        password: str | None = None,
    ) -> MqttPeer:
        version = aiomqtt.ProtocolVersion.V5 if protocol == "5" else aiomqtt.ProtocolVersion.V311
        client = aiomqtt.Client(
            mosquitto.host, mosquitto.port, identifier=f"peer-{name}-{uuid.uuid4().hex[:6]}",
            protocol=version, username=name if password is not None else None,
            password=password,
        )
        await client.__aenter__()
        peer = MqttPeer(client, protocol)
        peers.append(peer)
        await peer.listen(*(listen if listen is not None else (f"agents/{name}/in",)))
        return peer

    try:
        yield connect
    finally:
        for peer in peers:
            await peer.close()


class RunningBridge:
    """A bridge with its engine and policy, as ``membrane run`` would build them."""

    def __init__(self, bridge: MqttBridge, engine: Engine, rules: Path) -> None:
        self.bridge = bridge
        self.engine = engine
        self.rules = rules
        self.metrics = engine.metrics

    async def restart(self) -> None:
        await self.bridge.stop()
        await self.bridge.start()
        await asyncio.wait_for(self.bridge.ready.wait(), 30)


StartBridge = Callable[..., Awaitable[RunningBridge]]


def mqtt_section(broker: MosquittoBroker, protocol: str, **extra: object) -> str:
    fields = {"host": broker.host, "port": broker.port, "protocol": protocol, **extra}
    return "mqtt:\n" + "".join(f"  {key}: {json.dumps(value)}\n" for key, value in fields.items())


@pytest.fixture
async def start_bridge(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> AsyncIterator[StartBridge]:
    """``await start_bridge(RULES, protocol="5")``: an engine and an MQTT bridge on
    ``mosquitto``, connected and subscribed; both stopped after the test."""
    running: list[RunningBridge] = []

    async def start(
        rules: str,
        *,
        protocol: str = "5",
        sinks: dict[str, OutcomeSink] | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        mqtt: dict[str, object] | None = None,
    ) -> RunningBridge:
        path = tmp_path / f"rules-{len(running)}.yaml"
        path.write_text(rules + mqtt_section(mosquitto, protocol, **(mqtt or {})))
        policy = load_policy(path)
        engine = Engine(PolicyHolder(policy), metrics=Metrics(), transport_name="mqtt")
        await engine.start()
        bridge = MqttBridge(engine, policy.rules.mqtt, sinks=sinks, max_payload=max_payload)
        handle = RunningBridge(bridge, engine, path)
        running.append(handle)
        await bridge.start()
        await asyncio.wait_for(bridge.ready.wait(), 30)
        return handle

    try:
        yield start
    finally:
        for handle in running:
            await handle.bridge.stop(grace=1.0)
            await handle.engine.stop()
