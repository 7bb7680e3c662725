"""``membrane gateway`` as a process: serve, stamp, reload on SIGHUP, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus.embedded import free_port

if TYPE_CHECKING:
    from conftest import Team

MEMBRANE = [sys.executable, "-m", "bus.cli.main"]


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def sample(text: str, series: str) -> float:
    """The value of one series in a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.e2e
async def test_the_gateway_command_serves_reloads_and_stops(team: Team, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"  # the team fixture wrote the topology here
    listen, metrics_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            *MEMBRANE,
            "gateway",
            "--rules",
            str(rules),
            "--upstream",
            team.broker.bootstrap,
            "--listen",
            f"127.0.0.1:{listen}",
            "--agent",
            "alice",
            "--metrics-addr",
            f"127.0.0.1:{metrics_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics_url = f"http://127.0.0.1:{metrics_port}"
    try:
        for _ in range(200):
            if (await asyncio.to_thread(http_get, f"{metrics_url}/readyz"))[0] == 200:
                break
            assert process.poll() is None, process.communicate()
            await asyncio.sleep(0.05)
        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{listen}")
        await producer.start()
        try:
            await producer.send_and_wait(
                team.inbox("bob"),
                b"via the command",
                partition=0,
                headers=[("membrane-kind", b"task")],
            )
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=team.broker.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            tp = TopicPartition(team.inbox("bob"), 0)
            consumer.assign([tp])
            record = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        assert dict(record.headers)["membrane-from"] == b"alice"
        status, text = await asyncio.to_thread(http_get, f"{metrics_url}/metrics")
        assert status == 200
        assert sample(text, 'membrane_gateway_records_total{outcome="produced"}') == 1

        rules.write_text("version: 1\nedges: [{name: broken}]\n")
        process.send_signal(signal.SIGHUP)
        failures = 0.0
        for _ in range(100):
            _, text = await asyncio.to_thread(http_get, f"{metrics_url}/metrics")
            failures = sample(text, 'membrane_policy_reloads_total{result="failure"}')
            if failures >= 1:
                break
            await asyncio.sleep(0.05)
        assert failures >= 1
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert process.returncode == 0, stderr
    assert re.search(r"rules reload \((SIGHUP|file changed)\) failed", stderr)


def test_invalid_rules_exit_1_with_the_reason(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("version: 1\nagents: {alice: {groups: 3}}\n")
    done = subprocess.run(
        [*MEMBRANE, "gateway", "--rules", str(rules), "--upstream", "127.0.0.1:1", "--agent", "a"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "bad.yaml" in done.stderr and "groups" in done.stderr


def test_a_shared_gateway_needs_an_identity_mode(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nagents: {alice: {}}\n")
    done = subprocess.run(
        [*MEMBRANE, "gateway", "--rules", str(rules), "--upstream", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--agent" in done.stderr


def test_missing_rules_is_a_usage_error() -> None:
    done = subprocess.run(
        [*MEMBRANE, "gateway", "--upstream", "127.0.0.1:9092"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--rules" in done.stderr
