"""The simulator's wire form goes through membrane's own envelope decoder and back."""

from __future__ import annotations

import pytest

from bus import headers as h
from bus.engine.outcome import quarantine_headers
from bus.envelope import decode_envelope
from bus.errors import ProtocolError
from bus.sim.messages import Outgoing
from bus.sim.wire import encode, read_delivery, read_quarantine


def test_a_broadcast_has_no_recipients_and_carries_round_and_seq() -> None:
    record = encode("a1", 7, 2, Outgoing(kind="belief", body={"belief": "1?0"}, stance="yes"))
    env = decode_envelope(sender="a1", headers=record.headers, key=None, payload=record.value)
    assert env.recipients is None
    assert env.kind == "belief" and env.stance == "yes"
    assert env.msg_id == record.msg_id == "a1-r7-2"
    delivered = read_delivery(env.egress_headers("v1"), env.payload)
    assert (delivered.sender, delivered.sent_round, delivered.seq) == ("a1", 7, 2)
    assert delivered.body == {"belief": "1?0"}
    assert delivered.stance == "yes"
    assert delivered.hops == 1 and delivered.path == ("a1",)


def test_a_reply_continues_the_chain_it_answers() -> None:
    first = encode("a", 0, 0, Outgoing(kind="chat", to=("b",)))
    env = decode_envelope(sender="a", headers=first.headers, key=None, payload=first.value)
    heard = read_delivery(env.egress_headers("v1"), env.payload)
    answer = heard.reply(kind="chat", body={"text": "thanks"})
    assert answer.to == ("a",)
    second = encode("b", 1, 0, answer)
    env2 = decode_envelope(sender="b", headers=second.headers, key=None, payload=second.value)
    assert env2.hops == 1 and env2.path == ("a",) and env2.recipients == ("a",)
    back = read_delivery(env2.egress_headers("v1"), env2.payload)
    assert back.hops == 2 and back.path == ("a", "b")


def test_quarantine_copies_name_message_recipient_and_reason() -> None:
    record = encode("a", 3, 0, Outgoing(kind="task", to=("b",)))
    env = decode_envelope(sender="a", headers=record.headers, key=None, payload=record.value)
    headers = quarantine_headers(env.egress_headers("v1"), verdict="divert", reason="cycle",
                                 filter="hops", recipient="b")
    copy = read_quarantine(headers)
    assert (copy.msg_id, copy.sender, copy.recipient) == ("a-r3-0", "a", "b")
    assert (copy.verdict, copy.reason, copy.filter, copy.kind) == ("divert", "cycle", "hops",
                                                                   "task")


def test_a_delivery_without_a_sender_is_refused() -> None:
    with pytest.raises(ProtocolError, match=h.FROM):
        read_delivery([(h.ID, b"x")], b'{"round": 0, "seq": 0}')


def test_a_payload_that_is_not_the_simulators_is_refused() -> None:
    with pytest.raises(ProtocolError, match="payload"):
        read_delivery([(h.FROM, b"a")], b"not json")


def test_an_empty_recipient_list_is_not_a_broadcast() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Outgoing(kind="x", to=())
