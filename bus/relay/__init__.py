"""The relay: membrane's main data plane on Kafka (outboxes → policy → inboxes)."""

from bus.relay.relay import Relay
from bus.relay.settings import RelaySettings

__all__ = ["Relay", "RelaySettings"]
