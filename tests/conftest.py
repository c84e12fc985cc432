"""Shared fixtures. Tests that need a missing tool skip outside CI and fail in CI (CI=true)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
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
    """``data/reference``: the public datasets and R reference results kept in the project."""
    return ROOT / "data" / "reference"


@pytest.fixture(scope="session")
def default_build() -> Path:
    """The book built with the README's command on the default data; returns ``_build/html``.

    Under pytest-xdist every worker asks for it: the first builds, the others wait on a lock
    and then find every chapter cached (the build folder is not safe for two builds at once).
    """
    (ROOT / "_build").mkdir(exist_ok=True)
    with (ROOT / "_build" / ".tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            result = subprocess.run([sys.executable, "-m", "clusterpolicy", "build"], cwd=ROOT,
                                    capture_output=True, text=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert result.returncode == 0, f"book build failed:\n{result.stdout}\n{result.stderr}"
    return ROOT / "_build" / "html"


def manifest_glue(html: Path) -> dict[str, dict]:
    """Glued values per chapter from a build's run manifest, without the pages that report on
    the run itself (execution times, timestamps)."""
    manifest = json.loads((html / "run_manifest.json").read_text())
    return {name: entry["glue"] for name, entry in manifest["chapters"].items()
            if "manifest_path" not in entry["parameters"]}


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)

    walk(toc)
    return pages
