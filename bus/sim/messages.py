"""What simulated agents say and hear, independent of the transport.

An agent's step returns ``Outgoing`` messages and receives ``Incoming`` ones.
The runtime turns them into Kafka records on the agent's outbox topic and
back; an in-memory transport may pass them straight through a policy. Round
numbers and a per-agent sequence number travel in the payload, so an agent
can order what it heard the same way whatever the broker's timing was.
"""

from __future__ import annotations

from typing import Any

Body = dict[str, Any]


class Outgoing:
    """One message an agent sends.

    ``to`` is ``None`` for "everyone membrane lets me reach" (no
    ``membrane-to`` header: the topology fans it out); otherwise the agent
    ids named. ``hops`` and ``path`` are copied from the message being
    answered or delegated, so loop limits see whole chains.
    """

    __slots__ = ("body", "hops", "kind", "path", "stance", "to")

    def __init__(
        self,
        *,
        kind: str,
        body: Body | None = None,
        to: tuple[str, ...] | None = None,
        stance: str | None = None,
        hops: int = 0,
        path: tuple[str, ...] = (),
    ) -> None:
        if to is not None and not to:
            raise ValueError("to must name at least one recipient, or be None for everyone")
        self.kind = kind
        self.body: Body = body if body is not None else {}
        self.to = to
        self.stance = stance
        self.hops = hops
        self.path = path

    def __repr__(self) -> str:
        return f"Outgoing(kind={self.kind!r}, to={self.to!r}, stance={self.stance!r})"


class Incoming:
    """One message an agent received, as membrane stamped it."""

    __slots__ = ("body", "hops", "kind", "msg_id", "path", "sender", "sent_round", "seq", "stance")

    def __init__(
        self,
        *,
        sender: str,
        kind: str,
        body: Body,
        sent_round: int,
        seq: int,
        msg_id: str = "",
        stance: str | None = None,
        hops: int = 0,
        path: tuple[str, ...] = (),
    ) -> None:
        self.sender = sender
        self.kind = kind
        self.body = body
        self.sent_round = sent_round
        self.seq = seq
        self.msg_id = msg_id
        self.stance = stance
        self.hops = hops
        self.path = path

    @property
    def order(self) -> tuple[int, str, int]:
        """The deterministic order agents read their inbox in."""
        return (self.sent_round, self.sender, self.seq)

    def reply(self, *, kind: str, body: Body | None = None, stance: str | None = None) -> Outgoing:
        """An answer to this message that carries its hop count and path on."""
        return Outgoing(
            kind=kind, body=body, to=(self.sender,), stance=stance, hops=self.hops, path=self.path
        )

    def __repr__(self) -> str:
        return (
            f"Incoming(sender={self.sender!r}, kind={self.kind!r}, round={self.sent_round}, "
            f"hops={self.hops})"
        )


def message_id(sender: str, round_no: int, seq: int) -> str:
    """A message id that depends only on who sent it when, so reruns match."""
    return f"{sender}-r{round_no}-{seq}"
