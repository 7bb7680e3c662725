"""Re-encoding record batches keeps what clients and brokers check."""

from __future__ import annotations

import struct

import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.errors import ProtocolError
from bus.gateway.batches import Batch, split_batches

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def make_batch(
    count: int,
    *,
    codec: int = 0,
    producer_id: int = 4000,
    epoch: int = 3,
    sequence: int = 17,
    base_offset: int = 0,
    transactional: bool = False,
) -> bytes:
    builder = DefaultRecordBatchBuilder(
        2, codec, int(transactional), producer_id, epoch, sequence, 2**31 - 1
    )
    for i in range(count):
        builder.append(
            i, 1_700_000_000_000 + i, f"k{i}".encode(), b"v" * (50 + i), [("h", f"{i}".encode())]
        )
    raw = bytearray(builder.build())
    struct.pack_into(">q", raw, 0, base_offset)  # what a broker assigns (not under the CRC)
    return bytes(raw)


@pytest.mark.parametrize("codec", list(CODECS))
def test_rebuilt_produce_batch_keeps_identity_and_count(codec: str) -> None:
    raw = make_batch(5, codec=CODECS[codec])
    batch = Batch(raw)
    records = list(batch.records())
    for record in records:
        record.headers = [("membrane-from", b"alice"), *record.headers]
    out = DefaultRecordBatch(batch.rebuild(records))
    original = DefaultRecordBatch(raw)
    assert out.validate_crc()
    for field in (
        "producer_id",
        "producer_epoch",
        "base_sequence",
        "last_offset_delta",
        "base_offset",
        "is_transactional",
    ):
        assert getattr(out, field) == getattr(original, field), field
    got = list(out)
    assert [r.value for r in got] == [r.value for r in DefaultRecordBatch(raw)]
    assert all(r.headers[0] == ("membrane-from", b"alice") for r in got)
    assert [r.timestamp for r in got] == [1_700_000_000_000 + i for i in range(5)]


def test_removed_records_still_advance_the_offset() -> None:
    raw = make_batch(6, codec=CODECS["lz4"], base_offset=1000)
    batch = Batch(raw)
    records = list(batch.records())
    kept = [r for r in records if r.offset_delta % 2 == 0 and r.offset_delta < 5]
    out = DefaultRecordBatch(batch.rebuild(kept))
    assert out.validate_crc()
    assert out.next_offset == DefaultRecordBatch(raw).next_offset == 1006
    assert [r.offset for r in out] == [1000, 1002, 1004]


def test_an_emptied_batch_keeps_its_offsets() -> None:
    raw = make_batch(3, base_offset=50)
    out = DefaultRecordBatch(Batch(raw).rebuild([]))
    assert out.validate_crc()
    assert out.next_offset == 53
    assert list(out) == []


def test_split_keeps_a_truncated_tail_apart() -> None:
    first, second = make_batch(2, base_offset=0), make_batch(3, base_offset=2)
    batches, tail = split_batches(first + second + second[:20])
    assert batches == [first, second]
    assert tail == second[:20]


def test_old_record_format_is_refused() -> None:
    raw = bytearray(make_batch(1))
    raw[16] = 1
    with pytest.raises(ProtocolError, match="magic 1"):
        Batch(bytes(raw))


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(1, 20),
    keep=st.lists(st.booleans(), min_size=20, max_size=20),
    codec=st.sampled_from(list(CODECS.values())),
    base=st.integers(0, 2**40),
)
def test_any_subset_rebuilds_to_a_valid_batch(
    count: int, keep: list[bool], codec: int, base: int
) -> None:
    raw = make_batch(count, codec=codec, base_offset=base)
    batch = Batch(raw)
    kept = [r for r in batch.records() if keep[r.offset_delta]]
    out = DefaultRecordBatch(batch.rebuild(kept))
    assert out.validate_crc()
    assert out.next_offset == base + count
    assert [r.offset - base for r in out] == [r.offset_delta for r in kept]
