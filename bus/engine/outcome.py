"""What the engine decided for one message and one recipient: an ``Outcome``.

An outcome is a finished decision the transport only has to write: where to
(``transport`` and ``destination`` topic), what (``headers`` and ``payload``),
and why (``reason``, ``rule``, ``filter``, ``policy_version``). ``origin`` is
whatever the transport passed to ``Engine.handle`` for the input message
(the relay passes its offset ticket); the engine never looks inside it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, Literal

from bus import headers as h
from bus.envelope import Envelope

Action = Literal["forward", "quarantine"]

FORWARD: Final = "forward"
QUARANTINE: Final = "quarantine"

# Values of the membrane-verdict header on quarantined copies.
VERDICT_DENY: Final = "deny"  # the policy (an edge rule or the constitution) refused
VERDICT_DIVERT: Final = "divert"  # a filter diverted
VERDICT_INVALID: Final = "invalid"  # the input could not be decoded
VERDICT_UNROUTABLE: Final = "unroutable"  # nobody to deliver to, or the broker refused


class Outcome:
    """One record to produce: a forward to a recipient or a quarantined copy.

    ``recipient`` is an agent id, a ``#channel``, or None when the whole
    message is quarantined (no recipient, undecodable input). ``headers`` may
    be shared between the outcomes of one message: treat them as read-only.
    """

    __slots__ = (
        "action",
        "destination",
        "env",
        "filter",
        "headers",
        "origin",
        "payload",
        "policy_version",
        "reason",
        "recipient",
        "rule",
        "transport",
    )

    def __init__(
        self,
        *,
        action: Action,
        env: Envelope,
        recipient: str | None,
        transport: str,
        destination: str,
        headers: list[tuple[str, bytes]],
        payload: bytes | None,
        reason: str,
        rule: str | None = None,
        filter: str | None = None,
        policy_version: str = "",
        origin: Hashable | None = None,
    ) -> None:
        self.action = action
        self.env = env
        self.recipient = recipient
        self.transport = transport
        self.destination = destination
        self.headers = headers
        self.payload = payload
        self.reason = reason
        self.rule = rule
        self.filter = filter
        self.policy_version = policy_version
        self.origin = origin

    @property
    def forwarded(self) -> bool:
        return self.action == FORWARD

    def __repr__(self) -> str:
        why = self.rule or self.filter or ""
        return (
            f"Outcome({self.action}, id={self.env.msg_id!r}, {self.env.sender!r}->"
            f"{self.recipient!r}, to={self.destination!r}, reason={self.reason!r}, by={why!r})"
        )


def quarantine_headers(
    base: list[tuple[str, bytes]],
    *,
    verdict: str,
    reason: str,
    detail: str = "",
    rule: str | None = None,
    filter: str | None = None,
    recipient: str | None = None,
) -> list[tuple[str, bytes]]:
    """``base`` (the egress headers) plus the headers that say why it was quarantined."""
    out = list(base)
    out.append((h.VERDICT, verdict.encode()))
    out.append((h.REASON, reason.encode()))
    if rule:
        out.append((h.RULE, rule.encode()))
    if filter:
        out.append((h.FILTER, filter.encode()))
    if detail:
        out.append((h.DETAIL, detail.encode("utf-8", "replace")[:1024]))
    if recipient is not None:
        out.append((h.RECIPIENT, recipient.encode()))
    return out


BROKER_REFUSED: Final = "broker-refused"
"""Reason of a copy whose original the broker refused for good (an ACL, a size limit)."""


def undeliverable(outcome: Outcome, *, reason: str, detail: str, destination: str,
                  transport: str) -> Outcome:
    """The quarantine copy of ``outcome`` when it cannot reach its destination:
    nobody serves the recipient's transport, or the broker refused the write."""
    headers = quarantine_headers(outcome.headers, verdict=VERDICT_UNROUTABLE, reason=reason,
                                 detail=detail, recipient=outcome.recipient)
    return Outcome(
        action=QUARANTINE, env=outcome.env, recipient=outcome.recipient, transport=transport,
        destination=destination, headers=headers, payload=outcome.payload, reason=reason,
        policy_version=outcome.policy_version, origin=outcome.origin,
    )
