"""Building outcomes: where a decided message goes and the headers it carries.

Forwards go to the recipient's inbox (or channel) topic on the recipient's
transport, with the egress headers; those are computed once per envelope
and shared by its recipients. Quarantine copies go to the quarantine topic
with the egress headers plus the reason headers (``quarantine_headers``).
"""

from __future__ import annotations

from collections.abc import Hashable

from bus.decision import PolicyView
from bus.engine.outcome import FORWARD, QUARANTINE, Outcome, quarantine_headers
from bus.engine.routes import Routes
from bus.envelope import Envelope


class Stamper:
    __slots__ = ("_routes", "_stamped", "_transport")

    def __init__(self, routes: Routes, transport: str) -> None:
        self._routes = routes
        self._transport = transport
        # The egress headers of the envelope forwarded last, shared by its recipients.
        self._stamped: tuple[Envelope | None, str, list[tuple[str, bytes]]] = (None, "", [])

    def forward(self, policy: PolicyView, env: Envelope, recipient: str, key: Hashable
                ) -> Outcome:
        transport, topic = self._routes.destination(policy, recipient)
        version = policy.version
        last, last_version, headers = self._stamped
        if last is not env or last_version != version:
            headers = env.egress_headers(version)
            self._stamped = (env, version, headers)
        return Outcome(
            action=FORWARD, env=env, recipient=recipient, transport=transport,
            destination=topic, headers=headers, payload=env.payload, reason="allowed",
            policy_version=version, origin=key,
        )

    def quarantine(self, policy: PolicyView, env: Envelope, recipient: str | None,
                   key: Hashable, verdict: str, reason: str, *, rule: str | None = None,
                   filter_name: str | None = None, detail: str = "") -> Outcome:
        headers = quarantine_headers(env.egress_headers(policy.version), verdict=verdict,
                                     reason=reason, detail=detail, rule=rule,
                                     filter=filter_name, recipient=recipient)
        return Outcome(
            action=QUARANTINE, env=env, recipient=recipient, transport=self._transport,
            destination=policy.quarantine_topic, headers=headers, payload=env.payload,
            reason=reason, rule=rule, filter=filter_name, policy_version=policy.version,
            origin=key,
        )
