"""Array lengths checked against the frame before kio's native decoder sees it.

kio's native reader reserves memory for a compact array from its length
prefix before reading an element; a length of 2**32 or more (five varint
bytes any client can send) makes it reserve tens of gigabytes, and the
allocation failure aborts the whole process. ``check_lengths`` walks a
message along its schema — kio's dataclass fields, read with kio's primitive
readers, which fail cleanly on short input — and refuses any array (and any
tagged-field count or size) longer than the bytes left, since each element
takes at least one byte, and a null array where the schema allows none (kio
would hand the handlers a None where they iterate). Only array lengths are
judged; every other field is merely stepped over, and kio still decodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from kio._kio_native import get_reader
from kio.serial.readers import (
    read_compact_array_length,
    read_int8,
    read_legacy_array_length,
    read_unsigned_varint,
)

from bus.errors import ProtocolError

# Steps over one field at an offset; returns the offset after it.
Step = Callable[[bytes, int], int]

NULL_ENTITY = -1


def check_lengths(kind: Any, body: bytes, offset: int = 0) -> int:
    """Walk ``kind`` at ``offset`` in ``body``; the offset after it, or a ProtocolError."""
    try:
        return _entity_step(kind)(body, offset)
    except ProtocolError:
        raise
    except Exception as exc:  # kio's BufferUnderflow and friends: kio will say it too
        raise ProtocolError("undecodable", f"{kind.__name__} does not decode: {exc}") from None


def _fits(count: int, body: bytes, offset: int, what: str) -> None:
    if count > len(body) - offset:
        raise ProtocolError(
            "length-out-of-bounds",
            f"{what} claims {count} entries with {len(body) - offset} bytes left",
        )


def _optional(hint: Any) -> tuple[Any, bool]:
    if get_origin(hint) in (UnionType, Union):
        args = [a for a in get_args(hint) if a is not NoneType]
        return args[0], True
    return hint, False


@cache
def _entity_step(kind: Any) -> Step:
    flexible = bool(kind.__flexible__)
    header = kind.__name__ == "RequestHeader"
    steps: list[Step] = []
    tagged: dict[int, Step] = {}
    for field in dataclasses.fields(kind):
        tag = field.metadata.get("tag")
        step = _field_step(field, flexible, header and field.name == "client_id", tag is not None)
        if tag is None:
            steps.append(step)
        else:
            tagged[int(tag)] = step
    name = kind.__name__

    def walk(body: bytes, offset: int) -> int:
        for step in steps:
            offset = step(body, offset)
        if flexible:
            offset = _tagged_fields(body, offset, tagged, name)
        return offset

    return walk


def _tagged_fields(body: bytes, offset: int, known: dict[int, Step], name: str) -> int:
    count, offset = _uvarint(body, offset)
    _fits(count, body, offset, f"{name} tagged fields")
    for _ in range(count):
        tag, offset = _uvarint(body, offset)
        size, offset = _uvarint(body, offset)
        _fits(size, body, offset, f"{name} tagged field {tag}")
        step = known.get(tag)
        if step is not None:
            step(body[: offset + size], offset)
        offset += size
    return offset


def _uvarint(body: bytes, offset: int) -> tuple[int, int]:
    value, size = read_unsigned_varint(body, offset)
    return int(value), offset + size


def _field_step(field: dataclasses.Field[Any], flexible: bool, legacy: bool, tag: bool) -> Step:
    hint, optional = _optional(field.type)
    optional = optional and not tag  # a tagged field's absence is its null
    if get_origin(hint) is tuple:
        (item,) = (a for a in get_args(hint) if a is not Ellipsis)
        element = _entity_step(item) if _is_entity(item) else _primitive(field, flexible, False)
        return _array(element, flexible, field.name, nullable=optional or tag)
    if _is_entity(hint):
        return _nullable(_entity_step(hint)) if optional else _entity_step(hint)
    return _primitive(field, flexible and not legacy, optional)


def _is_entity(hint: Any) -> bool:
    # A plain bool, not is_dataclass's narrowing, which would make the type unhashable.
    return dataclasses.is_dataclass(hint)


def _primitive(field: dataclasses.Field[Any], flexible: bool, optional: bool) -> Step:
    read = get_reader(field.metadata["kafka_type"], flexible, optional)

    def step(body: bytes, offset: int) -> int:
        return offset + int(read(body, offset)[1])

    return step


def _nullable(inner: Step) -> Step:
    def step(body: bytes, offset: int) -> int:
        marker, size = read_int8(body, offset)
        offset += size
        return offset if marker == NULL_ENTITY else inner(body, offset)

    return step


def _array(element: Step, flexible: bool, name: str, *, nullable: bool) -> Step:
    read_length = read_compact_array_length if flexible else read_legacy_array_length

    def step(body: bytes, offset: int) -> int:
        count, size = read_length(body, offset)
        offset += size
        if count is None or count < 0:
            if not nullable:
                raise ProtocolError("null-array", f"{name} is null but may not be")
            return offset
        _fits(int(count), body, offset, name)
        for _ in range(int(count)):
            offset = element(body, offset)
        return offset

    return step
