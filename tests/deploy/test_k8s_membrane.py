"""Every membrane container in the manifests keeps the image's contract.

The image (Dockerfile) reads its rules at one path and serves health and
metrics on one port; a container that passes another path, mounts the rules
elsewhere, or probes another port fails only in a cluster. The rules it
mounts are the example file the policy tests load, byte for byte.
"""

from __future__ import annotations

import argparse
import importlib
import tomllib
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml
from deploy_image import REPO, Image
from deploy_k8s import Obj, Pod, config_map_volumes, env_value, expanded_args, find, pods

from bus.cli.main import COMMANDS
from bus.policy import load_policy

Rendered = dict[str, list[dict[str, Any]]]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
BASE = REPO / "deploy" / "k8s" / "base"


def _membrane_containers(rendered: Rendered) -> list[tuple[str, Pod, Obj, list[Obj]]]:
    found = [
        (overlay, pod, container, objects)
        for overlay, objects in rendered.items()
        for pod in pods(objects)
        for container in pod.containers()
        if container["image"].split(":")[0] == "membrane"
    ]
    assert len(found) == 3, "broker-side relay, relay sidecar and gateway sidecar"
    return found


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_image_tag_is_the_package_version(rendered: Rendered) -> None:
    for overlay, _, container, _ in _membrane_containers(rendered):
        assert container["image"] == f"membrane:{VERSION}", overlay


def test_args_use_the_image_rules_path_and_port(rendered: Rendered, image: Image) -> None:
    for overlay, _, container, _ in _membrane_containers(rendered):
        args = container["args"]
        if args[0] == "run":
            assert args[: len(image.cmd)] == image.cmd, f"{overlay}: extends the image's command"
        assert _option(args, "--rules") == image.rules_path, overlay
        assert _option(args, "--metrics-addr") == image.option("--metrics-addr"), overlay
        (port,) = [p for p in container["ports"] if p["name"] == "membrane-http"]
        assert port["containerPort"] == image.metrics_port, overlay


def test_args_parse_with_the_membrane_cli(rendered: Rendered) -> None:
    for overlay, pod, container, objects in _membrane_containers(rendered):
        args = expanded_args(pod, container, objects)
        command, *rest = args
        module_name = COMMANDS[command][0]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            pytest.skip(f"`membrane {command}` is not in this build")
        parser = argparse.ArgumentParser(prog=f"membrane {command}", exit_on_error=False)
        module.add_arguments(parser)
        parsed = parser.parse_args(rest)
        rules = parsed.rules if isinstance(parsed.rules, list) else [parsed.rules]
        assert [str(r) for r in rules] == [_option(args, "--rules")], overlay


def test_rules_directory_is_the_mounted_rules_config_map(rendered: Rendered, image: Image) -> None:
    rules = PurePosixPath(image.rules_path)
    for overlay, pod, container, objects in _membrane_containers(rendered):
        volumes = config_map_volumes(pod)
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(rules.parent)]
        assert "subPath" not in mount, f"{overlay}: the kubelet never updates a subPath mount"
        assert mount.get("readOnly") is True, overlay
        config_map = find(objects, "ConfigMap", volumes[mount["name"]]["name"], pod.namespace)
        assert config_map is not None and rules.name in config_map["data"], overlay


def test_mounted_rules_are_the_checked_example_file(rendered: Rendered) -> None:
    (generator,) = yaml.safe_load((BASE / "kustomization.yaml").read_text())["configMapGenerator"]
    assert generator["options"]["disableNameSuffixHash"] is True, (
        "a stable name is what hot reload needs"
    )
    (entry,) = generator["files"]
    key, _, source = entry.partition("=")
    example = (BASE / source).resolve()
    assert example.parent == REPO / "deploy" / "examples", (
        "no copy of a rules file under deploy/k8s"
    )
    load_policy(example)  # the same loading the rules tests do
    for overlay, pod, _, objects in _membrane_containers(rendered):
        config_map = find(objects, "ConfigMap", "membrane-rules", pod.namespace)
        assert config_map is not None
        assert config_map["data"][key] == example.read_text(), overlay


def test_probes_hit_healthz_and_readyz(rendered: Rendered) -> None:
    for overlay, _, container, _ in _membrane_containers(rendered):
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", overlay
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", overlay
        assert container["startupProbe"]["httpGet"]["path"] in {"/healthz", "/readyz"}, overlay


def _effective(pod: Pod, container: Obj, field: str) -> Any:
    own = container.get("securityContext", {})
    return own[field] if field in own else pod.spec.get("securityContext", {}).get(field)


