"""Benchmark traffic: agents, where each message goes, and payloads that carry their send time.

Every payload is a JSON object, as agents send, whose first two fields are
the sender's wall-clock send time in nanoseconds and a sequence number,
written at fixed widths so the collector reads them back by position; a
padding field brings it to the chosen size. The collector computes
end-to-end latency and spots losses and duplicates from them, without
trusting broker timestamps. Sequence numbers are global to a run, so one
collector can tell the phases of a run apart.

Message ``seq`` goes from agent ``seq mod n`` to the next agent (a ring), in
one of three shapes (``Route``):

- ``direct``: straight to the recipient's inbox, no proxy (the floor);
- ``relay``: to the sender's outbox, addressed with ``membrane-to`` and
  carrying a kind and a stance, for a relay to carry to the inbox;
- ``gateway``: agent 0 writes to every other agent's inbox in turn, through
  a gateway that serves agent 0 (a sidecar sees one agent).
"""

from __future__ import annotations

import time
from typing import Literal

from bus import headers as h

STAMP_FORMAT = b'{"sent_ns":%19d,"seq":%12d,"pad":"'  # space-padded: valid JSON
STAMP_SIZE = len(STAMP_FORMAT % (0, 0)) + 2  # with the closing '"}'
SENT_AT = slice(11, 30)
SEQ_AT = slice(37, 49)
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
        if message_size < STAMP_SIZE:
            raise ValueError(f"messages must be at least {STAMP_SIZE} bytes")
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
        stamp = STAMP_FORMAT % (time.time_ns(), seq)
        return stamp + b"x" * (self.message_size - STAMP_SIZE) + b'"}'

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
    """(send time in ns, sequence number) of a benchmark payload."""
    return int(payload[SENT_AT]), int(payload[SEQ_AT])
