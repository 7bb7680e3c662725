"""The Mosquitto ACL file that keeps MQTT agents from going around membrane.

Under it each agent (MQTT user name = agent id) may publish only to its own
outbox and subscribe only to its own inbox and the shared channels; only
membrane's user reads outboxes and writes inboxes, channels and quarantine.
Mosquitto denies whatever the file does not grant, so a direct publish to
another agent's inbox is dropped by the broker.
"""

from __future__ import annotations

from collections.abc import Sequence

from bus.rules.templates import PLACEHOLDER, render
from bus.rules.transports import MqttSettings

# Mosquitto substitutes the client's user name for %u in ``pattern`` lines.
USERNAME_TOKEN = "%u"


def _wildcard(template: str) -> str:
    return "/".join("+" if PLACEHOLDER in level else level for level in template.split("/"))


def mosquitto_acl(
    *,
    settings: MqttSettings,
    agents: Sequence[str],
    channel_topics: Sequence[str],
    dynamic_patterns: Sequence[str],
    membrane_user: str,
    header: str,
) -> str:
    """The ACL file text.

    ``agents`` are the MQTT agents the rules name; ``channel_topics`` the
    MQTT topics of shared channels; ``dynamic_patterns`` the group patterns
    through which further MQTT agents may appear — they get ``pattern``
    lines keyed on the user name, since they cannot be listed.
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [
        "",
        f"# membrane ({membrane_user}) mediates every message.",
        f"user {membrane_user}",
        f"topic read {_wildcard(settings.outbox)}",
        f"topic write {_wildcard(settings.inbox)}",
        f"topic write {settings.quarantine_topic}",
    ]
    lines += [f"topic write {topic}" for topic in channel_topics]
    for agent in agents:
        lines += [
            "",
            f"user {agent}",
            f"topic write {render(settings.outbox, agent)}",
            f"topic read {render(settings.inbox, agent)}",
        ]
        lines += [f"topic read {topic}" for topic in channel_topics]
    if dynamic_patterns:
        lines += [
            "",
            "# Agents known only through the group patterns "
            + ", ".join(dynamic_patterns)
            + ": the user name must be the agent id.",
            f"pattern write {render(settings.outbox, USERNAME_TOKEN)}",
            f"pattern read {render(settings.inbox, USERNAME_TOKEN)}",
        ]
        lines += [f"pattern read {topic}" for topic in channel_topics]
    return "\n".join(lines) + "\n"
