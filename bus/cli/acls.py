"""``membrane acls RULES``: broker ACLs under which agents cannot go around membrane.

Each agent may write only its own outbox and read only its own inbox (and
the shared channels); membrane's principal reads the outboxes and writes the
inboxes, channels and quarantine. Kafka agents get Kafka ACLs — as
``kafka-acls.sh`` command lines or a JSON list — and MQTT agents a Mosquitto
ACL file. With ``--out DIR`` the files ``kafka-acls.sh``, ``kafka-acls.json``
and ``mosquitto.acl`` are written there; otherwise the chosen format is
printed. See docs/acls.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import NamedTuple

from bus.errors import ConfigError
from bus.mqtt.acl import mosquitto_acl
from bus.policy import Policy, load_policy
from bus.rules.templates import PLACEHOLDER

FORMATS = ("kafka", "kafka-json", "mosquitto", "all")
FILES = {"kafka": "kafka-acls.sh", "kafka-json": "kafka-acls.json", "mosquitto": "mosquitto.acl"}


class KafkaAcl(NamedTuple):
    """One allow ACL, in the terms of ``kafka-acls.sh``."""

    principal: str
    operation: str  # Read, Write, Create
    resource_type: str  # topic, group
    resource: str
    pattern_type: str = "literal"  # literal, prefixed

    def command(self) -> str:
        return " ".join(
            [
                '"$KAFKA_ACLS" --bootstrap-server "$BOOTSTRAP" $KAFKA_ACLS_ARGS --add',
                f"--allow-principal {shlex.quote(self.principal)}",
                f"--operation {self.operation}",
                f"--{self.resource_type} {shlex.quote(self.resource)}",
                f"--resource-pattern-type {self.pattern_type}",
            ]
        )

    def as_json(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "permission": "Allow",
            "host": "*",
            "operation": self.operation,
            "resource_type": self.resource_type.capitalize(),
            "resource_name": self.resource,
            "pattern_type": self.pattern_type.upper(),
        }


def _by_transport(policy: Policy, transport: str) -> list[str]:
    return [a for a in policy.agents if policy.transport_of(a) == transport]


def _channel_topics(policy: Policy, transport: str) -> list[str]:
    names = ("#" + name for name in policy.rules.channels)
    return [policy.inbox_topic(c) for c in names if policy.transport_of(c) == transport]


def _dynamic_patterns(policy: Policy, transport: str) -> list[str]:
    return [
        pattern
        for group in policy.rules.groups.values()
        if (group.transport or "kafka") == transport
        for pattern in group.patterns
    ]


def _membrane_topic(template: str) -> tuple[str, str]:
    """Membrane's grant for every topic of a template: the literal prefix
    before ``{agent}`` when there is one (so agents that appear later are
    covered), else every topic (``*``)."""
    prefix = template.partition(PLACEHOLDER)[0]
    return (prefix, "prefixed") if prefix else ("*", "literal")


def kafka_acls(policy: Policy, agent_principal: str, membrane_principal: str) -> list[KafkaAcl]:
    """The allow list for membrane and every Kafka agent, membrane first."""
    rules = policy.rules
    channels = _channel_topics(policy, "kafka")
    outboxes, outbox_pattern = _membrane_topic(rules.topics.outbox)
    inboxes, inbox_pattern = _membrane_topic(rules.topics.inbox)
    acls = [
        KafkaAcl(membrane_principal, "Read", "topic", outboxes, outbox_pattern),
        KafkaAcl(membrane_principal, "Write", "topic", inboxes, inbox_pattern),
        KafkaAcl(membrane_principal, "Create", "topic", inboxes, inbox_pattern),
        KafkaAcl(membrane_principal, "Write", "topic", rules.topics.quarantine),
        KafkaAcl(membrane_principal, "Create", "topic", rules.topics.quarantine),
        KafkaAcl(membrane_principal, "Read", "group", rules.kafka.group_id),
    ]
    acls += [KafkaAcl(membrane_principal, "Write", "topic", topic) for topic in channels]
    for agent in _by_transport(policy, "kafka"):
        principal = agent_principal.replace(PLACEHOLDER, agent)
        acls.append(KafkaAcl(principal, "Write", "topic", policy.outbox_topic(agent)))
        acls.append(KafkaAcl(principal, "Read", "topic", policy.inbox_topic(agent)))
        # An agent's consumer groups must start with its id.
        acls.append(KafkaAcl(principal, "Read", "group", agent, "prefixed"))
        acls += [KafkaAcl(principal, "Read", "topic", topic) for topic in channels]
    return acls


def kafka_script(acls: list[KafkaAcl], policy: Policy, header: str) -> str:
    bootstrap = policy.rules.kafka.bootstrap or "localhost:9092"
    lines = ["#!/bin/sh", *(f"# {line}" for line in header.splitlines())]
    patterns = _dynamic_patterns(policy, "kafka")
    if patterns:
        lines.append(
            "# Agents known only through the group patterns "
            + ", ".join(patterns)
            + " are not listed: grant each one as the agents below."
        )
    lines += [
        "set -eu",
        f'BOOTSTRAP="${{BOOTSTRAP:-{bootstrap}}}"',
        'KAFKA_ACLS="${KAFKA_ACLS:-kafka-acls.sh}"',
        "# Extra arguments, e.g. KAFKA_ACLS_ARGS='--command-config admin.properties'.",
        'KAFKA_ACLS_ARGS="${KAFKA_ACLS_ARGS:-}"',
        *(acl.command() for acl in acls),
    ]
    return "\n".join(lines) + "\n"


def render(policy: Policy, fmt: str, args: argparse.Namespace) -> str:
    header = (
        f"Generated by membrane acls from {', '.join(args.rules)} (policy {policy.version}).\n"
        "Each agent may write only its outbox and read only its inbox; membrane reads\n"
        "the outboxes and writes the inboxes and quarantine."
    )
    rules = policy.rules
    if fmt in ("kafka", "kafka-json"):
        membrane = args.membrane_principal or f"User:{rules.kafka.sasl_username or 'membrane'}"
        acls = kafka_acls(policy, args.agent_principal, membrane)
        if fmt == "kafka":
            return kafka_script(acls, policy, header)
        return json.dumps([acl.as_json() for acl in acls], indent=2) + "\n"
    return mosquitto_acl(
        settings=rules.mqtt,
        agents=_by_transport(policy, "mqtt"),
        channel_topics=_channel_topics(policy, "mqtt"),
        dynamic_patterns=_dynamic_patterns(policy, "mqtt"),
        membrane_user=args.membrane_user or rules.mqtt.username or "membrane",
        header=header,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rules", nargs="+", help="rules file(s), merged in order")
    parser.add_argument("--format", choices=FORMATS, default="all", help="what to generate")
    parser.add_argument("--out", type=Path, help="write the files into this directory")
    parser.add_argument(
        "--agent-principal",
        default="User:{agent}",
        help="Kafka principal of an agent, with {agent} (default: User:{agent})",
    )
    parser.add_argument(
        "--membrane-principal", help="membrane's Kafka principal (default: User:<sasl_username>)"
    )
    parser.add_argument(
        "--membrane-user", help="membrane's MQTT user name (default: mqtt.username or membrane)"
    )


def run(args: argparse.Namespace) -> int:
    if PLACEHOLDER not in args.agent_principal:
        raise ConfigError(f"--agent-principal must contain {PLACEHOLDER}")
    policy = load_policy(*args.rules)
    formats = ["kafka", "kafka-json", "mosquitto"] if args.format == "all" else [args.format]
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            target = args.out / FILES[fmt]
            target.write_text(render(policy, fmt, args))
            print(f"wrote {target}")
        return 0
    texts = [render(policy, fmt, args) for fmt in formats]
    if len(texts) == 1:
        print(texts[0], end="")
    else:
        for fmt, text in zip(formats, texts, strict=True):
            print(f"# ==== {FILES[fmt]} ====\n{text}")
    return 0
