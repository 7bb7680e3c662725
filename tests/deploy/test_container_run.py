"""The image's own command line runs and answers its health check.

The argv is ENTRYPOINT + CMD read from the Dockerfile, unchanged. With no
``--bootstrap`` in it, ``membrane run`` starts its embedded broker, so the
whole container is exercised offline. In the container-like sandbox (see
deploy_sandbox.py) it runs exactly so: rules at the image's path from a
ConfigMap-style volume, the image's port in a network of its own, a read-only
root, no capabilities. Where the sandbox cannot be built (not root), the same
argv runs on the host with two substitutions only: the rules path becomes a
temporary copy and the port a free one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from deploy_image import REPO, Image
from deploy_sandbox import ContainerSandbox, sandbox_available, write_config_map

from bus.embedded import free_port

pytestmark = pytest.mark.e2e

RULES = REPO / "deploy" / "examples" / "team.yaml"
RULES_KEY = "rules.yaml"  # the ConfigMap key, the file name in the mounted directory
START_TIMEOUT = 60.0
# The default drain time of `membrane run` plus room for a loaded machine.
STOP_TIMEOUT = 40.0
needs_sandbox = pytest.mark.skipif(
    not sandbox_available(), reason="building the container-like sandbox needs root and unshare"
)


@pytest.fixture
def container(tmp_path: Path, image: Image) -> ContainerSandbox:
    """The image's command with the example rules as its ConfigMap volume."""
    volume = tmp_path / "rules-volume"
    write_config_map(volume, {RULES_KEY: RULES.read_text()})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return ContainerSandbox(image, image.argv, volume, scratch)


@needs_sandbox
def test_image_command_is_healthy_in_a_container_like_sandbox(
    container: ContainerSandbox, image: Image
) -> None:
    assert Path(image.rules_path).name == RULES_KEY
    with container:
        container.wait_until("healthy", START_TIMEOUT)
        container.wait_until("/readyz", START_TIMEOUT)
        rules_dir = str(Path(image.rules_path).parent)
        for place in ("/usr/local", "/etc", rules_dir, str(Path(sys.executable).parent)):
            touched = container.exec(["touch", f"{place.rstrip('/')}/.written"], mounts=True)
            assert "Read-only file system" in touched.stderr, (place, touched.stderr)
        assert container.exec(["touch", "/tmp/.written"], mounts=True).returncode == 0
        assert container.process is not None
        status = dict(
            line.split(":\t", 1)
            for line in Path(f"/proc/{container.process.pid}/status").read_text().splitlines()
        )
        assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, "--cap-drop ALL"
        assert status["NoNewPrivs"].strip() == "1"
        code, metrics = container.get("/metrics")
        assert code == 200
        assert "membrane_build_info{" in metrics
        exit_code = container.stop(STOP_TIMEOUT)
    assert exit_code == 0, container.output()


@needs_sandbox
def test_config_map_update_is_reloaded_without_a_restart(container: ContainerSandbox) -> None:
    changed = RULES.read_text().replace("max_hops: 4", "max_hops: 3")
    assert changed != RULES.read_text()
    reloads = "membrane_policy_reloads_total"
    with container:
        container.wait_until("/readyz", START_TIMEOUT)
        assert container.process is not None
        pid = container.process.pid
        assert container.metric(reloads, result="success") == 0
        write_config_map(container.rules_volume, {RULES_KEY: changed})
        container.wait_for_metric(reloads, 1.0, START_TIMEOUT, result="success")
        # A broken update is refused and the running policy kept.
        write_config_map(container.rules_volume, {RULES_KEY: "edges: [\n"})
        container.wait_for_metric(reloads, 1.0, START_TIMEOUT, result="failure")
        assert container.metric(reloads, result="success") == 1
        assert container.healthcheck()
        assert container.get("/readyz")[0] == 200
        assert container.process.pid == pid
        assert container.stop(STOP_TIMEOUT) == 0, container.output()


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_image_command_on_the_host_with_a_temporary_rules_copy(
    tmp_path: Path, image: Image
) -> None:
    rules = tmp_path / RULES_KEY
    rules.write_text(RULES.read_text())
    port = free_port()
    argv = [str(rules) if word == image.rules_path else word for word in image.argv]
    address = image.option("--metrics-addr")
    argv[argv.index(address)] = f"{address.rpartition(':')[0]}:{port}"
    assert sum(a != b for a, b in zip(argv, image.argv, strict=True)) == 2, "two substitutions only"
    bin_dir = Path(sys.executable).parent
    argv[0] = str(bin_dir / argv[0])
    process = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while (
            time.monotonic() < deadline and _http_status(f"http://127.0.0.1:{port}/readyz") != 200
        ):
            assert process.poll() is None, process.communicate()[0].decode(errors="replace")
            time.sleep(0.25)
        assert _http_status(f"http://127.0.0.1:{port}/healthz") == 200
        assert _http_status(f"http://127.0.0.1:{port}/readyz") == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # with the embedded broker it started
            process.wait()
