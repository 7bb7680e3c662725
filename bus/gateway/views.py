"""Per-consumer views of shared channel topics.

Every record in a channel topic carries the ``membrane-from`` that membrane
stamped when it was written (by the gateway or the relay). When an agent
fetches a channel, each record is shown only if its sender may reach that
agent under the current policy, judged on the record's own headers (kind,
hops, size) exactly as a direct message would be. The agent's own records
are always shown. A record without a sender, or whose headers do not decode,
is hidden: nothing unaccounted for reaches an agent through a channel.

Batches with hidden records are re-encoded with the same base offset and
last offset delta (``batches.Batch.rebuild``), so the consumer's position
still moves past every record, hidden or not, and it never re-fetches the
same offsets forever. Control batches (transaction markers) and the
truncated tail of a fetch pass unchanged. Record formats older than v2
cannot carry a sender and are dropped.
"""

from __future__ import annotations

from bus import headers as h
from bus.envelope import decode_envelope
from bus.errors import ProtocolError
from bus.gateway.batches import Batch, Header, Record, magic_of, split_batches
from bus.policy import Policy


class ViewCounts:
    """What one view pass did: records shown and hidden."""

    __slots__ = ("hidden", "shown")

    def __init__(self) -> None:
        self.shown = 0
        self.hidden = 0


def sender_of(headers: list[Header]) -> str | None:
    for name, value in headers:
        if name == h.FROM and value:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def may_see(policy: Policy, agent: str, record: Record) -> bool:
    sender = sender_of(record.headers)
    if sender is None:
        return False
    if sender == agent:
        return True
    try:
        env = decode_envelope(
            sender=sender, headers=record.headers, key=record.key, payload=record.value
        )
    except ProtocolError:
        return False
    return policy.decide(env, agent).allowed


def view(policy: Policy, agent: str, data: bytes, counts: ViewCounts) -> bytes:
    """``data`` (a fetched ``records`` field) as ``agent`` may see it."""
    batches, tail = split_batches(data)
    out: list[bytes] = []
    for raw in batches:
        if magic_of(raw) != 2:
            continue
        batch = Batch(raw)
        if batch.is_control:
            out.append(raw)
            continue
        records = list(batch.records())
        kept = [r for r in records if may_see(policy, agent, r)]
        counts.shown += len(kept)
        counts.hidden += len(records) - len(kept)
        out.append(raw if len(kept) == len(records) else batch.rebuild(kept))
    out.append(tail)
    return b"".join(out)
