"""The whole book on data that look like a researcher's own: no truth file, CSV, awkward shapes.

Every page must render in the strict build on such data; no page may show a placeholder, a
"nan" or a synthetic-data banner; every headline number the landing page quotes must be a number
or an explained "not available"; and every data-dependent branch of the pages (see
``realdata.BRANCHES``) is rendered by at least one scenario and checked here by what it says.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest
import realdata
import yaml

from conftest import ROOT, manifest_glue, toc_pages

pytestmark = pytest.mark.book

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


SCENARIO_PARAMS = list(realdata.SCENARIOS)
# Pages that do not depend on the data: the bibliography, and the API reference (docstrings,
# which may well speak of NaN).
NOT_DATA_PAGES = {"references", "chapters/appendix_api"}
BRANCH_PARAMS = list(realdata.BRANCHES)


@pytest.fixture(scope="session")
def page_texts(real_site) -> Callable[[str], dict[str, str]]:
    """Scenario -> toc page -> the text a reader sees."""
    cache: dict[str, dict[str, str]] = {}

    def texts(name: str) -> dict[str, str]:
        if name not in cache:
            html = real_site(name)
            cache[name] = {page: page_text(html / f"{page}.html")
                           for page in toc_pages() if page not in NOT_DATA_PAGES}
        return cache[name]

    return texts


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_no_page_shows_a_placeholder_nan_or_synthetic_banner(page_texts, scenario):
    for page, text in page_texts(scenario).items():
        lowered = text.lower()
        for placeholder in PLACEHOLDERS:
            assert placeholder not in lowered, f"{scenario}: {page} shows {placeholder!r}"
        found = NAN.search(text)
        context = text[max(found.start() - 120, 0):found.end() + 60] if found else ""
        assert not found, f"{scenario}: {page} shows nan: ...{context}..."
        assert "These results are computed on synthetic data" not in text, f"{scenario}: {page}"


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_every_page_records_that_no_truth_file_was_found(real_site, scenario):
    manifest = json.loads((real_site(scenario) / "run_manifest.json").read_text())
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


@pytest.mark.parametrize("scenario", SCENARIO_PARAMS)
def test_every_headline_value_is_a_number_or_an_explained_gap(real_site, scenario):
    """A quoted value is a finite number or a text, or missing from a page that stopped early
    with its reason (which the landing page then quotes instead: see BRANCHES)."""
    manifest = json.loads((real_site(scenario) / "run_manifest.json").read_text())
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


def test_the_landing_page_and_the_scorecard_name_their_data(real_site, default_build):
    """The landing page opens with the data banner, and every headline sentence and the
    scorecard's counts say which data they speak of: recovered on synthetic data, reproduced
    only on real data."""
    pages = ("intro", "chapters/appendix_scorecard")
    default = {page: page_text(default_build / f"{page}.html") for page in pages}
    other = {page: page_text(real_site("other-programme") / f"{page}.html") for page in pages}
    chapters = json.loads((default_build / "run_manifest.json").read_text())["chapters"]
    glue, scores = chapters["intro"]["glue"], chapters["chapters/appendix_scorecard"]["glue"]

    intro = default["intro"]
    banner = intro.find("These results are computed on synthetic data")
    assert 0 <= banner < intro.index("Headline results of this build #")  # the heading, not the contents
    assert (f"Study 1. On synthetic data built with a true effect of {glue['true_effect']:.3f} "
            "log points, cluster membership changed") in intro
    assert "Study 2. On the synthetic tech-firm data of this build" in intro
    assert "Together. On the synthetic firm panel of study 1" in intro
    assert "Scorecard. On the synthetic data of this build" in intro
    assert "reproduced by this build" not in intro
    assert (f"On the synthetic data of this run, the {scores['n_claims']} claims score as follows"
            in default["chapters/appendix_scorecard"])
    # (a glued value is an element of its own: the text has a space after it)
    assert re.search(rf"recovered, {scores['n_recovered']} ?; not recovered",
                     default["chapters/appendix_scorecard"])

    intro = other["intro"]
    banner = intro.find("These results are computed on the data files named in the run's parameters")
    assert 0 <= banner < intro.index("Headline results of this build #")  # the heading, not the contents
    for sentence in ("Study 1. On the firm panel of this run (no truth file)",
                     "Study 2. On the tech-firm data of this run (no truth file)",
                     "Together. On the firm panel of this run (no truth file)",
                     "Scorecard. On the data of this run (no truth file)"):
        assert sentence in intro
    assert "recovered" not in intro
    assert ("On the data of this run (no truth file), the 7 claims score as follows"
            in other["chapters/appendix_scorecard"])


@pytest.mark.parametrize("branch", BRANCH_PARAMS)
def test_every_data_dependent_branch_is_rendered(page_texts, branch):
    scenario, page, text = realdata.BRANCHES[branch]
    pages = page_texts(scenario)
    if page is not None:
        assert text in pages[page], f"{branch}: {page} of {scenario} does not say {text!r}"


def test_the_scenarios_have_the_shapes_they_claim(tmp_path):
    """Each change does what its name says, on data that still pass the schemas."""
    import pandas as pd

    one = realdata.write_scenario("one-cohort-no-exporters", tmp_path / "one")
    data = one.parent / "data"
    members = pd.read_csv(data / "membership.csv")
    panel = pd.read_csv(data / "panel.csv", dtype={"nace2": str})
    tech = pd.read_csv(data / "techfirms.csv")
    assert members["join_year"].nunique() == 1 and members["cluster"].nunique() == 1
    assert panel.groupby("nace2")["firm_id"].nunique().min() == 12
    assert (panel["exports"] == 0).all() and (tech["international"] == 0).all()
    assert not list(one.parent.rglob("*.truth.json"))

    other = realdata.write_scenario("other-programme", tmp_path / "other")
    tech = pd.read_csv(other.parent / "data" / "techfirms.csv")
    by_region = pd.crosstab(tech["region"], tech["serial"])
    assert ((by_region[True] == 0) & (by_region[False] > 0)).any()


def test_inputs_from_prepare_build_and_the_data_page_shows_every_step(real_site, page_texts):
    """The book builds on what `prepare` wrote, with its run.yml as it is (the quick settings
    of the scenarios aside), and the Data page shows each step of the report, dropped rows
    included, and that the files are still those prepare wrote."""
    html = real_site("prepared")
    prepared = html.parents[1] / "prepared"
    chapters = json.loads((html / "run_manifest.json").read_text())["chapters"]
    data = chapters["chapters/02_data"]
    for name, file in (("panel_path", "panel.parquet"), ("membership_path", "membership.csv"),
                       ("techfirms_path", "techfirms.csv")):
        assert Path(data["parameters"][name]).resolve() == (prepared / file).resolve(), name
    glue = data["glue"]
    assert (glue["prep_given"], glue["prep_current"], glue["prep_edited"]) == (False, True, False)
    assert glue["prep_recipe"] == "recipe.yml"

    report = json.loads((prepared / "prepare_report.json").read_text(encoding="utf-8"))
    dropped = [s for s in report["steps"] if s["step"] == "drop"]
    assert [s["rows"] for s in dropped] == [len(realdata.UNKNOWN_MEMBERS)]
    text = page_texts("prepared")["chapters/02_data"]
    for step in report["steps"]:  # one table row each: input, step, what, rows
        row = f"{step['file']} {step['step']} {step['detail']} {step['rows']:,}"
        assert row in text, row


DATA_PARAMETERS = {"panel_path", "membership_path", "techfirms_path", "programme_path"}


def test_every_data_chapter_shows_the_other_programmes_numbers(real_site, default_build):
    """On another programme's data, every chapter that reads data shows that programme's
    numbers, and the cohorts in the text are its clusters' start years."""
    html = real_site("other-programme")
    manifest = json.loads((html / "run_manifest.json").read_text())
    for name, entry in manifest["chapters"].items():
        if "panel_path" in entry["parameters"]:
            assert not entry["parameters"]["panel_path"].endswith("synthetic/panel.parquet"), name
    other, default = manifest_glue(html), manifest_glue(default_build)
    assert other.keys() == default.keys()
    # The intro, the validation on R's reference data and the Monte Carlo of the generators
    # read no data; every other chapter must show numbers of the data it was given.
    # (the pages that report on the whole run read the manifest, and are not compared here)
    readers = [name for name, entry in manifest["chapters"].items()
               if DATA_PARAMETERS & set(entry["parameters"])
               and "manifest_path" not in entry["parameters"]]
    assert {f"chapters/{c}" for c in ("01_programme", "02_data", "03_productivity",
                                      "04_cluster_effects", "05_serial_innovators")} <= set(readers)
    same = [name for name in readers if other[name] == default[name]]
    assert not same, f"these chapters show the default data's numbers: {same}"
    programme_file = yaml.safe_load((html.parents[1] / "programme.yml").read_text())
    starts = sorted({c["start_year"] for c in programme_file["clusters"]})
    cohorts = [int(y) for y in other["chapters/04_cluster_effects"]["cohort_years"].split(", ")]
    assert min(cohorts) == starts[0] and set(starts) <= set(cohorts)


