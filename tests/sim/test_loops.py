"""The runaway-loop agents: polite pairs, delegation cycles, clients and a slow server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.sim.harness import run_local
from bus.sim.loops import (
    Client,
    Delegator,
    LoopParams,
    LoopSwarm,
    Polite,
    Server,
    damping_filters,
    turn_tokens,
)
from bus.sim.messages import Incoming


def _msg(sender: str, kind: str, body: dict[str, object] | None = None, hops: int = 0,
         path: tuple[str, ...] = ()) -> Incoming:
    return Incoming(sender=sender, kind=kind, body=dict(body or {}), sent_round=0, seq=0,
                    hops=hops, path=path)


async def test_a_polite_agent_answers_every_message_and_continues_its_chain() -> None:
    agent = Polite("b")
    sent = await agent.step(3, [_msg("a", "chat", hops=4, path=("a", "b", "a", "b"))])
    assert len(sent) == 1 and sent[0].to == ("a",)
    assert sent[0].hops == 4 and sent[0].path == ("a", "b", "a", "b")
    assert sent[0].body["tokens"] == turn_tokens(4)
    assert await agent.step(4, []) == []


async def test_the_opener_says_hello_once() -> None:
    agent = Polite("a", opener="b")
    assert [m.to for m in await agent.step(0, [])] == [("b",)]


async def test_a_delegator_passes_the_task_on_with_its_path() -> None:
    agent = Delegator("researcher", "writer")
    sent = await agent.step(2, [_msg("planner", "task", {"task": "t"}, 1, ("planner",))])
    assert sent[0].to == ("writer",) and sent[0].path == ("planner",) and sent[0].hops == 1
    assert sent[0].body["task"] == "t"


async def test_the_server_serves_its_capacity_and_less_during_the_hiccup() -> None:
    params = LoopParams(pattern="retry", capacity=2, hiccup_start=5, hiccup_end=6,
                        hiccup_capacity=1)
    server = Server("server", params)
    calls = [_msg(f"c{i}", "call", {"call": f"c{i}-1"}) for i in range(4)]
    first = await server.step(1, calls)
    assert [m.to for m in first] == [("c0",), ("c1",)] and len(server.queue) == 2
    assert len(await server.step(5, [])) == 1
    assert len(await server.step(6, [])) == 1 and not server.queue


async def test_a_client_retries_after_its_timeout_and_gives_up_after_its_attempts() -> None:
    params = LoopParams(pattern="retry", call_interval=100, timeout=2, attempts=2)
    client = Client("c", 0, "server", params)
    assert [m.body["call"] for m in await client.step(0, [])] == ["c-1"]
    assert await client.step(1, []) == []
    assert [m.body["call"] for m in await client.step(2, [])] == ["c-1"]  # retry
    assert await client.step(4, []) == []  # second attempt unanswered: given up
    assert client.failed == 1 and not client.waiting


async def test_an_answer_stops_the_retries() -> None:
    params = LoopParams(pattern="retry", call_interval=100, timeout=1)
    client = Client("c", 0, "server", params)
    await client.step(0, [])
    assert await client.step(1, [_msg("server", "response", {"call": "c-1"})]) == []
    assert client.done == 1


def test_the_damping_kit_keeps_its_chain_order_and_rejects_unknown_names() -> None:
    kinds = [f["filter"] for f in damping_filters(("rate", "hops", "breaker"), seed=1)]
    assert kinds == ["breaker", "hops", "rate"]
    with pytest.raises(ValueError, match="unknown damping filter 'nope'"):
        damping_filters(("nope",), seed=1)


async def test_the_polite_loop_runs_forever_undamped_and_stops_under_hops(
        tmp_path: Path) -> None:
    free = await run_local(LoopSwarm(LoopParams(pattern="polite", rounds=30), 1), tmp_path / "a")
    assert free.summary["delivered"] == 30 and free.summary["quarantined"] == 0
    damped = await run_local(LoopSwarm(LoopParams(pattern="polite", rounds=30,
                                                  damping=("hops",)), 1), tmp_path / "b")
    assert damped.summary["delivered"] < 5
    assert damped.ledger.quarantined_by_reason["cycle"] == 1
    assert damped.ledger.check() == []
