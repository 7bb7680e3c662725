"""Every exported metric follows the naming rules and is documented in docs/metrics.md."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import Metric

from bus.metrics import Metrics
from bus.sensors import PerAgentMetrics, SensorHub, SensorsConfig
from bus.sensors.export import SensorCollector

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
BOUNDED_LABELS = {
    "group", "rule", "filter", "verdict", "reason", "transport", "outcome", "mode", "result",
    "policy", "api", "version",
}
PER_AGENT = "membrane_agent_messages_per_second"
ROW = re.compile(r"^\| `(membrane_[a-z_]+)` \| (\w+) \| .* \|\s*([a-z_, ]*?)\s*\|$")


def exported() -> dict[str, tuple[str, frozenset[str]]]:
    """Exposed name -> (type, label names) for the relay metrics and the sensors."""
    metrics = Metrics()
    metrics.policy_version.info({"version": "0123abcd"})  # as the engine does on (re)load
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for family in metrics.registry.collect():
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        found[exposed_name(family)] = (family.type, frozenset(labels))
    for attribute in vars(metrics).values():  # labelled metrics without children yet
        names = getattr(attribute, "_labelnames", None)
        if names:
            name = str(attribute._name) + ("_total" if attribute._type == "counter" else "")
            found[name] = (str(attribute._type), frozenset(names))
    hub = SensorHub(SensorsConfig(per_agent=PerAgentMetrics(enabled=True)))
    for family in SensorCollector(hub).describe():
        names = frozenset(getattr(family, "_labelnames", ()))
        found[exposed_name(family)] = (family.type, names)
    return found


def exposed_name(family: Metric) -> str:
    suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
    return family.name + suffix


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            name, kind, labels = match.groups()
            rows[name] = (kind, frozenset(filter(None, (x.strip() for x in labels.split(",")))))
    return rows


def test_names_follow_the_conventions() -> None:
    metrics = exported()
    assert len(metrics) > 40
    for name, (kind, _) in metrics.items():
        assert name.startswith("membrane_"), name
        assert name.endswith("_total") == (kind == "counter"), name
        if kind == "info":
            assert name.endswith("_info"), name


def test_labels_come_from_bounded_sets_and_agent_ids_only_on_the_capped_gauge() -> None:
    for name, (_, labels) in exported().items():
        allowed = BOUNDED_LABELS | ({"agent"} if name == PER_AGENT else set())
        assert labels <= allowed, f"{name} has unbounded labels {labels - allowed}"


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    metrics = exported()
    docs = documented()
    assert set(docs) == set(metrics), (
        f"undocumented: {sorted(set(metrics) - set(docs))}; "
        f"documented but not exported: {sorted(set(docs) - set(metrics))}"
    )
    for name, (kind, labels) in metrics.items():
        assert docs[name] == (kind, labels), name
