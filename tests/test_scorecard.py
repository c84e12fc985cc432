"""The scorecard's verdicts follow from the glued numbers, by explicit rules."""

from __future__ import annotations

import copy

from clusterpolicy.studies import scorecard as sc

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


def verdicts(manifest) -> list[str]:
    return sc.scorecard(manifest)["verdict"].tolist()


def test_all_claims_reproduced_when_the_numbers_say_so():
    table = sc.scorecard(GOOD)
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


def test_missing_numbers_are_not_testable_with_the_reason():
    partial = {"chapters": {"chapters/02_data": GOOD["chapters"]["chapters/02_data"]}}
    table = sc.scorecard(partial)
    assert table["verdict"].tolist().count(sc.NOT_TESTABLE) == 6
    assert "04_cluster_effects did not report effect_conditional_did" in table.loc[0, "this run"]
    assert table.loc[3, "verdict"] == sc.REPRODUCED
