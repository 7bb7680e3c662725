"""The delay queue: time order, FIFO per flow, round-robin fairness, bounded capacity."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.engine.delay_queue import DelayQueue


def test_items_leave_when_their_time_has_come_not_before() -> None:
    q: DelayQueue[str] = DelayQueue()
    assert q.push("a", "late", 5.0)
    assert q.push("b", "early", 2.0)
    assert q.next_due() == 2.0
    assert q.pop_due(1.9) == []
    assert q.pop_due(2.0) == [("b", "early")]
    assert q.next_due() == 5.0
    assert q.pop_due(10.0) == [("a", "late")]
    assert q.next_due() is None
    assert len(q) == 0


def test_a_flow_keeps_its_order_even_when_a_later_item_is_due_first() -> None:
    q: DelayQueue[int] = DelayQueue()
    q.push("pair", 1, 5.0)
    q.push("pair", 2, 1.0)  # due earlier, but must not overtake item 1
    assert q.holds("pair")
    assert q.pop_due(3.0) == []
    assert q.pop_due(5.0) == [("pair", 1)]
    assert q.pop_due(5.0) == [("pair", 2)]
    assert not q.holds("pair")


def test_due_flows_are_served_round_robin_so_a_hot_flow_cannot_starve_others() -> None:
    q: DelayQueue[str] = DelayQueue()
    for i in range(100):
        q.push("hot", f"h{i}", 0.0)
    q.push("quiet1", "q1", 0.0)
    q.push("quiet2", "q2", 0.0)
    assert q.pop_due(1.0) == [("hot", "h0"), ("quiet1", "q1"), ("quiet2", "q2")]
    assert q.pop_due(1.0) == [("hot", "h1")]  # one item per flow per call


def test_round_robin_position_survives_a_limited_pop() -> None:
    q: DelayQueue[str] = DelayQueue()
    for flow in ("a", "b", "c"):
        q.push(flow, f"{flow}1", 0.0)
        q.push(flow, f"{flow}2", 0.0)
    assert q.pop_due(0.0, limit=2) == [("a", "a1"), ("b", "b1")]
    assert q.pop_due(0.0, limit=2) == [("c", "c1"), ("a", "a2")]
    assert q.pop_due(0.0) == [("b", "b2"), ("c", "c2")]


def test_total_and_per_flow_capacity_refuse_instead_of_growing() -> None:
    q: DelayQueue[int] = DelayQueue(capacity=3, per_flow_capacity=2)
    assert q.push("a", 1, 1.0)
    assert q.push("a", 2, 1.0)
    assert not q.push("a", 3, 1.0)  # the flow is full
    assert q.push("b", 4, 1.0)
    assert not q.push("c", 5, 1.0)  # the queue is full
    assert len(q) == 3
    q.pop_due(1.0, limit=1)
    assert q.push("c", 5, 1.0)


def test_drain_returns_everything_in_flow_order() -> None:
    q: DelayQueue[int] = DelayQueue()
    q.push("a", 1, 9.0)
    q.push("b", 2, 1.0)
    q.push("a", 3, 2.0)
    q.pop_due(0.5)
    drained = q.drain()
    assert sorted(drained) == [("a", 1), ("a", 3), ("b", 2)]
    assert [i for f, i in drained if f == "a"] == [1, 3]
    assert len(q) == 0 and q.next_due() is None and q.flow_count() == 0


def test_invalid_capacity_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DelayQueue(capacity=0)


pushes = st.lists(
    st.tuples(st.sampled_from("abcd"), st.floats(min_value=0, max_value=10)), max_size=60
)


@settings(max_examples=150, deadline=None)
@given(
    pushes,
    st.lists(st.floats(min_value=0, max_value=12), max_size=8),
    st.integers(1, 7),
    st.lists(st.floats(min_value=0, max_value=3), max_size=20),
)
def test_nothing_is_lost_order_is_kept_and_nothing_leaves_early(
    items: list[tuple[str, float]], pop_times: list[float], limit: int, redelays: list[float]
) -> None:
    """Random pushes, pops and re-delays of released items (``requeue``)."""
    q: DelayQueue[int] = DelayQueue(capacity=40, per_flow_capacity=15)
    accepted: dict[int, tuple[str, float]] = {}
    for seq, (flow, release_at) in enumerate(items):
        if q.push(flow, seq, release_at):
            accepted[seq] = (flow, release_at)
    assert len(q) == len(accepted) <= 40
    assert all(n <= 15 for n in Counter(f for f, _ in accepted.values()).values())

    due_at = {seq: release_at for seq, (_, release_at) in accepted.items()}
    pending_redelays = list(redelays)
    released: list[tuple[str, int]] = []
    for now in sorted(pop_times):
        batch = q.pop_due(now, limit)
        assert len(batch) <= limit
        assert len({flow for flow, _ in batch}) == len(batch)  # one per flow per call
        for flow, seq in batch:
            assert due_at[seq] <= now  # never before its own time
            if pending_redelays:
                due_at[seq] = now + pending_redelays.pop()
                q.requeue(flow, seq, due_at[seq])
            else:
                released.append((str(flow), seq))
    while batch := q.pop_due(float("inf")):
        released.extend((str(f), s) for f, s in batch)

    assert sorted(s for _, s in released) == sorted(accepted)
    assert len(q) == 0
    for flow in "abcd":
        order = [s for f, s in released if f == flow]
        assert order == sorted(order)  # FIFO per flow, re-delays included


def test_a_requeued_item_keeps_its_place_at_the_head_of_its_flow() -> None:
    q: DelayQueue[str] = DelayQueue(capacity=2)
    q.push("pair", "first", 1.0)
    q.push("pair", "second", 1.0)
    assert q.pop_due(1.0, limit=1) == [("pair", "first")]
    q.requeue("pair", "first", 3.0)  # delayed again by a later filter
    assert len(q) == 2
    assert q.pop_due(2.0) == []  # "second" is due but waits behind "first"
    assert q.pop_due(3.0) == [("pair", "first")]
    assert q.pop_due(3.0) == [("pair", "second")]


def test_requeue_reschedules_a_waiting_flow_and_revives_an_emptied_one() -> None:
    q: DelayQueue[str] = DelayQueue()
    q.push("a", "x", 0.0)
    q.push("a", "y", 5.0)
    assert q.pop_due(0.0) == [("a", "x")]
    q.requeue("a", "x", 1.0)  # the flow waited for 5.0; now its head is due at 1.0
    assert q.next_due() == 1.0
    assert q.pop_due(1.0) == [("a", "x")]
    assert q.pop_due(5.0) == [("a", "y")]
    q.requeue("b", "z", 7.0)
    assert q.holds("b") and q.pop_due(6.0) == [] and q.pop_due(7.0) == [("b", "z")]
    assert len(q) == 0 and q.flow_count() == 0
