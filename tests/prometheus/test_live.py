"""Every PromQL expression of the dashboard and the alert rules, against a real Prometheus.

A real relay (``membrane run`` on the embedded Kafka broker) carries the
scripted scenario (a herd forming, a ping-pong) sent by Kafka producers
acting as the agents; a real Prometheus scrapes its /metrics every second;
then each expression is evaluated through Prometheus' HTTP API. A dashboard
query must be valid, reference only metrics that exist, and return at least
one finite sample; an alert expression must be valid and reference only
existing metrics, and the conformity and oscillation alerts must select the
groups the scenario drove into those states.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker

from .conftest import ALERTS, dashboard_targets, load_alerts, load_dashboard, needs_prometheus
from .prom import Prometheus, substitute
from .relay import play_on_kafka, relay_process
from .scenario import Message, steps, warm_up
from .scenario import rules as scenario_rules

pytestmark = [pytest.mark.e2e, needs_prometheus]

EXPECTED_FIRING = {
    "MembraneConformitySurge": "herd",
    "MembraneSustainedOscillation": "pair",
}


MESSAGES = sum(isinstance(step, Message) for step in steps())


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, kafka_broker: EmbeddedBroker
) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    rules = workdir / "rules.yaml"
    rules.write_text(scenario_rules(prefix))
    with relay_process(rules, kafka_broker.bootstrap, workdir) as target, Prometheus(
        workdir, [target], [ALERTS]
    ) as server:
        server.wait_for('up{job="membrane"} == 1', timeout=60)
        play_on_kafka(kafka_broker.bootstrap, prefix, warm_up())
        server.wait_for(f"sum(membrane_received_total) >= {len(warm_up())}", timeout=90)
        play_on_kafka(kafka_broker.bootstrap, prefix, steps())
        total = len(warm_up()) + MESSAGES
        server.wait_for(f"sum(membrane_received_total) >= {total}", timeout=60)
        # A few more scrapes so the last state of the scenario is stored.
        finished = float(server.query("time()")["data"]["result"][1])
        server.wait_for(f"timestamp(up) > {finished + 2}", timeout=30)
        yield server


def test_every_dashboard_query_returns_data(prometheus: Prometheus) -> None:
    known = prometheus.known_metrics()
    failures = {
        f"{title}: {expr}": problems
        for title, expr in dashboard_targets(load_dashboard())
        if (problems := prometheus.problems(expr, needs_data=True, known=known))
    }
    assert not failures, "\n".join(f"{k}\n  {v}" for k, v in failures.items())


def test_the_dashboard_variables_find_the_relay_and_the_groups(prometheus: Prometheus) -> None:
    """Grafana's label_values(selector, label) is not PromQL: ask for the same
    label values with count by (label) (selector)."""
    found = {}
    for variable in load_dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable["query"]
        selector, label = match.groups()
        result = prometheus.query(f"count by ({label}) ({substitute(selector)})")["data"]["result"]
        found[variable["name"]] = {sample["metric"][label] for sample in result}
    assert found["group"] == {"herd", "pair"}
    assert len(found["instance"]) == 1


def test_every_alert_expression_is_valid_on_real_series(prometheus: Prometheus) -> None:
    known = prometheus.known_metrics()
    failures = {
        rule["alert"]: problems
        for rule in load_alerts()
        if (problems := prometheus.problems(rule["expr"], needs_data=False, known=known))
    }
    assert not failures, failures


def test_the_scenario_drives_the_conformity_and_oscillation_alerts(
    prometheus: Prometheus,
) -> None:
    alerts = {rule["alert"]: rule["expr"] for rule in load_alerts()}
    for alert, group in EXPECTED_FIRING.items():
        result = prometheus.query(alerts[alert])["data"]["result"]
        assert group in {sample["metric"].get("group") for sample in result}, (alert, result)


def test_a_query_on_a_metric_that_does_not_exist_is_caught(prometheus: Prometheus) -> None:
    known = prometheus.known_metrics()
    bogus = 'membrane_group_herding_ratio{instance=~"$instance", group=~"$group"}'
    problems = prometheus.problems(bogus, needs_data=True, known=known)
    assert "unknown metric membrane_group_herding_ratio" in problems
    invalid = prometheus.problems("sum by (group (membrane_group_agents)", needs_data=False,
                                  known=known)
    assert any(problem.startswith("invalid:") for problem in invalid)


def test_grafana_variables_are_substituted_before_querying() -> None:
    expr = 'rate(x{instance=~"$instance", group=~"$group"}[$__rate_interval])'
    assert substitute(expr) == 'rate(x{instance=~".*", group=~".*"}[1m])'


def test_the_rules_of_the_scenario_are_a_valid_rules_file(tmp_path: Path) -> None:
    from bus.rules import load_rules

    path = tmp_path / "rules.yaml"
    path.write_text(scenario_rules("prefix"))
    assert load_rules(path).sensors.stance_type == "numeric"