# Executes the chapters of a build in the reverse of the toc's order from an empty cache, as
# `build --order reverse` does, without rendering (what is compared is the glued values).
REVERSE_RUN = """
import json, sys
from pathlib import Path
from clusterpolicy.book import build
book = build.Book(Path(sys.argv[1]), Path(sys.argv[2]))
chapters = [c for c in book.chapters() if not c.runs_last][::-1]
pairs = list(zip(sys.argv[4::2], sys.argv[5::2]))
overrides = build.resolve_overrides(book.chapters(), build.load_params_file(sys.argv[3]), pairs,
                                    Path.cwd())
records = build.run_chapters(book, chapters, overrides, progress=lambda line: None)
print(json.dumps({r.docname: r.glue for r in records}, default=str))
"""


def test_glued_numbers_do_not_depend_on_execution_order(real_site, tmp_path):
    """The same data executed from an empty cache in reverse order give the same numbers.

    Every chapter but those that report on the whole run (which always run last, on the
    manifest of the others) runs in reverse toc order: chapters 06 and 04 then estimate the TFP
    that chapter 03 would otherwise have cached for them.
    """
    forward = real_site("one-cohort-no-exporters")
    params = forward.parents[1] / "run.yml"
    result = subprocess.run(
        [sys.executable, "-c", REVERSE_RUN, str(ROOT), str(tmp_path / "out"), str(params),
         *realdata.EXTRA_ARGS["one-cohort-no-exporters"][1:]],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    reverse = json.loads(result.stdout.splitlines()[-1])
    expected = manifest_glue(forward)
    assert list(reverse) == list(expected)[::-1]
    for docname, glue in expected.items():
        assert reverse[docname] == glue, docname


def test_one_tfp_setting_reaches_every_chapter_that_measures_tfp(real_site):
    """`-p degree 3` is recorded by chapters 03, 04 and 06, and chapter 03 says so."""
    manifest = json.loads((real_site("one-cohort-no-exporters") / "run_manifest.json").read_text())
    chapters = manifest["chapters"]
    for page in ("03_productivity", "04_cluster_effects", "06_synthesis"):
        assert chapters[f"chapters/{page}"]["parameters"]["degree"] == 3, page
    assert chapters["chapters/03_productivity"]["glue"]["degree"] == 3
    # the pages that do not measure TFP do not take the setting
    assert "degree" not in chapters["chapters/05_serial_innovators"]["parameters"]


def test_the_what_changed_page_compares_each_build_with_the_latest_release(real_site, page_texts,
                                                                          default_build):
    """The page's counts are those of `diff` against the latest release; a scenario build names
    its deliberately changed parameter (a cubic first stage) among the causes."""
    from clusterpolicy.book import changes, release

    latest = release.latest(ROOT / "releases" / "index.json")
    scenario = "one-cohort-no-exporters"
    for site in (default_build, real_site(scenario)):
        manifest = json.loads((site / "run_manifest.json").read_text())
        glue = manifest["chapters"]["chapters/appendix_changes"]["glue"]
        assert glue["has_release"] is (latest is not None)
        if latest is None:
            continue
        expected = changes.compare(latest.read(), manifest)
        assert (glue["n_moved"], glue["n_flipped"], glue["n_unchanged"]) == (
            len(expected.moved), len(expected.flipped), expected.unchanged)
    text = page_texts(scenario)["chapters/appendix_changes"]
    if latest is None:
        assert "No release has been made yet" in text
    else:
        assert f"Compared with release {latest.version}" in text
        assert "parameters changed:" in text and "degree 2 -> 3" in text
        assert "input files changed:" in text
