"""Fixtures for the deployment-file tests.

Helper modules beside this file (``deploy_*.py``) are imported by the tests
directly: pytest runs in importlib mode, so this directory is put on the path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from deploy_image import Image, load_image
from deploy_kustomize import K8S, kustomizations, render


@pytest.fixture(scope="session")
def image() -> Image:
    return load_image()


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every shipped kustomization, rendered once per session."""
    return {name: render(K8S / name) for name in kustomizations()}
