"""Names that must meet in a cluster meet in the rendered manifests.

A schema cannot see that a Service selects no pod, that a probe names a port
no container has, or that a volume mounts a ConfigMap nobody created; each
of those deploys cleanly and then does nothing. These tests follow every
such reference inside each rendered kustomization.
"""

from __future__ import annotations

from typing import Any

import pytest
from deploy_k8s import Obj, Pod, expanded_args, find, pods, selects

Rendered = dict[str, list[dict[str, Any]]]
WORKLOAD_OVERLAYS = ("overlays/broker-side", "overlays/sidecar-relay", "overlays/sidecar-gateway")


def _of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def _selected(objects: list[Obj], selector: Obj, namespace: str | None) -> list[Pod]:
    return [p for p in pods(objects) if p.namespace == namespace and selects(selector, p.labels)]


@pytest.mark.parametrize("overlay", WORKLOAD_OVERLAYS)
def test_every_workload_selects_its_own_pod_template(rendered: Rendered, overlay: str) -> None:
    workloads = pods(rendered[overlay])
    assert workloads
    for pod in workloads:
        assert selects(pod.workload["spec"]["selector"], pod.labels), pod.name


@pytest.mark.parametrize("overlay", WORKLOAD_OVERLAYS)
def test_referenced_config_maps_and_required_secrets_are_rendered(
    rendered: Rendered, overlay: str
) -> None:
    objects = rendered[overlay]
    for pod in pods(objects):
        for volume in pod.spec.get("volumes", []):
            if "configMap" in volume:
                assert find(objects, "ConfigMap", volume["configMap"]["name"], pod.namespace), (
                    volume
                )
            if "secret" in volume:
                assert volume["secret"].get("optional") is True, f"{pod.name}: {volume['name']}"
        for container in pod.containers():
            for var in container.get("env", []):
                source = var.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    config_map = find(objects, "ConfigMap", ref["name"], pod.namespace)
                    assert config_map and ref["key"] in config_map["data"], (pod.name, var["name"])
                if "secretKeyRef" in source:
                    assert source["secretKeyRef"].get("optional") is True, (pod.name, var["name"])
            # Every $(VAR) the kubelet will expand resolves.
            expanded_args(pod, container, objects)


@pytest.mark.parametrize("overlay", WORKLOAD_OVERLAYS)
def test_volume_mounts_name_volumes_of_their_pod(rendered: Rendered, overlay: str) -> None:
    for pod in pods(rendered[overlay]):
        volumes = {v["name"] for v in pod.spec.get("volumes", [])}
        for container in pod.containers():
            mounts = [m["name"] for m in container.get("volumeMounts", [])]
            assert set(mounts) <= volumes, (pod.name, container["name"])
            paths = [m["mountPath"] for m in container.get("volumeMounts", [])]
            assert len(paths) == len(set(paths)), (pod.name, container["name"])


@pytest.mark.parametrize("overlay", WORKLOAD_OVERLAYS)
def test_container_names_and_port_names_are_unique_per_pod(
    rendered: Rendered, overlay: str
) -> None:
    for pod in pods(rendered[overlay]):
        names = [c["name"] for c in pod.containers()]
        assert len(names) == len(set(names)), pod.name
        ports = [p["name"] for c in pod.containers() for p in c.get("ports", []) if "name" in p]
        assert len(ports) == len(set(ports)), pod.name


@pytest.mark.parametrize("overlay", WORKLOAD_OVERLAYS)
def test_probes_name_ports_their_container_serves(rendered: Rendered, overlay: str) -> None:
    for pod in pods(rendered[overlay]):
        for container in pod.containers():
            own = {p["name"] for p in container.get("ports", []) if "name" in p}
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind)
                if probe and "httpGet" in probe:
                    assert probe["httpGet"]["port"] in own, (pod.name, container["name"], kind)


def test_services_select_pods_and_target_their_ports(rendered: Rendered) -> None:
    checked = 0
    for overlay, objects in rendered.items():
        for service in _of_kind(objects, "Service"):
            namespace = service["metadata"].get("namespace")
            selected = _selected(objects, service["spec"]["selector"], namespace)
            assert selected, f"{overlay}: Service {service['metadata']['name']} selects no pod"
            for port in service["spec"].get("ports", []):
                target = port.get("targetPort", port["port"])
                for pod in selected:
                    served = pod.ports()
                    assert target in served or target in served.values(), (
                        overlay,
                        pod.name,
                        target,
                    )
            checked += 1
    assert checked >= 3


