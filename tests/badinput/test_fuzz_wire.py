"""Property-based fuzzing of everything that parses untrusted messages.

Targets: the envelope decoder (Kafka headers → ``Envelope``), the Kafka
record path (``envelope_of``), quarantine copies of undecodable input, the
dedupe key of records read back, the MQTT codec (MQTT 5 user properties and
the MQTT 3.1.1 JSON envelope), and the metrics endpoint's request handling.
The property everywhere: only membrane's own error types escape, with a
reason; what is accepted satisfies the invariants (identity from the
transport, no client ``membrane-*`` header survives, hop counts sane).
(The rules loader: test_fuzz_rules.py.)
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus import headers as h
from bus.engine.invalid import invalid_outcome
from bus.envelope import MAX_RECIPIENTS, decode_envelope
from bus.errors import ConfigError, ProtocolError
from bus.http import MetricsServer, parse_address
from bus.metrics import Metrics
from bus.mqtt.codec import MqttCodec
from bus.policy import Policy, load_policy
from bus.relay.records import envelope_of
from bus.relay.seeder import key_of_record

from .fuzzing import FUZZ, header_names, json_values, raw_headers

DECODE_REASONS = {"bad-header", "bad-hops", "duplicate-header", "headers-too-large", "too-many"}
STAMPED = {h.FROM, h.ID, h.HOPS, h.PATH, h.POLICY, h.KIND, h.STANCE, h.TO}

def check_envelope_invariants(env: object, sender: str) -> None:
    from bus.envelope import Envelope

    assert isinstance(env, Envelope)
    assert env.sender == sender
    assert 0 <= len(env.path) <= env.hops
    if env.recipients is not None:
        assert 1 <= len(env.recipients) <= MAX_RECIPIENTS
        assert all(name and h.RECIPIENT_SEPARATOR not in name for name in env.recipients)
    assert not any(name.lower().startswith(h.PREFIX) for name, _ in env.extra_headers)
    egress = env.egress_headers("v1")
    assert [value for name, value in egress if name == h.FROM] == [sender.encode()]
    owned = {name for name, _ in egress if name.lower().startswith(h.PREFIX)}
    assert owned <= STAMPED
    assert all(isinstance(value, bytes) for _, value in egress)
    assert dict(egress)[h.HOPS] == str(env.hops + 1).encode()


@FUZZ
@given(headers=raw_headers, payload=st.none() | st.binary(max_size=200))
def test_the_envelope_decoder_refuses_with_a_reason_or_yields_a_sane_envelope(
    headers: list[tuple[str, bytes | None]], payload: bytes | None
) -> None:
    try:
        env = decode_envelope(sender="alice", headers=headers, key=None, payload=payload)
    except ProtocolError as exc:
        assert exc.reason in DECODE_REASONS, exc.reason
        assert str(exc)
        return
    check_envelope_invariants(env, "alice")


@pytest.mark.parametrize("value", ["²".encode(), "٣".encode(), b"9" * 5_000, b"9" * 19])
def test_hop_counts_that_int_refuses_or_that_overflow_are_bad_hops(value: bytes) -> None:
    """Regression: '²' passes str.isdigit() and then int() raised ValueError, as did
    a number of more than 4,300 digits: an uncaught error on the relay's read path."""
    with pytest.raises(ProtocolError) as info:
        decode_envelope(sender="a", headers=[(h.HOPS, value)], key=None, payload=b"")
    assert info.value.reason == "bad-hops"


@FUZZ
@given(headers=raw_headers, key=st.none() | st.binary(max_size=20),
       value=st.none() | st.binary(max_size=100), offset=st.integers(0, 2**40),
       timestamp=st.integers(-1, 2**42))
def test_a_kafka_record_becomes_an_envelope_or_a_reason(
    headers: list[tuple[str, bytes | None]], key: bytes | None, value: bytes | None,
    offset: int, timestamp: int
) -> None:
    def decode() -> object:
        return envelope_of(sender="alice", topic="agents.alice.outbox", partition=3,
                           offset=offset, headers=headers, key=key, value=value,
                           timestamp_ms=timestamp)

    try:
        env = decode()
    except ProtocolError as exc:
        assert exc.reason in DECODE_REASONS
        return
    check_envelope_invariants(env, "alice")
    if not any(name.lower() == h.ID for name, _ in headers):
        again = decode()
        assert again.msg_id == env.msg_id  # type: ignore[attr-defined]  # stable when re-read


