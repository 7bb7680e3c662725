"""Topic-level topology: which topics an agent may produce to, fetch from, and see.

An agent may produce to

- the inbox topic of every agent the policy lets it reach (``may_reach``: some
  allow rule covers the pair; per-message conditions are checked per record),
- the topic of every shared channel it may write to,
- its own outbox (the relay's input, where the sender is the topic itself);

and fetch from its own inbox and from the shared channel topics, where it
sees only the records whose senders may reach it (see ``views``). Metadata
shows it exactly the topics it may produce to or fetch from. Every other
topic is refused with TOPIC_AUTHORIZATION_FAILED and left out of listings.

Inbox topics are recognised by the rules' inbox template, so agents matched
only by a pattern (``worker-*``) are covered without being listed. Answers
are cached per (policy, agent) in bounded LRUs, so a decision is O(1) after
the first request naming a topic, and a reloaded policy starts fresh caches.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from bus.policy import Policy
from bus.rules.templates import template_regex

CACHE_CAPACITY: Final = 1_024  # topics per agent
AGENTS_CAPACITY: Final = 256  # agents of a shared gateway

_Compute = Callable[[str], "str | None"]


class TopicIndex:
    """What a policy says about topic names, independent of who asks."""

    __slots__ = ("channels", "inbox_pattern", "policy")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.channels: dict[str, str] = {
            spec.topic: f"#{name}"
            for name, spec in policy.rules.channels.items()
            if spec.effective_transport == "kafka" and spec.topic is not None
        }
        self.inbox_pattern = re.compile(template_regex(policy.rules.topics.inbox))

    def inbox_owner(self, topic: str) -> str | None:
        match = self.inbox_pattern.fullmatch(topic)
        return match.group(1) if match is not None else None


class AgentAccess:
    """One agent's view of the topics, under one policy."""

    __slots__ = ("_fetch", "_index", "_produce", "agent")

    def __init__(self, index: TopicIndex, agent: str) -> None:
        self._index = index
        self.agent = agent
        self._produce: OrderedDict[str, str | None] = OrderedDict()
        self._fetch: OrderedDict[str, str | None] = OrderedDict()

    @property
    def policy(self) -> Policy:
        return self._index.policy

    def produce_target(self, topic: str) -> str | None:
        """The recipient (agent id or ``#channel``) writing ``topic`` reaches; the
        agent itself for its own outbox; None when the agent may not write it."""
        return _cached(self._produce, topic, self._produce_target)

    def fetch_source(self, topic: str) -> str | None:
        """The agent itself for its inbox, ``#channel`` for a channel, else None."""
        return _cached(self._fetch, topic, self._fetch_source)

    def visible(self, topic: str) -> bool:
        return self.produce_target(topic) is not None or self.fetch_source(topic) is not None

    def _produce_target(self, topic: str) -> str | None:
        policy = self._index.policy
        channel = self._index.channels.get(topic)
        if channel is not None:
            return channel if policy.may_reach(self.agent, channel) else None
        owner = self._index.inbox_owner(topic)
        if owner is not None and owner != self.agent:
            reachable = policy.may_reach(self.agent, owner)
            return owner if reachable and policy.transport_of(owner) == "kafka" else None
        if policy.agent_of_outbox(topic) == self.agent:
            return self.agent
        return None

    def _fetch_source(self, topic: str) -> str | None:
        channel = self._index.channels.get(topic)
        if channel is not None:
            return channel
        if self._index.inbox_owner(topic) == self.agent:
            return self.agent
        return None


def _cached(cache: OrderedDict[str, str | None], topic: str, compute: _Compute) -> str | None:
    if topic in cache:
        cache.move_to_end(topic)
        return cache[topic]
    answer = cache[topic] = compute(topic)
    if len(cache) > CACHE_CAPACITY:
        cache.popitem(last=False)
    return answer


class AccessCache:
    """``AgentAccess`` per agent for the current policy; rebuilt when the policy changes."""

    __slots__ = ("_agents", "_index")

    def __init__(self) -> None:
        self._index: TopicIndex | None = None
        self._agents: OrderedDict[str, AgentAccess] = OrderedDict()

    def for_agent(self, policy: Policy, agent: str) -> AgentAccess:
        if self._index is None or self._index.policy is not policy:
            self._index = TopicIndex(policy)
            self._agents.clear()
        access = self._agents.get(agent)
        if access is None:
            access = self._agents[agent] = AgentAccess(self._index, agent)
            if len(self._agents) > AGENTS_CAPACITY:
                self._agents.popitem(last=False)
        else:
            self._agents.move_to_end(agent)
        return access
