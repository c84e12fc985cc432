"""Heterogeneity with power: equivalence tests, minimum detectable differences, merging of small
size classes and the membership x characteristic interaction, on cases with a known answer."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.studies import cluster_effects as ce
from clusterpolicy.studies import equivalence as eq
from clusterpolicy.studies import verdicts

Z = NormalDist()


# --------------------------------------------------------------------------------------------
# Equivalence (TOST) and the minimum detectable difference
# --------------------------------------------------------------------------------------------
def test_tost_on_cases_with_a_known_answer():
    # centred at zero, SE 0.005, bounds +-0.015: both one-sided z = 3, p = P(Z > 3)
    assert eq.tost(0.0, 0.005, 0.015) == pytest.approx(1 - Z.cdf(3.0))
    # 0.01 with SE 0.005: the upper test has z = (0.01 - 0.015) / 0.005 = -1, p = 0.159
    assert eq.tost(0.01, 0.005, 0.015) == pytest.approx(Z.cdf(-1.0))
    assert eq.tost(-0.01, 0.005, 0.015) == pytest.approx(Z.cdf(-1.0))  # symmetric
    # on the edge: the 90% interval touches the bound, p = 0.05 exactly
    edge = 0.015 - Z.inv_cdf(0.95) * 0.005
    assert eq.tost(edge, 0.005, 0.015) == pytest.approx(0.05)
    # an estimate outside the bounds is never equivalent
    assert eq.tost(0.02, 0.0001, 0.015) > 0.5


def test_tost_rejects_exactly_when_the_90_percent_interval_lies_inside_the_bounds():
    rng = np.random.default_rng(1)
    for estimate, se in zip(rng.normal(0, 0.02, 200), rng.uniform(0.001, 0.02, 200), strict=True):
        test = eq.equivalence(estimate, se, 0.015)
        inside = -0.015 < test.ci_low and test.ci_high < 0.015
        assert (test.p_tost < 0.05) == inside
        assert test.ci_high - test.ci_low == pytest.approx(2 * Z.inv_cdf(0.95) * se)


def test_the_minimum_detectable_difference_by_hand():
    # (z_0.975 + z_0.80) * se = (1.95996 + 0.84162) * se
    assert eq.minimum_detectable_difference(0.01) == pytest.approx(0.0280158, abs=1e-7)
    assert eq.minimum_detectable_difference(0.01, level=0.10, power=0.90) == pytest.approx(
        (1.6448536 + 1.2815516) * 0.01)
    # what it means: a true difference of one MDD is detected by the 5% test 80% of the time
    mdd, se = eq.minimum_detectable_difference(0.02), 0.02
    power = (1 - Z.cdf(1.959964 - mdd / se)) + Z.cdf(-1.959964 - mdd / se)
    assert power == pytest.approx(0.80, abs=1e-4)


def test_the_rule_no_difference_differs_not_detected():
    assert eq.equivalence(0.002, 0.004, 0.015).outcome == eq.NO_DIFFERENCE
    # significant and not equivalent
    assert eq.equivalence(0.05, 0.01, 0.015).outcome == eq.DIFFERS
    assert eq.equivalence(-0.05, 0.01, 0.015).outcome == eq.DIFFERS
    # the default data's case: near zero, wide: neither
    weak = eq.equivalence(-0.0013, 0.0191, 0.015)
    assert weak.outcome == eq.NOT_DETECTED
    assert weak.text == "not detected (minimum detectable difference 0.054 at 80% power)"
    assert weak.smallest_bound == pytest.approx(0.0013 + Z.inv_cdf(0.95) * 0.0191)
    # significant but inside the bounds: equivalence comes first (a difference, but a small one)
    small = eq.equivalence(0.004, 0.001, 0.015)
    assert small.p_difference < 0.05 and small.outcome == eq.NO_DIFFERENCE
    assert small.text.startswith("no difference beyond ±0.015")


def test_degenerate_inputs_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="standard error"):
        eq.equivalence(0.01, 0.0, 0.015)
    with pytest.raises(ValueError, match="standard error"):
        eq.minimum_detectable_difference(float("nan"))
    with pytest.raises(ValueError, match="bound"):
        eq.tost(0.01, 0.01, -0.015)
    with pytest.raises(ValueError, match="finite"):
        eq.equivalence(float("inf"), 0.01, 0.015)


def test_the_bound_is_a_share_of_the_published_headline():
    assert eq.equivalence_bound(0.03, 0.5) == pytest.approx(0.015)
    assert eq.equivalence_bound(-0.04, 0.25) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="non-zero headline"):
        eq.equivalence_bound(0.0, 0.5)


def test_not_detected_is_shown_as_not_testable_with_the_mdd():
    shown = verdicts.not_detected(0.0536, 0.015)
    assert shown.startswith(verdicts.NOT_TESTABLE)
    assert "minimum detectable difference 0.054 log points at 80% power" in shown
    assert "±0.015" in shown


# --------------------------------------------------------------------------------------------
# Merging size classes with too few members
# --------------------------------------------------------------------------------------------
def _sizes(**counts: int) -> pd.Series:
    """Members with FTE values: ``s5=30`` is 30 members of 5 FTE."""
    return pd.Series([float(k[1:]) for k, n in counts.items() for _ in range(n)])


def test_a_small_top_class_merges_into_its_neighbour():
    # the default data's counts: 228, 791, 356 and 19 members
    merge = ce.merge_small_classes(_sizes(s5=228, s20=791, s100=356, s500=19), [10, 50, 250], 20)
    assert merge.counts_requested.tolist() == [228, 791, 356, 19]
    assert merge.thresholds == (10.0, 50.0) and merge.merged
    assert merge.counts.to_dict() == {"<10": 228, "10-<50": 791, ">=50": 375}
    assert merge.merges == (">=250 (19 members) merged with 50-<250 (356) into >=50",)
    assert merge.classes_text == "<10 (228), 10-<50 (791), >=50 (375)"


def test_an_inner_class_merges_with_its_smaller_neighbour():
    merge = ce.merge_small_classes(_sizes(s5=30, s20=5, s100=100, s500=40), [10, 50, 250], 20)
    assert merge.counts.to_dict() == {"<50": 35, "50-<250": 100, ">=250": 40}
    assert merge.merges == ("10-<50 (5 members) merged with <10 (30) into <50",)


def test_merging_repeats_until_every_class_is_large_enough():
    # <10 (3) merges first with 10-<50 (8) into <50 (11), still too small: with 50-<250
    merge = ce.merge_small_classes(_sizes(s5=3, s20=8, s100=40, s500=25), [10, 50, 250], 20)
    assert merge.counts.to_dict() == {"<250": 51, ">=250": 25}
    assert len(merge.merges) == 2 and merge.merges[0].startswith("<10 (3 members) merged with 10-<50")


def test_enough_members_everywhere_merges_nothing():
    merge = ce.merge_small_classes(_sizes(s5=30, s20=30, s100=30, s500=30), [10, 50, 250], 20)
    assert not merge.merged and merge.thresholds == (10.0, 50.0, 250.0) and merge.text == "none"


def test_no_variation_in_size_leaves_one_class():
    # every member in one class; the empty classes are merged away, whatever their order
    merge = ce.merge_small_classes(_sizes(s20=60), [10, 50, 250], 20)
    assert merge.counts.to_dict() == {ce.ALL_SIZES: 60} and merge.thresholds == ()
    assert merge.counts_requested.tolist() == [0, 60, 0, 0]
    classes = ce.threshold_classes(pd.Series([1.0, 1000.0]), merge.thresholds)
    assert classes.astype(str).tolist() == [ce.ALL_SIZES] * 2
    # and no member at all
    assert ce.merge_small_classes(pd.Series([], dtype=float), [10], 20).counts.to_dict() == {
        ce.ALL_SIZES: 0}


# --------------------------------------------------------------------------------------------
# The interaction, on constructed data
# --------------------------------------------------------------------------------------------
def _rows(n: int, slope: float, common: float, noise: float, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Members and matched controls whose change of the outcome is ``common * x`` for every
    firm (mean reversion, say) plus, for members, an effect ``0.03 + slope * (x - mean)``."""
    rng = np.random.default_rng(seed)
    x = pd.Series(rng.normal(3.0, 1.0, 2 * n), index=[f"F{i}" for i in range(2 * n)])
    treated = np.r_[np.ones(n), np.zeros(n)]
    xm = x.iloc[:n].mean()
    dy = common * x.to_numpy() + treated * (0.03 + slope * (x.to_numpy() - xm))
    dy = dy + noise * rng.standard_normal(2 * n)
    rows = pd.DataFrame({"unit": x.index, "stack": np.tile([2017, 2018], n), "dy": dy,
                         "treated": treated, "w": 1.0})
    return rows, x


