"""The gateway: listeners, upstream connections and lifecycle.

One listener serves the bootstrap address and leads to the configured
upstream bootstrap brokers; one more listener is opened per upstream broker
the first time a response names it (see ``addressing``). Each accepted
connection gets its own upstream connection and a ``Connection`` pumping
between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence

from bus.clock import SYSTEM_CLOCK, Clock
from bus.errors import ConfigError, MembraneError, UpstreamError
from bus.gateway.addressing import Address, BrokerMap
from bus.gateway.connection import Connection
from bus.gateway.handlers import plan_request
from bus.gateway.session import GatewayState, Session
from bus.gateway.settings import IdentityMode
from bus.gateway.stats import GatewayStats
from bus.gateway.streams import WatchedReader, serve
from bus.gateway.throttle import Damper
from bus.gateway.upstream import Streams, UpstreamConnector
from bus.gateway.versions import INSPECTED, decodable_range
from bus.lifecycle import AsyncLifecycle
from bus.metrics import Metrics
from bus.policy import PolicyHolder
from bus.rules.transports import KafkaSettings
from bus.sensors import SensorHub

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:9092"


def parse_address(text: str, what: str) -> Address:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → (host, port), or a ConfigError naming ``what``."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{text!r} is not HOST:PORT", path=what)
    return host, int(port)


def _address(value: str | Address, what: str) -> Address:
    return parse_address(value, what) if isinstance(value, str) else value


def _addresses(value: str | Address | Sequence[str | Address]) -> tuple[Address, ...]:
    """One ``HOST:PORT``, a comma-separated list, a (host, port) pair, or a sequence of those."""
    if isinstance(value, str):
        return tuple(parse_address(part, "--upstream") for part in value.split(",") if part)
    if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int):
        return ((value[0], value[1]),)
    return tuple(a for item in value for a in _addresses(item))  # type: ignore[arg-type]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening before the asyncio server starts lets the kernel queue
        # connections from a client that was just told about this port.
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Gateway(AsyncLifecycle):
    """The Kafka-protocol gateway.

    ``holder`` supplies the policy (read per request, so reloads apply at
    once); None makes a bare proxy that only rewrites addresses (a baseline
    for benchmarks). ``agent`` is the identity of every connection in sidecar
    mode; without it, the rules file's ``gateway.identity`` (``sasl`` or
    ``client-id``) names each connection's agent. ``max_hold`` bounds how long
    a produce request is held for throttling (default: the rules file's
    ``gateway.max_hold``). ``upstream`` lists bootstrap brokers as
    ``HOST:PORT`` strings or (host, port) pairs (default: the rules file's
    ``kafka.bootstrap``; its TLS and SASL settings apply to every upstream
    connection). ``listen`` is where clients connect (port 0: any free port,
    and ephemeral ports for the per-broker listeners too). Use ``async with``
    or ``start``/``stop``; ``bootstrap`` is the address to give clients.
    """

    def __init__(
        self,
        holder: PolicyHolder | None,
        *,
        upstream: str | Address | Sequence[str | Address] | None = None,
        listen: str | Address = DEFAULT_LISTEN,
        agent: str | None = None,
        advertised_host: str | None = None,
        metrics: Metrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sensors: SensorHub | None = None,
        max_hold: float | None = None,
    ) -> None:
        kafka = holder.current.rules.kafka if holder is not None else KafkaSettings()
        if upstream is None:
            upstream = kafka.bootstrap or ()
        self.upstream = _addresses(upstream)
        if not self.upstream:
            raise ConfigError(
                "no upstream brokers: give --upstream or kafka.bootstrap in the rules file",
                path="--upstream",
            )
        self.listen = _address(listen, "--listen")
        self.agent = agent
        self.metrics = metrics if metrics is not None else Metrics()
        self.brokers = BrokerMap(advertised_host or self.listen[0], self._reserve)
        damper = None
        identity: IdentityMode = "agent"
        if holder is not None:
            settings = holder.current.rules.gateway
            if agent is None:
                identity = settings.identity
                if identity == "agent":
                    raise ConfigError(
                        "a gateway serves one agent (--agent ID) unless the rules file sets "
                        "gateway.identity to sasl or client-id",
                        path="--agent",
                    )
            hold = settings.max_hold if max_hold is None else max_hold
            damper = Damper(clock=clock, metrics=self.metrics, sensors=sensors, max_hold=hold)
        self.connector = UpstreamConnector(kafka, own_sasl=identity != "sasl")
        self.state = GatewayState(
            self.brokers,
            self.metrics,
            holder,
            clock=clock,
            sensors=sensors,
            damper=damper,
            identity=identity,
        )
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._bootstrap_port: int | None = None

    @property
    def stats(self) -> GatewayStats:
        return self.state.stats

    @property
    def running(self) -> bool:
        return self._bootstrap_port is not None

    @property
    def bootstrap(self) -> str:
        """The address clients use as ``bootstrap.servers``."""
        if self._bootstrap_port is None:
            raise RuntimeError("the gateway is not started")
        return f"{self.brokers.advertised_host}:{self._bootstrap_port}"

    async def start(self) -> None:
        if self._bootstrap_port is not None:
            return
        for key in INSPECTED:
            decodable_range(key)  # load kio's schemas now, not on a client's first request
        try:
            sock = _bind(*self.listen)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.listen[0]}:{self.listen[1]}: {exc}", path="--listen"
            ) from None
        self._bootstrap_port = int(sock.getsockname()[1])
        self._servers.append(await self._serve(sock, None))

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await task
        for server in servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._bootstrap_port = None

    def _reserve(self, node_id: int) -> int:
        """Bind the listener of a newly seen broker and return its port."""
        host, base = self.listen
        preferred = base + 1 + len(self.brokers) if base else 0
        try:
            sock = _bind(host, preferred)
        except OSError:
            log.warning("port %d is taken; broker %d gets an ephemeral port", preferred, node_id)
            sock = _bind(host, 0)
        port = int(sock.getsockname()[1])
        task = asyncio.get_running_loop().create_task(self._serve(sock, node_id))
        task.add_done_callback(self._adopt_server)
        return port

    def _adopt_server(self, task: asyncio.Task[asyncio.Server]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._servers.append(task.result())

    async def _serve(self, sock: socket.socket, node_id: int | None) -> asyncio.Server:
        async def accept(reader: WatchedReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections.add(task)
            try:
                await self._proxy(reader, writer, node_id, int(sock.getsockname()[1]))
            except asyncio.CancelledError:
                pass  # stop() cancels connections; the stream server must not log that
            finally:
                self._connections.discard(task)

        return await serve(accept, sock)

    async def _connect_upstream(self, node_id: int | None, local_port: int) -> Streams:
        targets: Sequence[Address] = self.upstream
        if node_id is not None:
            routed = self.brokers.upstream_for_port(local_port)
            if routed is None:
                raise UpstreamError(f"no route for broker {node_id}", retriable=True)
            targets = (routed,)
        failure: MembraneError | None = None
        for host, port in targets:
            try:
                return await self.connector.open(host, port)
            except UpstreamError as exc:
                failure = exc
                if not exc.retriable:
                    break
        raise failure or UpstreamError("no upstream broker", retriable=True)

    async def _proxy(
        self,
        reader: WatchedReader,
        writer: asyncio.StreamWriter,
        node_id: int | None,
        local_port: int,
    ) -> None:
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        gauge = self.state.metrics.gateway_connections
        try:
            upstream = await self._connect_upstream(node_id, local_port)
        except MembraneError as exc:
            log.warning("gateway: dropping client %s: %s", peer_text, exc)
            writer.close()
            return
        gauge.inc()
        try:
            session = Session(self.state, peer_text, self.agent)
            await Connection(session, (reader, writer), upstream, plan_request).run()
        finally:
            gauge.dec()
