"""Every rendered Kubernetes object validates against its schema, offline.

Built-in kinds use the OpenAPI-derived JSON schemas that ship inside the
``kubernetes-validate`` package, in strict mode (unknown fields fail), for
the oldest version the manifests support (1.29: native sidecar containers)
and the newest the package knows. The Prometheus Operator's kinds use a
schema of their own, tests/deploy/schemas/prometheus-operator.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

OLDEST_SUPPORTED = "1.29"
CRD_SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "prometheus-operator.json").read_text()
)
CRD_GROUPS = ("monitoring.coreos.com/",)


def _versions() -> list[str]:
    return [OLDEST_SUPPORTED, kubernetes_validate.latest_version()]


def _all(rendered: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, obj) for name, objects in rendered.items() for obj in objects]


@pytest.mark.parametrize("version", _versions())
def test_builtin_kinds_validate_strictly(
    rendered: dict[str, list[dict[str, Any]]], version: str
) -> None:
    checked = 0
    for name, obj in _all(rendered):
        if obj["apiVersion"].startswith(CRD_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']} at {path}: {exc.message}")
        checked += 1
    assert checked >= 20, "the overlays render fewer objects than they ship"


def test_prometheus_operator_kinds_validate(rendered: dict[str, list[dict[str, Any]]]) -> None:
    monitors = [(n, o) for n, o in _all(rendered) if o["apiVersion"].startswith(CRD_GROUPS)]
    assert {o["kind"] for _, o in monitors} == {"ServiceMonitor", "PodMonitor"}
    validator = jsonschema.Draft202012Validator(CRD_SCHEMA)
    for name, obj in monitors:
        errors = [e.message for e in validator.iter_errors(obj)]
        assert not errors, f"{name}: {obj['kind']}/{obj['metadata']['name']}: {errors}"


def test_validators_reject_what_a_cluster_would() -> None:
    """The schemas bite: a misspelt field and a wrong type both fail."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolice": "Always"}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, OLDEST_SUPPORTED, strict=True)
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m"},
        "spec": {"selector": {}, "endpoints": [{"port": "metrics", "interval": "15 seconds"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(CRD_SCHEMA).validate(monitor)
