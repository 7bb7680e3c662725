"""The rules, alert and dashboard files the deployments use are the files
the rest of the suite checks: referenced in place, never copied."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml
from deploy_image import REPO
from deploy_kustomize import K8S

ORIGINS = ("deploy/examples", "deploy/grafana", "deploy/prometheus")
COMPOSE_DIR = REPO / "deploy" / "compose"
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache"}


def _compose_sources() -> set[Path]:
    compose = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    sources = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict) and volume["type"] == "bind":
                sources.add((COMPOSE_DIR / volume["source"]).resolve())
    return sources


def _kustomize_sources() -> set[Path]:
    sources = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        for generator in spec.get("configMapGenerator", []):
            for entry in generator.get("files", []):
                sources.add((kustomization.parent / entry.rpartition("=")[2]).resolve())
    return sources


def _shared_files() -> set[Path]:
    """Every file (or file of a directory) the deployments mount from the shared places."""
    files: set[Path] = set()
    for source in _compose_sources() | _kustomize_sources():
        if not any(source.is_relative_to(REPO / origin) for origin in ORIGINS):
            continue
        if source.is_dir():
            files.update(p for p in source.rglob("*") if p.is_file())
        else:
            files.add(source)
    return files


def test_deployments_mount_rules_alerts_and_dashboards_from_their_one_place() -> None:
    shared = _shared_files()
    kinds = {path.relative_to(REPO).parts[1] for path in shared}
    assert kinds == {"examples", "grafana", "prometheus"}, kinds
    for source in _kustomize_sources():
        assert source.is_relative_to(REPO / "deploy" / "examples"), source


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _repo_files() -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]  # never descend into virtualenvs
        files.extend(Path(root) / name for name in names)
    return files


def test_no_copy_of_a_shared_file_exists_anywhere_else() -> None:
    shared = _shared_files()
    by_digest = {_digest(path): path for path in shared}
    sizes = {path.stat().st_size for path in shared}
    for path in _repo_files():
        if path in shared or path.stat().st_size not in sizes:
            continue
        original = by_digest.get(_digest(path))
        assert original is None, f"{path.relative_to(REPO)} copies {original.relative_to(REPO)}"


def test_each_shared_file_is_checked_by_its_own_tests() -> None:
    tests = [p for p in (REPO / "tests").rglob("*.py") if "deploy" not in p.relative_to(REPO).parts]
    text = "\n".join(p.read_text() for p in tests)
    for path in _shared_files():
        if path.suffix not in {".yaml", ".yml", ".json", ".toml"}:
            continue
        assert path.name in text, f"no test outside tests/deploy reads {path.relative_to(REPO)}"
