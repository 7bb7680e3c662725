"""Alert rules through promtool, and the dashboard's structure, without a server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from .conftest import (
    ALERT_TESTS,
    ALERTS,
    PROMETHEUS_DIR,
    PROVISIONING,
    dashboard_targets,
    load_alerts,
    load_dashboard,
    needs_promtool,
)

REQUIRED_ALERTS = {
    "MembraneConformitySurge",
    "MembraneSustainedOscillation",
    "MembraneQuarantineRateHigh",
    "MembraneRelayLagHigh",
    "MembraneRelayDown",
}
REQUIRED_ROWS = [
    "Flow and verdicts",
    "Damping actions",
    "Consensus, conformity, polarisation",
    "Oscillation",
    "Drift and cascades",
    "Latency and lag",
]


def promtool(*args: str | Path, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(load_alerts())} rules found" in result.stdout


@needs_promtool
def test_the_alert_unit_tests_pass() -> None:
    result = promtool("test", "rules", ALERT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_would_catch_a_broken_expectation(tmp_path: Path) -> None:
    """The unit tests can fail: raise a threshold and the firing cases stop firing."""
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text().replace("> 0.6", "> 1.5"))
    (tmp_path / ALERT_TESTS.name).write_text(ALERT_TESTS.read_text())
    result = promtool("test", "rules", ALERT_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "MembraneConformitySurge" in result.stdout + result.stderr


@needs_promtool
def test_the_scrape_config_is_valid() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_required_alert_exists_with_a_runbook_and_a_unit_test() -> None:
    alerts = {rule["alert"]: rule for rule in load_alerts()}
    assert set(alerts) >= REQUIRED_ALERTS
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    tested = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    for name, rule in alerts.items():
        assert rule["annotations"].get("runbook"), f"{name} has no runbook"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert name in tested, f"{name} is never shown firing in {ALERT_TESTS.name}"


def test_the_dashboard_has_its_rows_and_variables() -> None:
    dashboard = load_dashboard()
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == REQUIRED_ROWS
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["group"]["includeAll"] and variables["group"]["multi"]
    assert "group" in variables["group"]["query"]["query"]


def test_every_panel_queries_the_datasource_variable_and_filters_by_group_or_relay() -> None:
    dashboard = load_dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    for title, expr in dashboard_targets(dashboard):
        assert re.search(r'instance=~"\$instance"', expr), f"{title}: {expr}"
        if "membrane_group_" in expr or "group" in re.findall(r"by \(([^)]*)\)", expr):
            assert 'group=~"$group"' in expr, f"{title}: {expr}"


def test_provisioning_points_at_the_dashboard_folder_and_a_prometheus_source() -> None:
    (source,) = yaml.safe_load(
        (PROVISIONING / "datasources" / "membrane.yaml").read_text()
    )["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http")
    (provider,) = yaml.safe_load(
        (PROVISIONING / "dashboards" / "membrane.yaml").read_text()
    )["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
