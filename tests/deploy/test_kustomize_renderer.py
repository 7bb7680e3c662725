"""The fallback renderer is honest: where kubectl exists, both agree exactly;
where it would have to guess, it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_kustomize import (
    K8S,
    Unsupported,
    kubectl_available,
    kustomizations,
    render_lite,
    render_with_kubectl,
    strategic_merge,
)


def _by_identity(
    objects: list[dict[str, Any]],
) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    keyed = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
    assert len(keyed) == len(objects), "two objects with one identity"
    return keyed


@pytest.mark.skipif(
    not kubectl_available(), reason="kubectl is not installed: nothing to compare with"
)
@pytest.mark.parametrize("kustomization", kustomizations())
def test_fallback_renders_exactly_what_kubectl_renders(kustomization: str) -> None:
    assert _by_identity(render_lite(K8S / kustomization)) == _by_identity(
        render_with_kubectl(K8S / kustomization)
    )


def test_strategic_merge_merges_named_lists_and_replaces_others() -> None:
    base: dict[str, Any] = {
        "containers": [{"name": "agent", "image": "a:1", "args": ["x"]}],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "k"}],
    }
    patch = {
        "containers": [{"name": "agent", "image": "a:2"}, {"name": "membrane", "image": "m"}],
        "volumes": [{"name": "rules", "configMap": {"name": "r"}}],
        "tolerations": [{"key": "other"}],
    }
    merged = strategic_merge(base, patch)
    assert merged["containers"] == [
        {"name": "agent", "image": "a:2", "args": ["x"]},
        {"name": "membrane", "image": "m"},
    ]
    assert merged["volumes"] == [
        {"name": "rules", "configMap": {"name": "r"}},
        {"name": "data", "emptyDir": {}},
    ]
    assert merged["tolerations"] == [{"key": "other"}]
    assert base["containers"][0]["image"] == "a:1", "the base is not modified"


def _kustomization(root: Path, spec: dict[str, Any], **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    for name, text in files.items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "spec",
    [
        {"resources": [], "images": [{"name": "membrane", "newTag": "2"}]},
        {"configMapGenerator": [{"name": "c", "literals": ["a=b"]}]},
        {
            "configMapGenerator": [
                {"name": "c", "behavior": "merge", "options": {"disableNameSuffixHash": True}}
            ]
        },
        {"resources": ["cm.yaml"], "patches": [{"patch": "- op: remove\n  path: /data"}]},
    ],
    ids=["images", "hashed-name", "generator-behavior", "inline-patch"],
)
def test_features_outside_the_subset_are_refused(tmp_path: Path, spec: dict[str, Any]) -> None:
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    root = _kustomization(tmp_path / "k", spec, **{"cm.yaml": config_map})
    with pytest.raises(Unsupported):
        render_lite(root)


def test_a_patch_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    patch = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: absent}\ndata: {a: c}\n"
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    root = _kustomization(
        tmp_path / "k",
        {"resources": ["cm.yaml"], "patches": [{"path": "p.yaml"}]},
        **{"cm.yaml": config_map, "p.yaml": patch},
    )
    with pytest.raises(Unsupported, match="matches nothing"):
        render_lite(root)
