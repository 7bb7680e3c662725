"""Fixtures for gateway tests: a team topology with unique topic names, and
one sidecar gateway per agent in front of the session's embedded broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker
from bus.gateway.server import Gateway
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy

TEAM_RULES = """
version: 1
topics:
  inbox: "{prefix}.{{agent}}.inbox"
  outbox: "{prefix}.{{agent}}.outbox"
agents:
  alice: {{groups: [team]}}
  bob: {{groups: [team]}}
  dave: {{groups: [team]}}
  carol: {{groups: [outsiders]}}
groups:
  team: {{}}
  outsiders: {{}}
channels:
  general: {{topic: "{prefix}.general"}}
edges:
  - name: alice-tasks-bob
    from: alice
    to: bob
    kinds: [task]
  - name: team-talks
    from: team
    to: team
    kinds: [chat]
  - name: anyone-posts
    from: "*"
    to: "#general"
{extra}
"""


class Team:
    """The rules of one test: unique topic names, a holder, and gateway factory."""

    def __init__(self, prefix: str, holder: PolicyHolder, broker: EmbeddedBroker) -> None:
        self.prefix = prefix
        self.holder = holder
        self.broker = broker
        self.metrics: dict[str, Metrics] = {}

    def inbox(self, agent: str) -> str:
        return f"{self.prefix}.{agent}.inbox"

    @property
    def general(self) -> str:
        return f"{self.prefix}.general"


GatewayFactory = Callable[[str], Awaitable[Gateway]]


def write_rules(tmp_path: Path, prefix: str, extra: str = "") -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(TEAM_RULES.format(prefix=prefix, extra=extra))
    return path


@pytest.fixture
def rules_extra() -> str:
    """Extra rules-file sections for a test module (override in the module)."""
    return ""


@pytest.fixture
def team(tmp_path: Path, kafka_broker: EmbeddedBroker, rules_extra: str) -> Team:
    prefix = f"gw{uuid.uuid4().hex[:10]}"
    holder = PolicyHolder(load_policy(write_rules(tmp_path, prefix, rules_extra)))
    return Team(prefix, holder, kafka_broker)


@pytest.fixture
async def sidecar(team: Team) -> AsyncIterator[GatewayFactory]:
    """``await sidecar("alice")`` starts alice's gateway (stopped after the test)."""
    started: list[Gateway] = []

    async def start(agent: str) -> Gateway:
        metrics = team.metrics.setdefault(agent, Metrics())
        gateway = Gateway(
            team.holder,
            upstream=team.broker.bootstrap,
            listen="127.0.0.1:0",
            agent=agent,
            metrics=metrics,
        )
        await gateway.start()
        started.append(gateway)
        return gateway

    try:
        yield start
    finally:
        for gateway in started:
            await gateway.stop()
