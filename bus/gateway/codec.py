"""Decode and encode the few Kafka messages the gateway inspects, with kio.

kio ships one frozen dataclass per (API, version), generated from Kafka's own
JSON schemas, plus the matching header types; this module is the only place
that knows how to look them up. Schema lookups are cached per (key, version),
so the per-request cost is the decode/encode itself.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from functools import cache
from typing import Any

from kio.index import UnknownAPIKey, UnknownEntity, load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from bus.errors import ProtocolError
from bus.gateway.bounds import check_lengths
from bus.gateway.frames import framed

# kio's dataclasses are typed per version; the gateway handles them generically.
Message = Any


@cache
def request_type(api_key: int, version: int) -> type[Message] | None:
    try:
        return load_request_schema(api_key, version)
    except (UnknownAPIKey, UnknownEntity):
        return None


@cache
def response_type(api_key: int, version: int) -> type[Message] | None:
    try:
        return load_response_schema(api_key, version)
    except (UnknownAPIKey, UnknownEntity):
        return None


def _require(kind: type[Message] | None, what: str, api_key: int, version: int) -> type[Message]:
    if kind is None:
        raise ProtocolError("unsupported-version", f"no schema for {what} {api_key} v{version}")
    return kind


def decode_request(api_key: int, version: int, body: bytes) -> tuple[Message, Message]:
    """The (header, payload) of a request frame body."""
    kind = _require(request_type(api_key, version), "request", api_key, version)
    # Client input: no length may reach kio's native reader unchecked (``bounds``).
    check_lengths(kind, body, check_lengths(kind.__header_schema__, body))
    try:
        header, offset = entity_reader(kind.__header_schema__)(body, 0)
        payload, _ = entity_reader(kind)(body, offset)
    except Exception as exc:  # kio raises plain ValueError/IndexError on bad bytes
        raise ProtocolError(
            "undecodable", f"request {api_key} v{version} does not decode: {exc}"
        ) from None
    return header, payload


def encode_request(header: Message, payload: Message) -> bytes:
    """A complete request frame (size prefix included)."""
    buffer = io.BytesIO()
    entity_writer(type(header))(buffer, header)
    entity_writer(type(payload))(buffer, payload)
    return framed(buffer.getvalue())


def decode_response(api_key: int, version: int, body: bytes) -> Message:
    """The payload of a response frame body (the correlation id is checked by the caller)."""
    kind = _require(response_type(api_key, version), "response", api_key, version)
    try:
        _, offset = entity_reader(kind.__header_schema__)(body, 0)
        payload, _ = entity_reader(kind)(body, offset)
    except Exception as exc:
        raise ProtocolError(
            "undecodable", f"response {api_key} v{version} does not decode: {exc}"
        ) from None
    return payload


def encode_response(correlation_id: int, payload: Message) -> bytes:
    """A complete response frame, with the header version the payload's schema names."""
    header_type = type(payload).__header_schema__
    buffer = io.BytesIO()
    entity_writer(header_type)(buffer, header_type(correlation_id=correlation_id))
    entity_writer(type(payload))(buffer, payload)
    return framed(buffer.getvalue())


def nested(kind: type[Message], name: str) -> type[Message]:
    """A nested entity type of the same schema version (``MetadataResponseTopic``...)."""
    found: type[Message] = getattr(sys.modules[kind.__module__], name)
    return found


_FIELD_NAMES: dict[type[Message], frozenset[str]] = {}


def _field_names(kind: type[Message]) -> frozenset[str]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = frozenset(f.name for f in dataclasses.fields(kind))
    return names


def has_field(kind: type[Message], name: str) -> bool:
    return name in _field_names(kind)


def build(kind: type[Message], **values: Any) -> Message:
    """An entity of ``kind`` from the values its version has fields for.

    Lets one call site build, say, a topic error entry for every version of a
    response, whichever optional fields each version adds or drops.
    """
    names = _field_names(kind)
    return kind(**{k: v for k, v in values.items() if k in names})
