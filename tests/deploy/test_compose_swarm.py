"""The compose stack's agents and membrane, wired as compose wires them, on a
real (embedded) broker instead of the Kafka container.

membrane runs the compose service's command with the broker address swapped
for the embedded broker's and the metrics port for a free one; the swarm
runs its mounted script with the service's environment. What reaches the
agents' inboxes shows the example works: tasks fan out from the planner to
every worker through membrane, results come back to the planner, and what the
agents read carries membrane's stamp.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from deploy_image import REPO

from bus import headers
from bus.embedded import EmbeddedBroker, free_port
from bus.policy import load_policy

pytestmark = pytest.mark.e2e

COMPOSE_DIR = REPO / "deploy" / "compose"
SERVICES = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())["services"]
RULES = REPO / "deploy" / "examples" / "team.yaml"
WORKERS = ("worker-1", "worker-2", "worker-3")
# Generous: on a loaded machine the relay may take a few consumer-group
# rounds to pick up outbox topics that appear after it started.
TIMEOUT = 90.0
Headers = dict[str, str]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _read_until(
    bootstrap: str, topic: str, enough: Callable[[list[Headers]], bool]
) -> list[Headers]:
    """Headers of the records of ``topic``, read until ``enough`` says so (or a timeout)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: list[Headers] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while not enough(seen) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                seen.extend({k: v.decode() for k, v in r.headers} for r in records)
    finally:
        await consumer.stop()
    return seen


def _of_kind(records: list[Headers], kind: str) -> list[Headers]:
    return [r for r in records if r.get(headers.KIND) == kind]


def _membrane_command(bootstrap: str, port: int) -> list[str]:
    command = list(SERVICES["membrane"]["command"])
    command[command.index("--bootstrap") + 1] = bootstrap
    command[command.index("--rules") + 1] = str(RULES)
    command[command.index("--metrics-addr") + 1] = f"127.0.0.1:{port}"
    command[command.index("--group-id") + 1] = f"membrane-{uuid.uuid4().hex[:8]}"
    return [str(Path(sys.executable).parent / "membrane"), *command]


def _swarm_command(bootstrap: str) -> tuple[list[str], dict[str, str]]:
    service = SERVICES["swarm"]
    program, script = service["entrypoint"]
    assert program == "python" and script == "/opt/swarm/swarm.py"
    env = {
        **os.environ,
        **service["environment"],
        "KAFKA_BOOTSTRAP": bootstrap,
        "MEMBRANE_RULES": str(RULES),
        "SWARM_INTERVAL": "0.5",
    }
    return [sys.executable, str(COMPOSE_DIR / "swarm" / "swarm.py")], env


async def _create_outboxes(bootstrap: str, topics: list[str]) -> None:
    """Outboxes that exist before membrane starts are in its first assignment;
    ones created later wait for its next metadata refresh and rebalance."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=1, replication_factor=1) for t in topics]
        )
    finally:
        await admin.close()


def test_swarm_talks_through_membrane(fresh_kafka_broker: EmbeddedBroker) -> None:
    bootstrap = fresh_kafka_broker.bootstrap
    port = free_port()
    policy = load_policy(RULES)
    asyncio.run(_create_outboxes(bootstrap, [policy.outbox_topic(a) for a in policy.agents]))
    membrane = _start(_membrane_command(bootstrap, port))
    swarm: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _ready(port):
            assert membrane.poll() is None, membrane.communicate()[0].decode(errors="replace")
            assert time.monotonic() < deadline, "membrane did not become ready"
            time.sleep(0.25)
        swarm = _start(*_swarm_command(bootstrap))
        for worker in WORKERS:
            inbox = asyncio.run(
                _read_until(
                    bootstrap, policy.inbox_topic(worker), lambda r: bool(_of_kind(r, "task"))
                )
            )
            tasks = _of_kind(inbox, "task")
            assert tasks, f"{worker} got no task"
            assert {t[headers.FROM] for t in tasks} == {"planner"}, "stamped by membrane"
        inbox = asyncio.run(
            _read_until(
                bootstrap, policy.inbox_topic("planner"), lambda r: bool(_of_kind(r, "result"))
            )
        )
        results = _of_kind(inbox, "result")
        assert results, "no worker's result reached the planner"
        assert {r[headers.FROM] for r in results} <= set(WORKERS)
        assert all(r[headers.STANCE] in {"approve", "reject"} for r in results)
        assert swarm.poll() is None, swarm.communicate()[0].decode(errors="replace")
        os.killpg(swarm.pid, signal.SIGTERM)
        assert swarm.wait(TIMEOUT) == 0, "the swarm stops cleanly on SIGTERM"
    finally:
        if swarm is not None:
            _stop(swarm)
        _stop(membrane)
