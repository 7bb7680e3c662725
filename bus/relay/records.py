"""From a Kafka record on an outbox to an envelope (or a reason to quarantine it)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache, partial

from bus.envelope import Envelope, decode_envelope
from bus.errors import ProtocolError

UNKNOWN_SENDER = "unknown-sender"


def derived_id(topic: str, partition: int, offset: int, timestamp_ms: int) -> str:
    """A stable id for a record that came without ``membrane-id``.

    Derived from where the record sits and its timestamp, so reading it again
    after a restart gives the same id and the dedupe window recognises its
    outputs, while a record at the same offset of a topic deleted and created
    again (offsets restart at 0) gets a different one. The partition is named
    by a digest (fixed length whatever the topic's name), made once per
    partition; offset and timestamp are written as they are.
    """
    return f"{_place(topic, partition)}.{offset}.{timestamp_ms}"


@lru_cache(maxsize=4096)
def _place(topic: str, partition: int) -> str:
    return hashlib.blake2b(f"{topic}\0{partition}".encode(), digest_size=8).hexdigest()


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
    return decode_envelope(sender=sender, headers=headers, key=key, payload=value,
                           timestamp=timestamp_ms / 1000.0,
                           id_if_missing=partial(derived_id, topic, partition, offset,
                                                 timestamp_ms))
