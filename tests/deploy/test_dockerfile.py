"""The Dockerfile, read with BuildKit's parser and checked against the project.

No Docker engine runs here, so the image is never built; what a build would
get wrong is checked from the sources: the base image is pinned, the final
stage runs as a numeric non-root user that exists, the health check probes
the port the command serves, and the build context holds everything the
package needs and nothing else.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from deploy_image import REPO, Image, shell_words
from docker.utils.build import exclude_paths

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGES = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
PINNED_PYTHON = re.compile(r"^python:(?P<minor>3\.\d+)\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$")


def test_multi_stage_build_from_one_pinned_slim_python(image: Image) -> None:
    assert len(image.stages) >= 2, "a build stage keeps pip and sources out of the image"
    bases = {stage.base for stage in image.stages}
    assert len(bases) == 1, f"the venv is built and run on one interpreter, got {bases}"
    match = PINNED_PYTHON.match(bases.pop())
    assert match, "the base must name an exact Python patch release of a slim image"
    required = PYPROJECT["project"]["requires-python"]
    assert required.startswith(">="), required
    assert tuple(map(int, match["minor"].split("."))) >= tuple(map(int, required[2:].split(".")))


def test_final_stage_runs_as_an_existing_numeric_non_root_user(image: Image) -> None:
    assert image.user is not None
    uid, _, gid = image.user.partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert gid.isdigit() and int(gid) > 0
    created = [shell_words(run) for run in image.final.all("RUN")]
    words = [word for command in created for word in command]
    assert "useradd" in words and words[words.index("--uid") + 1] == uid
    assert "groupadd" in words and words[words.index("--gid") + 1] == gid


def test_entrypoint_is_the_membrane_console_script(image: Image) -> None:
    assert image.entrypoint == ["membrane"]
    assert PYPROJECT["project"]["scripts"]["membrane"] == "bus.cli.main:main"


def test_default_command_reads_the_documented_rules_path_and_serves_metrics_on_all_interfaces(
    image: Image,
) -> None:
    assert image.cmd[0] == "run"
    assert image.rules_path == "/etc/membrane/rules.yaml"
    host, _, port = image.option("--metrics-addr").rpartition(":")
    assert host == "0.0.0.0", "a published container port must reach the server"
    assert image.exposed_ports == [int(port)] == [9464]


def test_healthcheck_probes_healthz_on_the_served_port_without_curl(image: Image) -> None:
    flags, argv = image.healthcheck
    assert argv[:2] == ["python", "-c"], "the slim image has no curl"
    script = argv[2]
    ast.parse(script)  # the probe is valid Python
    urls = re.findall(r"http://[^'\"]+", script)
    assert urls == [f"http://127.0.0.1:{image.metrics_port}/healthz"]
    assert "timeout=" in script, "a hung server must fail the probe, not hang it"
    for option in ("interval", "timeout", "start-period", "retries"):
        assert option in flags


def test_image_is_friendly_to_a_read_only_root_filesystem(image: Image) -> None:
    env = image.env
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for variable in ("HOME", "MPLCONFIGDIR"):
        assert env[variable].startswith("/tmp"), f"{variable} must point at the writable /tmp"
    assert "/opt/membrane/bin" in env["PATH"].split(":")
    built = [shell_words(run) for run in image.stages[0].all("RUN")]
    assert any("compileall" in command for command in built), "bytecode is compiled at build time"


def _context_files() -> set[str]:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return set(exclude_paths(str(REPO), patterns, dockerfile="Dockerfile"))


def test_build_context_holds_the_package_and_nothing_else() -> None:
    context = _context_files()
    project = PYPROJECT["project"]
    assert "pyproject.toml" in context and project["readme"] in context
    for package in PACKAGES:
        sources = {p.relative_to(REPO).as_posix() for p in (REPO / package).rglob("*.py")}
        assert sources <= context, f"{package}: {sorted(sources - context)[:5]}"
    strays = {f for f in context if f.split("/")[0] in {"tests", "deploy", "docs", ".git", ".venv"}}
    assert not strays, sorted(strays)[:5]
    assert not {f for f in context if "__pycache__" in f or f.endswith(".pyc")}


def test_every_copy_source_is_in_the_build_context(image: Image) -> None:
    context = _context_files()
    for stage in image.stages:
        for copy in stage.all("COPY"):
            if any(flag.startswith("--from") for flag in copy.flags):
                continue
            for source in copy.value[:-1]:
                path = REPO / source
                assert path.exists(), source
                inside = [path] if path.is_file() else list(path.rglob("*.py"))
                assert inside, source
                for file in inside:
                    assert file.relative_to(REPO).as_posix() in context, file


def test_build_context_installs_as_a_package_with_every_module(tmp_path: Path) -> None:
    """What ``RUN pip install .`` does in the build stage, offline, from a copy
    of exactly the files the build context holds."""
    context = tmp_path / "context"
    for name in _context_files():
        source = REPO / name
        if source.is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / name)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(wheels),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("membrane-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    packaged = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    sources = {
        p.relative_to(REPO).as_posix()
        for package in PACKAGES
        for p in (REPO / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert packaged == sources, sorted(packaged ^ sources)[:10]
    assert "membrane = bus.cli.main:main" in scripts
