"""Example agents for ``membrane run --demo``: traffic a newcomer can watch.

The agents are the explicit agents of the rules file. Every ``interval``
seconds one of them writes to its outbox: to a random other agent (or, now
and then, to nobody in particular, which fans out to every permitted
neighbour), with a kind drawn from the kinds the rules mention, and once in
a while with a forged ``membrane-from``. So within seconds some messages are
delivered and some are refused. A reader follows every inbox and the
quarantine topic and prints one line per outcome, plus the totals.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus import headers as h
from bus.engine.tasks import cancel_and_wait
from bus.policy import Policy

FORGED_EVERY = 7  # every 7th message claims to come from someone else
FANOUT_EVERY = 5  # every 5th message names no recipient
MAX_LINES_PER_SECOND = 5

Printer = Callable[[str], None]


def _kinds(policy: Policy) -> list[str]:
    kinds = sorted({k for edge in policy.rules.edges for k in edge.kinds})
    return kinds or [""]


def _header(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...], name: str) -> str:
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return ""


class DemoAgents:
    """Writers and one reader on the relay's topics; ``start``/``stop``."""

    def __init__(self, policy: Policy, bootstrap: str, *, interval: float = 0.3,
                 seed: int | None = None, out: Printer = print) -> None:
        agents = [a for a in policy.agents if policy.transport_of(a) == "kafka"]
        if len(agents) < 2:
            raise ValueError("the demo needs at least two Kafka agents in the rules file")
        self._policy = policy
        self._agents = agents
        self._kinds = _kinds(policy)
        self._bootstrap = bootstrap
        self._interval = interval
        self._random = random.Random(seed)
        self._out = out
        self.delivered = 0
        self.quarantined: Counter[str] = Counter()
        self.sent = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        topics = [self._policy.inbox_topic(a) for a in self._agents]
        topics.append(self._policy.quarantine_topic)
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap)
        self._consumer = AIOKafkaConsumer(*topics, bootstrap_servers=self._bootstrap,
                                          auto_offset_reset="latest", metadata_max_age_ms=2000)
        await self._producer.start()
        for agent in self._agents:  # create the outboxes now, so the relay finds them at once
            await self._producer.partitions_for(self._policy.outbox_topic(agent))
        await self._consumer.start()
        self._tasks = [asyncio.create_task(self._write(), name="demo-writer"),
                       asyncio.create_task(self._read(), name="demo-reader")]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        consumer, producer = self._consumer, self._producer
        self._consumer = self._producer = None
        if consumer is not None:
            await consumer.stop()
        if producer is not None:
            await producer.stop()

    def summary(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in self.quarantined.most_common())
        total = sum(self.quarantined.values())
        return (f"demo: {self.sent} sent, {self.delivered} delivered, {total} quarantined"
                + (f" ({reasons})" if reasons else ""))

    async def _write(self) -> None:
        assert self._producer is not None
        for n in itertools.count(1):
            sender, recipient = self._random.sample(self._agents, 2)
            kind = self._random.choice(self._kinds)
            headers = [(h.KIND, kind.encode())] if kind else []
            if n % FANOUT_EVERY:
                headers.append((h.TO, recipient.encode()))
            if n % FORGED_EVERY == 0:
                headers.append((h.FROM, recipient.encode()))  # overwritten by membrane
            body = json.dumps({"n": n, "text": f"{kind or 'note'} #{n} from {sender}"})
            await self._producer.send_and_wait(self._policy.outbox_topic(sender), body.encode(),
                                               headers=headers)
            self.sent += 1
            await asyncio.sleep(self._interval)

    async def _read(self) -> None:
        assert self._consumer is not None
        quarantine = self._policy.quarantine_topic
        budget = 0.0
        loop = asyncio.get_running_loop()
        last = loop.time()
        async for record in self._consumer:
            now = loop.time()
            budget = min(MAX_LINES_PER_SECOND, budget + (now - last) * MAX_LINES_PER_SECOND)
            last = now
            headers = record.headers
            sender = _header(headers, h.FROM)
            kind = _header(headers, h.KIND) or "-"
            if record.topic == quarantine:
                reason = _header(headers, h.REASON)
                self.quarantined[reason] += 1
                line = (f"  x {sender} -> {_header(headers, h.RECIPIENT) or '(nobody)'} "
                        f"[{kind}] quarantined: {reason}"
                        f" ({_header(headers, h.RULE) or _header(headers, h.FILTER) or '-'})")
            else:
                self.delivered += 1
                line = f"  + {sender} -> {record.topic} [{kind}] delivered"
            if budget >= 1:
                budget -= 1
                self._out(line)
