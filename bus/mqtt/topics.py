"""MQTT topic templates: from ``agents/{agent}/out`` to a subscription and back.

The bridge subscribes once to every outbox with a wildcard filter (each
topic level holding ``{agent}`` becomes ``+``) and recovers the sender from
the topic of each message with the template's regular expression. The topic
is the only source of identity: the broker's ACLs decide who may publish
there, and nothing the client writes in the message can change it.
"""

from __future__ import annotations

import re

from bus.rules.templates import PLACEHOLDER, render, template_regex


class TopicTemplate:
    """One ``{agent}`` template, compiled once."""

    __slots__ = ("_regex", "subscription", "template")

    def __init__(self, template: str) -> None:
        if template.count(PLACEHOLDER) != 1:
            raise ValueError(f"topic template {template!r} must contain {PLACEHOLDER} exactly once")
        self.template = template
        self.subscription = "/".join(
            "+" if PLACEHOLDER in level else level for level in template.split("/")
        )
        self._regex = re.compile(template_regex(template))

    def topic(self, agent: str) -> str:
        return render(self.template, agent)

    def agent_of(self, topic: str) -> str | None:
        """The agent whose topic this is, or None when the topic does not fit."""
        match = self._regex.fullmatch(topic)
        return match.group(1) if match else None

    def __repr__(self) -> str:
        return f"TopicTemplate({self.template!r})"
