"""Reading rendered Kubernetes objects: pods inside workloads, selectors,
containers and the values their environment variables resolve to.

Written for the cross-reference tests; follows the API's own semantics
(a selector's matchLabels and matchExpressions all hold, ``$(VAR)`` in args
expands from the container's env, a missing optional reference is fine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
VAR_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class Pod:
    """A workload's pod template, with what identifies it."""

    workload: Obj

    @property
    def namespace(self) -> str | None:
        namespace: str | None = self.workload["metadata"].get("namespace")
        return namespace

    @property
    def name(self) -> str:
        return f"{self.workload['kind']}/{self.workload['metadata']['name']}"

    @property
    def spec(self) -> Obj:
        spec: Obj = self.workload["spec"]["template"]["spec"]
        return spec

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.workload["spec"]["template"]["metadata"].get("labels", {})
        return labels

    def containers(self) -> Iterator[Obj]:
        yield from self.spec.get("initContainers", [])
        yield from self.spec["containers"]

    def ports(self) -> dict[str, int]:
        return {
            port["name"]: port["containerPort"]
            for container in self.containers()
            for port in container.get("ports", [])
            if "name" in port
        }

    def example_name(self) -> str:
        """A name a pod of this workload gets (StatefulSets: ordinal 0)."""
        suffix = "-0" if self.workload["kind"] == "StatefulSet" else "-5d8f7c9b6d-x7k2p"
        return f"{self.workload['metadata']['name']}{suffix}"


def pods(objects: list[Obj]) -> list[Pod]:
    return [Pod(obj) for obj in objects if obj["kind"] in WORKLOAD_KINDS]


def find(objects: list[Obj], kind: str, name: str, namespace: str | None) -> Obj | None:
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return obj
    return None


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (or a bare map, as in a Service) matches ``labels``."""
    match_labels = selector.get("matchLabels", {}) if _is_label_selector(selector) else selector
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions", []) if _is_label_selector(selector) else []:
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values", []),
        )
        present = key in labels
        holds = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not holds:
            return False
    return True


def _is_label_selector(selector: Obj) -> bool:
    return set(selector) <= {"matchLabels", "matchExpressions"} and bool(selector)


def env_value(pod: Pod, container: Obj, name: str, objects: list[Obj]) -> str:
    """What environment variable ``name`` of ``container`` holds in a running pod."""
    for var in container.get("env", []):
        if var["name"] != name:
            continue
        if "value" in var:
            return str(var["value"])
        source = var["valueFrom"]
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            config_map = find(objects, "ConfigMap", ref["name"], pod.namespace)
            if config_map is None:
                raise LookupError(
                    f"{pod.name}: ConfigMap {ref['name']} for ${name} is not rendered"
                )
            return str(config_map["data"][ref["key"]])
        if source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            return pod.example_name()
        raise LookupError(f"{pod.name}: cannot resolve ${name} from {source}")
    raise LookupError(f"{pod.name}/{container['name']}: ${name} is not defined")


def expanded_args(pod: Pod, container: Obj, objects: list[Obj]) -> list[str]:
    """The container's args with ``$(VAR)`` expanded the way the kubelet does."""
    return [
        VAR_REFERENCE.sub(lambda m: env_value(pod, container, m.group(1), objects), arg)
        for arg in container.get("args", [])
    ]


def config_map_volumes(pod: Pod) -> dict[str, Obj]:
    return {v["name"]: v["configMap"] for v in pod.spec.get("volumes", []) if "configMap" in v}
