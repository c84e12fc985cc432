"""What changed between two runs (clusterpolicy.book.changes and `python -m clusterpolicy diff`)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from clusterpolicy import cli
from clusterpolicy.book import changes
from conftest import ROOT


def entry(glue: dict, **recorded) -> dict:
    return {"parameters": recorded.get("parameters", {"seed": 1}),
            "inputs": recorded.get("inputs", [{"path": "data/panel.csv", "sha256": "aaa"}]),
            "versions": recorded.get("versions", {"pandas": "2.2.3"}),
            "commit": recorded.get("commit", "c0ffee"), "seconds": 1.0,
            "executed_at": "2026-12-07T00:00:00+00:00", "glue": glue}


def manifest(**pages) -> dict:
    return {"book": "test", "commit": "c0ffee", "versions": {"pandas": "2.2.3"},
            "chapters": {name.replace("__", "/"): page for name, page in pages.items()}}


EFFECTS = {"effect": 0.030, "effect_se": 0.010, "verdict_gain": "recovered",
           "tbl_effects": "| a | b |\n|:--|--:|\n| x | 1 |\n", "n_firms": 1000, "has_truth": True}


def test_identical_runs_move_nothing_and_the_execution_report_is_not_compared():
    before = manifest(chapters__04=entry(EFFECTS),
                      chapters__appendix_reproducibility=entry({"total_seconds": 90.0}))
    after = copy.deepcopy(before)
    after["chapters"]["chapters/appendix_reproducibility"]["glue"]["total_seconds"] = 75.0
    result = changes.compare(before, after)
    assert result.nothing_moved and result.unchanged == len(EFFECTS)
    assert result.text().startswith("Comparing before with after: nothing moved; all 6 glued")


def test_a_moved_number_in_standard_errors_a_flipped_verdict_and_a_changed_table():
    before = manifest(chapters__04=entry(EFFECTS))
    moved = EFFECTS | {"effect": 0.055, "effect_se": 0.012, "verdict_gain": "not recovered",
                       "tbl_effects": "| a | b |\n|:--|--:|\n| x | 2 |\n", "new_value": 3}
    del moved["n_firms"]
    after = manifest(chapters__04=entry(moved, parameters={"seed": 7}))
    result = changes.compare(before, after)
    by_name = {m.name: m for m in result.moved}
    assert set(by_name) == {"effect", "effect_se", "verdict_gain", "tbl_effects", "new_value",
                            "n_firms"}
    effect = by_name["effect"]
    assert effect.kind == "number"
    assert effect.difference == pytest.approx(0.025)
    assert effect.in_se == pytest.approx(2.5)  # in SEs of the earlier run
    assert by_name["effect_se"].in_se is None  # a standard error has no standard error glued
    assert [m.name for m in result.flipped] == ["verdict_gain"]
    assert by_name["tbl_effects"].kind == "table"
    assert (by_name["new_value"].kind, by_name["n_firms"].kind) == ("added", "removed")
    assert effect.page == "chapters/04"
    assert "has_truth" not in by_name  # a flag that did not move
    assert result.reasons["chapters/04"] == ["parameters changed: seed 1 -> 7"]
    text = result.text()
    assert "- chapters/04 `verdict_gain`: recovered -> not recovered" in text
    assert "`effect`: 0.03 -> 0.055 (+0.025, +2.50 SE)" in text
    assert "6 glued values differ" in text


@pytest.mark.parametrize("change, reason", [
    ({"inputs": [{"path": "data/panel.csv", "sha256": "bbb"}]},
     "input files changed: data/panel.csv"),
    ({"versions": {"pandas": "2.3.0"}}, "package versions changed: pandas 2.2.3 -> 2.3.0"),
    ({"commit": "badcafe"}, "code changed: commit c0ffee -> badcafe"),
    ({"commit": "c0ffee+dirty"}, "code changed: commit c0ffee -> c0ffee (uncommitted changes)"),
    ({}, "no recorded cause: inputs, parameters, versions and code are the same"),
])
def test_why_a_page_moved_is_read_from_what_its_manifest_entry_records(change, reason):
    before = manifest(chapters__03=entry({"gain": 0.02}))
    after = manifest(chapters__03=entry({"gain": 0.03}, **change))
    assert changes.compare(before, after).reasons["chapters/03"] == [reason]


def test_new_and_removed_pages():
    before = manifest(chapters__03=entry({"gain": 0.02}))
    after = manifest(chapters__07=entry({"gain": 0.02}))
    result = changes.compare(before, after)
    assert result.reasons == {"chapters/03": ["the page was removed"],
                              "chapters/07": ["the page is new"]}
    assert {m.kind for m in result.moved} == {"added", "removed"}


def test_verdicts_are_texts_named_as_verdicts():
    assert changes.is_verdict("verdict_both_gain", "recovered")
    assert changes.is_verdict("size_test_verdict", "not testable")
    assert not changes.is_verdict("mc_rate_verdict_both_gain", 0.9)  # a rate, not a verdict
    assert not changes.is_verdict("verdict_table", "| a |\n|--|\n")


def diff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterpolicy", "diff", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_the_diff_command(tmp_path):
    before, after = tmp_path / "a.json", tmp_path / "site"
    before.write_text(json.dumps(manifest(chapters__04=entry(EFFECTS))))
    after.mkdir()
    (after / "run_manifest.json").write_text(json.dumps(
        manifest(chapters__04=entry(EFFECTS | {"effect": 0.02}, commit="badcafe"))))
    result = diff(str(before), str(after))
    assert result.returncode == 0, result.stderr
    assert "1 glued values differ (1 number)" in result.stdout
    assert "Why: code changed: commit c0ffee -> badcafe" in result.stdout
    same = diff(str(before), str(before))
    assert same.returncode == 0 and "nothing moved" in same.stdout


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{not json", "not a readable run manifest"),
    ('{"book": "x"}', "not a run manifest (no 'chapters' mapping)"),
])
def test_the_diff_command_names_a_file_that_is_not_a_manifest(tmp_path, capsys, content, message):
    bad = tmp_path / "m.json"
    if content is not None:
        bad.write_text(content)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(manifest(chapters__04=entry(EFFECTS))))
    assert cli.main(["diff", str(good), str(bad)]) == 2
    stderr = capsys.readouterr().err
    assert str(bad) in stderr and message in stderr


@pytest.mark.book
def test_the_default_build_against_a_run_with_one_parameter_changed(default_build):
    """On the book's own manifest: a run that is the same but for chapter 04's caliper and its
    conditional-DiD estimate says exactly that."""
    before = json.loads((default_build / "run_manifest.json").read_text())
    assert changes.compare(before, before).nothing_moved
    after = copy.deepcopy(before)
    page = after["chapters"]["chapters/04_cluster_effects"]
    page["parameters"]["caliper"] = page["parameters"]["caliper"] * 2
    page["glue"]["effect_conditional_did"] += page["glue"]["effect_conditional_did_se"]
    result = changes.compare(before, after)
    assert [(m.page, m.name) for m in result.moved] == [
        ("chapters/04_cluster_effects", "effect_conditional_did")]
    assert result.moved[0].in_se == pytest.approx(1.0)
    assert result.reasons["chapters/04_cluster_effects"][0].startswith("parameters changed: caliper")
