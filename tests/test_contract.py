"""The contract between pages: every name one page reads from another is declared once, glued by
the default build, and a missing one is an error, never a verdict."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from clusterpolicy.book import build as cpbuild
from clusterpolicy.studies import contract
from conftest import ROOT

BOOK_MARKDOWN = [ROOT / "intro.md", *sorted((ROOT / "chapters").glob("*.md"))]
CROSS_PAGE = re.compile(r"\{glue:(?:text|md|figure|)\}`?([\w/]+)\.ipynb::(\w+)")


def cross_page_references() -> set[tuple[str, str]]:
    found = set()
    for source in BOOK_MARKDOWN:
        for path, name in CROSS_PAGE.findall(source.read_text(encoding="utf-8")):
            found.add((path.rsplit("/", 1)[-1], name))
    return found


def test_the_pages_read_one_another_and_the_scanner_sees_it():
    refs = cross_page_references()
    assert ("04_cluster_effects", "effect_conditional_did") in refs
    assert len(refs) >= 15


def test_every_name_a_page_reads_from_another_is_declared():
    undeclared = sorted(f"{page}::{name}" for page, name in cross_page_references()
                        if name not in contract.EXPORTS.get(page, {}))
    assert not undeclared, f"read across pages but not declared in contract.EXPORTS: {undeclared}"


@pytest.mark.book
def test_every_condition_is_a_flag_the_page_glues_on_the_default_data(default_manifest):
    for page, names in contract.EXPORTS.items():
        glue = default_manifest[page]
        for name, condition in names.items():
            if condition is not None:
                assert glue.get(condition) is True, (page, name, condition)


@pytest.fixture(scope="module")
def default_manifest(default_build):
    manifest = json.loads((default_build / "run_manifest.json").read_text())
    return {name.rsplit("/", 1)[-1]: entry["glue"] for name, entry in manifest["chapters"].items()}


@pytest.mark.book
def test_the_default_build_glues_every_declared_name(default_manifest):
    missing = {page: sorted(set(names) - set(default_manifest[page]))
               for page, names in contract.EXPORTS.items()}
    assert not any(missing.values()), missing


@pytest.mark.book
def test_the_default_build_has_no_untestable_claim_but_an_undetected_difference(default_manifest):
    """Every claim is testable on the default data, except the claim of no difference by size
    when chapter 4 neither shows equivalence nor detects a difference (then it is not testable,
    shown with its minimum detectable difference)."""
    not_detected = default_manifest["04_cluster_effects"]["size_not_detected"]
    assert default_manifest["appendix_scorecard"]["n_not_testable"] == int(not_detected)
    assert default_manifest["appendix_scorecard"]["n_claims"] == 7


@pytest.mark.book
def test_the_default_build_recovers_rather_than_reproduces(default_manifest):
    """The default data are synthetic: its verdicts say what the methods recover, and a miss
    where the truth has the pattern is counted as a false negative."""
    scores = default_manifest["appendix_scorecard"]
    assert (scores["n_reproduced"], scores["n_not_reproduced"]) == (0, 0)
    assert (scores["n_recovered"] + scores["n_not_recovered"] + scores["n_not_testable"]
            == scores["n_claims"])
    assert scores["n_false_negative"] <= scores["n_not_recovered"]
    study2 = default_manifest["05_serial_innovators"]
    for name in ("verdict_both_gain", "verdict_nonserial_decreasing", "verdict_serial_gain_more"):
        assert study2[name] in ("recovered", "not recovered (false negative)"), (name, study2[name])
    assert 0 <= study2["mc_rate_joint"] <= min(study2[f"mc_rate_{name}"] for name in (
        "verdict_both_gain", "verdict_nonserial_decreasing", "verdict_serial_gain_more"))


def test_missing_exports_excuses_only_a_stopped_page_or_a_false_condition():
    page = "04_cluster_effects"
    everything = dict.fromkeys(contract.EXPORTS[page], 1.0)
    assert contract.missing_exports(page, everything) == []
    without = {k: v for k, v in everything.items() if k not in ("effect_twfe", "size_contrast")}
    assert contract.missing_exports(page, without) == ["effect_twfe", "size_contrast"]
    assert contract.missing_exports(page, without | {"size_interaction_computed": False}) == [
        "effect_twfe"]
    assert contract.missing_exports(page, {contract.STOPPED: "no never-members"}) == []
    assert contract.missing_exports("a_page_that_exports_nothing", {}) == []


def test_read_raises_for_an_undeclared_name_and_says_why_a_value_is_missing():
    manifest = {"chapters": {"chapters/04_cluster_effects": {"glue": {"effect_twfe": 0.03}}}}
    assert contract.read(manifest, "04_cluster_effects", "effect_twfe") == 0.03
    with pytest.raises(contract.ContractError, match="not declared"):
        contract.read(manifest, "04_cluster_effects", "effect_of_everything")
    with pytest.raises(contract.ContractError, match="did not glue effect_cs_simple"):
        contract.read(manifest, "04_cluster_effects", "effect_cs_simple")
    manifest["chapters"]["chapters/04_cluster_effects"]["glue"][contract.STOPPED] = "why"
    with pytest.raises(contract.NotReported, match="stopped early"):
        contract.read(manifest, "04_cluster_effects", "effect_cs_simple")


@pytest.mark.book
def test_a_chapter_that_does_not_glue_what_it_exports_stops_the_build(tmp_path, monkeypatch):
    """On the small test book: declare a name that its echo chapter does not glue."""
    book = tmp_path / "book"
    shutil.copytree(ROOT / "tests" / "book", book)
    monkeypatch.setattr(contract, "EXPORTS", {"echo": {"never_glued": None}})
    with pytest.raises(cpbuild.ContractBroken, match="echo did not glue never_glued"):
        cpbuild.build(book, progress=lambda _: None)
    assert not (book / "_build" / "html").exists()
