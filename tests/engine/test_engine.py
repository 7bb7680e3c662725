"""The engine in memory: policy decisions, fan-out, quarantine headers, shadow rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus import headers as h
from bus.clock import FakeClock
from bus.engine.engine import Engine
from bus.engine.outcome import Outcome
from bus.envelope import Envelope, decode_envelope
from bus.errors import ProtocolError
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy

RULES = """
version: 1
agents:
  alice: {groups: [team]}
  bob: {groups: [team]}
  carol: {groups: [team]}
  loner: {}
groups:
  team: {}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
  - {name: alice-to-carol, from: alice, to: carol, kinds: [task]}
  - {name: bob-to-alice, from: bob, to: alice}
  - {name: carol-trial, from: carol, to: alice, action: deny, mode: shadow}
  - {name: carol-to-alice, from: carol, to: alice}
"""


def engine_for(tmp_path: Path, rules: str = RULES) -> tuple[Engine, Metrics]:
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    metrics = Metrics()
    return Engine(PolicyHolder(load_policy(path)), metrics=metrics, clock=FakeClock()), metrics


def envelope(sender: str, *headers: tuple[str, bytes], payload: bytes = b"{}") -> Envelope:
    return decode_envelope(sender=sender, headers=list(headers), key=None, payload=payload)


def header(outcome: Outcome, name: str) -> str | None:
    values = [v.decode() for k, v in outcome.headers if k == name]
    assert len(values) <= 1, f"{name} stamped {len(values)} times"
    return values[0] if values else None


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_allowed_message_is_forwarded_with_the_true_sender(tmp_path: Path) -> None:
    engine, metrics = engine_for(tmp_path)
    env = envelope("alice", (h.TO, b"bob"), (h.FROM, b"mallory"), ("traceparent", b"00-1"))

    [outcome] = await engine.handle(env)

    assert outcome.action == "forward"
    assert outcome.destination == "agents.bob.inbox"
    assert header(outcome, h.FROM) == "alice"
    assert header(outcome, h.ID) == env.msg_id
    assert header(outcome, h.HOPS) == "1"
    assert header(outcome, "traceparent") == "00-1"
    assert outcome.payload == b"{}"
    assert sample(metrics, "membrane_messages_total", transport="kafka",
                  outcome="forwarded") == 1
    assert sample(metrics, "membrane_policy_decisions_total", rule="alice-to-bob",
                  verdict="allow") == 1


async def test_denied_message_goes_to_quarantine_with_its_reason(tmp_path: Path) -> None:
    engine, metrics = engine_for(tmp_path)
    env = envelope("bob", (h.TO, b"carol"), (h.KIND, b"task"))

    [outcome] = await engine.handle(env, origin="input-7")

    assert outcome.action == "quarantine"
    assert outcome.destination == "membrane.quarantine"
    assert outcome.origin == "input-7"
    assert header(outcome, h.VERDICT) == "deny"
    assert header(outcome, h.REASON) == "default-deny"
    assert header(outcome, h.RULE) == "default"
    assert header(outcome, h.RECIPIENT) == "carol"
    assert header(outcome, h.FROM) == "bob"
    assert header(outcome, h.POLICY) == engine.policy.version
    assert sample(metrics, "membrane_quarantined_total", reason="default-deny") == 1


async def test_a_condition_that_fails_names_its_rule(tmp_path: Path) -> None:
    engine, _ = engine_for(tmp_path)
    [outcome] = await engine.handle(envelope("alice", (h.TO, b"carol"), (h.KIND, b"gossip")))
    assert outcome.action == "quarantine"
    assert header(outcome, h.RULE) == "alice-to-carol"
    assert header(outcome, h.REASON) == "kind"


async def test_each_recipient_is_decided_on_its_own(tmp_path: Path) -> None:
    engine, _ = engine_for(tmp_path)
    outcomes = await engine.handle(envelope("alice", (h.TO, b"bob,carol,loner")))
    by_recipient = {o.recipient: o.action for o in outcomes}
    # carol's edge needs kind=task; loner has no edge at all.
    assert by_recipient == {"bob": "forward", "carol": "quarantine", "loner": "quarantine"}


async def test_no_address_fans_out_to_permitted_neighbours_only(tmp_path: Path) -> None:
    engine, _ = engine_for(tmp_path)
    outcomes = await engine.handle(envelope("alice", (h.KIND, b"task")))
    assert sorted(o.destination for o in outcomes) == ["agents.bob.inbox", "agents.carol.inbox"]
    assert {o.action for o in outcomes} == {"forward"}
    # No membrane-to on the way in: none stamped on the way out.
    assert all(header(o, h.TO) is None for o in outcomes)


async def test_a_group_address_expands_to_its_members(tmp_path: Path) -> None:
    engine, _ = engine_for(tmp_path)
    outcomes = await engine.handle(envelope("alice", (h.TO, b"team"), (h.KIND, b"task")))
    assert sorted(o.recipient or "" for o in outcomes) == ["bob", "carol"]


async def test_unknown_recipient_is_quarantined(tmp_path: Path) -> None:
    engine, _ = engine_for(tmp_path)
    outcomes = await engine.handle(envelope("alice", (h.TO, b"bob,nobody")))
    unknown = [o for o in outcomes if o.recipient == "nobody"]
    assert [o.reason for o in unknown] == ["unknown-recipient"]
    assert header(unknown[0], h.DETAIL) is not None
    assert [o.action for o in outcomes if o.recipient == "bob"] == ["forward"]


async def test_a_message_nobody_may_receive_is_quarantined_whole(tmp_path: Path) -> None:
    engine, metrics = engine_for(tmp_path)
    [outcome] = await engine.handle(envelope("loner"))
    assert outcome.action == "quarantine"
    assert outcome.recipient is None
    assert outcome.reason == "no-recipient"
    assert header(outcome, h.RECIPIENT) is None
    assert sample(metrics, "membrane_quarantined_total", reason="no-recipient") == 1


async def test_a_shadow_deny_lets_the_message_through_and_is_counted(tmp_path: Path) -> None:
    engine, metrics = engine_for(tmp_path)
    [outcome] = await engine.handle(envelope("carol", (h.TO, b"alice")))
    assert outcome.action == "forward"
    assert sample(metrics, "membrane_messages_total", transport="kafka",
                  outcome="shadowed") == 1
    assert sample(metrics, "membrane_policy_decisions_total", rule="carol-trial",
                  verdict="shadow_deny") == 1


async def test_undecodable_input_is_quarantined_with_the_decoder_reason(tmp_path: Path) -> None:
    engine, metrics = engine_for(tmp_path)
    raw = [(h.HOPS, b"many"), (h.FROM, b"mallory"), ("x-trace", b"1")]
    with pytest.raises(ProtocolError) as caught:
        decode_envelope(sender="alice", headers=raw, key=b"k", payload=b"p")

    outcome = engine.quarantine_invalid(raw, b"p", b"k", "alice", caught.value, "origin",
                                        msg_id="derived-1")

    assert outcome.action == "quarantine"
    assert outcome.recipient is None
    assert header(outcome, h.VERDICT) == "invalid"
    assert header(outcome, h.REASON) == "bad-hops"
    assert header(outcome, h.FROM) == "alice"  # the client's forgery is not kept
    assert header(outcome, h.ID) == "derived-1"
    assert header(outcome, "x-trace") == "1"
    assert outcome.payload == b"p"
    assert sample(metrics, "membrane_received_total", transport="kafka") == 1
    assert sample(metrics, "membrane_quarantined_total", reason="bad-hops") == 1


async def test_reload_changes_decisions(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    holder = PolicyHolder(load_policy(path))
    engine = Engine(holder, metrics=Metrics(), clock=FakeClock())
    [before] = await engine.handle(envelope("bob", (h.TO, b"carol")))
    path.write_text(RULES + "  - {name: bob-to-carol, from: bob, to: carol}\n")
    assert holder.reload(path).ok

    [after] = await engine.handle(envelope("bob", (h.TO, b"carol")))

    assert (before.action, after.action) == ("quarantine", "forward")
    assert header(after, h.POLICY) == holder.current.version != header(before, h.POLICY)


async def test_a_renamed_rule_stops_being_exported_after_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    holder = PolicyHolder(load_policy(path))
    metrics = Metrics()
    engine = Engine(holder, metrics=metrics, clock=FakeClock())
    await engine.handle(envelope("alice", (h.TO, b"bob")))
    await engine.handle(envelope("loner", (h.TO, b"bob")))
    assert sample(metrics, "membrane_policy_decisions_total", rule="alice-to-bob",
                  verdict="allow") == 1
    path.write_text(RULES.replace("name: alice-to-bob", "name: alice-bob"))
    assert holder.reload(path).ok

    await engine.handle(envelope("alice", (h.TO, b"bob")))

    names = {s.labels["rule"] for family in metrics.decisions.collect()
             for s in family.samples if s.name.endswith("_total")}
    assert "alice-to-bob" not in names
    assert sample(metrics, "membrane_policy_decisions_total", rule="alice-bob",
                  verdict="allow") == 1
    # Rules still in force keep their counts across the reload.
    assert sample(metrics, "membrane_policy_decisions_total", rule="default",
                  verdict="deny") == 1
