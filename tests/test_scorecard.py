"""The scorecard's verdicts follow from the glued numbers, by explicit rules."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from clusterpolicy.data import published
from clusterpolicy.studies import contract
from clusterpolicy.studies import scorecard as sc
from conftest import ROOT

GOOD = {"chapters": {
    "chapters/02_data": {"glue": {"diff_size": 0.9, "p_size": 1e-10, "diff_age": 6.0,
                                  "p_age": 1e-5, "diff_capint": 0.5, "p_capint": 1e-8}},
    "chapters/04_cluster_effects": {"glue": {
        "effect_conditional_did": 0.031, "effect_conditional_did_se": 0.006,
        "effect_twfe": 0.028, "effect_twfe_se": 0.005,
        "effect_cs_simple": 0.030, "effect_cs_simple_se": 0.006, "size_test_p": 0.4}},
    "chapters/05_serial_innovators": {"glue": {
        "verdict_both_gain": "reproduced", "verdict_nonserial_decreasing": "reproduced",
        "verdict_serial_gain_more": "reproduced",
        **{f"ame_{m}_{g}{x}": v for m in ("initiation", "intensity")
           for g in ("serial", "nonserial", "diff") for x, v in (("", 0.05), ("_p", 0.001))},
        **{f"{q}_{m}{x}": v for m in ("initiation", "intensity")
           for q, x, v in (("curv", "", -0.2), ("curv", "_p", 0.01), ("tp", "", 1.1))}}},
}}


FACTS = published.load_study1(ROOT / "data" / "facts" / "published.yml")


def verdicts(manifest) -> list[str]:
    return sc.scorecard(manifest, FACTS)["verdict"].tolist()


def test_all_claims_reproduced_when_the_numbers_say_so():
    table = sc.scorecard(GOOD, FACTS)
    assert table["verdict"].eq(sc.REPRODUCED).all(), table
    assert "initiation: AME serial 0.050 (p = 0.001)" in table.loc[4, "this run"]
    assert "turning point z = 1.10" in table.loc[5, "this run"]


def test_verdicts_turn_with_the_numbers():
    bad = copy.deepcopy(GOOD)
    g4 = bad["chapters"]["chapters/04_cluster_effects"]["glue"]
    g4["effect_conditional_did"] = 0.004   # below the published range
    g4["size_test_p"] = 0.01      # significant heterogeneity
    bad["chapters"]["chapters/02_data"]["glue"]["diff_age"] = -2.0
    bad["chapters"]["chapters/05_serial_innovators"]["glue"]["verdict_serial_gain_more"] = \
        "not reproduced"
    assert verdicts(bad) == [sc.NOT_REPRODUCED, sc.NOT_REPRODUCED, sc.NOT_REPRODUCED,
                             sc.NOT_REPRODUCED, sc.REPRODUCED, sc.REPRODUCED, sc.NOT_REPRODUCED]


def test_an_insignificant_estimate_inside_the_range_is_not_a_reproduction():
    weak = copy.deepcopy(GOOD)
    weak["chapters"]["chapters/04_cluster_effects"]["glue"]["effect_conditional_did_se"] = 0.03
    assert verdicts(weak)[0] == sc.NOT_REPRODUCED


def test_a_page_that_stopped_early_makes_its_claims_not_testable_with_the_reason():
    stopped = copy.deepcopy(GOOD)
    stopped["chapters"]["chapters/04_cluster_effects"]["glue"] = {
        "page_stopped": "Every firm is a member.", "cohort_years": "2017"}
    table = sc.scorecard(stopped, FACTS)
    assert table["verdict"].tolist()[:3] == [sc.NOT_TESTABLE] * 3
    assert "04_cluster_effects stopped early on these data" in table.loc[0, "this run"]
    assert table.loc[3, "verdict"] == sc.REPRODUCED


def test_a_statistic_the_data_cannot_give_is_not_testable():
    one_class = copy.deepcopy(GOOD)
    g4 = one_class["chapters"]["chapters/04_cluster_effects"]["glue"]
    del g4["size_test_p"]
    g4["size_test_computed"] = False
    table = sc.scorecard(one_class, FACTS)
    assert table.loc[2, "verdict"] == sc.NOT_TESTABLE
    assert "size_test_computed is false" in table.loc[2, "this run"]


def test_a_missing_number_is_an_error_not_a_verdict():
    broken = copy.deepcopy(GOOD)
    del broken["chapters"]["chapters/04_cluster_effects"]["glue"]["effect_twfe"]
    with pytest.raises(contract.ContractError, match="04_cluster_effects did not glue effect_twfe"):
        sc.scorecard(broken, FACTS)
    # and a page that is not in the run at all
    with pytest.raises(contract.ContractError, match="no page 05_serial_innovators"):
        sc.scorecard({"chapters": {k: v for k, v in GOOD["chapters"].items() if "05" not in k}}, FACTS)


def test_the_published_range_comes_from_the_facts_file():
    narrow = dataclasses.replace(FACTS, scored=FACTS.ranges["summary"])
    table = sc.scorecard(GOOD, narrow)
    # 0.031, 0.028, 0.030 all lie inside 2.3%-4.4% as well; the rules quote the range scored
    assert "inside the published 2.3% to 4.4%" in table.loc[0, "rule"]
    low = copy.deepcopy(GOOD)
    low["chapters"]["chapters/04_cluster_effects"]["glue"]["effect_twfe"] = 0.02
    assert sc.scorecard(low, FACTS).loc[1, "verdict"] == sc.REPRODUCED
    assert sc.scorecard(low, narrow).loc[1, "verdict"] == sc.NOT_REPRODUCED
