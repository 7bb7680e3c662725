"""Runaway loops: agents that keep each other busy, with and without damping.

Three patterns, each run for a fixed logical time (``rounds`` seconds):

- ``polite``: two agents that answer every message with a courteous reply
  ("thanks!" — "you're welcome!" — ...). One message per second, forever.
- ``cycle``: three agents that each delegate the task to the next
  (planner → researcher → writer → planner ...), forever.
- ``retry``: clients call a server that slows down for a while (a hiccup:
  its capacity drops); calls time out and are retried without backoff (up
  to ``attempts`` sends per call), the old copies still queue at the
  server, and the retries keep it overloaded after the hiccup ends — a
  metastable retry storm.

Replies and delegations carry the hop count and path of the message they
continue (``Incoming.reply``); a server's response is a fresh message (an
answer ends a chain of work rather than extending it).

Every message has a token cost (``body.tokens``): what the LLM call that
produces or reads it would spend. Conversation turns grow with the context
(``base + per_hop * hops``). The ledger sums the tokens of delivered
messages: each is read by a model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from bus.sim.bounds import check_at_least
from bus.sim.messages import Incoming, Outgoing
from bus.sim.rulesets import swarm_rules
from bus.sim.scenario import Rules, agent_names

Pattern = Literal["polite", "cycle", "retry"]
PATTERNS: tuple[str, ...] = ("polite", "cycle", "retry")

TURN_TOKENS = 150
TOKENS_PER_HOP = 50
REQUEST_TOKENS = 800
RESPONSE_TOKENS = 200


def turn_tokens(hops: int) -> int:
    return TURN_TOKENS + TOKENS_PER_HOP * hops


class LoopParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pattern: Pattern = "polite"
    rounds: int = 120
    clients: int = 10
    call_interval: int = 5
    timeout: int = 4
    attempts: int = 4
    capacity: int = 4
    hiccup_start: int = 20
    hiccup_end: int = 40
    hiccup_capacity: int = 1
    damping: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least(self, 2, "rounds")
        check_at_least(self, 1, "clients", "call_interval", "timeout", "attempts", "capacity")
        if not 0 <= self.hiccup_start <= self.hiccup_end:
            raise ValueError("the hiccup must start before it ends")


class Polite:
    """Answers every message it receives, to its sender; ``opener`` says hello first."""

    __slots__ = ("_name", "_opener", "sent")

    def __init__(self, name: str, opener: str | None = None) -> None:
        self._name = name
        self._opener = opener
        self.sent = 0

    @property
    def name(self) -> str:
        return self._name

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        if round_no == 0 and self._opener is not None:
            out = [Outgoing(kind="chat", to=(self._opener,),
                            body={"text": "hello!", "tokens": turn_tokens(0)})]
        else:
            out = [m.reply(kind="chat", body={"text": "thanks!", "tokens": turn_tokens(m.hops)})
                   for m in inbox]
        self.sent += len(out)
        return out


class Delegator:
    """Passes every task it receives on to ``delegate``; ``starts`` the first one."""

    __slots__ = ("_delegate", "_name", "_starts", "sent")

    def __init__(self, name: str, delegate: str, starts: bool = False) -> None:
        self._name = name
        self._delegate = delegate
        self._starts = starts
        self.sent = 0

    @property
    def name(self) -> str:
        return self._name

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        if round_no == 0 and self._starts:
            out = [Outgoing(kind="task", to=(self._delegate,),
                            body={"task": "write the report", "tokens": turn_tokens(0)})]
        else:
            out = [Outgoing(kind="task", to=(self._delegate,), hops=m.hops, path=m.path,
                            body={**m.body, "tokens": turn_tokens(m.hops)})
                   for m in inbox if m.kind == "task"]
        self.sent += len(out)
        return out


class Server:
    """Answers calls first come first served, ``capacity(round)`` per round."""

    __slots__ = ("_name", "_params", "queue", "served")

    def __init__(self, name: str, params: LoopParams) -> None:
        self._name = name
        self._params = params
        self.queue: deque[Incoming] = deque()
        self.served = 0

    @property
    def name(self) -> str:
        return self._name

    def capacity(self, round_no: int) -> int:
        p = self._params
        return p.hiccup_capacity if p.hiccup_start <= round_no < p.hiccup_end else p.capacity

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        self.queue.extend(m for m in inbox if m.kind == "call")
        out = []
        for _ in range(min(self.capacity(round_no), len(self.queue))):
            call = self.queue.popleft()
            self.served += 1
            out.append(Outgoing(kind="response", to=(call.sender,),
                                body={"call": call.body.get("call"), "tokens": RESPONSE_TOKENS}))
        return out


class Client:
    """Makes a call every ``call_interval`` rounds; resends a call unanswered for ``timeout``
    rounds, and gives it up after ``attempts`` sends."""

    __slots__ = ("_index", "_name", "_params", "_server", "calls", "done", "failed", "tries",
                 "waiting")

    def __init__(self, name: str, index: int, server: str, params: LoopParams) -> None:
        self._name = name
        self._index = index
        self._server = server
        self._params = params
        self.waiting: dict[str, int] = {}  # call id → round it was last sent
        self.tries: dict[str, int] = {}  # call id → sends so far
        self.calls = 0
        self.done = 0
        self.failed = 0

    @property
    def name(self) -> str:
        return self._name

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        for message in inbox:
            call = message.body.get("call")
            if message.kind == "response" and isinstance(call, str) and call in self.waiting:
                del self.waiting[call], self.tries[call]
                self.done += 1
        params = self._params
        due = [c for c, sent in self.waiting.items() if round_no - sent >= params.timeout]
        for call in [c for c in due if self.tries[c] >= params.attempts]:
            due.remove(call)
            del self.waiting[call], self.tries[call]
            self.failed += 1
        # Clients start staggered so the load is steady rather than bursty.
        if (round_no + self._index) % params.call_interval == 0:
            self.calls += 1
            due.append(f"{self._name}-{self.calls}")
        for call in due:
            self.waiting[call] = round_no
            self.tries[call] = self.tries.get(call, 0) + 1
        return [Outgoing(kind="call", to=(self._server,),
                         body={"call": call, "tokens": REQUEST_TOKENS}) for call in due]


def damping_filters(names: Sequence[str], seed: int) -> list[dict[str, Any]]:
    """The damping kit, in chain order; each entry is one rules-file filter."""
    kit: dict[str, dict[str, Any]] = {
        "breaker": {"filter": "breaker", "window": 30.0, "min_volume": 10,
                    "max_divert_ratio": 0.5, "base_ejection": 30.0, "max_ejection": 120.0},
        "hops": {"filter": "hops", "max_hops": 6, "forbid_cycles": True},
        "pingpong": {"filter": "pingpong", "threshold": 6, "window": 30.0, "half_life": 30.0,
                     "base_delay": 1.0, "factor": 2.0, "jitter": 0.0, "max_delay": 16.0,
                     "seed": seed},
        "rate": {"filter": "rate", "rate": 0.3, "burst": 2, "per": "edge",
                 "action": "police"},
    }
    unknown = [n for n in names if n not in kit]
    if unknown:
        raise ValueError(f"unknown damping filter {unknown[0]!r}; choose from {', '.join(kit)}")
    return [kit[n] for n in kit if n in names]


class LoopSwarm:
    """One loop pattern under one set of damping filters."""

    def __init__(self, params: LoopParams, seed: int) -> None:
        self.params = params
        self.pattern = params.pattern
        self.members: list[Any] = self._build(params)
        names = [m.name for m in self.members]
        roles = {"clients": names[1:], "servers": names[:1]} if self.pattern == "retry" else {}
        self.agents: Sequence[Any] = self.members
        self.rules: Rules = swarm_rules(names, topology=None, groups=roles, edges=self._edges(),
                                        filters=damping_filters(params.damping, seed))
        self.rounds = params.rounds
        self.seconds_per_round = 1.0

    @staticmethod
    def _build(params: LoopParams) -> list[Any]:
        if params.pattern == "polite":
            return [Polite("polite-a", opener="polite-b"), Polite("polite-b")]
        if params.pattern == "cycle":
            roles = ["planner", "researcher", "writer"]
            return [Delegator(r, roles[(i + 1) % 3], starts=i == 0) for i, r in enumerate(roles)]
        clients = agent_names("client", params.clients)
        return [Server("server", params),
                *(Client(c, i, "server", params) for i, c in enumerate(clients))]

    def _edges(self) -> list[dict[str, Any]]:
        if self.pattern == "retry":
            return [{"name": "calls", "from": "clients", "to": "servers"},
                    {"name": "responses", "from": "servers", "to": "clients"}]
        return [{"name": "peers", "from": "swarm", "to": "swarm"}]

    def observe(self, round_no: int) -> Mapping[str, float]:
        if self.pattern != "retry":
            return {}
        server = self.members[0]
        return {"backlog": float(len(server.queue))}

    def summary(self) -> Mapping[str, float]:
        if self.pattern != "retry":
            return {}
        server, clients = self.members[0], self.members[1:]
        calls = sum(c.calls for c in clients)
        return {
            "calls": float(calls),
            "answered": sum(c.done for c in clients) / calls if calls else 0.0,
            "failed": sum(c.failed for c in clients) / calls if calls else 0.0,
            "backlog": float(len(server.queue)),
        }
