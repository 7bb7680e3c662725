"""Commit points (highest contiguous completed offset) and the dedupe window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.engine.commit import OffsetTracker
from bus.engine.dedupe import DedupeWindow, output_key


def test_the_commit_point_waits_for_the_oldest_unfinished_input() -> None:
    tracker = OffsetTracker()
    tickets = [tracker.open("t", 0, offset) for offset in range(10, 14)]
    for ticket in tickets:
        ticket.expect(1)
        ticket.seal()
    assert tracker.in_flight == 4

    tickets[2].done()
    tickets[1].done()
    assert tracker.commit_points() == {}  # offset 10 is still out

    tickets[0].done()
    assert tracker.commit_points() == {("t", 0): 13}  # 10, 11, 12 done; 13 still out
    assert tracker.in_flight == 1
    assert tracker.commit_points() == {}  # reported once

    tickets[3].done()
    assert tracker.commit_points() == {("t", 0): 14}


def test_a_ticket_cannot_complete_before_it_is_sealed() -> None:
    tracker = OffsetTracker()
    ticket = tracker.open("t", 0, 0)
    ticket.expect(1)
    ticket.done()  # the only output so far is acknowledged...
    assert not ticket.complete  # ...but the reader may still add outputs
    ticket.seal()
    assert ticket.complete and tracker.commit_points() == {("t", 0): 1}


def test_partitions_progress_independently_and_abandoned_ones_are_forgotten() -> None:
    tracker = OffsetTracker()
    a = tracker.open("t", 0, 5)
    b = tracker.open("t", 1, 7)
    for ticket in (a, b):
        ticket.seal()
    assert tracker.commit_points() == {("t", 0): 6, ("t", 1): 8}

    c = tracker.open("t", 1, 8)
    c.expect(1)
    c.seal()
    tracker.abandon([("t", 1)])
    assert c.abandoned and tracker.in_flight == 0
    c.done()
    assert tracker.commit_points() == {}


def test_failed_commits_are_offered_again() -> None:
    tracker = OffsetTracker()
    tracker.open("t", 0, 0).seal()
    points = tracker.commit_points()
    tracker.retry(points)
    assert tracker.commit_points() == {("t", 0): 1}


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(30))))
def test_any_completion_order_commits_exactly_the_finished_prefix(order: list[int]) -> None:
    tracker = OffsetTracker()
    tickets = [tracker.open("t", 0, n) for n in range(30)]
    for ticket in tickets:
        ticket.expect(1)
        ticket.seal()
    finished: set[int] = set()
    point = 0
    for n in order:
        tickets[n].done()
        finished.add(n)
        while point in finished:
            point += 1
        moved = tracker.commit_points()
        assert moved.get(("t", 0), point) == point
    assert tracker.in_flight == 0


def test_the_window_remembers_the_last_keys_and_evicts_the_oldest() -> None:
    window = DedupeWindow(capacity=3)
    keys = [output_key("inbox", "alice", f"m{n}", "") for n in range(4)]
    assert all(window.add(k) for k in keys[:3])
    assert not window.add(keys[1])  # a duplicate
    assert window.add(keys[3])  # evicts m0
    assert keys[0] not in window and keys[3] in window and len(window) == 3


def test_a_discarded_key_is_not_a_duplicate_any_more() -> None:
    window = DedupeWindow(capacity=10)
    key = output_key("inbox", "alice", "m1", "")
    window.add(key)
    window.discard(key)
    assert window.add(key)


def test_keys_distinguish_destination_sender_id_and_recipient() -> None:
    base = ("q", "alice", "m1", "bob")
    variants = [("inbox", "alice", "m1", "bob"), ("q", "carol", "m1", "bob"),
                ("q", "alice", "m2", "bob"), ("q", "alice", "m1", "dave")]
    assert len({output_key(*base), *(output_key(*v) for v in variants)}) == 5


def test_a_window_needs_room() -> None:
    with pytest.raises(ValueError, match="capacity"):
        DedupeWindow(capacity=0)
