"""Topic templates: ``agents.{agent}.outbox`` and friends.

A template holds exactly one ``{agent}`` placeholder. ``template_regex``
turns a template into a regular expression that recovers the agent id, so
the relay can tell whose outbox a topic is without trusting any header.
"""

from __future__ import annotations

import re
from typing import Final, Literal

PLACEHOLDER: Final = "{agent}"
KAFKA_TOPIC: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")
AGENT_ID_REGEX: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"


def check_template(template: str, transport: Literal["kafka", "mqtt"]) -> None:
    """Raise ValueError unless ``template`` is a valid topic with one ``{agent}``."""
    if template.count(PLACEHOLDER) != 1:
        raise ValueError(f"topic template {template!r} must contain {PLACEHOLDER} exactly once")
    before, _, after = template.partition(PLACEHOLDER)
    if transport == "mqtt" and (before[-1:] not in ("", "/") or after[:1] not in ("", "/")):
        # A whole level, so one '+' subscription covers every agent's topic.
        raise ValueError(
            f"MQTT topic template {template!r} must use {PLACEHOLDER} as a whole level"
        )
    rest = template.replace(PLACEHOLDER, "x")
    if "{" in rest or "}" in rest:
        raise ValueError(f"topic template {template!r} may only use the {PLACEHOLDER} placeholder")
    check_topic(rest, transport)


def check_topic(topic: str, transport: Literal["kafka", "mqtt"]) -> None:
    if transport == "kafka":
        if not KAFKA_TOPIC.fullmatch(topic) or topic in (".", ".."):
            raise ValueError(
                f"Kafka topic {topic!r} may only contain letters, digits, '.', '_' and '-'"
            )
    elif not topic or any(c in topic for c in "+#\0") or topic.startswith("$"):
        raise ValueError(f"MQTT topic {topic!r} must be non-empty, without wildcards or '$'")


def render(template: str, agent: str) -> str:
    return template.replace(PLACEHOLDER, agent)


def template_regex(template: str) -> str:
    """A regular expression matching every topic the template produces; group 1 is the agent."""
    before, _, after = template.partition(PLACEHOLDER)
    return f"{re.escape(before)}({AGENT_ID_REGEX}){re.escape(after)}"
