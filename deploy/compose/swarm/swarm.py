"""An example agent team for the compose stack, one asyncio task per agent.

The agents are those of deploy/examples/team.yaml. Each produces only to its
own outbox topic and reads only its own inbox, with plain aiokafka; membrane
decides what reaches whom. Topic names come from the same rules file, so the
swarm follows whatever templates it sets.

What they do, so that the dashboard has something to show:
- the planner hands a task to the workers group every ``SWARM_INTERVAL``;
- a worker answers with a result carrying a stance (approve / reject) that
  leans towards the stances it has already heard: a small herd to measure;
- the critic reviews each result; everyone copies the auditor now and then;
- now and then a worker chats to a peer (a shadow-mode edge: counted, not
  blocked) or tries to hand a task to one (no edge allows it: quarantined).

Environment: ``KAFKA_BOOTSTRAP`` (host:port), ``MEMBRANE_RULES`` (path of the
rules file), ``SWARM_INTERVAL`` (seconds, default 2), ``SWARM_ROUNDS``
(planner rounds, 0 = until SIGTERM), ``SWARM_SEED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
from collections import Counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus import headers
from bus.policy import load_policy

WORKERS = ("worker-1", "worker-2", "worker-3")
TEAM = ("planner", *WORKERS, "critic", "auditor")
STANCES = ("approve", "reject")


class Agent:
    """One agent: its own consumer on its inbox, a shared producer for its outbox."""

    def __init__(
        self, name: str, producer: AIOKafkaProducer, outbox: str, rng: random.Random
    ) -> None:
        self.name = name
        self.producer = producer
        self.outbox = outbox
        self.rng = rng
        self.heard: Counter[str] = Counter()

    async def send(
        self, kind: str, to: tuple[str, ...], body: dict[str, object], stance: str | None = None
    ) -> None:
        record_headers = [(headers.KIND, kind.encode()), (headers.TO, ",".join(to).encode())]
        if stance is not None:
            record_headers.append((headers.STANCE, stance.encode()))
        await self.producer.send_and_wait(
            self.outbox, json.dumps(body).encode(), key=self.name.encode(), headers=record_headers
        )

    async def on_message(
        self, sender: str, kind: str, stance: str | None, body: dict[str, object]
    ) -> None:
        if stance is not None:
            self.heard[stance] += 1
        if self.name in WORKERS and kind == "task":
            await self.work(body)
        elif self.name == "critic" and kind == "result":
            verdict = "approve" if self.rng.random() < 0.7 else "reject"
            await self.send("review", (sender,), {"task": body.get("task")}, stance=verdict)
        elif self.name == "auditor" and self.rng.random() < 0.1:
            await self.send("flag", ("planner",), {"about": sender, "kind": kind})
        if self.name != "auditor" and self.rng.random() < 0.2:
            await self.send("note", ("auditor",), {"saw": kind, "from": sender})

    async def work(self, task: dict[str, object]) -> None:
        # Conformity: lean towards the majority heard so far.
        own = self.rng.choice(STANCES)
        majority = self.heard.most_common(1)[0][0] if self.heard else own
        stance = majority if self.rng.random() < 0.6 else own
        await self.send("result", ("planner", "critic"), {"task": task.get("task")}, stance=stance)
        peer = self.rng.choice([w for w in WORKERS if w != self.name])
        roll = self.rng.random()
        if roll < 0.15:
            await self.send("coordination", (peer,), {"task": task.get("task")})
        elif roll < 0.2:
            await self.send("task", (peer,), {"task": task.get("task"), "delegated": True})


async def listen(agent: Agent, bootstrap: str, inbox: str, listening: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        inbox,
        bootstrap_servers=bootstrap,
        group_id=f"swarm-{agent.name}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while not consumer.assignment():  # joined the group: nothing sent now is missed
            await asyncio.sleep(0.1)
        listening.set()
        async for record in consumer:
            meta = {key: value.decode() for key, value in record.headers}
            body = json.loads(record.value) if record.value else {}
            await agent.on_message(
                meta.get(headers.FROM, "?"),
                meta.get(headers.KIND, ""),
                meta.get(headers.STANCE),
                body,
            )
    finally:
        await consumer.stop()


async def main() -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "kafka:9092")
    policy = load_policy(os.environ.get("MEMBRANE_RULES", "/etc/membrane/rules.yaml"))
    interval = float(os.environ.get("SWARM_INTERVAL", "2"))
    rounds = int(os.environ.get("SWARM_ROUNDS", "0"))
    seed = int(os.environ.get("SWARM_SEED", "7"))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    agents = {
        name: Agent(name, producer, policy.outbox_topic(name), random.Random(f"{seed}:{name}"))
        for name in TEAM
    }
    listening = {name: asyncio.Event() for name in agents}
    listeners = [
        asyncio.create_task(listen(a, bootstrap, policy.inbox_topic(a.name), listening[a.name]))
        for a in agents.values()
    ]
    # The planner starts once every agent reads its inbox.
    await asyncio.gather(*(event.wait() for event in listening.values()))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # `docker compose stop`, Ctrl-C
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        task = 0
        while (rounds == 0 or task < rounds) and not stop.is_set():
            task += 1
            await agents["planner"].send("task", ("workers",), {"task": task})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        for listener in listeners:
            listener.cancel()
        for result in await asyncio.gather(*listeners, return_exceptions=True):
            if not isinstance(result, asyncio.CancelledError | None):
                print("listener failed:", repr(result), flush=True)
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main())
