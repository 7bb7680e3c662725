"""Which MQTT messages the bridge holds unacknowledged, and when each may be acknowledged.

An incoming QoS 1 message is acknowledged (PUBACK) only when three things
are true: the engine has decided it, every outcome the engine held back for
it has been released, and every delivery of its outcomes has been confirmed
by the broker it went to. Until then the broker keeps the message and
resends it if the bridge's connection ends.

Each ``Inbound`` is the ``origin`` the bridge passes to ``Engine.handle``,
so released outcomes name the input they belong to. The number of held
outcomes is read once, right after ``handle`` returns; every held message
later yields exactly one outcome (forward or quarantine), so counting them
down needs no further question to the engine.

Acknowledgements carry the connection's packet id, so a message received on
an earlier connection is never acknowledged on a later one: the broker
resends it, and the recipient may see a duplicate, never a loss.

Memory is bounded: the broker sends at most the receive maximum of
unacknowledged messages, and the bridge stops reading at ``capacity``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

AckFn = Callable[[int, int], object]


class Inbound:
    """One message read from an outbox and not yet acknowledged."""

    __slots__ = ("decided", "deliveries", "generation", "held", "mid", "qos")

    def __init__(self, mid: int, qos: int, generation: int) -> None:
        self.mid = mid
        self.qos = qos
        self.generation = generation
        self.decided = False
        self.held = 0
        self.deliveries = 0

    def __repr__(self) -> str:
        return f"Inbound(mid={self.mid}, generation={self.generation}, held={self.held})"


class InFlight:
    """Tracks inbound messages until they may be acknowledged; ``capacity``
    bounds how many are read and not yet acknowledged."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.generation = 0
        self.acknowledged = 0
        self._ack: AckFn | None = None
        self._active: set[Inbound] = set()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._active)

    def connected(self, ack: AckFn) -> None:
        """A new connection: acknowledge through ``ack`` from now on. What the
        previous connection delivered is forgotten: the broker resends it."""
        self.generation += 1
        self._ack = ack
        self._forget()

    def disconnected(self) -> None:
        self._ack = None
        self._forget()

    async def wait_for_room(self) -> None:
        """Back-pressure: wait while ``capacity`` messages are unacknowledged."""
        while len(self._active) >= self.capacity:
            self._room.clear()
            await self._room.wait()

    async def wait_idle(self) -> None:
        """Wait until every message read has been acknowledged (or forgotten)."""
        await self._idle.wait()

    def begin(self, mid: int, qos: int) -> Inbound:
        inbound = Inbound(mid, qos, self.generation)
        self._active.add(inbound)
        self._idle.clear()
        return inbound

    def decided(self, inbound: Inbound, held: int) -> None:
        """The engine has returned, holding ``held`` of the message's outcomes.

        Added, not assigned: a copy released while ``handle`` was still
        running has already been counted down by ``delivering``."""
        inbound.decided = True
        inbound.held += held
        self.settle(inbound)

    def delivering(self, inbound: Inbound, released: int = 0) -> None:
        """A delivery of the message's outcomes starts; ``released`` of them
        were held by the engine until now."""
        inbound.deliveries += 1
        inbound.held -= released

    def delivered(self, inbound: Inbound) -> None:
        inbound.deliveries -= 1
        self.settle(inbound)

    def settle(self, inbound: Inbound) -> None:
        """Acknowledge ``inbound`` if nothing of it is pending any more."""
        if not inbound.decided or inbound.held > 0 or inbound.deliveries > 0:
            return
        if inbound not in self._active:
            return
        self._active.discard(inbound)
        if inbound.generation == self.generation and self._ack is not None and inbound.qos > 0:
            self._ack(inbound.mid, inbound.qos)
            self.acknowledged += 1
        self._changed()

    def _forget(self) -> None:
        self._active.clear()
        self._changed()

    def _changed(self) -> None:
        if len(self._active) < self.capacity:
            self._room.set()
        if not self._active:
            self._idle.set()
