"""The MQTT codec: MQTT 5 user properties and the MQTT 3.1.1 JSON envelope."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus.errors import ProtocolError
from bus.mqtt.codec import MqttCodec, encode_envelope
from bus.mqtt.topics import TopicTemplate


def _properties(pairs: list[tuple[str, str]], utf8: bool = False) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = pairs
    if utf8:
        properties.PayloadFormatIndicator = 1
    return properties


def test_v5_user_properties_become_headers() -> None:
    codec = MqttCodec("5")
    headers, body = codec.decode(
        b"hi", _properties([("membrane-to", "bob,carol"), ("traceparent", "00-ab")])
    )
    assert headers == [("membrane-to", b"bob,carol"), ("traceparent", b"00-ab")]
    assert body == b"hi"


def test_v5_without_properties_has_no_headers() -> None:
    assert MqttCodec("5").decode(b"x", None) == ([], b"x")


def test_v5_round_trip_keeps_binary_header_values() -> None:
    codec = MqttCodec("5")
    headers = [("membrane-from", b"alice"), ("blob", b"\xff\x00\xfe")]
    body, properties = codec.encode(headers, b"\x00\x01")
    assert properties is not None
    assert properties.UserProperty == [("membrane-from", "alice"), ("blob;base64", "/wD+")]
    assert codec.decode(body, properties) == (headers, b"\x00\x01")


def test_v5_payload_declared_utf8_must_be_utf8() -> None:
    with pytest.raises(ProtocolError) as caught:
        MqttCodec("5").decode(b"ok \xc3\x28", _properties([], utf8=True))
    assert caught.value.reason == "bad-utf8"
    assert "byte 3" in str(caught.value)


def test_v5_binary_payload_is_fine_when_not_declared_text() -> None:
    assert MqttCodec("5").decode(b"\xc3\x28", _properties([]))[1] == b"\xc3\x28"


def test_oversized_payload_is_refused_with_a_reason() -> None:
    with pytest.raises(ProtocolError) as caught:
        MqttCodec("5", max_payload=10).decode(b"x" * 11, None)
    assert caught.value.reason == "too-large"
    with pytest.raises(ProtocolError) as caught:
        MqttCodec("3.1.1", max_payload=10).decode(encode_envelope([], b"y" * 11), None)
    assert caught.value.reason == "too-large"


def test_envelope_round_trip_of_text_and_binary_bodies() -> None:
    codec = MqttCodec("3.1.1")
    headers = [("membrane-to", b"bob"), ("membrane-kind", b"proposal")]
    raw, properties = codec.encode(headers, b"hello")
    assert properties is None
    assert json.loads(raw) == {
        "headers": {"membrane-to": "bob", "membrane-kind": "proposal"},
        "payload": "hello",
    }
    assert codec.decode(raw, None) == (headers, b"hello")
    raw, _ = codec.encode(headers, b"\xff\xfe")
    assert json.loads(raw)["payload_base64"] == "//4="
    assert codec.decode(raw, None) == (headers, b"\xff\xfe")


def test_envelope_without_payload_is_an_empty_body() -> None:
    assert MqttCodec("3.1.1").decode(b'{"headers": {"membrane-to": "b"}}', None) == (
        [("membrane-to", b"b")],
        b"",
    )


@pytest.mark.parametrize(
    ("raw", "reason", "words"),
    [
        (b"not json", "bad-envelope", "JSON envelope"),
        (b'{"payload": 5}', "bad-envelope", "payload"),
        (b'{"headers": {"a": 1}}', "bad-envelope", "headers"),
        (b'{"payload": "x", "payload_base64": "eA=="}', "bad-envelope", "both"),
        (b'{"payload": "x", "extra": 1}', "bad-envelope", "extra"),
        (b'{"payload_base64": "!!!"}', "bad-envelope", "base64"),
        (b'{"payload": "\xff"}', "bad-utf8", "not valid UTF-8"),
        (b'{"headers": {"x;base64": "%%"}}', "bad-header", "base64"),
    ],
)
def test_bad_envelopes_are_refused_with_a_reason(raw: bytes, reason: str, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        MqttCodec("3.1.1").decode(raw, None)
    assert caught.value.reason == reason
    assert words in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_protocol_error(raw: bytes) -> None:
    try:
        headers, body = MqttCodec("3.1.1").decode(raw, None)
    except ProtocolError as exc:
        assert exc.reason in {"bad-envelope", "bad-utf8", "bad-header", "too-large"}
    else:
        assert isinstance(body, bytes)
        assert all(isinstance(v, bytes) for _, v in headers)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=20)), max_size=5,
             unique_by=lambda pair: pair[0]),
    st.binary(max_size=100),
)
def test_envelope_round_trip_is_exact(headers: list[tuple[str, bytes]], body: bytes) -> None:
    if any(name.endswith(";base64") for name, _ in headers):
        return
    codec = MqttCodec("3.1.1")
    raw, _ = codec.encode(headers, body)
    assert codec.decode(raw, None) == (headers, body)


def test_topic_template_subscription_and_identity() -> None:
    outbox = TopicTemplate("agents/{agent}/out")
    assert outbox.subscription == "agents/+/out"
    assert outbox.topic("alice") == "agents/alice/out"
    assert outbox.agent_of("agents/alice/out") == "alice"
    assert outbox.agent_of("agents/alice/in") is None
    assert outbox.agent_of("agents/a/b/out") is None
    odd = TopicTemplate("fleet/robot-{agent}/tx")
    assert odd.subscription == "fleet/+/tx"
    assert odd.agent_of("fleet/robot-r2/tx") == "r2"
    assert odd.agent_of("fleet/drone-r2/tx") is None
