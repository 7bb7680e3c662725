"""The ``gateway:`` section of a rules file: how a shared gateway tells agents apart.

A sidecar gateway (``membrane gateway --agent ID``) serves one agent and
needs none of this. A gateway shared by several agents names each
connection's agent by

- ``identity: sasl`` — the SASL principal the broker authenticated (PLAIN and
  SCRAM pass through the gateway untouched); ``principals`` maps a principal
  to an agent id where the two differ;
- ``identity: client-id`` — the Kafka ``client.id`` of each request, looked up
  in ``client_ids``; a client id that is not listed has no identity and may
  use no topic. Client ids are not authenticated: use this only where the
  network already tells agents apart.
"""

from __future__ import annotations

from typing import Literal

import msgspec

IdentityMode = Literal["agent", "client-id", "sasl"]


class GatewaySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    identity: IdentityMode = "agent"
    client_ids: dict[str, str] = {}
    principals: dict[str, str] = {}
    max_hold: float = 10.0

    def __post_init__(self) -> None:
        # Imported here: bus.rules.schema imports this module while bus.rules loads.
        from bus.rules.selectors import check_identifier

        for agent in (*self.client_ids.values(), *self.principals.values()):
            check_identifier(agent, "agent")
        if not 0 < self.max_hold <= 60:
            raise ValueError("max_hold must be in (0, 60] seconds")
        if self.client_ids and self.identity != "client-id":
            raise ValueError("client_ids is used only with identity: client-id")
        if self.principals and self.identity != "sasl":
            raise ValueError("principals is used only with identity: sasl")