def test_service_monitors_select_services_by_label_and_port_name(rendered: Rendered) -> None:
    monitors = [
        (o, m) for o, objects in rendered.items() for m in _of_kind(objects, "ServiceMonitor")
    ]
    assert monitors
    for overlay, monitor in monitors:
        objects = rendered[overlay]
        namespace = monitor["metadata"].get("namespace")
        services = [
            s
            for s in _of_kind(objects, "Service")
            if s["metadata"].get("namespace") == namespace
            and selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))
        ]
        assert services, f"{overlay}: ServiceMonitor selects no Service"
        for endpoint in monitor["spec"]["endpoints"]:
            for service in services:
                assert endpoint["port"] in {p.get("name") for p in service["spec"]["ports"]}


def test_pod_monitors_select_pods_serving_the_named_port(rendered: Rendered) -> None:
    monitors = [(o, m) for o, objects in rendered.items() for m in _of_kind(objects, "PodMonitor")]
    assert len(monitors) == 2
    for overlay, monitor in monitors:
        selected = _selected(
            rendered[overlay], monitor["spec"]["selector"], monitor["metadata"].get("namespace")
        )
        assert selected, f"{overlay}: PodMonitor selects no pod"
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert all(endpoint["port"] in pod.ports() for pod in selected), overlay


def test_disruption_budgets_and_network_policies_select_pods(rendered: Rendered) -> None:
    for overlay in WORKLOAD_OVERLAYS:
        objects = rendered[overlay]
        for obj in _of_kind(objects, "PodDisruptionBudget") + _of_kind(objects, "NetworkPolicy"):
            selector = obj["spec"][
                "selector" if obj["kind"] == "PodDisruptionBudget" else "podSelector"
            ]
            selected = _selected(objects, selector, obj["metadata"].get("namespace"))
            assert selected, f"{overlay}: {obj['kind']}/{obj['metadata']['name']} selects no pod"
            for rule in obj["spec"].get("ingress", []):
                for port in rule.get("ports", []):
                    if isinstance(port["port"], str):
                        assert all(port["port"] in pod.ports() for pod in selected), (overlay, port)


def _governed_label(rendered: Rendered) -> dict[str, str]:
    (policy,) = _of_kind(rendered["broker-policy"], "NetworkPolicy")
    (client_rule,) = [rule for rule in policy["spec"]["ingress"] if "ports" in rule]
    (peer,) = client_rule["from"]
    assert peer["namespaceSelector"] == {}, "governed pods may live in any namespace"
    return dict(peer["podSelector"]["matchLabels"])


def test_broker_policy_admits_every_membrane_pod_and_only_the_kafka_port(
    rendered: Rendered,
) -> None:
    governed = _governed_label(rendered)
    (policy,) = _of_kind(rendered["broker-policy"], "NetworkPolicy")
    (client_rule,) = [rule for rule in policy["spec"]["ingress"] if "ports" in rule]
    kafka_ports = {p["port"] for p in client_rule["ports"]}
    for overlay in WORKLOAD_OVERLAYS:
        objects = rendered[overlay]
        membrane_pods = [
            p for p in pods(objects) if any(c["name"] == "membrane" for c in p.containers())
        ]
        assert membrane_pods, overlay
        for pod in membrane_pods:
            assert selects({"matchLabels": governed}, pod.labels), (
                f"{overlay}: {pod.name} is not admitted"
            )
            (config_map,) = [
                c
                for c in _of_kind(objects, "ConfigMap")
                if c["metadata"]["name"] == "membrane-kafka"
            ]
            ports = {
                int(server.rpartition(":")[2])
                for server in config_map["data"]["bootstrap"].split(",")
            }
            assert ports <= kafka_ports, (
                f"{overlay}: bootstrap ports {ports} vs policy {kafka_ports}"
            )


def test_relay_egress_policy_allows_the_bootstrap_port(rendered: Rendered) -> None:
    objects = rendered["overlays/broker-side"]
    (policy,) = _of_kind(objects, "NetworkPolicy")
    (config_map,) = [
        c for c in _of_kind(objects, "ConfigMap") if c["metadata"]["name"] == "membrane-kafka"
    ]
    port = int(config_map["data"]["bootstrap"].rpartition(":")[2])
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
    assert port in egress_ports
    assert 53 in egress_ports, "name resolution of the bootstrap host"


def test_sidecar_components_reached_their_targets(rendered: Rendered) -> None:
    for overlay, flavour in (
        ("overlays/sidecar-relay", "relay"),
        ("overlays/sidecar-gateway", "gateway"),
    ):
        (agent,) = [
            p
            for p in pods(rendered[overlay])
            if p.workload["metadata"]["labels"].get("membrane.io/sidecar")
        ]
        assert agent.workload["metadata"]["labels"]["membrane.io/sidecar"] == flavour
        (sidecar,) = [c for c in agent.spec.get("initContainers", []) if c["name"] == "membrane"]
        assert sidecar["restartPolicy"] == "Always", (
            "a native sidecar outlives the agent's last message"
        )
        assert sidecar["args"][0] == {"relay": "run", "gateway": "gateway"}[flavour]
