"""How simulated agents' messages look on the wire, and how they are read back.

An agent's message is a Kafka record on its outbox: the payload is JSON
``{"round": r, "seq": s, "body": {...}}`` and the addressing travels in
membrane's headers (``membrane-to``, ``-kind``, ``-stance``, ``-id``, and
``-hops``/``-path`` when the message continues a chain). What membrane
delivers is read back into an ``Incoming``; what it quarantines into a
``Quarantined`` naming the message, the recipient and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from bus import headers as h
from bus.errors import ProtocolError
from bus.sim.messages import Incoming, Outgoing, message_id

RawHeaders = list[tuple[str, bytes]]


class Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    round: int
    seq: int
    body: dict[str, Any] = {}


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Payload)


class Record:
    """An outbox record: what a producer sends."""

    __slots__ = ("headers", "msg_id", "value")

    def __init__(self, msg_id: str, headers: RawHeaders, value: bytes) -> None:
        self.msg_id = msg_id
        self.headers = headers
        self.value = value


class Quarantined:
    """A quarantined copy: ``recipient`` is None when the whole message was refused."""

    __slots__ = ("filter", "kind", "msg_id", "reason", "recipient", "rule", "sender", "verdict")

    def __init__(
        self,
        *,
        msg_id: str,
        sender: str,
        recipient: str | None,
        kind: str,
        verdict: str,
        reason: str,
        rule: str | None,
        filter: str | None,
    ) -> None:
        self.msg_id = msg_id
        self.sender = sender
        self.recipient = recipient
        self.kind = kind
        self.verdict = verdict
        self.reason = reason
        self.rule = rule
        self.filter = filter

    def __repr__(self) -> str:
        return (
            f"Quarantined({self.msg_id!r}, {self.sender!r}->{self.recipient!r}, "
            f"reason={self.reason!r})"
        )


def encode(sender: str, round_no: int, seq: int, message: Outgoing) -> Record:
    """The outbox record for ``message``, the ``seq``-th ``sender`` sends in ``round_no``."""
    msg_id = message_id(sender, round_no, seq)
    headers: RawHeaders = [(h.ID, msg_id.encode()), (h.KIND, message.kind.encode())]
    if message.to is not None:
        headers.append((h.TO, h.RECIPIENT_SEPARATOR.join(message.to).encode()))
    if message.stance is not None:
        headers.append((h.STANCE, message.stance.encode()))
    if message.hops:
        headers.append((h.HOPS, str(message.hops).encode()))
    if message.path:
        headers.append((h.PATH, h.PATH_SEPARATOR.join(message.path).encode()))
    value = _encoder.encode(Payload(round=round_no, seq=seq, body=message.body))
    return Record(msg_id, headers, value)


def _header_map(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, raw in headers:
        out[name.lower()] = (raw or b"").decode("utf-8", "replace")
    return out


def _names(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(text.split(h.PATH_SEPARATOR))


def decode_payload(value: bytes | None) -> Payload:
    try:
        return _decoder.decode(value or b"")
    except msgspec.DecodeError as exc:
        raise ProtocolError("bad-payload", f"simulation payload: {exc}") from None


def read_delivery(headers: Iterable[tuple[str, bytes | None]], value: bytes | None) -> Incoming:
    """An inbox record as the recipient agent sees it."""
    found = _header_map(headers)
    sender = found.get(h.FROM)
    if not sender:
        raise ProtocolError("bad-header", f"delivered record lacks {h.FROM}")
    payload = decode_payload(value)
    hops = found.get(h.HOPS, "0")
    return Incoming(
        sender=sender,
        kind=found.get(h.KIND, ""),
        body=payload.body,
        sent_round=payload.round,
        seq=payload.seq,
        msg_id=found.get(h.ID, ""),
        stance=found.get(h.STANCE),
        hops=int(hops) if hops.isdigit() else 0,
        path=_names(found.get(h.PATH)),
    )


def read_quarantine(headers: Iterable[tuple[str, bytes | None]]) -> Quarantined:
    """A quarantine record: which message, for whom, and why."""
    found = _header_map(headers)
    return Quarantined(
        msg_id=found.get(h.ID, ""),
        sender=found.get(h.FROM, ""),
        recipient=found.get(h.RECIPIENT),
        kind=found.get(h.KIND, ""),
        verdict=found.get(h.VERDICT, ""),
        reason=found.get(h.REASON, ""),
        rule=found.get(h.RULE),
        filter=found.get(h.FILTER),
    )
