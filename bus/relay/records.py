"""From a Kafka record on an outbox to an envelope (or a reason to quarantine it)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bus import headers as h
from bus.envelope import Envelope, decode_envelope
from bus.errors import ProtocolError

UNKNOWN_SENDER = "unknown-sender"


def derived_id(topic: str, partition: int, offset: int, timestamp_ms: int) -> str:
    """A stable id for a record that came without ``membrane-id``.

    Derived from where the record sits and its timestamp, so reading it again
    after a restart gives the same id and the dedupe window recognises its
    outputs, while a record at the same offset of a topic deleted and created
    again (offsets restart at 0) gets a different one.
    """
    where = f"{topic}\0{partition}\0{offset}\0{timestamp_ms}".encode()
    return hashlib.blake2b(where, digest_size=16).hexdigest()


def has_id(headers: Sequence[tuple[str, bytes | None]]) -> bool:
    size = len(h.ID)  # comparing lengths first skips lower() for nearly every header
    return any(len(name) == size and name.lower() == h.ID for name, _ in headers)


def envelope_of(
    *,
    sender: str | None,
    topic: str,
    partition: int,
    offset: int,
    headers: Sequence[tuple[str, bytes | None]],
    key: bytes | None,
    value: bytes | None,
    timestamp_ms: int,
) -> Envelope:
    """Decode one outbox record; raises ``ProtocolError`` (the quarantine reason)."""
    if sender is None:
        raise ProtocolError(UNKNOWN_SENDER, f"topic {topic!r} is not the outbox of any agent")
    if not has_id(headers):
        msg_id = derived_id(topic, partition, offset, timestamp_ms)
        headers = [*headers, (h.ID, msg_id.encode())]
    return decode_envelope(sender=sender, headers=headers, key=key, payload=value,
                           timestamp=timestamp_ms / 1000.0)
