"""The fleet the fault tests drive: agents in rings, some messages refused.

Agent ``a{i}`` may send to ``a{i+1}`` (mod the ring size); a message
addressed two steps ahead is refused by the default deny and quarantined.
So every run has both delivered and quarantined outputs to count. A second
ring (``b0``…) gives a test outboxes no earlier phase has touched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bus import headers as h
from bus.reliability.traffic import NumberedProducer, OutputReader

AGENTS = 4
REFUSED_EVERY = 10  # every tenth message goes to a recipient the rules do not allow
AHEAD = 4_000  # inputs a stream's writers may be in front of the outputs seen
RINGS = ("a", "b")


def agent(i: int, ring: str = "a") -> str:
    return f"{ring}{i % AGENTS}"


def rules_text(prefix: str, *, extra: str = "") -> str:
    names = [agent(i, ring) for ring in RINGS for i in range(AGENTS)]
    edges = "\n".join(f"  - {{name: {ring}-ring-{i}, from: {agent(i, ring)}, "
                      f"to: {agent(i + 1, ring)}}}"
                      for ring in RINGS for i in range(AGENTS))
    return f"""\
version: 1
topics:
  outbox: "{prefix}.{{agent}}.out"
  inbox: "{prefix}.{{agent}}.in"
  quarantine: "{prefix}.quarantine"
agents: {{{", ".join(f"{name}: {{}}" for name in names)}}}
edges:
{edges}
{extra}"""


def write_rules(directory: Path, prefix: str, name: str = "rules.yaml", extra: str = "") -> Path:
    path = directory / name
    path.write_text(rules_text(prefix, extra=extra))
    return path


def outbox(prefix: str, i: int, ring: str = "a") -> str:
    return f"{prefix}.{agent(i, ring)}.out"


def outboxes(prefix: str, ring: str = "a") -> list[str]:
    return [outbox(prefix, i, ring) for i in range(AGENTS)]


def inboxes(prefix: str, ring: str = "a") -> dict[str, str]:
    """Inbox topic → the recipient whose slot it fills."""
    return {f"{prefix}.{agent(i, ring)}.in": agent(i, ring) for i in range(AGENTS)}


def quarantine(prefix: str) -> str:
    return f"{prefix}.quarantine"


def message(prefix: str, seq: int, ring: str = "a") -> tuple[str, list[tuple[str, bytes]]]:
    """(outbox topic, headers) of input ``seq``: allowed, or refused every tenth."""
    sender = seq % AGENTS
    step = 2 if seq % REFUSED_EVERY == 0 else 1
    return outbox(prefix, sender, ring), [(h.TO, agent(sender + step, ring).encode())]


async def stream(producer: NumberedProducer, reader: OutputReader, prefix: str,
                 numbers: range, *, ring: str = "a", ahead: int = AHEAD, chunk: int = 250,
                 pace: float = 0.01, stop: asyncio.Event | None = None) -> int:
    """Write the inputs ``numbers`` in chunks, never more than ``ahead`` inputs in front
    of the outputs the recipients have seen, so writing goes on as long as the relay
    works (and waits while it does not). Ends early when ``stop`` is set; returns the
    first number not written."""
    first = numbers.start
    for start in range(numbers.start, numbers.stop, chunk):
        while reader.records < start - first - ahead:
            if stop is not None and stop.is_set():
                return start
            await asyncio.sleep(0.01)
        if stop is not None and stop.is_set():
            return start
        for seq in range(start, min(numbers.stop, start + chunk)):
            topic, headers = message(prefix, seq, ring)
            await producer.send(topic, seq, headers=headers)
        await producer.flush()
        await asyncio.sleep(pace)
    return numbers.stop
