"""The published facts: one file, read with its programme file, and every bad entry named."""

from __future__ import annotations

import shutil

import pytest
import yaml

from clusterpolicy.data import published
from conftest import ROOT

FACTS = ROOT / "data" / "facts" / "published.yml"


def test_the_facts_file_states_the_published_numbers_once():
    facts = published.load_study1(FACTS)
    assert (facts.scored.low, facts.scored.high) == (0.01, 0.044)
    assert facts.ranges["summary"].low == 0.023 and facts.headline == 0.03
    assert (facts.first_year, facts.last_year, facts.firms_more_than) == (2013, 2020, 10_000)
    # the programme's facts come from the programme file, not from the facts file
    assert (facts.launch_year, facts.n_clusters) == (2017, 7)
    assert "launch_year" not in FACTS.read_text()
    assert facts.scored.contains(0.031) and not facts.scored.contains(0.05)


def _copy(tmp_path, change):
    (tmp_path / "facts").mkdir()
    shutil.copytree(ROOT / "data" / "programme", tmp_path / "programme")
    data = yaml.safe_load(FACTS.read_text())
    change(data)
    target = tmp_path / "facts" / "published.yml"
    target.write_text(yaml.safe_dump(data))
    return target


def test_a_missing_entry_is_named(tmp_path):
    path = _copy(tmp_path, lambda d: d["study1"]["effect_on_tfp"].pop("headline"))
    with pytest.raises(published.FactsFileError, match=r"study1\.effect_on_tfp\.headline"):
        published.load_study1(path)


def test_the_scored_range_must_be_one_of_the_ranges(tmp_path):
    path = _copy(tmp_path, lambda d: d["study1"]["effect_on_tfp"].update(scored="abstract"))
    with pytest.raises(published.FactsFileError, match="'abstract', which is not one of the ranges"):
        published.load_study1(path)


def test_a_range_must_not_be_upside_down(tmp_path):
    def flip(d):
        d["study1"]["effect_on_tfp"]["ranges"]["summary"]["low"] = 0.05
    with pytest.raises(published.FactsFileError, match="range 'summary': low must not exceed high"):
        published.load_study1(_copy(tmp_path, flip))
