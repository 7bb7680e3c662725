"""The envelope: what membrane knows about one message, independent of transport.

Transports build an ``Envelope`` from a Kafka record or an MQTT publish with
``decode_envelope``; everything downstream (policy, filters, sensors) sees
only envelopes. Client-set ``membrane-*`` headers are never trusted: the
sender comes from where the message was read (its outbox topic), and the
remaining membrane headers are validated here and re-stamped on egress.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence

from bus import headers as h
from bus.errors import ProtocolError

MAX_RECIPIENTS = 1_000
MAX_PATH = 256
MAX_HEADER_BYTES = 64 * 1024
MAX_ID_LENGTH = 128
MAX_HOPS_DIGITS = 18  # fits a signed 64-bit integer

RawHeaders = Sequence[tuple[str, bytes]]


class Envelope:
    """One message from one sender, addressed to zero or more recipients.

    ``recipients`` is ``None`` when the sender did not say (fan out to every
    neighbour the topology permits); otherwise agent ids or group names as
    written by the sender, resolved by the policy.
    """

    __slots__ = (
        "extra_headers",
        "hops",
        "key",
        "kind",
        "msg_id",
        "path",
        "payload",
        "recipients",
        "sender",
        "stance",
        "timestamp",
    )

    def __init__(
        self,
        *,
        sender: str,
        payload: bytes | None,
        msg_id: str | None = None,
        recipients: tuple[str, ...] | None = None,
        kind: str = "",
        stance: str | None = None,
        hops: int = 0,
        path: tuple[str, ...] = (),
        key: bytes | None = None,
        extra_headers: tuple[tuple[str, bytes], ...] = (),
        timestamp: float = 0.0,
    ) -> None:
        self.sender = sender
        self.payload = payload
        self.msg_id = msg_id or uuid.uuid4().hex
        self.recipients = recipients
        self.kind = kind
        self.stance = stance
        self.hops = hops
        self.path = path
        self.key = key
        self.extra_headers = extra_headers
        self.timestamp = timestamp

    @property
    def size(self) -> int:
        return len(self.payload) if self.payload is not None else 0

    def __repr__(self) -> str:
        return (
            f"Envelope(sender={self.sender!r}, id={self.msg_id!r}, to={self.recipients!r}, "
            f"kind={self.kind!r}, hops={self.hops}, size={self.size})"
        )

    def egress_headers(self, policy_version: str) -> list[tuple[str, bytes]]:
        """Headers stamped on what membrane produces for this envelope."""
        sender = self.sender.encode()
        path = self.path
        hops = self.hops + 1
        out: list[tuple[str, bytes]] = [
            (h.FROM, sender),
            (h.ID, self.msg_id.encode()),
            (h.HOPS, _SMALL_COUNTS[hops] if hops < len(_SMALL_COUNTS) else str(hops).encode()),
            (h.PATH, (h.PATH_SEPARATOR.join(path) + h.PATH_SEPARATOR + self.sender).encode()
             if path else sender),
            (h.POLICY, policy_version.encode()),
        ]
        if self.kind:
            out.append((h.KIND, self.kind.encode()))
        if self.stance is not None:
            out.append((h.STANCE, self.stance.encode()))
        recipients = self.recipients
        if recipients is not None:
            joined = recipients[0] if len(recipients) == 1 else h.RECIPIENT_SEPARATOR.join(
                recipients)
            out.append((h.TO, joined.encode()))
        if self.extra_headers:
            out.extend(self.extra_headers)
        return out


# Hop counts as header bytes, made once: nearly every message has a small one.
_SMALL_COUNTS = tuple(str(count).encode() for count in range(64))


def _text(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad-header", f"header {name!r} is not valid UTF-8") from None


def _names(name: str, raw: bytes, limit: int) -> tuple[str, ...]:
    text = _text(name, raw).strip()
    if not text:
        return ()
    if h.RECIPIENT_SEPARATOR not in text:  # one name, the common case
        if len(text) > MAX_ID_LENGTH:
            raise ProtocolError("bad-header", f"header {name!r} has an empty or overlong name")
        return (text,)
    parts = tuple(p.strip() for p in text.split(h.RECIPIENT_SEPARATOR))
    if len(parts) > limit:
        raise ProtocolError("too-many", f"header {name!r} lists {len(parts)} names (max {limit})")
    if any(not p or len(p) > MAX_ID_LENGTH for p in parts):
        raise ProtocolError("bad-header", f"header {name!r} has an empty or overlong name")
    return parts


def decode_envelope(
    *,
    sender: str,
    headers: Iterable[tuple[str, bytes | None]],
    key: bytes | None,
    payload: bytes | None,
    timestamp: float = 0.0,
    id_if_missing: Callable[[], str] | None = None,
) -> Envelope:
    """Build an envelope from what a client wrote to its outbox.

    ``membrane-from`` and other stamped headers are ignored (the transport
    knows the sender); ``membrane-to``, ``-kind``, ``-stance``, ``-id``,
    ``-hops`` and ``-path`` are validated. Without ``membrane-id`` the id is
    ``id_if_missing()`` (a transport's stable id for the record), or a fresh
    random one. Raises ``ProtocolError`` with a
    reason slug when the message cannot be accepted as it is; the caller
    quarantines it with that reason.
    """
    seen: dict[str, bytes] = {}
    extra: list[tuple[str, bytes]] = []
    total = 0
    prefix = h.PREFIX
    for name, value in headers:
        raw = value if value is not None else b""
        total += len(name) + len(raw)
        if total > MAX_HEADER_BYTES:
            raise ProtocolError("headers-too-large", f"headers exceed {MAX_HEADER_BYTES} bytes")
        lowered = name if name.islower() else name.lower()
        if lowered.startswith(prefix):
            if lowered in seen:
                raise ProtocolError("duplicate-header", f"header {name!r} appears more than once")
            seen[lowered] = raw
        else:
            extra.append((name, raw))

    recipients: tuple[str, ...] | None = None
    if h.TO in seen:
        recipients = _names(h.TO, seen[h.TO], MAX_RECIPIENTS)
        if not recipients:
            recipients = None
    kind = _text(h.KIND, seen[h.KIND]) if h.KIND in seen else ""
    if len(kind) > MAX_ID_LENGTH:
        raise ProtocolError("bad-header", f"header {h.KIND!r} is longer than {MAX_ID_LENGTH}")
    stance = _text(h.STANCE, seen[h.STANCE]) if h.STANCE in seen else None
    msg_id: str | None = None
    if h.ID in seen:
        msg_id = _text(h.ID, seen[h.ID])
        if not msg_id or len(msg_id) > MAX_ID_LENGTH:
            raise ProtocolError("bad-header", f"header {h.ID!r} is empty or overlong")
    elif id_if_missing is not None:
        msg_id = id_if_missing()
    hops = 0
    if h.HOPS in seen:
        text = _text(h.HOPS, seen[h.HOPS])
        # ASCII digits only: str.isdigit() also accepts '²', which int() refuses, and
        # int() refuses numbers of more than 4,300 digits.
        if not (text.isascii() and text.isdigit()) or len(text) > MAX_HOPS_DIGITS:
            raise ProtocolError("bad-hops", f"header {h.HOPS!r} is not a non-negative integer")
        hops = int(text)
    path: tuple[str, ...] = ()
    if h.PATH in seen:
        path = _names(h.PATH, seen[h.PATH], MAX_PATH)
    return Envelope(
        sender=sender,
        payload=payload,
        msg_id=msg_id,
        recipients=recipients,
        kind=kind,
        stance=stance,
        hops=max(hops, len(path)),
        path=path,
        key=key,
        extra_headers=tuple(extra),
        timestamp=timestamp,
    )
