"""Fixtures of the bad-input tests."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def prefix() -> str:
    """Topic prefix of one test: the tests share the session's broker."""
    return f"bad{uuid.uuid4().hex[:8]}"
