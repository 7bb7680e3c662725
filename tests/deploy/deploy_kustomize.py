"""Render deploy/k8s kustomizations: with ``kubectl kustomize`` when it is
installed, else with a small renderer of exactly the subset those files use.

The subset: ``resources`` (files and directories), ``components``,
``configMapGenerator`` (files and literals, with ``disableNameSuffixHash``),
``patches`` (strategic merge, optionally aimed by kind/name/label selector)
and ``namespace``. Anything else raises ``Unsupported`` instead of being
rendered wrongly; tests/deploy/test_kustomize_renderer.py checks the two renderers
agree wherever kubectl exists.

Strategic merge here follows Kubernetes' rules for the fields these patches
touch: maps merge recursively; lists of named items (containers, volumes,
env, ...) merge by ``name``, the patch's items first in patch order, then the
target's other items (the order kustomize prints); any other list is replaced.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"

KNOWN_KEYS = frozenset(
    {"apiVersion", "kind", "resources", "components", "configMapGenerator", "patches", "namespace"}
)
# Lists whose items Kubernetes' strategic merge keys by "name".
NAMED_LISTS = frozenset({"containers", "initContainers", "volumes", "volumeMounts", "env"})
CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
)


class Unsupported(Exception):
    """The kustomization uses a feature this renderer does not implement."""


def kustomizations() -> list[str]:
    """Every renderable kustomization under deploy/k8s (components are not)."""
    found = []
    for path in sorted(K8S.rglob("kustomization.yaml")):
        if yaml.safe_load(path.read_text()).get("kind", "Kustomization") == "Kustomization":
            found.append(path.parent.relative_to(K8S).as_posix())
    return found


def kubectl_available() -> bool:
    return shutil.which("kubectl") is not None


def render_with_kubectl(path: Path) -> list[Obj]:
    out = subprocess.run(
        ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render(path: Path) -> list[Obj]:
    """The objects the kustomization at ``path`` renders to."""
    return render_with_kubectl(path) if kubectl_available() else render_lite(path)


def render_lite(path: Path) -> list[Obj]:
    return _build(path, expect_kind="Kustomization")


def _build(path: Path, expect_kind: str) -> list[Obj]:
    spec: Obj = yaml.safe_load((path / "kustomization.yaml").read_text())
    unknown = set(spec) - KNOWN_KEYS
    if unknown:
        raise Unsupported(f"{path}: {sorted(unknown)}")
    if spec.get("kind", "Kustomization") != expect_kind:
        raise Unsupported(f"{path}: kind {spec.get('kind')} where {expect_kind} was expected")
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        target = path / entry
        if target.is_dir():
            objects.extend(_build(target, "Kustomization"))
        else:
            objects.extend(doc for doc in yaml.safe_load_all(target.read_text()) if doc)
    for component in spec.get("components", []):
        objects = _apply_component(path / component, objects)
    objects.extend(_config_map(path, gen) for gen in spec.get("configMapGenerator", []))
    for patch in spec.get("patches", []):
        _apply_patch(path, patch, objects)
    namespace = spec.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    return objects


def _apply_component(path: Path, objects: list[Obj]) -> list[Obj]:
    spec: Obj = yaml.safe_load((path / "kustomization.yaml").read_text())
    if set(spec) - {"apiVersion", "kind", "patches"}:
        raise Unsupported(f"{path}: a component may only carry patches here")
    if spec.get("kind") != "Component":
        raise Unsupported(f"{path}: not a Component")
    for patch in spec.get("patches", []):
        _apply_patch(path, patch, objects)
    return objects


def _config_map(path: Path, gen: Obj) -> Obj:
    if set(gen) - {"name", "files", "literals", "options"}:
        raise Unsupported(f"{path}: configMapGenerator {gen.get('name')}: {sorted(gen)}")
    options = gen.get("options", {})
    if not options.get("disableNameSuffixHash"):
        raise Unsupported(f"{path}: name-suffix hashes are not reproduced")
    data: dict[str, str] = {}
    for item in gen.get("files", []):
        key, _, source = item.rpartition("=")
        source_path = path / source
        data[key or source_path.name] = source_path.read_text()
    for item in gen.get("literals", []):
        key, _, value = item.partition("=")
        data[key] = value
    metadata: Obj = {"name": gen["name"]}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _apply_patch(path: Path, patch: Obj, objects: list[Obj]) -> None:
    if set(patch) - {"path", "target"}:
        raise Unsupported(f"{path}: patch {patch}")
    body = yaml.safe_load((path / patch["path"]).read_text())
    if not isinstance(body, dict):
        raise Unsupported(f"{path}: {patch['path']} is not a strategic-merge patch")
    target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
    matched = [obj for obj in objects if _matches(obj, target)]
    if not matched:
        raise Unsupported(f"{path}: patch {patch['path']} matches nothing")
    for obj in matched:
        merged = strategic_merge(obj, {k: v for k, v in body.items() if k != "metadata"})
        merged["metadata"] = strategic_merge(
            obj["metadata"], {k: v for k, v in body["metadata"].items() if k != "name"}
        )
        obj.clear()
        obj.update(merged)


def _matches(obj: Obj, target: Obj) -> bool:
    if set(target) - {"kind", "name", "labelSelector"}:
        raise Unsupported(f"target {target}")
    if "kind" in target and obj["kind"] != target["kind"]:
        return False
    if "name" in target and obj["metadata"]["name"] != target["name"]:
        return False
    labels = obj["metadata"].get("labels", {})
    for requirement in filter(None, target.get("labelSelector", "").split(",")):
        key, sep, value = requirement.partition("=")
        if not sep:
            raise Unsupported(f"label selector {requirement!r}")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """``patch`` merged onto a copy of ``base`` (see the module docstring)."""
    if isinstance(patch, dict) and isinstance(base, dict):
        if any(key.startswith("$") for key in patch):
            raise Unsupported(f"patch directive in {field}")
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = (
                strategic_merge(base[key], value, key) if key in base else copy.deepcopy(value)
            )
        return merged
    if isinstance(patch, list) and isinstance(base, list) and field in NAMED_LISTS:
        by_name = {item["name"]: item for item in base}
        patched = [
            strategic_merge(by_name[item["name"]], item)
            if item["name"] in by_name
            else copy.deepcopy(item)
            for item in patch
        ]
        names = {item["name"] for item in patch}
        return patched + [copy.deepcopy(item) for item in base if item["name"] not in names]
    return copy.deepcopy(patch)
