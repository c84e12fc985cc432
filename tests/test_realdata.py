"""The whole book on data that look like a researcher's own: no truth file, CSV, awkward shapes.

Every page must render in the strict build on such data; no page may show a placeholder, a
"nan" or a synthetic-data banner; every headline number the landing page quotes must be a number
or an explained "not available"; and every data-dependent branch of the pages (see
``realdata.BRANCHES``) is rendered by at least one scenario and checked here by what it says.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import realdata

from conftest import ROOT, toc_pages

pytestmark = pytest.mark.slow

PLACEHOLDERS = ("not available: no truth file", "not run (real data)", "(not available",
                "nan%", "<na>")
# "nan" printed where a number should be; the validation appendix's note on R's NA ("NA in R,
# NaN here") names the value on purpose.
NAN = re.compile(r"(?<![\w.-])nan(?![\w-])(?! here\))", re.IGNORECASE)


def page_text(html: Path) -> str:
    """The text of a page's main part, as a reader sees it (entities decoded)."""
    body = html.read_text(encoding="utf-8")
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    main = re.search(r'<main\b.*?</main>', body, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", main.group(0) if main else body)
    return re.sub(r"\s+", " ", unescape(text)).replace("\u2019", "'")


@pytest.fixture(scope="module")
def real_builds(tmp_path_factory) -> dict[str, Path]:
    """Each scenario built in turn into one build folder (chapters that read no data stay
    cached between them); returns each scenario's published site, copied aside."""
    base = tmp_path_factory.mktemp("real")
    sites = {}
    for name in realdata.SCENARIOS:
        params = realdata.write_scenario(name, base / name)
        assert not list((base / name).rglob("*.truth.json"))
        result = subprocess.run(
            [sys.executable, "-m", "clusterpolicy", "build", "--params", str(params),
             "--out", str(base / "out")], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"scenario {name}:\n{result.stdout}\n{result.stderr}"
        sites[name] = shutil.copytree(base / "out" / "html", base / name / "html")
    return sites


@pytest.fixture(scope="module")
def pages(real_builds) -> dict[str, dict[str, str]]:
    """Scenario -> toc page -> the text a reader sees."""
    return {name: {page: page_text(html / f"{page}.html")
                   for page in toc_pages() if page != "references"}
            for name, html in real_builds.items()}


@pytest.mark.parametrize("scenario", list(realdata.SCENARIOS))
def test_no_page_shows_a_placeholder_nan_or_synthetic_banner(pages, scenario):
    for page, text in pages[scenario].items():
        lowered = text.lower()
        for placeholder in PLACEHOLDERS:
            assert placeholder not in lowered, f"{scenario}: {page} shows {placeholder!r}"
        found = NAN.search(text)
        context = text[max(found.start() - 120, 0):found.end() + 60] if found else ""
        assert not found, f"{scenario}: {page} shows nan: ...{context}..."
        assert "These results are computed on synthetic data" not in text, f"{scenario}: {page}"


@pytest.mark.parametrize("scenario", list(realdata.SCENARIOS))
def test_every_page_records_that_no_truth_file_was_found(real_builds, scenario):
    manifest = json.loads((real_builds[scenario] / "run_manifest.json").read_text())
    looked = {}
    for name, entry in manifest["chapters"].items():
        truth = [i for i in entry["inputs"] if i["path"].endswith(".truth.json")]
        assert all(i["sha256"] == "absent" for i in truth), (scenario, name, truth)
        looked[name] = bool(truth)
    # every page that can compare with a truth looked for one
    assert all(looked[f"chapters/{c}"] for c in ("02_data", "03_productivity",
                                                 "04_cluster_effects", "05_serial_innovators")), looked


def _headline_names() -> list[tuple[str, str]]:
    """(page, name) of every value the landing page quotes from another page."""
    intro = (ROOT / "intro.md").read_text(encoding="utf-8")
    found = re.findall(r"\{glue:(?:text|md)\}`([\w/]+)\.ipynb::(\w+)", intro)
    assert found, "the landing page quotes no glued value"
    return sorted(set(found))


@pytest.mark.parametrize("scenario", list(realdata.SCENARIOS))
def test_every_headline_value_is_a_number_or_an_explained_gap(real_builds, scenario):
    """A quoted value is a finite number or a text, or missing from a page that stopped early
    with its reason (which the landing page then quotes instead: see BRANCHES)."""
    manifest = json.loads((real_builds[scenario] / "run_manifest.json").read_text())
    for page, name in _headline_names():
        glue = manifest["chapters"][page]["glue"]
        value = glue.get(name)
        if value is None:
            # missing only where the page stopped and said why (report.require)
            assert str(glue.get("page_stopped", "")).strip(), f"{scenario}: {page} lacks {name}"
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert value == value and abs(value) != float("inf"), f"{scenario}: {page}::{name} = {value}"
        else:
            assert isinstance(value, str) and value.strip(), f"{scenario}: {page}::{name} = {value!r}"
            assert "nan" not in value.lower().split(), f"{scenario}: {page}::{name} = {value!r}"


@pytest.mark.parametrize("branch", list(realdata.BRANCHES))
def test_every_data_dependent_branch_is_rendered(pages, branch):
    scenario, page, text = realdata.BRANCHES[branch]
    assert scenario in pages
    if page is not None:
        assert text in pages[scenario][page], f"{branch}: {page} of {scenario} does not say {text!r}"


def test_the_scenarios_have_the_shapes_they_claim(tmp_path):
    """Each change does what its name says, on data that still pass the schemas."""
    import pandas as pd

    one = realdata.write_scenario("one-cohort", tmp_path / "one")
    data = one.parent / "data"
    members = pd.read_csv(data / "membership.csv")
    panel = pd.read_csv(data / "panel.csv", dtype={"nace2": str})
    tech = pd.read_csv(data / "techfirms.csv")
    assert members["join_year"].nunique() == 1 and members["cluster"].nunique() == 1
    assert panel.groupby("nace2")["firm_id"].nunique().min() == 12
    by_region = pd.crosstab(tech["region"], tech["serial"])
    assert ((by_region[True] == 0) & (by_region[False] > 0)).any()
    assert not list(one.parent.rglob("*.truth.json"))
