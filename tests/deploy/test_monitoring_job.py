"""Every way membrane is scraped yields the job name the dashboard and the
alert rules select on, or their ``job="..."`` matchers find nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from deploy_image import REPO

Rendered = dict[str, list[dict[str, Any]]]
JOB_MATCHER = re.compile(r'job\s*=~?\s*"([^"]+)"')


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def expected_jobs() -> set[str]:
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    dashboard = json.loads((REPO / "deploy" / "grafana" / "membrane.json").read_text())
    return {
        job for text in _strings(alerts) + _strings(dashboard) for job in JOB_MATCHER.findall(text)
    }


def _relabelled_job(endpoint: dict[str, Any]) -> str | None:
    for rule in endpoint.get("relabelings", []):
        if rule.get("targetLabel") == "job" and rule.get("action", "replace").lower() == "replace":
            return str(rule["replacement"])
    return None


def test_dashboard_and_alerts_agree_on_one_job() -> None:
    assert expected_jobs() == {"membrane"}


def test_compose_prometheus_scrapes_under_that_job() -> None:
    config = yaml.safe_load((REPO / "deploy" / "compose" / "prometheus.yml").read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == expected_jobs()


def test_service_and_pod_monitors_produce_that_job(rendered: Rendered) -> None:
    (expected,) = expected_jobs()
    checked = 0
    for objects in rendered.values():
        services = [o for o in objects if o["kind"] == "Service"]
        for monitor in objects:
            if monitor["kind"] == "ServiceMonitor":
                for endpoint in monitor["spec"]["endpoints"]:
                    # The operator names the job after the Service unless told otherwise.
                    selector = monitor["spec"]["selector"]["matchLabels"]
                    (service,) = [
                        s
                        for s in services
                        if selector.items() <= s["metadata"].get("labels", {}).items()
                    ]
                    job = _relabelled_job(endpoint) or service["metadata"]["name"]
                    assert "jobLabel" not in monitor["spec"]
                    assert job == expected
                    checked += 1
            elif monitor["kind"] == "PodMonitor":
                for endpoint in monitor["spec"]["podMetricsEndpoints"]:
                    assert _relabelled_job(endpoint) == expected, (
                        "a PodMonitor's job is its own name"
                    )
                    checked += 1
    assert checked == 3
