"""Per-message cost of deciding, in process, as the fleet grows.

Runs the real engine (policy, the full filter chain, sensors) on synthetic
envelopes — no broker — for fleets built by ``bus.bench_policy``'s
``synthetic_rules`` (a random k-out topology of about ``edges`` edges over
``agents`` agents), and reports:

- CPU microseconds per message (``time.process_time``, so other processes
  on a shared machine do not inflate it), best of five passes, in steady
  state: traffic runs over a set number of *active* edges, each of which
  carried a message before the timed ones, and the garbage collector is
  tuned as in the relay. Holding the active edges fixed while the fleet or
  the topology grows isolates what the size of the fleet costs; varying
  them at a fixed topology shows what the working set costs;
- the memory the compiled policy takes per edge, the memory the filters'
  and sensors' state takes per *active* edge (a pair that carried traffic)
  and per message still inside a filter's window (see ``_memory``), all
  measured with ``tracemalloc`` in a separate pass so the timing is not
  slowed by it.

Flat figures across a curve mean the per-message work does not grow with
the fleet; nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from bus.bench.rules import with_full_chain
from bus.bench_policy import synthetic_rules
from bus.engine.engine import Engine
from bus.envelope import Envelope
from bus.policy.compile import compile_policy
from bus.policy.holder import PolicyHolder
from bus.policy.policy import Policy
from bus.relay.gc_tuning import GC_THRESHOLDS
from bus.rules.schema import RulesFile
from bus.sensors import SensorHub

TIMED_PASSES = 5
STATE_BASELINE_EDGES = 50


def _active_edges(policy: Policy, count: int, seed: int) -> list[tuple[str, str]]:
    """Up to ``count`` distinct edges of the topology, picked at random."""
    pairs = [(sender, recipient) for sender, recipient, _ in policy.pair_rules()]
    return random.Random(seed).sample(pairs, min(count, len(pairs)))


def _envelopes(pairs: Sequence[tuple[str, str]], first: int = 0) -> list[Envelope]:
    """One message per pair, every payload different (as the relay benchmark's are)."""
    stances = ("yes", "no")
    return [
        Envelope(sender=sender, payload=b'{"n": %d}' % (first + i), recipients=(recipient,),
                 kind="handoff", stance=stances[(first + i) % 2])
        for i, (sender, recipient) in enumerate(pairs)
    ]


async def _decide_all(engine: Engine, envelopes: Sequence[Envelope]) -> None:
    for env in envelopes:
        await engine.handle(env)


def _engine(policy: Policy) -> Engine:
    return Engine(PolicyHolder(policy), sensors=SensorHub(policy.rules.sensors))


def _micros_per_message(policy: Policy, active: list[tuple[str, str]], messages: int,
                        seed: int) -> float:
    """CPU time per message in steady state: every active edge has carried a
    message before the timed ones, drawn at random from the active edges."""
    rng = random.Random(seed)
    warm = _envelopes(active)
    timed = _envelopes([rng.choice(active) for _ in range(messages)], first=len(warm))
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)  # as the relay process runs
    try:
        best = float("inf")
        for _ in range(TIMED_PASSES):
            engine = _engine(policy)
            asyncio.run(_decide_all(engine, warm))
            gc.collect()
            started = time.process_time()
            asyncio.run(_decide_all(engine, timed))
            best = min(best, time.process_time() - started)
    finally:
        gc.set_threshold(*thresholds)
    return best / messages * 1e6


def _memory(rules: RulesFile, pairs: list[tuple[str, str]]) -> tuple[int, float, float]:
    """Bytes the compiled policy takes, and the state's bytes per active edge and
    per message.

    State grows with the edges that carried traffic (rate buckets, pair
    scores) and, up to the filters' caps, with the messages inside their
    windows (echo digests, conformity rounds). After a short start (what
    every fleet allocates once), one message on each of ``E`` new edges adds
    ``a*E + b*E`` bytes, and two more on each of the same edges add ``2*b*E``:
    ``a`` is the cost of an active edge and ``b`` that of a windowed message.
    """
    start, edges = pairs[:STATE_BASELINE_EDGES], pairs[STATE_BASELINE_EDGES:]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        policy = compile_policy(rules, check=False)
        compiled = tracemalloc.get_traced_memory()[0]
        engine = _engine(policy)
        measured = [compiled]
        first = 0
        for batch in (start, edges, edges * 2):
            asyncio.run(_decide_all(engine, _envelopes(batch, first)))
            first += len(batch)
            gc.collect()
            measured.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    _, started, after_new, after_again = measured
    per_message = (after_again - after_new) / max(2 * len(edges), 1)
    per_edge = (after_new - started) / max(len(edges), 1) - per_message
    return compiled - before, per_edge, per_message


def measure(agents: int, edges: int, active: int, messages: int, seed: int = 0
            ) -> dict[str, float | int | str]:
    """One point: ``messages`` spread over ``active`` edges of the topology."""
    rules = with_full_chain(synthetic_rules(agents, edges, seed))
    policy = compile_policy(rules, check=False)
    carrying = _active_edges(policy, active, seed)
    micros = _micros_per_message(policy, carrying, messages, seed)
    policy_bytes, per_edge, per_message = _memory(rules, carrying)
    return {
        "agents": agents,
        "edges": policy.edge_count,
        "active_edges": len(carrying),
        "us_per_message": round(micros, 2),
        "policy_mib": round(policy_bytes / 2**20, 1),
        "policy_bytes_per_edge": round(policy_bytes / max(policy.edge_count, 1), 1),
        "state_bytes_per_active_edge": round(per_edge, 1),
        "window_bytes_per_message": round(per_message, 1),
    }


def curve(points: Sequence[tuple[int, int, int]], messages: int = 20_000, seed: int = 0
          ) -> list[dict[str, float | int | str]]:
    """(agents, edges, active edges) → µs per message and memory, through the full chain.

    Each point runs in a fresh process, one at a time, so no point inherits
    the heap (and the cache behaviour) the previous ones left behind.
    """
    rows = []
    for agents, edges, active in points:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            rows.append(pool.submit(measure, agents, edges, active, messages, seed).result())
    return rows


def flatness(rows: Sequence[dict[str, float | int | str]]) -> float:
    """Largest over smallest µs per message along a curve (1.0 is perfectly flat)."""
    costs = [float(row["us_per_message"]) for row in rows]
    return max(costs) / min(costs) if costs else float("nan")
