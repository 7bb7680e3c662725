"""Records no well-behaved Kafka client writes, built byte by byte.

aiokafka (like the Java client) only writes UTF-8 header names; librdkafka
and hand-made clients can write any bytes. The batch is built with a
placeholder name, the placeholder's bytes are replaced, and the batch's
CRC-32C is computed again, so the broker accepts it as written.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.record import _crc32c

PLACEHOLDER = "\x7f\x7e\x7d\x7c"
CRC_AT = 17  # v2 batch: base offset 8, length 4, leader epoch 4, magic 1, then the CRC
CRC_FROM = 21  # the CRC covers everything after itself


def raw_batch(producer: AIOKafkaProducer, name: bytes,
              records: list[tuple[list[tuple[str, bytes]], bytes]]) -> Any:
    """One batch of ``records`` (headers, value); every header named ``PLACEHOLDER``
    gets the raw bytes ``name`` as its name."""
    if len(name) != len(PLACEHOLDER.encode()):
        raise ValueError("the raw name must be as long as the placeholder (4 bytes)")
    batch = producer.create_batch()
    for headers, value in records:
        batch.append(key=None, value=value, timestamp=None, headers=headers)
    data = bytes(batch._build()).replace(PLACEHOLDER.encode(), name)
    patched = bytearray(data)
    patched[CRC_AT:CRC_FROM] = _crc32c.crc(bytes(patched[CRC_FROM:])).to_bytes(4, "big")
    batch._buffer = bytes(patched)
    return batch


def batch_with_header_name(producer: AIOKafkaProducer, name: bytes, *,
                           headers: list[tuple[str, bytes]], value: bytes) -> Any:
    """A one-record batch whose first header name is the raw bytes ``name``."""
    return raw_batch(producer, name, [([(PLACEHOLDER, b"?"), *headers], value)])
