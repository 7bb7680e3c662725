"""``membrane run`` from the command line: the embedded demo, probes, signals, bad input."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEAM = ROOT / "deploy" / "examples" / "team.yaml"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_the_demo_shows_deliveries_and_quarantine_reloads_and_stops_cleanly() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bus.cli.main", "run", "--rules", str(TEAM), "--demo",
        "--metrics-addr", "127.0.0.1:0", "--grace", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT)
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async def until_both_seen() -> None:
            assert process.stdout is not None
            while not (any(" delivered" in s for s in lines)
                       and any(" quarantined: " in s for s in lines)):
                line = (await process.stdout.readline()).decode()
                assert line, "membrane run exited:\n" + "".join(lines)
                lines.append(line)

        await asyncio.wait_for(until_both_seen(), 60)

        async def until_reloaded() -> None:
            assert process.stdout is not None
            while not any("rules reloaded (SIGHUP)" in s for s in lines):
                line = (await process.stdout.readline()).decode()
                assert line, "membrane run exited:\n" + "".join(lines)
                lines.append(line)

        process.send_signal(signal.SIGHUP)
        await asyncio.wait_for(until_reloaded(), 30)
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "".join(lines) + rest.decode()
    assert process.returncode == 0, output
    assert "Kafka bootstrap   127.0.0.1:" in output and "(embedded tansu broker" in output
    assert "agents write to   agents.{agent}.outbox" in output
    assert "quarantine        membrane.quarantine" in output
    assert "all input committed" in output
    assert "Unclosed" not in output and "Traceback" not in output


def test_an_invalid_rules_file_is_refused_with_its_location(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nagents:\n  a: {groups: 5}\n")
    result = subprocess.run(
        [sys.executable, "-m", "bus.cli.main", "run", "--rules", str(rules)],
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("membrane run: ")
    assert "rules.yaml" in result.stderr and "line 3" in result.stderr