def test_security_context_is_locked_down(rendered: Rendered, image: Image) -> None:
    uid, _, gid = (image.user or "").partition(":")
    for overlay, pod, container, _ in _membrane_containers(rendered):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, overlay
        assert context["allowPrivilegeEscalation"] is False, overlay
        assert context["capabilities"] == {"drop": ["ALL"]}, overlay
        assert _effective(pod, container, "runAsNonRoot") is True, overlay
        assert _effective(pod, container, "seccompProfile") == {"type": "RuntimeDefault"}, overlay
        assert str(_effective(pod, container, "runAsUser")) == uid, f"{overlay}: the image's user"
        assert str(_effective(pod, container, "runAsGroup")) == gid, overlay
        assert pod.spec["automountServiceAccountToken"] is False, "membrane never calls the API"


def test_writable_tmp_is_an_in_memory_empty_dir(rendered: Rendered, image: Image) -> None:
    assert image.env["HOME"] == "/tmp"
    for overlay, pod, container, _ in _membrane_containers(rendered):
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        (volume,) = [v for v in pod.spec["volumes"] if v["name"] == mount["name"]]
        assert volume["emptyDir"]["medium"] == "Memory" and "sizeLimit" in volume["emptyDir"], (
            overlay
        )


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def test_resources_are_requested_and_limited(rendered: Rendered) -> None:
    for overlay, _, container, _ in _membrane_containers(rendered):
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            request = _quantity(str(resources["requests"][resource]))
            limit = _quantity(str(resources["limits"][resource]))
            assert 0 < request <= limit, (overlay, resource)


def test_every_relay_container_has_one_sizing(rendered: Rendered) -> None:
    """The same process in every pattern: a sizing change cannot miss one."""
    relays = [
        c["resources"] for _, _, c, _ in _membrane_containers(rendered) if c["args"][0] == "run"
    ]
    assert len(relays) == 2 and relays[0] == relays[1], relays


def test_grace_period_outlasts_the_drain(rendered: Rendered) -> None:
    for overlay, pod, container, _ in _membrane_containers(rendered):
        args = container["args"]
        grace = float(_option(args, "--grace")) if "--grace" in args else 10.0
        assert pod.spec["terminationGracePeriodSeconds"] > grace, overlay


def test_relays_share_one_consumer_group(rendered: Rendered) -> None:
    groups = {
        _option(container["args"], "--group-id")
        for _, _, container, _ in _membrane_containers(rendered)
        if container["args"][0] == "run"
    }
    assert groups == {"membrane"}


def test_gateway_listens_where_its_agent_connects(rendered: Rendered) -> None:
    objects = rendered["overlays/sidecar-gateway"]
    (pod,) = pods(objects)
    (gateway,) = pod.spec["initContainers"]
    listen = _option(gateway["args"], "--listen")
    assert listen.split(":")[0] == "127.0.0.1", "only containers of the pod reach the gateway"
    (agent,) = pod.spec["containers"]
    assert env_value(pod, agent, "KAFKA_BOOTSTRAP_SERVERS", objects) == listen
    assert all(var["name"] != "KAFKA_SASL_PASSWORD" for var in agent.get("env", [])), (
        "credentials stay in membrane"
    )
    assert expanded_args(pod, gateway, objects)[gateway["args"].index("--agent") + 1] == "worker-0"


RESTRICTED_VOLUMES = {
    "configMap",
    "secret",
    "emptyDir",
    "projected",
    "downwardAPI",
    "csi",
    "persistentVolumeClaim",
}


def test_restricted_namespaces_only_hold_restricted_pods(rendered: Rendered) -> None:
    """The Pod Security Standard "restricted", for namespaces that enforce it."""
    enforced = 0
    for objects in rendered.values():
        restricted = {
            ns["metadata"]["name"]
            for ns in objects
            if ns["kind"] == "Namespace"
            and ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce")
            == "restricted"
        }
        for pod in pods(objects):
            if pod.namespace not in restricted:
                continue
            enforced += 1
            spec = pod.spec
            assert not any(spec.get(f) for f in ("hostNetwork", "hostPID", "hostIPC")), pod.name
            for volume in spec.get("volumes", []):
                assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, (pod.name, volume["name"])
            for container in pod.containers():
                context = container.get("securityContext", {})
                assert context.get("allowPrivilegeEscalation") is False, pod.name
                assert context.get("capabilities", {}).get("drop") == ["ALL"], pod.name
                assert not context.get("privileged"), pod.name
                assert _effective(pod, container, "runAsNonRoot") is True, pod.name
                assert _effective(pod, container, "seccompProfile")["type"] in {
                    "RuntimeDefault",
                    "Localhost",
                }
    assert enforced, "the broker-side namespace enforces the restricted standard"
