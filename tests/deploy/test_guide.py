"""deploy/README.md can be followed: the paths it names exist, the membrane
command lines it shows parse with the real CLI, and the PrometheusRule it
tells Prometheus Operator users to build from the alert file is valid."""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from deploy_image import REPO

from bus.cli.main import COMMANDS

GUIDE = (REPO / "deploy" / "README.md").read_text()
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
PATH_ROOTS = ("deploy/", "tests/", "docs/", "Dockerfile", ".dockerignore")


def _inline_spans() -> list[str]:
    prose = re.sub(r"```.*?```", "", GUIDE, flags=re.S)
    return re.findall(r"`([^`\n]+)`", prose)


def _code_spans() -> list[str]:
    return re.findall(r"```(?:sh|yaml)?\n(.*?)```", GUIDE, flags=re.S) + _inline_spans()


def _shell_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S):
        lines.extend(block.replace("\\\n", " ").splitlines())
    return [line.strip() for line in lines if line.strip()]


def test_every_path_the_guide_names_exists() -> None:
    named = {
        word.rstrip(".,:;)")
        for span in _code_spans()
        for word in re.split(r"[\s=\"'|]+", span)
        if word.startswith(PATH_ROOTS) and "<" not in word and "$" not in word
    }
    assert len(named) >= 10, sorted(named)
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, missing


def _membrane_command_lines() -> list[list[str]]:
    """argv after ``membrane`` (or after the image, in a docker run) of each example."""
    found = []
    # In prose, `membrane gateway` names a command; with arguments it is one to run.
    spans = _shell_lines() + [s for s in _inline_spans() if len(s.split()) > 2]
    for span in spans:
        if not span.startswith(("membrane ", "docker run")):
            continue
        words = shlex.split(span)
        if words[0] == "membrane":
            found.append(words[1:])
        image = f"membrane:{VERSION}"
        if words[:2] == ["docker", "run"] and image in words:
            found.append(words[words.index(image) + 1 :])
    return found


def test_membrane_command_lines_parse_with_the_cli() -> None:
    commands = _membrane_command_lines()
    assert {argv[0] for argv in commands} >= {"run", "check", "test", "acls", "graph"}
    for argv in commands:
        command, *rest = argv
        assert command in COMMANDS, argv
        try:
            module = importlib.import_module(COMMANDS[command][0])
        except ModuleNotFoundError:
            pytest.skip(f"`membrane {command}` is not in this build")
        parser = argparse.ArgumentParser(prog=f"membrane {command}", exit_on_error=False)
        module.add_arguments(parser)
        parser.parse_args(rest)


def test_docker_run_example_mounts_a_directory_holding_the_rules_it_names() -> None:
    (line,) = [line for line in _shell_lines() if line.startswith("docker run")]
    words = shlex.split(line.replace('"$PWD/', '"'))
    mount = words[words.index("-v") + 1]
    source, target, _ = mount.split(":")
    rules = words[words.index("--rules") + 1]
    assert rules.startswith(target + "/")
    assert (REPO / source / rules.removeprefix(target + "/")).is_file()


def prometheus_rule() -> dict[str, object]:
    """What the guide's yq command builds from the alert file."""
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "membrane", "labels": {"release": "prometheus"}},
        "spec": {"groups": alerts["groups"]},
    }


def test_guide_builds_the_prometheus_rule_this_test_checks() -> None:
    (command,) = [span for span in _code_spans() if "PrometheusRule" in span and "yq" in span]
    assert '"spec": {"groups": .groups}' in command
    assert "deploy/prometheus/alerts.yml" in command


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_prometheus_rule_spec_is_a_valid_rule_file(tmp_path: Path) -> None:
    rule = prometheus_rule()
    groups = rule["spec"]
    assert isinstance(groups, dict) and groups["groups"]
    path = tmp_path / "spec.yml"
    path.write_text(yaml.safe_dump(groups))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
