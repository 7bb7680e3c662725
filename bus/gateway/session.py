"""State shared by every connection of one gateway, and the per-connection session."""

from __future__ import annotations

from bus.gateway.addressing import BrokerMap
from bus.gateway.frames import DEFAULT_MAX_FRAME
from bus.gateway.stats import GatewayStats
from bus.metrics import Metrics


class GatewayState:
    """What every connection reads: the broker map, metrics and latency stats."""

    __slots__ = ("brokers", "max_frame", "metrics", "stats")

    def __init__(
        self, brokers: BrokerMap, metrics: Metrics, *, max_frame: int = DEFAULT_MAX_FRAME
    ) -> None:
        self.brokers = brokers
        self.metrics = metrics
        self.stats = GatewayStats(metrics)
        self.max_frame = max_frame


class Session:
    """One client connection: who it is and where it came from."""

    __slots__ = ("agent", "client_id", "peer", "state")

    def __init__(self, state: GatewayState, peer: str, agent: str | None) -> None:
        self.state = state
        self.peer = peer
        # None until the connection's identity is known (shared mode before SASL).
        self.agent = agent
        self.client_id: str | None = None
