"""Shared fixtures. Tests that need a missing tool skip outside CI and fail in CI (CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` outside CI; fail in CI, where every tool must be present."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` (R reference data and results), beside the repository."""
    path = SHARED / "reference"
    require(path.is_dir(), f"{path} not found: the R reference results live in ../shared")
    return path
