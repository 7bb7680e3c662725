"""Quarantine copies of input that could not be decoded into an envelope."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from bus import headers as h
from bus.decision import PolicyView
from bus.engine.outcome import QUARANTINE, VERDICT_INVALID, Outcome, quarantine_headers
from bus.envelope import Envelope
from bus.errors import ProtocolError


def invalid_outcome(
    policy: PolicyView,
    transport: str,
    raw_headers: Sequence[tuple[str, bytes | None]],
    payload: bytes | None,
    key: bytes | None,
    sender: str,
    error: ProtocolError,
    origin: Hashable | None,
    msg_id: str | None,
) -> Outcome:
    """The input as it came, minus the client's ``membrane-*`` headers, plus the
    stamped sender and the reason it was refused."""
    env = Envelope(sender=sender, payload=payload, msg_id=msg_id, key=key)
    base: list[tuple[str, bytes]] = [
        (name, value if value is not None else b"")
        for name, value in raw_headers
        if not name.lower().startswith(h.PREFIX)
    ]
    base += [
        (h.FROM, sender.encode()),
        (h.ID, env.msg_id.encode()),
        (h.POLICY, policy.version.encode()),
    ]
    headers = quarantine_headers(base, verdict=VERDICT_INVALID, reason=error.reason,
                                 detail=str(error))
    return Outcome(
        action=QUARANTINE, env=env, recipient=None, transport=transport,
        destination=policy.quarantine_topic, headers=headers, payload=payload,
        reason=error.reason, policy_version=policy.version,
        origin=origin if origin is not None else env.msg_id,
    )
