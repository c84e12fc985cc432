"""clusterpolicy.estimators.did on simulated panels with a known effect.

* A staggered panel with a homogeneous effect and covariate-specific trends (parallel trends
  hold only conditionally on firm size): the conditional (matched) DiD and Callaway &
  Sant'Anna with the covariate recover the effect within 2 SE; the unconditional
  comparisons do not.
* A panel where weak firms (low pre-period TFP) select into treatment and TFP mean-reverts:
  the unmatched DiD is biased, the DiD matched on the pre-period TFP level is not.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.core.results import EstimationResults
from clusterpolicy.estimators.did import (
    AggregateResults,
    callaway_santanna,
    conditional_did,
    honest_did,
    sun_abraham,
    twfe,
)
from conftest import require

EFFECT = 0.03
ARGS = {"y": "ltfp", "unit": "firm", "time": "year", "cohort": "first_year"}


def staggered_panel(
    n_units: int = 1500,
    years: range = range(2001, 2009),
    cohorts: tuple[int, ...] = (2004, 2006),
    effect: float = EFFECT,
    seed: int = 0,
) -> pd.DataFrame:
    """Homogeneous effect; bigger firms join more often and grow faster (conditional PT)."""
    rng = np.random.default_rng(seed)
    years_arr = np.asarray(list(years))
    size = rng.normal(size=n_units)
    industry = rng.choice(["A", "B", "C"], size=n_units)
    score = 0.8 * size + 0.5 * (industry == "B") - 1.0
    treated = rng.random(n_units) < 1 / (1 + np.exp(-score))
    cohort = np.where(treated, rng.choice(cohorts, size=n_units), 0)
    alpha = rng.normal(scale=0.5, size=n_units) + 0.3 * size
    age = rng.integers(1, 40, size=n_units)
    frames = []
    for t in years_arr:
        d = (cohort > 0) & (t >= cohort)
        trend = (0.01 + 0.02 * size) * (t - years_arr[0])
        y = alpha + trend + effect * d + rng.normal(scale=0.05, size=n_units)
        frames.append(
            pd.DataFrame(
                {
                    "firm": [f"f{i:05d}" for i in range(n_units)],
                    "year": t,
                    "ltfp": y,
                    "first_year": cohort,
                    "size": size,
                    "age": age + (t - years_arr[0]),
                    "industry": industry,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def mean_reversion_panel(
    n_units: int = 2000,
    years: range = range(2000, 2008),
    cohorts: tuple[int, ...] = (2004, 2006),
    effect: float = 0.0,
    rho: float = 0.8,
    seed: int = 0,
) -> pd.DataFrame:
    """AR(1) TFP; low pre-period TFP raises the chance to join (Ashenfelter-dip-like)."""
    rng = np.random.default_rng(seed)
    years_arr = np.asarray(list(years))
    alpha = rng.normal(scale=0.1, size=n_units)
    u = np.empty((n_units, len(years_arr)))
    u[:, 0] = rng.normal(scale=0.2 / np.sqrt(1 - rho**2), size=n_units)
    for k in range(1, len(years_arr)):
        u[:, k] = rho * u[:, k - 1] + rng.normal(scale=0.2, size=n_units)
    pre = years_arr < min(cohorts)
    pre_level = (alpha[:, None] + u[:, pre]).mean(axis=1)
    treated = rng.random(n_units) < 1 / (1 + np.exp(1.5 + 4 * pre_level))
    cohort = np.where(treated, rng.choice(cohorts, size=n_units), 0)
    post = (cohort[:, None] > 0) & (years_arr[None, :] >= cohort[:, None])
    y = alpha[:, None] + u + effect * post
    return pd.DataFrame(
        {
            "firm": np.repeat(np.arange(n_units), len(years_arr)),
            "year": np.tile(years_arr, n_units),
            "ltfp": y.ravel(),
            "first_year": np.repeat(cohort, len(years_arr)),
        }
    )


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return staggered_panel()


@pytest.fixture(scope="module")
def matched(panel):
    return conditional_did(panel, covariates=["size", "age", "industry", "ltfp"], **ARGS)


def _within(result: EstimationResults, term: str, truth: float, n_se: float = 2.0) -> bool:
    return abs(result.params[term] - truth) <= n_se * result.std_errors[term]


def test_conditional_did_recovers_the_effect(matched):
    assert _within(matched, "ATT", EFFECT)
    # without matching, faster-growing big firms among the treated bias the DiD upwards
    assert not _within(matched.unmatched, "ATT", EFFECT, n_se=4)


def test_conditional_did_reports_balance_support_and_pairs(matched, panel):
    balance = matched.balance
    assert {"size", "age", "industry=A", "industry=B", "industry=C", "ltfp"} <= set(balance.index)
    assert {"smd_before", "smd_after", "var_ratio_before", "var_ratio_after"} <= set(balance.columns)
    assert balance.loc["size", "smd_before"] > 0.5
    assert (balance["smd_after"].abs() < 0.1).all()
    support = matched.support["value"]
    n_treated = (panel.groupby("firm")["first_year"].first() > 0).sum()
    assert support["treated"] == n_treated
    dropped = support["treated off support (dropped)"] + support["treated without match in caliper (dropped)"]
    assert support["treated matched"] == n_treated - dropped == matched.extra["n_treated"]
    pairs = matched.matched
    assert not pairs["control"].duplicated().any()  # without replacement
    assert set(pairs["cohort"]) == {2004, 2006}
    assert matched.extra["pre_period"] == [2001, 2002, 2003]  # read from the data
    assert matched.by_cohort["n_treated"].sum() == matched.extra["n_treated"]
    assert "clustered by unit" in matched.inference["standard errors"]


def test_conditional_did_with_replacement_and_two_neighbours(panel):
    fit = conditional_did(
        panel,
        covariates=["size", "industry", "ltfp"],
        replace=True,
        n_neighbors=2,
        caliper=None,
        **ARGS,
    )
    assert _within(fit, "ATT", EFFECT)
    assert fit.support["value"]["treated without match in caliper (dropped)"] == 0
    assert (fit.matched.groupby("treated").size() == 2).all()
    assert fit.matched["control"].duplicated().any()


def test_callaway_santanna_recovers_the_effect(panel):
    fit = callaway_santanna(panel, covariates=["size"], **ARGS)
    assert sorted(fit.att_gt["cohort"].unique()) == [2004, 2006]
    assert sorted(fit.att_gt["time"].unique()) == list(range(2002, 2009))
    simple = fit.aggregate("simple")
    assert _within(simple, "ATT", EFFECT)
    dynamic = fit.aggregate("dynamic")
    post = dynamic.table[dynamic.table["event_time"] >= 0]
    assert (np.abs(post["att"] - EFFECT) <= 3 * post["se"]).all()
    # conditional parallel trends hold, so the pre-test does not reject
    assert fit.pretest["available"] and fit.pretest["p_value"] > 0.01
    # without the covariate the estimate is biased (big firms trend up and join more often)
    naive = callaway_santanna(panel, **ARGS).aggregate("simple")
    assert not _within(naive, "ATT", EFFECT, n_se=4)


def test_years_and_cohorts_are_read_from_the_data():
    shifted = staggered_panel(n_units=400, years=range(1990, 1996), cohorts=(1992, 1994), seed=3)
    fit = callaway_santanna(shifted, control="notyet", **ARGS)
    assert sorted(fit.att_gt["cohort"].unique()) == [1992, 1994]
    assert fit.att_gt["time"].min() == 1991
    matched = conditional_did(shifted, covariates=["size"], **ARGS)
    assert matched.extra["pre_period"] == [1990, 1991]


def test_sun_abraham_and_twfe_on_homogeneous_effect_agree():
    data = staggered_panel(n_units=600, seed=4)
    data["ltfp"] -= 0.02 * data["size"] * (data["year"] - 2001)  # remove the covariate trend
    sa = sun_abraham(data, **ARGS).aggregate("simple")
    tw = twfe(data, y="ltfp", unit="firm", time="year", cohort="first_year")
    assert _within(sa, "ATT", EFFECT) and _within(tw, "post", EFFECT)


@pytest.mark.parametrize("seed", [0, 1])
def test_matching_on_pre_period_level_removes_mean_reversion_bias(seed):
    data = mean_reversion_panel(seed=seed)
    fit = conditional_did(data, covariates=["ltfp"], **ARGS)
    naive_twfe = twfe(data, y="ltfp", unit="firm", time="year", cohort="first_year")
    # weak firms join; their TFP recovers anyway: the unmatched DiD shows a spurious gain
    assert fit.unmatched.params["ATT"] > 5 * fit.unmatched.std_errors["ATT"]
    assert naive_twfe.params["post"] > 5 * naive_twfe.std_errors["post"]
    assert _within(fit, "ATT", 0.0)
    assert abs(fit.balance.loc["ltfp", "smd_after"]) < 0.1 < abs(fit.balance.loc["ltfp", "smd_before"])


def test_bootstrap_is_seeded_and_close_to_analytic(panel):
    small = panel[panel["firm"] < "f00400"]
    a = callaway_santanna(small, bootstrap=True, seed=11, biters=199, **ARGS)
    b = callaway_santanna(small, bootstrap=True, seed=11, biters=199, **ARGS)
    analytic = callaway_santanna(small, **ARGS)
    pd.testing.assert_frame_equal(a.att_gt, b.att_gt)
    ratio = a.att_gt["se"] / analytic.att_gt["se"]
    assert ratio.between(0.7, 1.4).all()
    assert "bootstrap" in a.inference["standard errors"] and "seed 11" in a.inference["standard errors"]
    dyn = a.aggregate("dynamic")
    assert (dyn.table["conf_high"] - dyn.table["att"] > 1.96 * dyn.table["se"]).all()  # uniform band


def test_results_follow_the_one_shape(panel, matched):
    cs = callaway_santanna(panel, **ARGS)
    results = [
        matched,
        matched.unmatched,
        cs,
        cs.aggregate("dynamic"),
        cs.aggregate("group"),
        cs.aggregate("calendar"),
        sun_abraham(panel, **ARGS),
        twfe(panel, y="ltfp", unit="firm", time="year", cohort="first_year"),
    ]
    for result in results:
        assert isinstance(result, EstimationResults)
        assert result.params.index.equals(result.std_errors.index)
        tidy = result.tidy()
        assert list(tidy.columns) == ["estimate", "std_error", "t", "p", "conf_low", "conf_high"]
        assert result.conf_int().shape == (len(result.params), 2)
        assert result.inference and "standard errors" in result.inference
        assert result.model in result.summary
        assert "<table" in result._repr_html_()
        # the covariance matches the standard errors; the reference distribution is stated
        assert result.cov.shape == (len(result.params),) * 2
        assert list(result.cov.index) == list(result.params.index)
        finite = result.std_errors.notna().to_numpy()
        np.testing.assert_allclose(np.sqrt(np.diag(result.cov))[finite], result.std_errors[finite], rtol=1e-8)
        assert result.inference["distribution"] in ("normal", "t")
        assert (tidy["p"].dropna() <= 1).all()
    # fixest's convention for the regressions it reproduces: t with G - 1 degrees of freedom
    assert matched.inference["distribution"] == "t"
    assert matched.inference["df"] == matched.extra["n_treated"] + matched.extra["n_controls"] - 1
    assert cs.inference["distribution"] == "normal"  # R did
    agg = cs.aggregate("dynamic")
    assert isinstance(agg, AggregateResults)
    assert list(agg.table.columns) == ["event_time", "att", "se", "conf_low", "conf_high"]
    assert agg.params["ATT"] == agg.att


def test_library_warnings_become_notes():
    """A cohort of 3 firms makes moderndid warn; the warning is a note, not stderr."""
    data = staggered_panel(n_units=300, seed=5)
    firms = data.loc[data["first_year"] == 2004, "firm"].unique()
    data.loc[data["firm"].isin(firms[3:]), "first_year"] = 0
    fit = callaway_santanna(
        data, covariates=["size"], **ARGS
    )  # pytest turns any leaked warning into an error
    assert any("moderndid" in note for note in fit.notes)
    # "<source>: <Category>: <message> (meaning: ...)"
    small = [note for note in fit.notes if "small groups" in note]
    assert small and small[0].startswith("moderndid.att_gt: ") and "Warning:" not in small[0]
    assert "(meaning: some treatment cohorts have very few units" in small[0]
    assert "Notes:" in fit.summary


def test_honest_did_bounds_and_breakdown():
    require(
        importlib.util.find_spec("cvxpy") is not None, "cvxpy/highspy (moderndid[didhonest]) not installed"
    )
    data = staggered_panel(n_units=800, seed=6)
    fit = callaway_santanna(data, covariates=["size"], base_period="universal", **ARGS)
    grid = [0.0, 0.5, 1.0, 2.0]
    result = honest_did(fit, event_time=1, restrictions="relative_magnitude", mbar=grid)
    bounds = result.bounds
    assert list(bounds.columns) == ["restriction", "M", "lb", "ub", "method", "contains_zero"]
    original = bounds.iloc[0]
    est, se = result.params["e=1"], result.std_errors["e=1"]
    assert original["lb"] == pytest.approx(est - 1.959964 * se, abs=1e-6)
    rm = bounds[bounds["restriction"] == "relative_magnitude"]
    assert rm["M"].tolist() == grid
    assert (np.diff(rm["ub"] - rm["lb"]) >= -1e-9).all()  # intervals widen with Mbar
    covering = rm.loc[rm["contains_zero"], "M"]
    expected = covering.min() if len(covering) else np.nan
    assert result.breakdown["relative_magnitude"] == pytest.approx(expected, nan_ok=True)
    assert not original["contains_zero"]

    smooth = honest_did(fit, event_time=0, restrictions="smoothness", m=[0.0, 0.01, 0.05])
    sd = smooth.bounds[smooth.bounds["restriction"] == "smoothness"]
    assert (
        len(sd) == 3 and (sd["lb"] <= smooth.params["e=0"]).all() and (sd["ub"] >= smooth.params["e=0"]).all()
    )
