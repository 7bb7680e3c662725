"""State shared by every connection of one gateway, and the per-connection session."""

from __future__ import annotations

from bus.clock import SYSTEM_CLOCK, Clock
from bus.gateway.access import AccessCache, AgentAccess
from bus.gateway.addressing import BrokerMap
from bus.gateway.frames import DEFAULT_MAX_FRAME
from bus.gateway.settings import IdentityMode
from bus.gateway.stats import GatewayStats
from bus.gateway.throttle import Damper
from bus.gateway.topic_ids import TopicIds
from bus.metrics import Metrics
from bus.policy import PolicyHolder
from bus.sensors import SensorHub


class GatewayState:
    """What every connection reads: policy, broker map, topic ids, metrics."""

    __slots__ = (
        "access",
        "brokers",
        "clock",
        "damper",
        "holder",
        "identity",
        "max_frame",
        "metrics",
        "sensors",
        "stats",
        "topic_ids",
    )

    def __init__(
        self,
        brokers: BrokerMap,
        metrics: Metrics,
        holder: PolicyHolder | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sensors: SensorHub | None = None,
        damper: Damper | None = None,
        identity: IdentityMode = "agent",
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.brokers = brokers
        self.metrics = metrics
        self.holder = holder
        self.clock = clock
        self.sensors = sensors
        self.damper = damper
        self.identity = identity
        self.stats = GatewayStats(metrics)
        self.max_frame = max_frame
        self.topic_ids = TopicIds()
        self.access = AccessCache()


class Session:
    """One client connection: who it is and where it came from."""

    __slots__ = ("agent", "client_id", "mechanism", "peer", "state")

    def __init__(self, state: GatewayState, peer: str, agent: str | None) -> None:
        self.state = state
        self.peer = peer
        # None until the connection's identity is known (shared mode before SASL).
        self.agent = agent
        self.client_id: str | None = None
        self.mechanism: str | None = None  # SASL mechanism, once the handshake named it

    @property
    def enforcing(self) -> bool:
        """False for a bare proxy (no policy): every topic passes."""
        return self.state.holder is not None

    def access(self) -> AgentAccess | None:
        """This connection's topic access under the current policy; None while the
        connection has no identity (it may then see and use no topic)."""
        holder = self.state.holder
        if holder is None or self.agent is None:
            return None
        return self.state.access.for_agent(holder.current, self.agent)
