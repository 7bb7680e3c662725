"""One local listener per upstream broker, and the map between them.

Kafka clients connect to the bootstrap address, ask for metadata, and then
connect straight to the broker each partition's leader lives on. For every
such connection to pass through the gateway, each broker address that reaches
a client is replaced by a gateway address: the advertised host and a local
port reserved for that broker's node id. The map is keyed by node id (stable
across a broker's address changes) and bounded.
"""

from __future__ import annotations

from collections.abc import Callable

from bus.errors import ConfigError, ProtocolError

Address = tuple[str, int]

MAX_NODES = 4096


class NodeRoute:
    """Where the local port of one node id leads upstream."""

    __slots__ = ("local_port", "node_id", "upstream")

    def __init__(self, node_id: int, upstream: Address, local_port: int) -> None:
        self.node_id = node_id
        self.upstream = upstream
        self.local_port = local_port

    def __repr__(self) -> str:
        return (
            f"NodeRoute(node_id={self.node_id}, upstream={self.upstream}, port={self.local_port})"
        )


class BrokerMap:
    """Node id → (upstream address, local port).

    ``reserve(node_id)`` is called the first time a node is seen and returns
    the local port now listening for it (the gateway binds the socket before
    returning, so a client told about the port can connect at once). A node
    whose upstream address changes keeps its local port; new connections go
    to the new address.
    """

    __slots__ = ("_by_port", "_routes", "advertised_host", "max_nodes", "reserve")

    def __init__(
        self,
        advertised_host: str,
        reserve: Callable[[int], int],
        *,
        max_nodes: int = MAX_NODES,
    ) -> None:
        if not advertised_host or advertised_host in {"0.0.0.0", "::"}:
            raise ConfigError(
                f"advertised host {advertised_host!r} is not an address clients can connect to",
                path="--advertise-host",
            )
        self.advertised_host = advertised_host
        self.reserve = reserve
        self.max_nodes = max_nodes
        self._routes: dict[int, NodeRoute] = {}
        self._by_port: dict[int, NodeRoute] = {}

    def local_address(self, node_id: int, host: str, port: int) -> Address:
        """The gateway address clients should use for this broker."""
        route = self._routes.get(node_id)
        upstream = (host, port)
        if route is None:
            if len(self._routes) >= self.max_nodes:
                raise ProtocolError(
                    "too-many-brokers", f"more than {self.max_nodes} brokers in the cluster"
                )
            route = NodeRoute(node_id, upstream, self.reserve(node_id))
            self._routes[node_id] = route
            self._by_port[route.local_port] = route
        elif route.upstream != upstream:
            route.upstream = upstream
        return self.advertised_host, route.local_port

    def upstream_for_port(self, local_port: int) -> Address | None:
        route = self._by_port.get(local_port)
        return route.upstream if route is not None else None

    def routes(self) -> list[NodeRoute]:
        return list(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)
