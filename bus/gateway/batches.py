"""Kafka record batches (magic v2): split, read and re-encode, keeping their identity.

A ``records`` field holds whole batches back to back, and in a fetch answer
possibly a truncated last one (clients ignore it; so does the gateway). A
batch is re-encoded with aiokafka's builder, then the header fields the
builder does not carry are restored from the original: base offset, partition
leader epoch, timestamp type, ``lastOffsetDelta`` and (for log-append time)
the max timestamp, and the CRC-32C is computed again. Producer id, epoch and
base sequence are passed to the builder. So a produce batch keeps its record
count and sequence numbers (idempotent producers keep working), and a fetched
batch with records removed still ends at the same offset (consumers advance
past the removed records, as they do past compacted ones).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

from bus.errors import ProtocolError

Header = tuple[str, bytes | None]

BATCH_PREFIX = struct.Struct(">qi")  # base offset, length of the rest
MAGIC_OFFSET = 16
HEADER = struct.Struct(">qiibIhiqqqhii")
ATTRIBUTES_OFFSET = 21
CRC_OFFSET = 17
TIMESTAMP_TYPE_MASK = 0x08
CODEC_MASK = 0x07
CONTROL_MASK = 0x20
LOG_APPEND_TIME = 1
NO_SIZE_LIMIT = 2**31 - 1


def split_batches(records: bytes) -> tuple[list[bytes], bytes]:
    """The complete batches in ``records`` and the (possibly empty) truncated tail."""
    batches: list[bytes] = []
    position = 0
    while len(records) - position >= BATCH_PREFIX.size:
        _, length = BATCH_PREFIX.unpack_from(records, position)
        end = position + BATCH_PREFIX.size + length
        if length < 0 or end > len(records):
            break
        batches.append(records[position:end])
        position = end
    return batches, records[position:]


def magic_of(batch: bytes) -> int:
    return batch[MAGIC_OFFSET] if len(batch) > MAGIC_OFFSET else -1


class Record:
    """One record as read from a batch (offsets relative to the batch)."""

    __slots__ = ("headers", "key", "offset_delta", "timestamp", "value")

    def __init__(
        self,
        offset_delta: int,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[Header],
    ) -> None:
        self.offset_delta = offset_delta
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers


class Batch:
    """A parsed v2 batch: its header fields and its records."""

    __slots__ = ("_parsed", "raw")

    def __init__(self, raw: bytes) -> None:
        if magic_of(raw) != 2:
            raise ProtocolError(
                "old-record-format", f"record batch magic {magic_of(raw)} (only v2 is supported)"
            )
        self.raw = raw
        self._parsed = DefaultRecordBatch(raw)

    @property
    def is_control(self) -> bool:
        return bool(self._parsed.is_control_batch)

    @property
    def base_offset(self) -> int:
        return int(self._parsed.base_offset)

    def records(self) -> Iterator[Record]:
        base = self._parsed.base_offset
        try:
            for record in self._parsed:
                yield Record(
                    record.offset - base,
                    record.timestamp,
                    record.key,
                    record.value,
                    list(record.headers),
                )
        except Exception as exc:  # aiokafka raises CorruptRecordException or codec errors
            raise ProtocolError("corrupt-batch", f"record batch does not decode: {exc}") from None

    def rebuild(self, records: list[Record]) -> bytes:
        """This batch with ``records`` in place of its own, header identity kept."""
        parsed = self._parsed
        builder = DefaultRecordBatchBuilder(
            2,
            parsed.compression_type if records else 0,  # nothing to compress
            int(parsed.is_transactional),
            parsed.producer_id,
            parsed.producer_epoch,
            parsed.base_sequence,
            NO_SIZE_LIMIT,
        )
        for record in records:
            builder.append(
                record.offset_delta, record.timestamp, record.key, record.value, record.headers
            )
        out = bytearray(builder.build())
        fields = list(HEADER.unpack_from(out, 0))
        original = HEADER.unpack_from(self.raw, 0)
        fields[0] = original[0]  # base offset
        fields[2] = original[2]  # partition leader epoch
        fields[5] = (fields[5] & CODEC_MASK) | (original[5] & ~CODEC_MASK)  # attribute bits
        fields[6] = original[6]  # last offset delta: removed records still advance offsets
        if parsed.timestamp_type == LOG_APPEND_TIME or not records:
            fields[7], fields[8] = original[7], original[8]
        HEADER.pack_into(out, 0, *fields)
        struct.pack_into(">I", out, CRC_OFFSET, calc_crc32c(bytes(out[ATTRIBUTES_OFFSET:])))
        return bytes(out)
