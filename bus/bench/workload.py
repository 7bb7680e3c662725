"""Benchmark traffic: agents, where each message goes, and payloads that carry their send time.

Every payload starts with the sender's wall-clock send time in nanoseconds
(8 bytes, big-endian) and a sequence number (8 bytes), padded to the chosen
size, so the collector can compute end-to-end latency and spot losses and
duplicates without trusting broker timestamps. Sequence numbers are global
to a run, so one collector can tell the phases of a run apart.

Message ``seq`` goes from agent ``seq mod n`` to the next agent (a ring), in
one of three shapes (``Route``):

- ``direct``: straight to the recipient's inbox, no proxy (the floor);
- ``relay``: to the sender's outbox, addressed with ``membrane-to`` and
  carrying a kind and a stance, for a relay to carry to the inbox;
- ``gateway``: agent 0 writes to every other agent's inbox in turn, through
  a gateway that serves agent 0 (a sidecar sees one agent).
"""

from __future__ import annotations

import struct
import time
from typing import Literal

from bus import headers as h

STAMP = struct.Struct(">QQ")
OUTBOX = "agents.{agent}.outbox"
INBOX = "agents.{agent}.inbox"
STANCES = (b"yes", b"no")
STANCE_EVERY = 4  # an agent changes its stance every fourth message it sends

Route = Literal["direct", "relay", "gateway"]
Headers = list[tuple[str, bytes]]


class Workload:
    """``agents`` agents named ``<prefix><i>``; messages of ``message_size`` bytes."""

    __slots__ = ("_inboxes", "_outboxes", "_relay_headers", "agents", "message_size", "prefix")

    def __init__(self, agents: int, message_size: int = 250, prefix: str = "b") -> None:
        if agents < 2:
            raise ValueError("a workload needs at least two agents")
        if message_size < STAMP.size:
            raise ValueError(f"messages must be at least {STAMP.size} bytes")
        self.agents = agents
        self.message_size = message_size
        self.prefix = prefix
        self._inboxes = [INBOX.format(agent=self.agent(i)) for i in range(agents)]
        self._outboxes = [OUTBOX.format(agent=self.agent(i)) for i in range(agents)]
        # Built once: the headers only depend on the sender and the stance.
        self._relay_headers = [
            [
                [(h.TO, self.agent((i + 1) % agents).encode()), (h.KIND, b"task"),
                 (h.STANCE, stance)]
                for stance in STANCES
            ]
            for i in range(agents)
        ]

    def agent(self, i: int) -> str:
        return f"{self.prefix}{i}"

    @property
    def agent_ids(self) -> list[str]:
        return [self.agent(i) for i in range(self.agents)]

    @property
    def inbox_topics(self) -> list[str]:
        return list(self._inboxes)

    @property
    def outbox_topics(self) -> list[str]:
        return list(self._outboxes)

    def resized(self, message_size: int) -> Workload:
        """The same agents and topics with another message size."""
        return Workload(self.agents, message_size, self.prefix)

    def payload(self, seq: int) -> bytes:
        stamp = STAMP.pack(time.time_ns(), seq)
        return stamp + b"x" * (self.message_size - STAMP.size)

    def route(self, seq: int, route: Route) -> tuple[str, Headers]:
        """Topic and headers of message ``seq``."""
        n = self.agents
        if route == "gateway":
            return self._inboxes[1 + seq % (n - 1)], []
        i = seq % n
        if route == "direct":
            return self._inboxes[(i + 1) % n], []
        stance = (seq // (n * STANCE_EVERY)) % 2
        return self._outboxes[i], self._relay_headers[i][stance]


def read_stamp(payload: bytes) -> tuple[int, int]:
    sent_ns, seq = STAMP.unpack_from(payload)
    return int(sent_ns), int(seq)