@pytest.fixture(scope="module")
def policy() -> Iterator[Policy]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rules.yaml"
        path.write_text("version: 1\nagents: {alice: {}, bob: {}}\n"
                        "edges:\n  - {name: ab, from: alice, to: bob}\n")
        yield load_policy(path)


@FUZZ
@given(headers=raw_headers, payload=st.none() | st.binary(max_size=100))
def test_a_quarantined_copy_of_undecodable_input_carries_no_client_identity(
    policy: Policy, headers: list[tuple[str, bytes | None]], payload: bytes | None
) -> None:
    outcome = invalid_outcome(policy, "kafka", headers, payload, None, "alice",
                              ProtocolError("bad-header", "fuzzed"), None, None)
    names = [name for name, _ in outcome.headers]
    assert [v for n, v in outcome.headers if n == h.FROM] == [b"alice"]
    assert names.count(h.REASON) == 1 and dict(outcome.headers)[h.REASON] == b"bad-header"
    client_owned = [n for n in names if n.lower().startswith(h.PREFIX) and n not in
                    {h.FROM, h.ID, h.POLICY, h.VERDICT, h.REASON, h.DETAIL}]
    assert client_owned == []
    assert outcome.payload == payload


@FUZZ
@given(headers=st.lists(st.tuples(header_names, st.binary(max_size=60)), max_size=10))
def test_the_dedupe_key_of_any_record_read_back_never_raises(
    headers: list[tuple[str, bytes]]
) -> None:
    key = key_of_record("agents.bob.inbox", headers)
    names = {name for name, _ in headers}
    if h.FROM not in names or h.ID not in names:
        assert key is None


@st.composite
def mqtt_envelopes(draw: st.DrawFn) -> bytes:
    """Bytes near the 3.1.1 JSON envelope: valid ones, broken ones, arbitrary ones."""
    import json

    shape = draw(st.sampled_from(("valid", "fields", "bytes")))
    if shape == "bytes":
        return draw(st.binary(max_size=300))
    body: dict[str, object] = {
        "headers": draw(st.dictionaries(header_names, st.text(max_size=30), max_size=5)),
    }
    if draw(st.booleans()):
        body["payload"] = draw(st.text(max_size=50))
    if draw(st.booleans()):
        body["payload_base64"] = draw(st.text(alphabet="QUJD=+/!", max_size=20))
    if shape == "fields":
        body.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3)))
    return json.dumps(body).encode()


@FUZZ
@given(raw=mqtt_envelopes())
def test_the_mqtt_json_envelope_decodes_or_gives_a_reason(raw: bytes) -> None:
    try:
        headers, body = MqttCodec("3.1.1").decode(raw, None)
    except ProtocolError as exc:
        assert exc.reason in {"too-large", "bad-envelope", "bad-utf8", "bad-header"}
        return
    assert isinstance(body, bytes)
    assert all(isinstance(n, str) and isinstance(v, bytes) for n, v in headers)
    try:
        env = decode_envelope(sender="robot", headers=headers, key=None, payload=body)
    except ProtocolError:
        return
    check_envelope_invariants(env, "robot")


@FUZZ
@given(pairs=st.lists(st.tuples(header_names, st.text(max_size=40)), max_size=8),
       payload=st.binary(max_size=100), utf8_flag=st.booleans())
def test_mqtt5_user_properties_decode_or_give_a_reason(
    pairs: list[tuple[str, str]], payload: bytes, utf8_flag: bool
) -> None:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if pairs:
        properties.UserProperty = pairs
    if utf8_flag:
        properties.PayloadFormatIndicator = 1
    try:
        headers, body = MqttCodec("5").decode(payload, properties)
    except ProtocolError as exc:
        assert exc.reason in {"too-large", "bad-utf8", "bad-header"}
        return
    assert body == payload
    assert len(headers) == len(pairs)


@FUZZ
@given(method=st.text(max_size=10), path=st.text(max_size=60))
def test_the_metrics_endpoint_answers_any_request_line(method: str, path: str) -> None:
    status, content_type, body = MetricsServer(Metrics()).respond(method, path)
    assert status in {200, 404, 405, 503}
    assert isinstance(body, bytes) and content_type


@FUZZ
@given(text=st.text(max_size=40))
def test_a_listen_address_parses_or_gives_a_config_error(text: str) -> None:
    try:
        host, port = parse_address(text)
    except ConfigError:
        return
    assert host and 0 <= port < 65536
