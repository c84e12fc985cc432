"""The scorecard's verdicts follow from the glued numbers, by explicit rules, in the words of
the data: recovered or not on synthetic data with a truth file, reproduced or not on real data."""

from __future__ import annotations

import copy
import dataclasses
import json
from statistics import NormalDist

import pytest

from clusterpolicy.data import published
from clusterpolicy.studies import contract
from clusterpolicy.studies import scorecard as sc
from clusterpolicy.studies import verdicts as vocabulary
from conftest import ROOT

GOOD = {"chapters": {
    "chapters/02_data": {"glue": {"diff_size": 0.9, "p_size": 1e-10, "diff_age": 6.0,
                                  "p_age": 1e-5, "diff_capint": 0.5, "p_capint": 1e-8}},
    "chapters/04_cluster_effects": {"glue": {
        "has_truth": False,
        "effect_conditional_did": 0.031, "effect_conditional_did_se": 0.006,
        "effect_twfe": 0.028, "effect_twfe_se": 0.005,
        "effect_cs_simple": 0.030, "effect_cs_simple_se": 0.006,
        # the size contrast: 90% interval 0.002 +- 0.0066, inside +-0.015: equivalence
        "size_contrast": 0.002, "size_contrast_se": 0.004, "equivalence_bound": 0.015}},
    "chapters/05_serial_innovators": {"glue": {
        "has_truth": False,
        "verdict_both_gain": "reproduced", "verdict_nonserial_decreasing": "reproduced",
        "verdict_serial_gain_more": "reproduced",
        "mc_rate_verdict_both_gain": 1.0, "mc_rate_verdict_nonserial_decreasing": 0.82,
        "mc_rate_verdict_serial_gain_more": 0.9, "mc_rate_joint": 0.74,
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
    g4["size_contrast"] = 0.05    # significant heterogeneity (z = 12.5)
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
    del g4["size_contrast"], g4["size_contrast_se"]
    g4["size_interaction_computed"] = False
    table = sc.scorecard(one_class, FACTS)
    assert table.loc[2, "verdict"] == sc.NOT_TESTABLE
    assert "size_interaction_computed is false" in table.loc[2, "this run"]


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


# --------------------------------------------------------------------------------------------
# Synthetic data: recovered or not, with the truth's patterns
# --------------------------------------------------------------------------------------------
PANEL_TRUTH = json.loads((ROOT / "data" / "synthetic" / "panel.truth.json").read_text())


def synthetic_manifest(**study2) -> dict:
    """GOOD on synthetic data: both pages have a truth file, chapter 5 words its verdicts for
    them (``study2`` replaces some)."""
    manifest = copy.deepcopy(GOOD)
    g4 = manifest["chapters"]["chapters/04_cluster_effects"]["glue"]
    g4 |= {"has_truth": True, "true_effect": PANEL_TRUTH["treatment"]["theta"]}
    g5 = manifest["chapters"]["chapters/05_serial_innovators"]["glue"]
    g5 |= {"has_truth": True, "verdict_both_gain": vocabulary.RECOVERED,
           "verdict_nonserial_decreasing": vocabulary.RECOVERED,
           "verdict_serial_gain_more": vocabulary.RECOVERED, **study2}
    return manifest


def test_the_default_truth_has_every_study1_pattern_computed_from_its_parameters():
    assert PANEL_TRUTH["treatment"]["theta"] == pytest.approx(0.03)
    assert sc.study1_truth_patterns(PANEL_TRUTH, FACTS) == {
        "headline": True, "range": True, "size": True, "selection": True}


def test_study1_patterns_turn_with_the_truth():
    outside = copy.deepcopy(PANEL_TRUTH)
    outside["treatment"]["theta"] = 0.08   # above the published range
    patterns = sc.study1_truth_patterns(outside, FACTS)
    assert (patterns["headline"], patterns["range"]) == (False, False)
    no_age = copy.deepcopy(PANEL_TRUTH)
    no_age["params"]["select_age"] = 0.0   # members are not selected on age
    assert sc.study1_truth_patterns(no_age, FACTS)["selection"] is False
    by_size = copy.deepcopy(PANEL_TRUTH)
    by_size["params"]["theta_size"] = 0.015   # the dynamic-effect world: effect rises with size
    assert sc.study1_truth_patterns(by_size, FACTS)["size"] is False
    # where the truth file cannot say, the pattern is unknown, not assumed
    other = {"generator": "someone.else", "treatment": {}, "params": {}}
    assert sc.study1_truth_patterns(other, FACTS) == {
        "headline": None, "range": None, "size": None, "selection": None}


def test_on_synthetic_data_the_claims_are_recovered_not_reproduced():
    table = sc.scorecard(synthetic_manifest(), FACTS, panel_truth=PANEL_TRUTH)
    assert table["verdict"].eq(vocabulary.RECOVERED).all(), table
    assert table["verdict shown"].eq(vocabulary.RECOVERED).all()
    counts = sc.counts(table)
    assert (counts["n_recovered"], counts["n_not_recovered"], counts["n_reproduced"]) == (7, 0, 0)
    assert sc.verdict_data(synthetic_manifest()) == {
        "verdicts_synthetic": True, "verdicts_real": False, "verdicts_mixed": False}


def test_without_a_truth_file_the_claims_are_reproduced():
    table = sc.scorecard(GOOD, FACTS)
    counts = sc.counts(table)
    assert (counts["n_reproduced"], counts["n_recovered"], counts["n_false_negative"]) == (7, 0, 0)
    assert sc.verdict_data(GOOD) == {
        "verdicts_synthetic": False, "verdicts_real": True, "verdicts_mixed": False}


def test_a_miss_where_the_truth_has_the_pattern_is_a_false_negative_with_its_power():
    manifest = synthetic_manifest(verdict_nonserial_decreasing=vocabulary.FALSE_NEGATIVE)
    g4 = manifest["chapters"]["chapters/04_cluster_effects"]["glue"]
    g4["effect_conditional_did_se"] = 0.03   # not significant: the rule misses theta = 0.03
    table = sc.scorecard(manifest, FACTS, panel_truth=PANEL_TRUTH)
    assert table.loc[0, "verdict"] == vocabulary.FALSE_NEGATIVE
    assert table.loc[0, "verdict shown"] == vocabulary.FALSE_NEGATIVE  # no power for study 1
    assert table.loc[5, "verdict"] == vocabulary.FALSE_NEGATIVE
    # the power comes from chapter 5's Monte Carlo, through the contract
    assert table.loc[5, "verdict shown"] == (
        "not recovered (false negative; the rule fires in 82% of draws from this generator)")
    counts = sc.counts(table)
    assert (counts["n_recovered"], counts["n_not_recovered"], counts["n_false_negative"]) == (5, 2, 2)
    assert sc.rule_power(manifest, "joint") == 0.74


def test_a_rule_that_fires_where_the_truth_lacks_the_pattern_is_a_false_positive():
    outside = copy.deepcopy(PANEL_TRUTH)
    outside["treatment"]["theta"] = 0.08
    table = sc.scorecard(synthetic_manifest(), FACTS, panel_truth=outside)
    assert table.loc[:1, "verdict"].tolist() == [vocabulary.FALSE_POSITIVE] * 2
    assert sc.counts(table)["n_false_positive"] == 2


def test_the_power_of_a_page_that_did_not_report_it_is_unknown():
    stopped = synthetic_manifest()
    stopped["chapters"]["chapters/05_serial_innovators"]["glue"] = {
        "page_stopped": "No firm is internationalized.", "has_truth": True}
    assert sc.rule_power(stopped, "verdict_both_gain") is None
    table = sc.scorecard(stopped, FACTS, panel_truth=PANEL_TRUTH)
    assert table.loc[4:, "verdict"].tolist() == [vocabulary.NOT_TESTABLE] * 3


def test_a_verdict_outside_the_vocabulary_is_not_testable():
    odd = synthetic_manifest(verdict_both_gain="maybe")
    table = sc.scorecard(odd, FACTS, panel_truth=PANEL_TRUTH)
    assert table.loc[4, "verdict"] == vocabulary.NOT_TESTABLE
    assert "verdict_both_gain = 'maybe'" in table.loc[4, "this run"]


def test_mixed_data_are_named_as_mixed():
    mixed = copy.deepcopy(GOOD)
    mixed["chapters"]["chapters/05_serial_innovators"]["glue"]["has_truth"] = True
    assert sc.verdict_data(mixed) == {
        "verdicts_synthetic": False, "verdicts_real": False, "verdicts_mixed": True}


def _with_inputs(manifest: dict, truth_read: bool) -> dict:
    out = copy.deepcopy(manifest)
    for entry in out["chapters"].values():
        entry["inputs"] = [{"path": "data/panel.truth.json",
                            "sha256": "0" * 64 if truth_read else "absent"}]
    out["chapters"]["chapters/06_synthesis"] = {
        "inputs": [], "glue": {"has_truth": truth_read, "effect_innovative": 0.04}}
    return out


def test_the_landing_page_names_the_data_of_each_headline():
    synthetic = sc.landing_page(_with_inputs(
        synthetic_manifest(verdict_nonserial_decreasing=vocabulary.FALSE_NEGATIVE), True))
    assert synthetic.synthetic
    assert {name for name, flag in synthetic.flags.items() if flag} == {
        "study1_complete", "study1_synthetic", "study2_complete", "study2_synthetic",
        "together_complete", "together_synthetic", "verdicts_synthetic"}
    assert synthetic.numbers == {"true_effect": pytest.approx(0.03), "joint_power": 0.74}
    assert synthetic.texts["verdict_nonserial_decreasing"].startswith(
        "not recovered (false negative; the rule fires in 82%")
    assert synthetic.texts["verdict_both_gain"] == vocabulary.RECOVERED

    real = sc.landing_page(_with_inputs(GOOD, False))
    assert not real.synthetic
    assert {name for name, flag in real.flags.items() if flag} == {
        "study1_complete", "study1_real", "study2_complete", "study2_real",
        "together_complete", "together_real", "verdicts_real"}
    assert "true_effect" not in real.numbers
    assert real.texts["verdict_both_gain"] == vocabulary.REPRODUCED


def test_the_landing_page_quotes_a_stopped_page_by_its_reason():
    stopped = _with_inputs(GOOD, False)
    stopped["chapters"]["chapters/05_serial_innovators"]["glue"] = {
        "page_stopped": "No firm is internationalized.", "has_truth": False}
    page = sc.landing_page(stopped)
    assert not (page.flags["study2_complete"] or page.flags["study2_real"]
                or page.flags["study2_synthetic"])
    assert page.reasons == {"study2_stopped": "No firm is internationalized."}
    assert page.texts == {} and "joint_power" not in page.numbers


# --------------------------------------------------------------------------------------------
# The size claim: equivalence, not a non-rejection
# --------------------------------------------------------------------------------------------
def with_size(manifest: dict, contrast: float, se: float, bound: float = 0.015) -> dict:
    out = copy.deepcopy(manifest)
    out["chapters"]["chapters/04_cluster_effects"]["glue"] |= {
        "size_contrast": contrast, "size_contrast_se": se, "equivalence_bound": bound}
    return out


def test_a_size_difference_not_detected_is_not_testable_with_its_mdd():
    # the default data's case: a contrast near zero with a wide interval (p = 0.95 for a zero
    # difference, which the old rule scored as reproduced)
    weak = with_size(GOOD, -0.0013, 0.0191)
    table = sc.scorecard(weak, FACTS)
    assert table.loc[2, "verdict"] == sc.NOT_TESTABLE
    mdd = (1.959963984540054 + 0.8416212335729143) * 0.0191   # z_0.975 + z_0.80, by hand
    assert table.loc[2, "verdict shown"] == (
        f"not testable with these data (not detected: minimum detectable difference {mdd:.3f} "
        "log points at 80% power; equivalence bound ±0.015)")
    assert "minimum detectable difference 0.054" in table.loc[2, "this run"]
    # TOST by hand: the larger of the two one-sided p-values, here that of "difference <= -0.015"
    tost = max(1 - NormalDist().cdf((-0.0013 + 0.015) / 0.0191), NormalDist().cdf((-0.0013 - 0.015) / 0.0191))
    assert f"TOST p = {tost:.3f}" in table.loc[2, "this run"] and f"{tost:.3f}" == "0.237"
    counts = sc.counts(table)
    assert (counts["n_reproduced"], counts["n_not_reproduced"], counts["n_not_testable"]) == (6, 0, 1)
    # on synthetic data it is no recovery either, whatever the truth
    synthetic = sc.scorecard(with_size(synthetic_manifest(), -0.0013, 0.0191), FACTS,
                             panel_truth=PANEL_TRUTH)
    assert synthetic.loc[2, "verdict"] == vocabulary.NOT_TESTABLE
    assert sc.counts(synthetic)["n_recovered"] == 6


def test_the_size_verdict_is_equivalence_on_real_data():
    assert verdicts(with_size(GOOD, 0.002, 0.004))[2] == sc.REPRODUCED       # inside +-0.015
    # 0.012 + 1.645 * 0.004 > 0.015 (no equivalence) and 0.012 / 0.004 = 3 (p < 0.05)
    assert verdicts(with_size(GOOD, 0.012, 0.004))[2] == sc.NOT_REPRODUCED
    assert verdicts(with_size(GOOD, 0.002, 0.004, bound=0.005))[2] == sc.NOT_TESTABLE  # bounds too tight
    # the bound is chapter 4's: a wider one turns the same numbers into equivalence
    assert verdicts(with_size(GOOD, 0.012, 0.004, bound=0.02))[2] == sc.REPRODUCED


def test_the_size_verdict_on_synthetic_data_follows_theta_size():
    by_size = copy.deepcopy(PANEL_TRUTH)
    by_size["params"]["theta_size"] = 0.015
    cases = {  # (contrast, SE), truth -> verdict
        ((0.002, 0.004), "none"): vocabulary.RECOVERED,
        ((0.002, 0.004), "by size"): vocabulary.FALSE_POSITIVE,
        ((0.05, 0.01), "none"): vocabulary.FALSE_NEGATIVE,
        ((0.05, 0.01), "by size"): vocabulary.NOT_RECOVERED,
        ((0.01, 0.02), "by size"): vocabulary.NOT_TESTABLE,
    }
    for ((contrast, se), truth), expected in cases.items():
        table = sc.scorecard(with_size(synthetic_manifest(), contrast, se), FACTS,
                             panel_truth=PANEL_TRUTH if truth == "none" else by_size)
        assert table.loc[2, "verdict"] == expected, (contrast, se, truth)
