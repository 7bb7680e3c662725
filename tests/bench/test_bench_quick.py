"""``membrane bench --quick`` end to end: it completes and reports every configuration.

It runs the real command on the real embedded broker, with real relay and
gateway child processes. Speeds are reported, never asserted: the machine
is shared and the counts are small.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bus.bench.configs import TITLES

pytestmark = pytest.mark.e2e

Run = tuple[Path, "subprocess.CompletedProcess[str]"]

SECTIONS = ("Targets", "Side by side", "Message size", "Relay processes", "Decision cost",
            "Policy compile")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bus.cli.main", "bench", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=240,
    )
    return out, done


def test_the_quick_run_completes_and_writes_every_file(results: Run) -> None:
    out, done = results
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("results.md", "results.json", "results.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert done.stdout.startswith("## membrane bench --quick")


def test_every_configuration_and_section_is_reported(results: Run) -> None:
    out, done = results
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = (out / "results.md").read_text()
    for section in SECTIONS:
        assert f"### {section}" in markdown
    data = json.loads((out / "results.json").read_text())
    assert [row["config"] for row in data["side_by_side"]] == list(TITLES.values())
    for row in data["side_by_side"]:
        assert row["msgs_per_s"] > 0 and row["lost"] == 0, row
        assert not math.isnan(row["fixed_p99_ms"]), row
        if row["processes"]:
            assert row["cpu_s_per_million"] > 0 and row["peak_rss_mib"] > 0, row
    relays = [row for row in data["side_by_side"]
              if row["config"] in (TITLES["topology"], TITLES["full"])]
    assert len(relays) == 2
    for row in relays:  # membrane's own share, read from the relay's /metrics
        assert 0 < row["transit_p50_ms"] <= row["transit_p99_ms"], row
        assert 0 < row["produce_p50_ms"] <= row["produce_p99_ms"], row
    assert [entry["message_bytes"] for entry in data["message_size"]] == [100, 65_536]
    assert [entry["processes"] for entry in data["processes"]] == [1, 2]
    assert all(entry["msgs_per_s"] > 0 for entry in data["processes"])
    curves = data["decision_cost"]
    assert curves["agents"] and curves["edges"] and curves["active_edges"]
    assert all(row["us_per_message"] > 0 for rows in curves.values() for row in rows)
    assert data["policy_compile"][0]["agents"] == 100


def test_a_malformed_bootstrap_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bus.cli.main", "bench", "--quick", "--bootstrap", "no-port",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "no-port" in done.stderr and "HOST:PORT" in done.stderr
