"""Each membrane container of the manifests, run as the kubelet would run it.

The command is the image's ENTRYPOINT plus the container's args with
``$(VAR)`` expanded from its env (ConfigMap keys and the pod's name, as the
kubelet resolves them), in the container-like sandbox with the rendered
rules ConfigMap as its volume. The broker address of the manifests does not
resolve here, which is the point of the first test: the probes must keep a
relay that waits for its brokers alive (liveness passes) but out of the
Service (readiness fails), and a gateway ready as soon as it listens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_image import Image
from deploy_k8s import Obj, Pod, env_value, expanded_args, find, pods
from deploy_sandbox import ContainerSandbox, sandbox_available, write_config_map

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sandbox_available(), reason="the sandbox needs root and unshare"),
]

Rendered = dict[str, list[dict[str, Any]]]
START_TIMEOUT = 60.0
CONTAINERS = {
    "broker-side relay": ("overlays/broker-side", "containers"),
    "relay sidecar": ("overlays/sidecar-relay", "initContainers"),
    "gateway sidecar": ("overlays/sidecar-gateway", "initContainers"),
}


def _membrane(rendered: Rendered, which: str) -> tuple[Pod, Obj, list[Obj]]:
    overlay, field = CONTAINERS[which]
    objects = rendered[overlay]
    for pod in pods(objects):
        for container in pod.spec.get(field, []):
            if container["name"] == "membrane":
                return pod, container, objects
    raise LookupError(which)


def _environment(pod: Pod, container: Obj, objects: list[Obj]) -> dict[str, str]:
    """The container's env as the kubelet sets it (absent optional Secrets leave a variable out)."""
    env = {}
    for var in container.get("env", []):
        if var.get("valueFrom", {}).get("secretKeyRef", {}).get("optional"):
            continue
        env[var["name"]] = env_value(pod, container, var["name"], objects)
    return env


def _sandbox(rendered: Rendered, which: str, image: Image, tmp_path: Path) -> ContainerSandbox:
    pod, container, objects = _membrane(rendered, which)
    config_map = find(objects, "ConfigMap", "membrane-rules", pod.namespace)
    assert config_map is not None
    write_config_map(tmp_path / "volume", dict(config_map["data"]))
    (tmp_path / "scratch").mkdir()
    argv = image.entrypoint + expanded_args(pod, container, objects)
    return ContainerSandbox(
        image,
        argv,
        tmp_path / "volume",
        tmp_path / "scratch",
        env=_environment(pod, container, objects),
    )


@pytest.mark.parametrize("which", list(CONTAINERS))
def test_probes_answer_as_the_manifest_expects(
    rendered: Rendered, image: Image, tmp_path: Path, which: str
) -> None:
    _, container, _ = _membrane(rendered, which)
    startup = container["startupProbe"]["httpGet"]["path"]
    liveness = container["livenessProbe"]["httpGet"]["path"]
    readiness = container["readinessProbe"]["httpGet"]["path"]
    with _sandbox(rendered, which, image, tmp_path) as sandbox:
        sandbox.wait_until(startup, START_TIMEOUT)
        assert sandbox.get(liveness)[0] == 200
        assert sandbox.healthcheck(), "the image's own HEALTHCHECK agrees"
        ready = sandbox.get(readiness)[0]
        if container["args"][0] == "run":
            assert ready == 503, "no broker reachable: not ready, but alive"
        else:
            assert ready == 200, "the gateway is ready once it listens"
        sandbox.stop(START_TIMEOUT)


def test_gateway_sidecar_reloads_its_config_map(
    rendered: Rendered, image: Image, tmp_path: Path
) -> None:
    with _sandbox(rendered, "gateway sidecar", image, tmp_path) as sandbox:
        sandbox.wait_until("/readyz", START_TIMEOUT)
        pod, _, objects = _membrane(rendered, "gateway sidecar")
        config_map = find(objects, "ConfigMap", "membrane-rules", pod.namespace)
        assert config_map is not None
        rules = dict(config_map["data"])
        rules["rules.yaml"] = rules["rules.yaml"].replace("max_hops: 4", "max_hops: 3")
        write_config_map(sandbox.rules_volume, rules)
        sandbox.wait_for_metric(
            "membrane_policy_reloads_total", 1.0, START_TIMEOUT, result="success"
        )
        assert sandbox.stop(START_TIMEOUT) == 0, sandbox.output()
