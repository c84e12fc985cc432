"""Rerunning the book: on another programme's data, in another order, and on bad data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusterpolicy.data import programme
from conftest import ROOT, manifest_glue

pytestmark = pytest.mark.slow
DATA_PARAMETERS = {"panel_path", "membership_path", "techfirms_path", "programme_path"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterpolicy", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_bad_input_stops_the_build_before_any_chapter(tmp_path):
    bad = ROOT / "tests" / "malformed" / "panel_negative_capital.csv"
    result = cli("build", "-p", "panel_path", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "breaks the panel schema; no chapter was run" in result.stderr
    assert "column: capital | rule: capital must be >= 0" in result.stderr
    assert "line 4: capital='-830'" in result.stderr
    assert "executed" not in result.stdout and "cached" not in result.stdout
    assert not (tmp_path / "out" / "html").exists()


@pytest.fixture(scope="module")
def other_programme(tmp_path_factory) -> tuple[Path, dict]:
    """A second generated economy of another shape, and the book built on it."""
    base = tmp_path_factory.mktemp("other")
    synth = cli("synth", "--out", str(base / "data"), "--shape", "other")
    assert synth.returncode == 0, synth.stderr
    truth = json.loads((base / "data" / "panel.truth.json").read_text())
    clusters = sorted({c["name"] for c in truth["shape"]["clusters"]})
    (base / "programme.yml").write_text(yaml.safe_dump(programme.describe_generated(truth)))
    params = base / "other.yml"
    params.write_text(yaml.safe_dump({
        "panel_path": "data/panel.parquet", "membership_path": "data/membership.csv",
        "techfirms_path": "data/techfirms.csv", "programme_path": "programme.yml",
        "clusters": clusters}))
    result = cli("build", "--params", str(params), "--out", str(base / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    return base / "out" / "html", truth


def test_the_book_builds_on_another_programme(other_programme, default_build):
    html, truth = other_programme
    manifest = json.loads((html / "run_manifest.json").read_text())
    for name, entry in manifest["chapters"].items():
        if "panel_path" in entry["parameters"]:
            assert entry["parameters"]["panel_path"].endswith("data/panel.parquet"), name
            assert not entry["parameters"]["panel_path"].startswith("data/synthetic"), name
    other, default = manifest_glue(html), manifest_glue(default_build)
    assert other.keys() == default.keys()
    # Every chapter that reads the data gets its numbers from the other data; the others (the
    # intro, the validation on R's reference data, the Monte Carlo of the generators) need not.
    readers = [name for name, entry in manifest["chapters"].items()
               if DATA_PARAMETERS & set(entry["parameters"])]
    assert {f"chapters/{c}" for c in ("01_programme", "02_data", "03_productivity",
                                      "04_cluster_effects", "05_serial_innovators")} <= set(readers)
    same = [name for name in readers if other[name] == default[name]]
    assert not same, f"these chapters show the default data's numbers: {same}"
    # and the cohorts in the text are the other programme's
    cohorts = [int(y) for y in other["chapters/04_cluster_effects"]["cohort_years"].split(", ")]
    starts = [c["start_year"] for c in truth["shape"]["clusters"]]
    assert min(cohorts) == min(starts)
    assert set(starts) <= set(cohorts) and max(cohorts) <= truth["shape"]["last_year"]


def test_glued_numbers_do_not_depend_on_execution_order(tmp_path, default_build):
    result = cli("build", "--order", "reverse", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert manifest_glue(tmp_path / "out" / "html") == manifest_glue(default_build)
