"""The compiled policy: the answer to "may this message go from A to B?".

``Policy.decide`` evaluates, for one (envelope, recipient):

1. the constitution rules that cover the pair — the first enforced one the
   message breaks denies it, and nothing later can allow it;
2. deny edges covering the pair whose kinds match — the first enforced one
   denies;
3. allow edges and presets covering the pair — the first whose conditions
   the message meets allows it; if some covered the pair but every one's
   conditions failed, the first failure denies it (reason ``kind``,
   ``too-large``, ``content-type`` or ``missing-field``);
4. otherwise the default: deny.

A shadow-mode rule that would deny is remembered in ``shadow_rule`` and the
evaluation goes on as if it were absent. Every step is a constant number of
dict lookups (see ``bus.policy.tables``), whatever the number of rules.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Final

from bus.decision import Decision, Recipients, Transport
from bus.envelope import Envelope
from bus.policy.resolver import AgentInfo, Resolver
from bus.policy.rule import CompiledRule
from bus.policy.tables import EMPTY, ClassTable, PairRules
from bus.rules import selectors as sel
from bus.rules.membership import Membership
from bus.rules.schema import DEFAULT_RULE, RulesFile
from bus.rules.templates import render, template_regex
from filters.base import FilterConfig

FANOUT_CACHE_CAPACITY: Final = 4_096
UNKNOWN_RECIPIENT: Final = Decision(False, DEFAULT_RULE, "unknown-recipient")


class Policy:
    """Immutable once compiled (its caches aside); safe to share between tasks."""

    def __init__(
        self,
        *,
        rules: RulesFile,
        version: str,
        membership: Membership,
        resolver: Resolver,
        classes: ClassTable,
        pairs: dict[int, PairRules],
    ) -> None:
        self.rules = rules
        self._version = version
        self._membership = membership
        self._resolver = resolver
        self._classes = classes
        self._pairs = pairs
        self._stride = max(len(membership.agents), 1)
        self._default_shadow = rules.default_mode == "shadow"
        self._fanout: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._kafka_outbox = re.compile(template_regex(rules.topics.outbox))
        self._mqtt_outbox = re.compile(template_regex(rules.mqtt.outbox))

    # -- identity --------------------------------------------------------------

    @property
    def version(self) -> str:
        return self._version

    @property
    def agents(self) -> tuple[str, ...]:
        """Agent ids the rules file names explicitly, in file order."""
        return self._membership.agents

    @property
    def edge_count(self) -> int:
        """Number of listed-agent pairs in the pair table (presets, listed-agent edges)."""
        return len(self._pairs)

    def __repr__(self) -> str:
        return f"Policy(version={self._version!r}, agents={len(self.agents)})"

    # -- introspection (graph, check) -------------------------------------------

    def class_of(self, agent: str) -> int:
        """The rule class of an agent id or ``#channel``; -1 if unknown."""
        info = self._resolver.recipient(agent)
        return info.cls if info is not None else -1

    def class_rules(self, sender_cls: int, recipient_cls: int) -> PairRules:
        return self._classes.get(sender_cls, recipient_cls)

    def pair_rules(self) -> Iterator[tuple[str, str, PairRules]]:
        """Every listed-agent pair in the pair table, with its rules."""
        agents = self._membership.agents
        stride = self._stride
        for key, entry in self._pairs.items():
            sender, recipient = divmod(key, stride)
            yield agents[sender], agents[recipient], entry

    @property
    def channels(self) -> tuple[str, ...]:
        """``#name`` of every channel."""
        return tuple(self._resolver.channels)

    # -- decisions -------------------------------------------------------------

    def _rules_for(self, sender: AgentInfo, recipient: AgentInfo) -> tuple[PairRules, PairRules]:
        by_class = self._classes.get(sender.cls, recipient.cls)
        if sender.index < 0 or recipient.index < 0:
            return by_class, EMPTY
        return by_class, self._pairs.get(sender.index * self._stride + recipient.index, EMPTY)

    def decide(self, env: Envelope, recipient: str) -> Decision:
        target = self._resolver.recipient(recipient)
        if target is None:
            return UNKNOWN_RECIPIENT
        by_class, by_pair = self._rules_for(self._resolver.agent(env.sender), target)
        shadow: CompiledRule | None = None
        shadow_reason = ""
        for rule in by_class.constitution:
            reason = rule.violation(env)
            if reason is not None:
                if not rule.shadow:
                    return _deny(rule.name, reason, shadow)
                if shadow is None:
                    shadow, shadow_reason = rule, reason
        for rule in _in_order(by_class.denies, by_pair.denies):
            if rule.applies_to_kind(env.kind):
                if not rule.shadow:
                    return _deny(rule.name, "denied", shadow)
                if shadow is None:
                    shadow, shadow_reason = rule, "denied"
        failed: tuple[CompiledRule, str] | None = None
        shadow_allow: tuple[CompiledRule, str] | None = None
        for rule in _in_order(by_class.allows, by_pair.allows):
            reason = rule.failure(env)
            if reason is None:
                return _allow(rule.name, shadow, shadow_reason)
            if rule.shadow:
                shadow_allow = shadow_allow or (rule, reason)
            elif failed is None:
                failed = (rule, reason)
        if shadow_allow is not None:
            rule, reason = shadow_allow
            return Decision(True, rule.name, shadow_reason or reason, (shadow or rule).name)
        if failed is not None:
            return _deny(failed[0].name, failed[1], shadow)
        if self._default_shadow:
            return Decision(
                True,
                DEFAULT_RULE,
                shadow_reason or "default-deny",
                shadow.name if shadow else DEFAULT_RULE,
            )
        return _deny(DEFAULT_RULE, "default-deny", shadow)

    def may_reach(self, sender: str, recipient: str) -> bool:
        """Whether any allow rule covers the pair (conditions and denies aside)."""
        target = self._resolver.recipient(recipient)
        if target is None:
            return False
        by_class, by_pair = self._rules_for(self._resolver.agent(sender), target)
        return bool(by_class.allows or by_pair.allows)

    def recipients(self, env: Envelope) -> Recipients:
        if env.recipients is None:
            return Recipients(self._fanout_of(env.sender))
        resolved: dict[str, None] = {}
        unknown: list[str] = []
        for name in env.recipients:
            if name in self._membership.members and name not in self._resolver.explicit:
                resolved.update(
                    (m, None) for m in self._membership.members[name] if m != env.sender
                )
            elif self._resolver.recipient(name) is not None:
                resolved[name] = None
            else:
                unknown.append(name)
        return Recipients(tuple(resolved), tuple(unknown))

    def _fanout_of(self, sender: str) -> tuple[str, ...]:
        cached = self._fanout.get(sender)
        if cached is not None:
            self._fanout.move_to_end(sender)
            return cached
        candidates = (*self._membership.agents, *self._resolver.channels)
        reach = tuple(r for r in candidates if r != sender and self.may_reach(sender, r))
        self._fanout[sender] = reach
        if len(self._fanout) > FANOUT_CACHE_CAPACITY:
            self._fanout.popitem(last=False)
        return reach

    def filters_for(self, sender: str, recipient: str) -> Sequence[FilterConfig]:
        target = self._resolver.recipient(recipient)
        if target is None:
            return ()
        return self._classes.get(self._resolver.agent(sender).cls, target.cls).filters

    # -- groups and transports ---------------------------------------------------

    def group_of(self, agent: str) -> str:
        return self._resolver.agent(agent).group

    def groups_of(self, agent: str) -> tuple[str, ...]:
        return self._resolver.agent(agent).groups

    def group_size(self, group: str) -> int:
        explicit = len(self._membership.members.get(group, ()))
        return explicit + self._resolver.dynamic_members.get(group, 0)

    def transport_of(self, agent: str) -> Transport:
        if agent.startswith(sel.CHANNEL_PREFIX):
            channel = self._resolver.channels.get(agent)
            return channel.transport if channel is not None else "kafka"
        return self._resolver.agent(agent).transport

    def inbox_topic(self, recipient: str) -> str:
        if recipient.startswith(sel.CHANNEL_PREFIX):
            spec = self.rules.channels[recipient[1:]]
            topic = spec.topic if spec.effective_transport == "kafka" else spec.mqtt_topic
            assert topic is not None, "ChannelSpec guarantees a topic for its transport"
            return topic
        if self.transport_of(recipient) == "mqtt":
            return render(self.rules.mqtt.inbox, recipient)
        return render(self.rules.topics.inbox, recipient)

    def outbox_topic(self, agent: str) -> str:
        if self.transport_of(agent) == "mqtt":
            return render(self.rules.mqtt.outbox, agent)
        return render(self.rules.topics.outbox, agent)

    def agent_of_outbox(self, topic: str) -> str | None:
        for pattern in (self._kafka_outbox, self._mqtt_outbox):
            match = pattern.fullmatch(topic)
            if match is not None:
                return match.group(1)
        return None

    @property
    def outbox_pattern(self) -> str:
        return f"^{self._kafka_outbox.pattern}$"

    @property
    def mqtt_outbox_filter(self) -> str:
        """The MQTT subscription filter covering every MQTT outbox."""
        return render(self.rules.mqtt.outbox, "+")

    @property
    def quarantine_topic(self) -> str:
        return self.rules.topics.quarantine


def _in_order(
    by_class: tuple[CompiledRule, ...], by_pair: tuple[CompiledRule, ...]
) -> tuple[CompiledRule, ...]:
    """Both lists as one, in file order (each is already sorted; usually one is empty)."""
    if not by_pair:
        return by_class
    if not by_class:
        return by_pair
    return tuple(sorted((*by_class, *by_pair), key=_order))


def _order(rule: CompiledRule) -> int:
    return rule.order


def _deny(rule: str, reason: str, shadow: CompiledRule | None) -> Decision:
    return Decision(False, rule, reason, shadow.name if shadow else None)


def _allow(rule: str, shadow: CompiledRule | None, shadow_reason: str) -> Decision:
    if shadow is None:
        return Decision(True, rule, "allowed")
    return Decision(True, rule, shadow_reason, shadow.name)
