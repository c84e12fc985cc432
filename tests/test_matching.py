"""clusterpolicy.estimators.matching: greedy nearest neighbour, caliper, support, ties, balance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.core.results import EstimationResults
from clusterpolicy.estimators.matching import _greedy, balance_table, match, propensity_score


def _units(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    industry = rng.choice(["a", "b", "c"], size=n)
    treated = rng.random(n) < 1 / (1 + np.exp(-(x - 1 + 0.5 * (industry == "b"))))
    return pd.DataFrame(
        {"x": x, "industry": industry, "t": treated.astype(int)}, index=pd.Index([f"u{i}" for i in range(n)])
    )


@pytest.mark.parametrize("replace", [False, True])
def test_greedy_picks_the_nearest_available_control(replace):
    rng = np.random.default_rng(1)
    for _ in range(300):
        d_t = rng.integers(0, 6, rng.integers(1, 8)).astype(float)
        d_c = rng.integers(0, 6, rng.integers(1, 12)).astype(float)
        caliper = float(rng.choice([np.inf, 1.0, 0.0]))
        order = rng.permutation(len(d_t))
        pairs = _greedy(d_t, d_c, caliper, 2, replace, order, np.random.default_rng(0))
        used: set[int] = set()
        taken: dict[int, set[int]] = {}
        for i, j, dist, _round in pairs:
            assert dist == abs(d_t[i] - d_c[j]) <= caliper
            mine = taken.setdefault(i, set())
            candidates = [k for k in range(len(d_c)) if (k not in used if not replace else k not in mine)]
            assert dist <= min(abs(d_t[i] - d_c[k]) for k in candidates)
            used.add(j)
            mine.add(j)
        if not replace:
            assert len(used) == len(pairs)


def test_propensity_score_is_a_logit_fit():
    units = _units()
    ps = propensity_score(units, "t", ["x", "industry"])
    assert ps.between(0, 1).all() and ps.index.equals(units.index)
    # score equations of the logit: residuals orthogonal to the regressors
    resid = units["t"] - ps
    assert abs(resid.sum()) < 1e-6 and abs((resid * units["x"]).sum()) < 1e-6


def test_match_is_reproducible_and_ties_follow_the_seed():
    # identical covariates: every control is equally near, the seed alone decides
    units = pd.DataFrame({"x": [1.0] * 12, "t": [1, 1, 1] + [0] * 9}, index=[f"u{i}" for i in range(12)])
    first = match(units, "t", ["x"], seed=1, common_support=False)
    again = match(units, "t", ["x"], seed=1, common_support=False)
    pd.testing.assert_frame_equal(first.pairs, again.pairs)
    chosen = {tuple(sorted(match(units, "t", ["x"], seed=s).pairs["control"])) for s in range(8)}
    assert len(chosen) > 1


def test_caliper_and_common_support_drops_are_counted():
    units = _units(800, seed=2)
    loose = match(units, "t", ["x", "industry"], caliper=None)
    tight = match(units, "t", ["x", "industry"], caliper=0.001)
    support = tight.support["value"]
    n_treated = int(units["t"].sum())
    assert support["treated"] == n_treated
    dropped = support["treated off support (dropped)"] + support["treated without match in caliper (dropped)"]
    assert support["treated matched"] + dropped == n_treated
    assert support["treated without match in caliper (dropped)"] > 0
    assert (tight.pairs["distance"] <= support["caliper (distance units)"]).all()
    assert any("caliper" in note for note in tight.notes)
    # off support: treated scores above the largest control score
    ps = loose.pscore
    off = int(((units["t"] == 1) & (ps > ps[units["t"] == 0].max())).sum())
    off += int(((units["t"] == 1) & (ps < ps[units["t"] == 0].min())).sum())
    assert loose.support["value"]["treated off support (dropped)"] == off


def test_weights_with_replacement_and_k_neighbours():
    units = _units(500, seed=3)
    result = match(units, "t", ["x"], replace=True, n_neighbors=3, caliper=None, common_support=False)
    pairs = result.pairs
    assert (pairs.groupby("treated").size() == 3).all()
    treated_w = result.weights[pairs["treated"].unique()]
    assert (treated_w == 1).all()
    controls = pairs["control"].unique()
    assert result.weights[controls].sum() == pytest.approx(pairs["treated"].nunique())
    used_twice = pairs["control"].value_counts()
    top = used_twice.index[0]
    assert result.weights[top] == pytest.approx(used_twice.iloc[0] / 3)


def test_balance_table_formulas():
    units = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 0.0, 1.0, 5.0], "k": list("ababab"), "t": [1, 1, 1, 0, 0, 0]},
        index=list("ABCDEF"),
    )
    weights = pd.Series({"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.5, "E": 2.5})
    table = balance_table(units, "t", ["x", "k"], weights)
    row = table.loc["x"]
    pooled = np.sqrt((np.var([1, 2, 3], ddof=1) + np.var([0, 1, 5], ddof=1)) / 2)
    assert row["smd_before"] == pytest.approx((2 - 2) / pooled)
    control_after = (0.5 * 0 + 2.5 * 1) / 3
    assert row["mean_control_matched"] == pytest.approx(control_after)
    assert row["smd_after"] == pytest.approx((2 - control_after) / pooled)
    assert row["var_ratio_before"] == pytest.approx(1 / 7)
    assert {"k=a", "k=b"} <= set(table.index)


def test_matching_improves_balance_on_simulated_selection():
    units = _units(1500, seed=4)
    result = match(units, "t", ["x", "industry"], order="random", seed=3)
    balance = result.balance
    assert abs(balance.loc["x", "smd_before"]) > 0.5
    assert (balance["smd_after"].abs() < 0.1).all()
    assert not result.pairs["control"].duplicated().any()


def test_bad_options_raise():
    units = _units(100)
    with pytest.raises(ValueError, match="caliper must be positive"):
        match(units, "t", ["x"], caliper=0)
    with pytest.raises(ValueError, match="n_neighbors"):
        match(units, "t", ["x"], n_neighbors=0)
    with pytest.raises(ValueError, match="'missing'"):
        match(units, "t", ["missing"])
    with pytest.raises(ValueError, match="treatment column 'x' must be 0/1"):
        match(units, "x", ["industry"])


def test_match_result_is_the_results_shape_of_the_propensity_score():
    units = _units(400, seed=5)
    result = match(units, "t", ["x", "industry"])
    assert isinstance(result, EstimationResults)
    # the logit's coefficients: constant, x and the levels of industry but the first
    assert list(result.params.index) == ["const", "x", "industry=b", "industry=c"]
    assert result.nobs == len(units) and result.inference["distribution"] == "normal"
    np.testing.assert_allclose(np.sqrt(np.diag(result.cov)), result.std_errors, rtol=1e-12)
    index = result.params["const"] + result.params["x"] * units["x"] + (
        (units["industry"] == "b") * result.params["industry=b"]
        + (units["industry"] == "c") * result.params["industry=c"])
    np.testing.assert_allclose(result.pscore, 1 / (1 + np.exp(-index)), rtol=1e-10)
    assert list(result.tidy().columns) == ["estimate", "std_error", "t", "p", "conf_low", "conf_high"]


def test_logit_warnings_become_notes():
    # x separates treated and controls perfectly: statsmodels warns, the warning is a note
    x = np.r_[np.zeros(20), np.ones(10)]
    units = pd.DataFrame({"x": x, "t": x.astype(int)}, index=[f"u{i}" for i in range(30)])
    notes: list[str] = []
    propensity_score(units, "t", ["x"], notes)
    assert notes and all(n.startswith("propensity score (statsmodels GLM logit): ") for n in notes)
