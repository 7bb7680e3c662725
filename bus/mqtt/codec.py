"""How membrane headers travel over MQTT, in both directions.

- **MQTT 5**: each header is one user property (name, value); the payload is
  the message body, untouched.
- **MQTT 3.1.1** has no properties, so the message body is a JSON envelope
  (docs/mqtt.md)::

      {"headers": {"membrane-to": "bob"}, "payload": "hello"}

  with ``payload_base64`` instead of ``payload`` for bodies that are not
  UTF-8 text.

MQTT strings must be UTF-8, Kafka header values need not be: a value that
is not UTF-8 crosses as base64 under its name suffixed with ``;base64``, and
the suffix is undone on the way in.

Decoding raises ``ProtocolError`` with a reason slug (``too-large``,
``bad-envelope``, ``bad-utf8``); the bridge quarantines such a message
with that reason and carries on.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus.errors import ProtocolError

Protocol = Literal["5", "3.1.1"]
Headers = list[tuple[str, bytes]]

BINARY_SUFFIX = ";base64"
DEFAULT_MAX_PAYLOAD = 1024 * 1024
# The JSON envelope may grow base64 bodies by a third, plus room for headers.
ENVELOPE_OVERHEAD = 64 * 1024


class JsonEnvelope(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The MQTT 3.1.1 message body: headers plus the agent's payload."""

    headers: dict[str, str] = msgspec.field(default_factory=dict)
    payload: str | None = None
    payload_base64: bytes | None = None


_ENVELOPE_DECODER = msgspec.json.Decoder(JsonEnvelope)
_ENVELOPE_ENCODER = msgspec.json.Encoder()


def new_properties(packet_type: int) -> Properties:
    """Empty MQTT 5 properties for one packet type (paho's constructor is untyped)."""
    properties: Properties = Properties(packet_type)  # type: ignore[no-untyped-call]
    return properties


# paho builds its property-name tables in every constructor; a shallow copy of
# an empty instance shares them and costs a small fraction of that.
_EMPTY_PUBLISH_PROPERTIES = new_properties(PacketTypes.PUBLISH)


def _header_to_text(name: str, value: bytes) -> tuple[str, str]:
    try:
        return name, value.decode("utf-8")
    except UnicodeDecodeError:
        return name + BINARY_SUFFIX, base64.b64encode(value).decode("ascii")


def _header_from_text(name: str, text: str) -> tuple[str, bytes]:
    if not name.endswith(BINARY_SUFFIX):
        return name, text.encode("utf-8")
    try:
        return name[: -len(BINARY_SUFFIX)], base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("bad-header", f"header {name!r} is not valid base64") from None


class MqttCodec:
    """Turns MQTT publishes into (headers, payload) and back, for one protocol.

    ``max_payload`` bounds the body accepted from agents; anything larger is
    refused before it is parsed, so a huge publish costs no more than its
    read.
    """

    __slots__ = ("max_payload", "protocol")

    def __init__(self, protocol: Protocol, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.protocol = protocol
        self.max_payload = max_payload

    @property
    def uses_properties(self) -> bool:
        return self.protocol == "5"

    def decode(self, payload: bytes, properties: Properties | None) -> tuple[Headers, bytes]:
        """The headers and body an agent published, or ``ProtocolError``."""
        if self.uses_properties:
            return self._decode_v5(payload, properties)
        return self._decode_envelope(payload)

    def encode(self, headers: Sequence[tuple[str, bytes]], payload: bytes | None) -> tuple[
        bytes, Properties | None
    ]:
        """What to publish for these headers and body."""
        body = payload if payload is not None else b""
        if self.uses_properties:
            return body, self._user_properties(headers)
        return encode_envelope(headers, body), None

    def _decode_v5(self, payload: bytes, properties: Properties | None) -> tuple[Headers, bytes]:
        if len(payload) > self.max_payload:
            raise ProtocolError(
                "too-large", f"payload of {len(payload)} bytes exceeds {self.max_payload}"
            )
        pairs: Iterable[tuple[str, str]] = ()
        if properties is not None:
            pairs = getattr(properties, "UserProperty", ())
            if getattr(properties, "PayloadFormatIndicator", 0) == 1:
                _check_utf8(payload, "payload declared UTF-8 (payload format indicator 1)")
        return [_header_from_text(name, value) for name, value in pairs], payload

    def _decode_envelope(self, raw: bytes) -> tuple[Headers, bytes]:
        limit = self.max_payload * 4 // 3 + ENVELOPE_OVERHEAD
        if len(raw) > limit:
            raise ProtocolError("too-large", f"JSON envelope of {len(raw)} bytes exceeds {limit}")
        _check_utf8(raw, "JSON envelope")
        try:
            envelope = _ENVELOPE_DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            raise ProtocolError("bad-envelope", f"JSON envelope: {exc}") from None
        if envelope.payload is not None and envelope.payload_base64 is not None:
            raise ProtocolError(
                "bad-envelope", "JSON envelope sets both payload and payload_base64"
            )
        if envelope.payload_base64 is not None:
            body = envelope.payload_base64
        else:
            body = (envelope.payload or "").encode("utf-8")
        if len(body) > self.max_payload:
            raise ProtocolError(
                "too-large", f"payload of {len(body)} bytes exceeds {self.max_payload}"
            )
        headers = [_header_from_text(name, value) for name, value in envelope.headers.items()]
        return headers, body

    @staticmethod
    def _user_properties(headers: Sequence[tuple[str, bytes]]) -> Properties:
        properties = copy.copy(_EMPTY_PUBLISH_PROPERTIES)
        pairs = [_header_to_text(name, value) for name, value in headers]
        if pairs:
            properties.UserProperty = pairs
        return properties


def encode_envelope(headers: Sequence[tuple[str, bytes]], body: bytes) -> bytes:
    """The MQTT 3.1.1 JSON envelope for these headers and body."""
    text_headers = dict(_header_to_text(name, value) for name, value in headers)
    try:
        envelope = JsonEnvelope(headers=text_headers, payload=body.decode("utf-8"))
    except UnicodeDecodeError:
        envelope = JsonEnvelope(headers=text_headers, payload_base64=body)
    return _ENVELOPE_ENCODER.encode(envelope)


def _check_utf8(raw: bytes, what: str) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("bad-utf8", f"{what} is not valid UTF-8 at byte {exc.start}") from None
