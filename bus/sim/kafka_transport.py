"""The agents' side of Kafka: every agent writes its outbox and reads its inbox.

For scale, the agents of one process share one producer and one consumer:
each agent's messages still go to its own outbox topic, and the consumer,
assigned every agent's inbox plus the quarantine topic, hands each record to
the agent whose inbox it came from. (Nothing here reads the quarantine on an
agent's behalf; it is read only to keep the books.)

``settle`` ends a round: it waits until the relay has decided everything
sent (``bus.sim.probe.RelayProbe``) and then reads back exactly the records
the relay wrote, so each agent's next step sees the same inbox whatever the
broker's timing was.

With ``serial``, each agent's messages of a round are read by the relay
before the next agent's are produced. The relay reads outboxes in whatever
interleaving the broker serves, which is fine while filters keep state per
sender or per edge; a ping-pong pair or a conformity round couples senders,
and then only a fixed order makes the decisions reproducible.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from bus.errors import UpstreamError
from bus.policy import Policy
from bus.sim.ledger import Ledger
from bus.sim.mailroom import Mailroom
from bus.sim.messages import Incoming, Outgoing
from bus.sim.probe import RelayProbe
from bus.sim.wire import encode

FETCH_WAIT_MS = 5  # the embedded broker answers a fetch only when its wait expires
SETTLE_TIMEOUT = 120.0


async def create_topics(bootstrap: str, topics: Sequence[str]) -> None:
    """Create topics up front: a producer or consumer waits on a topic that does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [NewTopic(t, 1, 1) for t in dict.fromkeys(topics) if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    except KafkaError as exc:
        raise UpstreamError(f"cannot create the simulation's topics: {exc!r}",
                            retriable=True) from exc
    finally:
        await admin.close()


class KafkaTransport:
    """One shared producer and consumer for a swarm of agents on one broker."""

    def __init__(
        self,
        *,
        bootstrap: str,
        policy: Policy,
        agents: Sequence[str],
        probe: RelayProbe,
        serial: bool = False,
        settle_timeout: float = SETTLE_TIMEOUT,
    ) -> None:
        self._mail = Mailroom()
        self._bootstrap = bootstrap
        self._probe = probe
        self._serial = serial
        self._timeout = settle_timeout
        self._outbox = {agent: policy.outbox_topic(agent) for agent in agents}
        self._owner = {policy.inbox_topic(agent): agent for agent in agents}
        self._quarantine = policy.quarantine_topic
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                          max_batch_size=256 * 1024)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                          enable_auto_commit=False,
                                          fetch_max_wait_ms=FETCH_WAIT_MS,
                                          max_poll_records=10_000)
        self._pending: list[asyncio.Future[object]] = []
        self._partitions: list[TopicPartition] = []
        self._read = 0
        self._started = False

    @property
    def ledger(self) -> Ledger:
        return self._mail.ledger

    @property
    def held(self) -> int:
        return self._probe.held

    def next_release(self) -> float | None:
        return self._probe.next_release()

    @property
    def topics(self) -> list[str]:
        return [*self._outbox.values(), *self._owner, self._quarantine]

    async def start(self) -> None:
        if self._started:
            return
        await create_topics(self._bootstrap, self.topics)
        try:
            await self._producer.start()
            await self._consumer.start()
        except KafkaError as exc:
            raise UpstreamError(f"cannot connect the agents: {exc!r}", retriable=True) from exc
        partitions = [TopicPartition(t, 0) for t in (*self._owner, self._quarantine)]
        self._partitions = partitions
        self._consumer.assign(partitions)
        # Whatever an earlier run left in these topics is not this run's.
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)
        # Paused between rounds: an idle fetch loop over a hundred partitions
        # would cost the relay's process more than the messages do.
        self._consumer.pause(*partitions)
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for client in (self._producer, self._consumer):
            with contextlib.suppress(KafkaError, OSError):
                await client.stop()

    async def send(self, sender: str, round_no: int, messages: Sequence[Outgoing]) -> None:
        if self._serial and self._pending:
            await self._flush()
            await self._probe.read(self.ledger.sent, self._timeout)
        topic = self._outbox[sender]
        for seq, message in enumerate(messages):
            record = encode(sender, round_no, seq, message)
            self._mail.posted(record, message)
            self._pending.append(
                await self._producer.send(topic, record.value, headers=record.headers)
            )

    async def settle(self) -> dict[str, list[Incoming]]:
        """Wait for the relay to decide everything sent; return what each agent received."""
        await self._flush()
        expected = await self._probe.decided(self.ledger.sent, self._timeout)
        await self._read_until(expected)
        return self._mail.collect()

    async def _flush(self) -> None:
        """Wait until the broker has acknowledged everything the agents sent."""
        pending, self._pending = self._pending, []
        try:
            await asyncio.gather(*pending)
        except KafkaError as exc:
            raise UpstreamError(f"an agent could not send: {exc!r}", retriable=False) from exc

    async def _read_until(self, expected: int) -> None:
        if self._read >= expected:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        self._consumer.resume(*self._partitions)
        try:
            while self._read < expected:
                if loop.time() > deadline:
                    raise UpstreamError(
                        f"read back {self._read} of the relay's {expected} records within "
                        f"{self._timeout}s", retriable=False)
                batch = await self._consumer.getmany(timeout_ms=50)
                for tp, records in batch.items():
                    for record in records:
                        self._take(tp.topic, record.headers, record.value)
        finally:
            self._consumer.pause(*self._partitions)

    def _take(self, topic: str, headers: Sequence[tuple[str, bytes]], value: bytes | None) -> None:
        self._read += 1
        if topic == self._quarantine:
            self._mail.quarantined(headers)
        else:
            self._mail.delivered(self._owner[topic], headers, value)
