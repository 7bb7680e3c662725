"""deploy/compose/compose.yaml: valid by the Compose Specification's schema,
and every name in it meets its counterpart.

The schema is the one ``check-jsonschema`` vendors (from SchemaStore, which
tracks the compose-spec project). What the schema cannot see is followed by
hand: services named in depends_on exist and have the health check their
condition waits for, mounted files exist on the host, membrane runs the
image's command with the image's rules path and port, the broker address is
the one Kafka advertises, and Prometheus and Grafana point at each other.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_image import REPO, Image

COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return dict(json.loads(vendored.read_text()))


def _bind_mounts(service: str) -> list[tuple[Path, str, bool]]:
    """(host path, container path, read-only) of a service's bind mounts."""
    mounts = []
    for volume in SERVICES[service].get("volumes", []):
        if isinstance(volume, dict):
            if volume["type"] == "bind":
                source = (COMPOSE_DIR / volume["source"]).resolve()
                mounts.append((source, volume["target"], bool(volume.get("read_only"))))
        else:
            source, target, *mode = volume.split(":")
            if source.startswith((".", "/")):
                mounts.append(((COMPOSE_DIR / source).resolve(), target, mode == ["ro"]))
    return mounts


def host_path(service: str, container_path: str) -> Path | None:
    """The host file a container path of ``service`` shows, through its bind mounts."""
    wanted = PurePosixPath(container_path)
    for source, target, _ in sorted(_bind_mounts(service), key=lambda m: -len(m[1])):
        if wanted == PurePosixPath(target) or PurePosixPath(target) in wanted.parents:
            return source / wanted.relative_to(target)
    return None


def _membrane_image_services() -> list[str]:
    return [name for name, s in SERVICES.items() if s.get("image", "").split(":")[0] == "membrane"]


def _has_healthcheck(service: str, image: Image) -> bool:
    own = SERVICES[service].get("healthcheck")
    if own is not None:
        return not own.get("disable", False)
    return service in _membrane_image_services() and image.final.last("HEALTHCHECK") is not None


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(COMPOSE)
    ]
    assert not errors, errors


def test_schema_rejects_a_misspelt_service_key() -> None:
    broken = {"services": {"membrane": {"image": "membrane", "comand": ["run"]}}}
    assert list(jsonschema.Draft202012Validator(_schema()).iter_errors(broken))


def test_the_stack_has_kafka_membrane_agents_prometheus_and_grafana() -> None:
    images = {name: service.get("image", "") for name, service in SERVICES.items()}
    assert images["kafka"].startswith("apache/kafka:")
    assert "broker,controller" in SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"], "KRaft"
    assert images["prometheus"].startswith("prom/prometheus:v")
    assert images["grafana"].startswith("grafana/grafana:")
    assert {"membrane", "swarm"} <= set(_membrane_image_services())
    for name, reference in images.items():
        tag = reference.rpartition(":")[2]
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), f"{name}: pin the image"


def test_depends_on_names_services_with_the_awaited_health_check(image: Image) -> None:
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        items = depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends)
        for other, condition in items:
            assert other in SERVICES, f"{name} depends on unknown {other}"
            if condition.get("condition") == "service_healthy":
                assert _has_healthcheck(other, image), (
                    f"{name} waits for {other}, which has no check"
                )


def test_mounted_files_exist_and_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    for name, service in SERVICES.items():
        for source, target, _ in _bind_mounts(name):
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
        for volume in service.get("volumes", []):
            if isinstance(volume, str) and not volume.startswith((".", "/")):
                assert volume.split(":")[0] in declared, f"{name}: {volume}"


def test_membrane_runs_the_image_command_against_the_kafka_service(image: Image) -> None:
    membrane = SERVICES["membrane"]
    assert membrane["image"] == f"membrane:{VERSION}"
    build = membrane["build"]
    assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"
    command = membrane["command"]
    assert command[: len(image.cmd)] == image.cmd, "the image's command, extended"
    rules = host_path("membrane", image.rules_path)
    assert rules is not None and rules.parent == REPO / "deploy" / "examples"
    assert all(read_only for _, _, read_only in _bind_mounts("membrane"))
    bootstrap = command[command.index("--bootstrap") + 1]
    advertised = SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert any(listener.endswith(f"://{bootstrap}") for listener in advertised)
    assert SERVICES["swarm"]["environment"]["KAFKA_BOOTSTRAP"] == bootstrap
    published = [p for p in membrane["ports"] if p.endswith(f":{image.metrics_port}")]
    assert published, "the metrics port is published"