def test_the_interaction_recovers_a_known_slope_and_separates_it_from_mean_reversion():
    rows, x = _rows(400, slope=0.02, common=-0.02, noise=0.0)
    effect, _, slope, _ = ce.interaction_fit(rows, x)
    assert slope == pytest.approx(0.02, abs=1e-10) and effect == pytest.approx(0.03, abs=1e-10)
    noisy_rows, x = _rows(4000, slope=0.02, common=-0.02, noise=0.05, seed=2)
    effect, effect_se, slope, slope_se = ce.interaction_fit(noisy_rows, x)
    assert abs(slope - 0.02) < 3 * slope_se and abs(effect - 0.03) < 3 * effect_se
    # the standard error shrinks like 1 / sqrt(n): with noise 0.05 and sd(x) = 1, about
    # 0.05 * sqrt(2) / sqrt(4000) (the members' and the controls' noise both enter)
    assert slope_se == pytest.approx(0.05 * np.sqrt(2 / 4000), rel=0.15)


def test_matched_changes_by_hand():
    panel = pd.DataFrame({
        "firm_id": np.repeat(["m1", "m2", "c1", "c2"], 4),
        "year": np.tile([2015, 2016, 2017, 2018], 4),
        "log_tfp": [1, 1, 2, 2,    # m1: joins 2017, +1
                    0, 0, 0, 3,    # m2: joins 2018, pre mean 0 over 2015-2017, post 3
                    5, 5, 5, 5,    # c1: no change
                    0, 1, 1, 1],   # c2: 2015-2017 mean 2/3, 2018: 1
    }, dtype=object).astype({"log_tfp": float})
    pairs = pd.DataFrame({"treated": ["m1", "m2"], "control": ["c1", "c2"], "cohort": [2017, 2018]})
    rows = ce.matched_changes(panel, pairs).set_index("unit")
    assert rows.loc["m1", "dy"] == pytest.approx(1.0) and rows.loc["c1", "dy"] == pytest.approx(0.0)
    assert rows.loc["m2", "dy"] == pytest.approx(3.0) and rows.loc["c2", "dy"] == pytest.approx(1 / 3)
    assert rows["treated"].to_dict() == {"m1": 1.0, "m2": 1.0, "c1": 0.0, "c2": 0.0}
    assert rows.loc["m2", "stack"] == 2018 and (rows["w"] == 1.0).all()
    assert ce.matched_changes(panel, pairs.iloc[:0]).empty
