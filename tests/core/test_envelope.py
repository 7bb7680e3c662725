"""The envelope decoder: what a client writes is validated, never trusted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus import headers as h
from bus.envelope import MAX_PATH, MAX_RECIPIENTS, decode_envelope
from bus.errors import ProtocolError


def decode(headers: list[tuple[str, bytes | None]], payload: bytes | None = b"{}") -> object:
    return decode_envelope(sender="alice", headers=headers, key=None, payload=payload)


def test_sender_comes_from_the_transport_not_a_forged_header() -> None:
    env = decode_envelope(
        sender="alice", headers=[(h.FROM, b"mallory")], key=b"k", payload=b"hi"
    )
    assert env.sender == "alice"
    stamped = dict(env.egress_headers("v1"))
    assert stamped[h.FROM] == b"alice"


def test_recipients_kind_stance_hops_and_path_are_read() -> None:
    env = decode_envelope(
        sender="alice",
        headers=[
            (h.TO, b"bob, carol"),
            (h.KIND, b"proposal"),
            (h.STANCE, b"yes"),
            (h.HOPS, b"2"),
            (h.PATH, b"dave,erin"),
            (h.ID, b"m-1"),
            ("traceparent", b"00-abc-def-01"),
        ],
        key=None,
        payload=b"x",
    )
    assert env.recipients == ("bob", "carol")
    assert (env.kind, env.stance, env.hops, env.path, env.msg_id) == (
        "proposal", "yes", 2, ("dave", "erin"), "m-1"
    )
    assert env.extra_headers == (("traceparent", b"00-abc-def-01"),)


def test_egress_headers_advance_hops_and_path() -> None:
    env = decode_envelope(
        sender="alice", headers=[(h.HOPS, b"1"), (h.PATH, b"bob")], key=None, payload=b""
    )
    stamped = dict(env.egress_headers("abc"))
    assert stamped[h.HOPS] == b"2"
    assert stamped[h.PATH] == b"bob,alice"
    assert stamped[h.POLICY] == b"abc"


def test_missing_id_gets_a_fresh_one_and_empty_to_means_fan_out() -> None:
    a = decode_envelope(sender="a", headers=[(h.TO, b"  ")], key=None, payload=None)
    b = decode_envelope(sender="a", headers=[], key=None, payload=None)
    assert a.recipients is None
    assert a.msg_id != b.msg_id
    assert a.size == 0


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([(h.HOPS, b"two")], "bad-hops"),
        ([(h.HOPS, b"-1")], "bad-hops"),
        ([(h.TO, b"\xff\xfe")], "bad-header"),
        ([(h.KIND, b"a"), (h.KIND, b"b")], "duplicate-header"),
        ([(h.TO, b"bob,,carol")], "bad-header"),
        ([(h.TO, ",".join(["x"] * (MAX_RECIPIENTS + 1)).encode())], "too-many"),
        ([(h.PATH, ",".join(["x"] * (MAX_PATH + 1)).encode())], "too-many"),
        ([(h.ID, b"")], "bad-header"),
        ([("big", b"x" * 70_000)], "headers-too-large"),
    ],
)
def test_bad_headers_are_refused_with_a_reason(
    headers: list[tuple[str, bytes | None]], reason: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(headers)
    assert info.value.reason == reason


def test_header_names_are_case_insensitive_for_duplicates() -> None:
    with pytest.raises(ProtocolError) as info:
        decode([("Membrane-To", b"a"), ("membrane-to", b"b")])
    assert info.value.reason == "duplicate-header"


header_names = st.sampled_from(
    [h.TO, h.KIND, h.STANCE, h.HOPS, h.PATH, h.ID, h.FROM, "traceparent", "x-other"]
) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(header_names, st.one_of(st.none(), st.binary(max_size=200))), max_size=12),
    st.one_of(st.none(), st.binary(max_size=100)),
)
def test_decoder_never_raises_anything_but_protocol_error(
    headers: list[tuple[str, bytes | None]], payload: bytes | None
) -> None:
    try:
        env = decode_envelope(sender="s", headers=headers, key=None, payload=payload)
    except ProtocolError as exc:
        assert exc.reason
    else:
        assert env.sender == "s"
        assert env.hops >= len(env.path)
        env.egress_headers("v")