def test_swarm_reads_the_same_rules_and_runs_a_mounted_script() -> None:
    swarm = SERVICES["swarm"]
    rules = host_path("swarm", swarm["environment"]["MEMBRANE_RULES"])
    assert rules == host_path("membrane", "/etc/membrane/rules.yaml")
    program, script = swarm["entrypoint"]
    assert program == "python"
    located = host_path("swarm", script)
    assert located is not None and located.is_file()
    assert swarm["healthcheck"] == {"disable": True}, "the image's probe is for membrane's port"


def test_membrane_containers_are_hardened_like_the_pods() -> None:
    for name in _membrane_image_services():
        service = SERVICES[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert any(t.split(":")[0] == "/tmp" for t in service["tmpfs"]), name


def _prometheus_config() -> tuple[dict[str, Any], Path]:
    command = SERVICES["prometheus"]["command"]
    (flag,) = [c for c in command if c.startswith("--config.file=")]
    path = host_path("prometheus", flag.partition("=")[2])
    assert path is not None
    return yaml.safe_load(path.read_text()), path


def test_prometheus_scrapes_membrane_where_it_listens(image: Image) -> None:
    config, _ = _prometheus_config()
    targets = [
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    assert f"membrane:{image.metrics_port}" in targets
    for target in targets:
        assert target.rpartition(":")[0] in SERVICES, target


def test_prometheus_loads_the_shared_alert_rules() -> None:
    config, _ = _prometheus_config()
    mounted = [(s, t) for s, t, _ in _bind_mounts("prometheus")]
    loaded = [s for s, t in mounted if any(fnmatch.fnmatch(t, g) for g in config["rule_files"])]
    assert loaded, "rule_files matches no mounted file"
    for source in loaded:
        assert source.parent == REPO / "deploy" / "prometheus", (
            "the alert file the alert tests check"
        )


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_configuration_with_its_rules(tmp_path: Path) -> None:
    """The config as Prometheus in the container reads it, its rule_files
    pointed at the same host files the container sees."""
    config, _ = _prometheus_config()
    mounted = [(s, t) for s, t, _ in _bind_mounts("prometheus")]
    config["rule_files"] = [
        str(s) for g in config["rule_files"] for s, t in mounted if fnmatch.fnmatch(t, g)
    ]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        ["promtool", "check", "config", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def _grafana_provisioning(kind: str) -> list[dict[str, Any]]:
    folder = host_path("grafana", f"/etc/grafana/provisioning/{kind}")
    assert folder is not None and folder.is_dir()
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]


def test_grafana_datasource_is_the_prometheus_service() -> None:
    (provisioning,) = _grafana_provisioning("datasources")
    (source,) = provisioning["datasources"]
    assert source["type"] == "prometheus"
    host_port = source["url"].removeprefix("http://")
    host, _, port = host_port.partition(":")
    assert host == "prometheus" and port == "9090"
    assert not any("--web.listen-address" in c for c in SERVICES["prometheus"]["command"])


def _dashboards() -> list[Path]:
    (provisioning,) = _grafana_provisioning("dashboards")
    (provider,) = provisioning["providers"]
    folder = host_path("grafana", provider["options"]["path"])
    assert folder is not None and folder == REPO / "deploy" / "grafana", (
        "the dashboards the tests check"
    )
    dashboards = sorted(folder.glob("*.json"))
    assert dashboards
    return dashboards


def test_grafana_home_dashboard_is_a_provisioned_file() -> None:
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path("grafana", home) in _dashboards()


def _datasource_refs(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [r for value in node.values() for r in _datasource_refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _datasource_refs(item)]
    return []


def test_dashboard_panels_query_the_provisioned_datasource() -> None:
    (provisioning,) = _grafana_provisioning("datasources")
    (source,) = provisioning["datasources"]
    for dashboard_path in _dashboards():
        dashboard = json.loads(dashboard_path.read_text())
        variables = {
            v["name"]
            for v in dashboard.get("templating", {}).get("list", [])
            if v.get("type") == "datasource" and v.get("query") == "prometheus"
        }
        allowed = {source["uid"], *(f"${{{v}}}" for v in variables), *(f"${v}" for v in variables)}
        for ref in _datasource_refs(dashboard):
            uid = ref.get("uid") if isinstance(ref, dict) else ref
            if uid in (None, "-- Grafana --", "grafana"):
                continue
            assert uid in allowed, f"{dashboard_path.name}: datasource {uid!r} is not provisioned"
