"""An in-memory stand-in for Kafka: the same engine, no broker.

Each message is encoded exactly as the Kafka transport encodes it, decoded
by the envelope decoder the relay uses, decided by a real ``Engine`` (policy,
filter chains, held messages, sensors), and the outcomes are read back with
the same codec. Fast enough for unit tests and for checking that a run
through the real relay gives the same numbers; never a substitute for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bus.clock import Clock
from bus.engine.engine import Engine
from bus.engine.outcome import Outcome
from bus.envelope import decode_envelope
from bus.errors import ProtocolError
from bus.policy import PolicyHolder
from bus.sensors import SensorHub
from bus.sim.ledger import Ledger
from bus.sim.mailroom import Mailroom
from bus.sim.messages import Incoming, Outgoing
from bus.sim.wire import encode


class LocalTransport:
    """Agents talking through an in-process engine."""

    def __init__(self, holder: PolicyHolder, clock: Clock, sensors: SensorHub | None = None
                 ) -> None:
        self.engine = Engine(holder, clock=clock, sensors=sensors, transport_name="kafka")
        self._clock = clock
        self._mail = Mailroom()

    @property
    def ledger(self) -> Ledger:
        return self._mail.ledger

    async def start(self) -> None:
        """Nothing to connect; the engine's timer is not started (``settle`` releases)."""

    async def stop(self) -> None:
        """Nothing to close."""

    @property
    def held(self) -> int:
        return self.engine.held

    def next_release(self) -> float | None:
        return self.engine.next_release()

    async def send(self, sender: str, round_no: int, messages: Sequence[Outgoing]) -> None:
        for seq, message in enumerate(messages):
            record = encode(sender, round_no, seq, message)
            self._mail.posted(record, message)
            try:
                env = decode_envelope(sender=sender, headers=record.headers, key=None,
                                      payload=record.value, timestamp=self._clock.now())
            except ProtocolError as exc:
                self._take([self.engine.quarantine_invalid(record.headers, record.value, None,
                                                           sender, exc)])
                continue
            self._take(await self.engine.handle(env))

    async def settle(self) -> dict[str, list[Incoming]]:
        self._take(await self.engine.release_due())
        return self._mail.collect()

    def _take(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.forwarded:
                self._mail.delivered(outcome.recipient or "", outcome.headers, outcome.payload)
            else:
                self._mail.quarantined(outcome.headers)
