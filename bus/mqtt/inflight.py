"""Which MQTT messages the bridge holds unacknowledged, and when each may be acknowledged.

An incoming QoS 1 message is acknowledged (PUBACK) only when three things
are true: the engine has decided it, every delivery started for it has been
confirmed by its broker, and the engine holds none of its copies in the delay
queue. Until then the broker keeps it, and resends it if the bridge's
connection ends. Acknowledgements carry the connection's packet id, so a
message received on an earlier connection is never acknowledged on a later
one: the broker resends it instead, and the engine's dedupe window or the
recipient sees a duplicate, never a loss.

Memory is bounded by the MQTT receive maximum: the broker sends no more than
that many unacknowledged messages, and the bridge stops reading when its
own count reaches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

AckFn = Callable[[int, int], None]
HeldFn = Callable[[str], int]


class Inbound:
    """One message read from an outbox and not yet acknowledged."""

    __slots__ = ("decided", "deliveries", "generation", "mid", "msg_id", "qos")

    def __init__(self, mid: int, qos: int, generation: int) -> None:
        self.mid = mid
        self.qos = qos
        self.generation = generation
        self.msg_id: str | None = None
        self.deliveries = 0
        self.decided = False


class InFlight:
    """Tracks inbound messages until they may be acknowledged.

    ``held(msg_id)`` asks the engine how many copies of a message it still
    holds; ``ack(mid, qos)`` sends the acknowledgement on the current
    connection. ``capacity`` bounds the messages read and not yet acknowledged.
    """

    def __init__(self, capacity: int, held: HeldFn) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._held = held
        self._ack: AckFn | None = None
        self.generation = 0
        self._active: set[Inbound] = set()
        self._by_msg_id: dict[str, list[Inbound]] = {}
        self._room = asyncio.Event()
        self._room.set()
        self.acked = 0

    def __len__(self) -> int:
        return len(self._active)

    def connected(self, ack: AckFn) -> int:
        """A new connection: forget what the previous one delivered (the broker
        resends it) and acknowledge through ``ack`` from now on."""
        self.generation += 1
        self._ack = ack
        self._active.clear()
        self._by_msg_id.clear()
        self._wake()
        return self.generation

    def disconnected(self) -> None:
        self._ack = None
        self._active.clear()
        self._by_msg_id.clear()
        self._wake()

    async def wait_for_room(self) -> None:
        """Back-pressure: wait while ``capacity`` messages are unacknowledged."""
        while len(self._active) >= self.capacity:
            self._room.clear()
            await self._room.wait()

    def begin(self, mid: int, qos: int) -> Inbound:
        inbound = Inbound(mid, qos, self.generation)
        self._active.add(inbound)
        return inbound

    def decided(self, inbound: Inbound, msg_id: str | None) -> None:
        """The engine has returned; ``msg_id`` is None for quarantined invalid input."""
        inbound.decided = True
        inbound.msg_id = msg_id
        if msg_id is not None and inbound in self._active:
            self._by_msg_id.setdefault(msg_id, []).append(inbound)
        self.settle(inbound)

    def delivering(self, msg_id: str) -> list[Inbound]:
        """Released copies of ``msg_id`` are about to be delivered: their inputs
        must wait for those deliveries too."""
        inbounds = self._by_msg_id.get(msg_id, [])
        for inbound in inbounds:
            inbound.deliveries += 1
        return list(inbounds)

    def settle(self, inbound: Inbound) -> None:
        """Acknowledge ``inbound`` if nothing of it is pending any more."""
        if not inbound.decided or inbound.deliveries > 0 or inbound not in self._active:
            return
        if inbound.msg_id is not None and self._held(inbound.msg_id) > 0:
            return
        self._active.discard(inbound)
        if inbound.msg_id is not None:
            siblings = self._by_msg_id.get(inbound.msg_id)
            if siblings is not None:
                siblings.remove(inbound)
                if not siblings:
                    del self._by_msg_id[inbound.msg_id]
        if inbound.generation == self.generation and self._ack is not None and inbound.qos > 0:
            self._ack(inbound.mid, inbound.qos)
            self.acked += 1
        self._wake()

    def _wake(self) -> None:
        if len(self._active) < self.capacity:
            self._room.set()
