"""When an MQTT input may be acknowledged: decided, released, delivered, same connection."""

from __future__ import annotations

import asyncio

import pytest

from bus.mqtt.inflight import InFlight


class Acks:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    def __call__(self, mid: int, qos: int) -> None:
        self.sent.append((mid, qos))


async def test_ack_waits_for_decision_deliveries_and_held_copies() -> None:
    acks = Acks()
    tracker = InFlight(10)
    tracker.connected(acks)
    inbound = tracker.begin(7, 1)
    tracker.delivering(inbound)  # the copies decided now are being written
    tracker.decided(inbound, held=2)  # two more copies held by a filter
    assert acks.sent == []
    tracker.delivered(inbound)
    assert acks.sent == []  # still two held
    tracker.delivering(inbound, released=1)
    tracker.delivered(inbound)
    assert acks.sent == []  # one still held
    tracker.delivering(inbound, released=1)
    assert acks.sent == []  # released, but not yet durable
    tracker.delivered(inbound)
    assert acks.sent == [(7, 1)]
    assert len(tracker) == 0 and tracker.acknowledged == 1


async def test_a_copy_released_before_the_decision_returns_is_counted() -> None:
    acks = Acks()
    tracker = InFlight(10)
    tracker.connected(acks)
    inbound = tracker.begin(1, 1)
    tracker.delivering(inbound, released=1)  # released while handle() was still running
    tracker.decided(inbound, held=0)  # the engine no longer counts it
    assert acks.sent == []
    tracker.delivered(inbound)
    assert acks.sent == [(1, 1)]


async def test_input_from_an_earlier_connection_is_never_acknowledged() -> None:
    first, second = Acks(), Acks()
    tracker = InFlight(10)
    tracker.connected(first)
    old = tracker.begin(5, 1)
    tracker.delivering(old)
    tracker.decided(old, held=0)
    tracker.connected(second)  # reconnect: packet id 5 now means something else
    tracker.delivered(old)
    assert first.sent == [] and second.sent == []
    assert len(tracker) == 0


async def test_qos0_input_needs_no_ack_and_room_is_bounded() -> None:
    acks = Acks()
    tracker = InFlight(2)
    tracker.connected(acks)
    a = tracker.begin(0, 0)
    b = tracker.begin(2, 1)
    waiter = asyncio.create_task(tracker.wait_for_room())
    await asyncio.sleep(0)
    assert not waiter.done()  # two unacknowledged: no room for a third
    tracker.decided(a, held=0)
    await asyncio.wait_for(waiter, 5)
    assert acks.sent == []  # QoS 0 is settled without an acknowledgement
    tracker.decided(b, held=0)
    assert acks.sent == [(2, 1)]
    await asyncio.wait_for(tracker.wait_idle(), 5)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InFlight(0)
