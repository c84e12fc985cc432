"""Shared fixtures. Tests that need a missing tool skip outside CI and fail in CI (CI=true)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import realdata
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


# -- whole books, built once per test run ---------------------------------------------------
# A book build takes a minute or two and several tests read each one. Every build runs once per
# test run, under a lock in a folder that the xdist workers share: the first worker that needs
# it builds it, the others wait for it. So that no worker sits waiting while another builds,
# each worker also starts the builds its session will need in a background thread as soon as
# the tests are collected (in opposite orders on the two workers).
BOOK_FIXTURES = ("default_build", "real_site")


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by the xdist workers of this test run (the run's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "books"
    shared.mkdir(exist_ok=True)
    return shared


def build_once(shared: Path, name: str, build: Callable[[], subprocess.CompletedProcess[str]]
               ) -> None:
    """Run ``build`` once per test run (``shared`` keeps the outcome); raise if it failed."""
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            outcome = shared / f"{name}.outcome.json"
            if not outcome.exists():
                result = build()
                outcome.write_text(json.dumps({"returncode": result.returncode,
                                               "output": result.stdout + result.stderr}))
            recorded = json.loads(outcome.read_text())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert recorded["returncode"] == 0, f"{name} failed:\n{recorded['output']}"


def build_default() -> subprocess.CompletedProcess[str]:
    """The README's build command, on the default data."""
    return subprocess.run([sys.executable, "-m", "clusterpolicy", "build"], cwd=ROOT,
                          capture_output=True, text=True)


def build_scenario(shared: Path, name: str) -> subprocess.CompletedProcess[str]:
    """A real-looking scenario (tests/realdata.py) written and built in ``shared/name``."""
    folder = shared / name
    shutil.rmtree(folder, ignore_errors=True)
    params = realdata.write_scenario(name, folder)
    assert not list(folder.rglob("*.truth.json"))
    return subprocess.run([sys.executable, "-m", "clusterpolicy", "build", "--params", str(params),
                           *realdata.EXTRA_ARGS.get(name, ()), "--out", str(folder / "out")],
                          cwd=ROOT, capture_output=True, text=True)


def _builds(shared: Path) -> list[tuple[str, Callable[[], subprocess.CompletedProcess[str]]]]:
    return [("default", build_default),
            *[(name, partial(build_scenario, shared, name)) for name in realdata.SCENARIOS]]


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(set(BOOK_FIXTURES) & set(getattr(item, "fixturenames", ()))
               for item in session.items):
        return
    shared = run_folder(session.config._tmp_path_factory)  # type: ignore[attr-defined]
    builds = _builds(shared)
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        builds.reverse()

    def warm_up() -> None:
        for name, build in builds:
            try:
                build_once(shared, name, build)
            except AssertionError:
                pass  # the test that needs it reports the failure

    threading.Thread(target=warm_up, name="book-builds", daemon=True).start()


@pytest.fixture(scope="session")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book built with the README's command on the default data; returns ``_build/html``."""
    build_once(run_folder(tmp_path_factory), "default", build_default)
    return ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def real_site(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The published site of a real-looking scenario (``realdata.SCENARIOS``), by name."""
    shared = run_folder(tmp_path_factory)

    def site(name: str) -> Path:
        build_once(shared, name, partial(build_scenario, shared, name))
        return shared / name / "out" / "html"

    return site


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
