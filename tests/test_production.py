"""clusterpolicy.estimators.production against R prodest 1.0.1 (chilean data) and a known-truth DGP."""

from __future__ import annotations

import json
import warnings

import distributed
import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clusterpolicy.core.results import EstimationResults
from clusterpolicy.estimators import production
from clusterpolicy.estimators.production import MultipleRootsWarning, NoRootWarning
from clusterpolicy.estimators.production._bootstrap import replicate_weights
from clusterpolicy.estimators.production._data import prepare_panel
from clusterpolicy.estimators.production._estimators import build_acf, build_oplp, fit_oplp
from clusterpolicy.synthetic.production import simulate_panel

FREE = ["fX1", "fX2"]
# the chilean panel of R prodest: output, inputs and panel identifiers
CHILEAN = {"y": "Y", "free": FREE, "state": "sX", "unit": "idvar", "time": "timevar"}
# the simulated panel of synthetic.production: labour free, capital state, materials the proxy
SIM = {"y": "y", "free": "l", "state": "k", "unit": "firm", "time": "year"}


@pytest.fixture(scope="module")
def chilean(reference_dir) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "tfp" / "prodest_chilean.csv")


@pytest.fixture(scope="module")
def ref(reference_dir) -> dict:
    return json.loads((reference_dir / "tfp" / "reference_chilean.json").read_text())


def _coefs(entry: dict) -> np.ndarray:
    c = entry.get("coefficients") or entry["coef"]
    return np.array([c["fX1"], c["fX2"], c.get("sX1", c.get("sX"))])


@pytest.fixture(scope="module")
def acf(chilean) -> production.ProductionResults:
    return production.estimate(chilean, "acf", **CHILEAN, proxy="pX")


# ------------------------------------------------------------------------------------------------
# R prodest reference: point estimates
# ------------------------------------------------------------------------------------------------


@pytest.mark.reference
def test_ols_fe_baselines(chilean, ref):
    base = ref["baselines"]
    ols = production.estimate(chilean, "ols", **CHILEAN)
    want = base["OLS_full"]
    np.testing.assert_allclose(ols.params, [want["coef"][k] for k in ("fX1", "fX2", "sX")], atol=1e-8)
    np.testing.assert_allclose(
        ols.std_errors, [want["se_cluster_firm_HC1"][k] for k in ("fX1", "fX2", "sX")], rtol=1e-6
    )
    assert ols.extra["intercept"] == pytest.approx(want["coef"]["(Intercept)"], abs=1e-8)
    for label, method, te in [
        ("OLS_full_yeardummies", "ols", True),
        ("FE_firm", "fe", False),
        ("FE_twoway", "fe", True),
    ]:
        res = production.estimate(chilean, method, **CHILEAN, time_effects=te)
        want = base[label]
        np.testing.assert_allclose(res.params, [want["coef"][k] for k in ("fX1", "fX2", "sX")], atol=1e-8)
        np.testing.assert_allclose(
            res.std_errors,
            [want["se_cluster_firm_HC1"][k] for k in ("fX1", "fX2", "sX")],
            rtol=1e-6,
            err_msg=label,
        )
        assert res.nobs == 2544


@pytest.mark.reference
@pytest.mark.parametrize(
    ("label", "method", "proxy", "kwargs"),
    [
        ("OP_table1", "op", "inv", {}),
        ("LP_table1", "lp", "pX", {}),
        ("OP_exit", "op", "inv", {"exit": True}),
    ],
)
def test_op_lp_match_prodest(chilean, ref, label, method, proxy, kwargs):
    res = production.estimate(chilean, method, **CHILEAN, proxy=proxy, **kwargs)
    entry = ref["estimates"][label]
    np.testing.assert_allclose(res.params, _coefs(entry), atol=1e-4)
    # the free elasticities come straight from the first stage: exact
    np.testing.assert_allclose(res.params[FREE], _coefs(entry)[:2], rtol=1e-10)
    np.testing.assert_allclose(
        res.extra["first_stage_coef"][:4], entry["first_stage_coefs_reported"], rtol=1e-10
    )
    assert res.nobs == ref["N_obs_with_lag"]
    assert res.dropped.loc["no calendar lag (first year of the firm or a year gap)", "rows"] == 600


@pytest.mark.reference
def test_wooldridge_gmm_and_rob_match_prodest(chilean, ref):
    gmm = production.estimate(chilean, "wooldridge", **CHILEAN, proxy="pX", variant="gmm")
    entry = ref["estimates"]["WRDG_GMM_table1"]
    np.testing.assert_allclose(gmm.params, _coefs(entry), atol=1e-8)
    # prodest's own GMM standard errors (sqrt(2) too large) are reproduced in extra ...
    np.testing.assert_allclose(
        gmm.extra["software_std_errors"], _coefs({"coefficients": entry["se"]}), rtol=1e-6
    )
    # ... the reported ones are firm-clustered
    assert gmm.inference["std_errors"].startswith("analytic, clustered")
    rob = production.estimate(chilean, "wooldridge", **CHILEAN, proxy="pX", variant="rob")
    entry = ref["estimates"]["ROB_sec33"]
    np.testing.assert_allclose(rob.params, _coefs(entry), atol=1e-8)
    np.testing.assert_allclose(
        rob.extra["software_std_errors"], _coefs({"coefficients": entry["se"]}), rtol=1e-6
    )


@pytest.mark.reference
def test_wooldridge_iv_close_to_prodest(chilean, ref):
    """Stata prodest's stacked IV is within 0.004 of prodest 1.0.1's IV version."""
    iv = production.estimate(chilean, "wooldridge", **CHILEAN, proxy="pX", variant="iv")
    np.testing.assert_allclose(iv.params, _coefs(ref["estimates"]["WRDG_table1"]), atol=5e-3)


@pytest.mark.reference
def test_wooldridge_iv_matches_prodest_exactly(chilean, ref):
    """variant='prodest_iv' is prodestWRDG: coefficients and its reported standard errors."""
    res = production.estimate(chilean, "wooldridge", **CHILEAN, proxy="pX", variant="prodest_iv")
    entry = ref["estimates"]["WRDG_table1"]
    np.testing.assert_allclose(res.params, _coefs(entry), rtol=0, atol=1e-8)
    want_se = _coefs({"coefficients": entry["se"]})
    np.testing.assert_allclose(res.std_errors, want_se, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.extra["software_std_errors"], want_se, rtol=0, atol=1e-8)
    # the reported standard errors are prodest's, and say so
    assert res.inference["std_errors"] == "prodest's reported (OLS on fitted values)"
    assert res.inference["distribution"] == "normal"
    assert res.model == "wooldridge (prodest_iv)"
    # the same computation with investment as the proxy
    inv = production.estimate(chilean, "wooldridge", **CHILEAN, proxy="inv", variant="prodest_iv")
    entry = ref["estimates"]["WRDG_inv_sec33"]
    np.testing.assert_allclose(inv.params, _coefs(entry), rtol=0, atol=1e-8)
    np.testing.assert_allclose(inv.std_errors, _coefs({"coefficients": entry["se"]}), rtol=0, atol=1e-8)


@pytest.mark.reference
def test_wooldridge_prodest_iv_uses_the_rows_with_a_lag(chilean, ref):
    res = production.estimate(chilean, "wooldridge", **CHILEAN, proxy="pX", variant="prodest_iv")
    assert res.nobs == 1944 == ref["N_obs_with_lag"]
    assert res.extra["nobs_stacked"] == 2 * 1944
    assert res.dropped.loc["no calendar lag (first year of the firm or a year gap)", "rows"] == 600
    assert res.nobs + int(res.dropped["rows"].sum()) == ref["estimates"]["WRDG_table1"]["N_input"]


@pytest.mark.reference
def test_acf_finds_the_root_not_the_valley(acf, ref):
    np.testing.assert_allclose(acf.params.round(4), [0.6457, 0.6440, 0.2508])
    polished = ref["checkpoints"]["ACF_global_min_over_grid"]["nm_polished_par"]
    np.testing.assert_allclose(acf.params, polished, atol=1e-6)
    np.testing.assert_allclose(acf.params, _coefs(ref["estimates"]["ACF_DEoptim_theta0_0_R2"]), atol=1e-6)
    assert acf.extra["root_found"]
    assert acf.extra["criterion"] < 1e-15  # prodest's scaling; ~1e-19 in R, ~1e-30 here
    roots = acf.extra["roots"]
    assert len(roots) == 1
    # the flat valley where prodest's default start stops is found, and recognised as no root
    minima = acf.extra["local_minima"]
    valley = minima[(minima["fX1"] - 0.152).abs() < 0.01]
    assert len(valley) == 1
    assert valley["relative_criterion"].iloc[0] > 1e-4
    assert valley["criterion"].iloc[0] == pytest.approx(6.487e-5, rel=1e-3)


@pytest.mark.reference
def test_acf_stata_degree_three(chilean):
    res = production.estimate(chilean, "acf", **CHILEAN, proxy="pX", degree=3)
    assert res.params["sX"] == pytest.approx(0.200, abs=0.002)
    assert res.extra["root_found"]


# ------------------------------------------------------------------------------------------------
# R prodest reference: deterministic checkpoints
# ------------------------------------------------------------------------------------------------

# gACF at the checkpoint parameters recomputed in 40-digit arithmetic (mpmath) from the CSV: R's
# values differ from these by 1e-7 (relative; up to 4e-6 in the flat valley) because prodest
# solves the cubic law of motion by normal equations; ours agree with them to 1e-9.
ACF_CRITERION_40_DIGITS = {
    "fixed_0.2": 0.00027551489249573,
    "fixed_0.5": 0.000522155062040611,
    "fixed_0.3_0.3_0.1": 0.00075417811554424,
    "ACF_table1": 6.48740251475686e-5,
}


@pytest.mark.reference
def test_acf_checkpoints(chilean, ref, acf):
    cp = ref["checkpoints"]
    fs = cp["ACF_first_stage"]
    np.testing.assert_allclose(acf.extra["first_stage_coef"].iloc[:4], fs["coef_first4"], rtol=1e-10)
    assert len(acf.extra["first_stage_coef"]) - 1 == fs["n_regressors_excl_const"]
    assert acf.extra["first_stage_r2"] == pytest.approx(fs["r2"], rel=1e-10)
    assert acf.extra["first_stage_sigma"] == pytest.approx(fs["sigma"], rel=1e-10)
    assert acf.nobs == fs["N_second_stage"]
    panel = prepare_panel(chilean, y="Y", free=FREE, state=["sX"], proxy="pX", unit="idvar", time="timevar")
    problem = build_acf(panel, np.ones(panel.n), degree=2, lom_degree=3, first_stage_controls=True).problem
    for label, point in cp["ACF_criterion"].items():
        value = problem.criterion(np.array(point["theta"]))
        np.testing.assert_allclose(value, point["gACF"], rtol=1e-6, atol=1e-9, err_msg=label)
        if label in ACF_CRITERION_40_DIGITS:
            assert value == pytest.approx(ACF_CRITERION_40_DIGITS[label], rel=1e-9)
    assert problem.criterion(acf.params.to_numpy()) < 1e-25


@pytest.mark.reference
@pytest.mark.parametrize(("method", "proxy"), [("lp", "pX"), ("op", "inv")])
def test_op_lp_checkpoints(chilean, ref, method, proxy):
    cp = ref["checkpoints"]
    key = method.upper()
    panel = prepare_panel(chilean, y="Y", free=FREE, state=["sX"], proxy=proxy, unit="idvar", time="timevar")
    res = production.estimate(chilean, method, **CHILEAN, proxy=proxy)
    np.testing.assert_allclose(res.params[FREE], cp[f"{key}_first_stage_free"], rtol=1e-10)
    problem = build_oplp(panel, np.ones(panel.n)).problem
    for point in cp[f"{key}_criterion"]:
        value = problem.ssr(np.array([point["bk"]]))
        np.testing.assert_allclose(value, point["gOPLP"], rtol=1e-8)
    # R's optimize() stops within its default tolerance (1.2e-4) of the minimum; ours is exact,
    # so its criterion is at most R's objective (both evaluated here) and equal to it to 1e-8
    one_d = cp[f"{key}_bk_optimize_1d"]
    assert res.params["sX"] == pytest.approx(one_d["minimum"], abs=1e-4)
    assert res.extra["criterion"] <= problem.ssr(np.array([one_d["minimum"]]))
    assert res.extra["criterion"] == pytest.approx(one_d["objective"], rel=1e-8)


@pytest.mark.reference
def test_bootstrap_standard_errors_same_order_as_prodest(chilean, ref):
    lp = production.estimate(chilean, "lp", **CHILEAN, proxy="pX", bootstrap=40, seed=11, n_jobs=1)
    ratio = lp.std_errors.to_numpy() / _coefs({"coefficients": ref["estimates"]["LP_table1"]["se"]})
    assert np.all((ratio > 0.3) & (ratio < 3)), ratio
    acf = production.estimate(chilean, "acf", **CHILEAN, proxy="pX", bootstrap=40, seed=11, n_jobs=1)
    ratio = acf.std_errors.to_numpy() / _coefs({"coefficients": ref["estimates"]["ACF_theta0_0.5_R20"]["se"]})
    assert np.all((ratio > 0.2) & (ratio < 5)), ratio
    assert acf.inference["replications"] == 40
    assert 0 <= acf.inference["failed_replications"] < 20


# ------------------------------------------------------------------------------------------------
# Known truth
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate_panel(800, 8, seed=3)


def test_acf_recovers_truth_and_ols_is_biased(sim):
    with warnings.catch_warnings():
        # this DGP has a second, spurious root (labour cancelling productivity); see below
        warnings.simplefilter("ignore", MultipleRootsWarning)
        res = production.estimate(sim, "acf", **SIM, proxy="m", bootstrap=30, seed=5)
    truth = np.array([0.6, 0.3])
    assert np.all(np.abs(res.params.to_numpy() - truth) < 2 * res.std_errors.to_numpy()), (
        res.params,
        res.std_errors,
    )
    ols = production.estimate(sim, "ols", **SIM)
    assert ols.params["l"] > truth[0] + 0.1  # labour responds to productivity: biased upward
    assert ols.params["l"] - truth[0] > 5 * ols.std_errors["l"]


def test_acf_reports_every_root_and_warns(sim):
    with pytest.warns(MultipleRootsWarning, match="distinct roots"):
        res = production.estimate(sim, "acf", **SIM, proxy="m")
    roots = res.extra["roots"]
    assert len(roots) >= 2
    assert (roots["relative_criterion"] < 1e-10).all()
    # the selected root has the most persistent productivity and is the true one
    assert res.params["l"] == pytest.approx(0.6, abs=0.05)
    assert roots["persistence_r2"].max() == pytest.approx(
        roots.loc[(roots["l"] - res.params["l"]).abs().idxmin(), "persistence_r2"]
    )


def test_law_of_motion_treatment_matters_in_the_right_direction():
    data = simulate_panel(600, 8, seed=1, treatment_effect=0.3, treatment_share=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleRootsWarning)
        naive = production.estimate(data, "acf", **SIM, proxy="m")
        lom = production.estimate(data, "acf", **SIM, proxy="m", law_of_motion_controls="member"
        )
    truth = pd.Series({"l": 0.6, "k": 0.3})
    # ignoring the treatment attributes part of its effect to capital
    assert naive.params["k"] - truth["k"] > 0.1
    assert abs(lom.params["k"] - truth["k"]) < abs(naive.params["k"] - truth["k"]) / 2
    assert abs(lom.params["l"] - truth["l"]) < abs(naive.params["l"] - truth["l"])
    assert lom.extra["law_of_motion_controls"] == ["member"]


def test_no_root_warning():
    """Pure noise: the one ACF moment stays below zero on the whole line, so there is no root."""
    rng = np.random.default_rng(13)
    n, t = 40, 4
    data = pd.DataFrame({"id": np.repeat(np.arange(n), t), "t": np.tile(np.arange(t), n)})
    data["l"] = rng.normal(size=len(data))
    data["m"] = rng.normal(size=len(data))
    data["y"] = data["m"] + 0.1 * rng.normal(size=len(data))
    panel = prepare_panel(data, y="y", free=["l"], state=[], proxy="m", unit="id", time="t")
    problem = build_acf(panel, np.ones(panel.n), degree=2, lom_degree=3, first_stage_controls=True).problem
    moment = np.array([problem.resid(np.array([g]))[0] for g in np.linspace(-30, 30, 601)])
    assert moment.max() < -0.05
    with pytest.warns(NoRootWarning, match="no root of the moment conditions"):
        res = production.estimate(data, "acf", y="y", free="l", state=[], proxy="m", unit="id", time="t")
    assert not res.extra["root_found"]
    assert "no root" in res.summary


# ------------------------------------------------------------------------------------------------
# Bootstrap mechanics
# ------------------------------------------------------------------------------------------------


def test_bootstrap_same_seed_same_errors_any_workers(sim):
    small = sim[sim["firm"] < 300]
    kw = dict(bootstrap=40, seed=2024, batch_size=20)
    one = production.estimate(small, "lp", **SIM, proxy="m", n_jobs=1, **kw)
    two = production.estimate(small, "lp", **SIM, proxy="m", n_jobs=2, **kw)
    pd.testing.assert_series_equal(one.std_errors, two.std_errors, check_exact=True)
    other = production.estimate(small, "lp", **SIM, proxy="m", n_jobs=1, bootstrap=40, seed=7
    )
    assert not np.allclose(one.std_errors, other.std_errors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleRootsWarning)
        a1 = production.estimate(small, "acf", **SIM, proxy="m", n_jobs=1, **kw)
        a2 = production.estimate(small, "acf", **SIM, proxy="m", n_jobs=2, **kw)
    pd.testing.assert_series_equal(a1.std_errors, a2.std_errors, check_exact=True)
    assert a1.inference["failed_replications"] == a2.inference["failed_replications"]


@pytest.mark.reference
def test_bootstrap_weights_equal_resampled_panels_with_new_ids(chilean):
    """A replicate (firm weights) equals the estimate on the drawn firms stacked with new ids."""
    panel = prepare_panel(chilean, y="Y", free=FREE, state=["sX"], proxy="pX", unit="idvar", time="timevar")
    seq = np.random.SeedSequence(99).spawn(1)[0]
    w = replicate_weights(seq, panel.firm, panel.n_firms)
    draws = np.random.default_rng(np.random.SeedSequence(99).spawn(1)[0]).integers(
        0, panel.n_firms, panel.n_firms
    )
    ids = np.sort(chilean["idvar"].unique())
    stacked = pd.concat(
        [chilean[chilean["idvar"] == ids[f]].assign(idvar=new) for new, f in enumerate(draws)],
        ignore_index=True,
    )
    direct = production.estimate(stacked, "lp", **CHILEAN, proxy="pX")
    weighted = fit_oplp(panel, w, starts=[direct.params[["sX"]].to_numpy()])
    np.testing.assert_allclose(weighted.params, direct.params, atol=1e-8)
    b_w = build_acf(panel, w, degree=2, lom_degree=3, first_stage_controls=True).problem
    stacked_panel = prepare_panel(
        stacked, y="Y", free=FREE, state=["sX"], proxy="pX", unit="idvar", time="timevar"
    )
    b_s = build_acf(
        stacked_panel, np.ones(stacked_panel.n), degree=2, lom_degree=3, first_stage_controls=True
    ).problem
    theta = np.array([0.5, 0.4, 0.2])
    assert b_w.criterion(theta) == pytest.approx(b_s.criterion(theta), rel=1e-9)


def test_acf_jacobian_is_exact(sim):
    panel = prepare_panel(
        sim[sim["firm"] < 200], y="y", free=["l"], state=["k"], proxy="m", unit="firm", time="year"
    )
    problem = build_acf(panel, np.ones(panel.n), degree=2, lom_degree=3, first_stage_controls=True).problem
    theta, h = np.array([0.45, 0.35]), 1e-6
    numeric = np.column_stack(
        [(problem.resid(theta + h * e) - problem.resid(theta - h * e)) / (2 * h) for e in np.eye(2)]
    )
    np.testing.assert_allclose(problem.jac(theta), numeric, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------------------------------------
# Inputs, dropped rows, productivity, per-industry estimation
# ------------------------------------------------------------------------------------------------


def test_bad_inputs_name_the_column(sim):
    with pytest.raises(ValueError, match="'capital'"):
        production.estimate(sim, "acf", **{**SIM, "state": "capital"}, proxy="m")
    bad = sim.assign(l=sim["l"].astype(str))
    with pytest.raises(ValueError, match=r"column 'l'.*numeric"):
        production.estimate(bad, "ols", **SIM)
    with pytest.raises(ValueError, match="needs a proxy"):
        production.estimate(sim, "lp", **SIM)
    with pytest.raises(ValueError, match="method must be one of"):
        production.estimate(sim, "gmm", **SIM, proxy="m")
    with pytest.raises(ValueError, match="more than once"):
        production.estimate(pd.concat([sim, sim.head(1)]), "ols", **SIM)
    with pytest.raises(ValueError, match="'k' is given both"):
        production.estimate(sim, "ols", **{**SIM, "free": ["l", "k"]})


def test_dropped_rows_are_counted_and_shown(sim):
    data = sim[sim["firm"] < 300].copy()
    levels = data.assign(y=np.exp(data["y"]), l=np.exp(data["l"]), k=np.exp(data["k"]), m=np.exp(data["m"]))
    levels.loc[levels.index[:5], "l"] = 0.0
    levels.loc[levels.index[10:13], "m"] = np.nan
    res = production.estimate(levels, "lp", **SIM, proxy="m", logs=True)
    dropped = res.dropped["rows"]
    assert dropped["non-positive l before log"] == 5
    assert dropped["missing or non-finite proxy m"] == 3
    assert "non-positive l before log" in res.summary
    n_lag = dropped["no calendar lag (first year of the firm or a year gap)"]
    assert res.nobs + n_lag + 8 == len(levels)
    logged = production.estimate(data, "lp", **SIM, proxy="m")
    assert logged.dropped["rows"].sum() == 300  # only the first year of each firm
    # productivity is aligned with the input rows, NaN where the row was dropped
    tfp = res.productivity()
    assert tfp.index.equals(levels.index)
    assert tfp.iloc[:5].isna().all() and tfp.iloc[10:13].isna().all()
    row = levels.iloc[20]
    expected = np.log(row["y"]) - res.params["l"] * np.log(row["l"]) - res.params["k"] * np.log(row["k"])
    assert tfp.iloc[20] == pytest.approx(expected)
    assert res.productivity("fitted").notna().sum() == len(levels) - 8


def test_results_shape(acf):
    assert list(acf.params.index) == ["fX1", "fX2", "sX"]
    assert acf.std_errors.isna().all()
    assert set(acf.conf_int().columns) == {"lower", "upper"}
    assert list(acf.tidy().columns) == ["estimate", "std_error", "t", "p", "conf_low", "conf_high"]
    assert "rows dropped" in acf.summary and "<table" in acf._repr_html_()
    # no standard errors: a diagonal covariance of NaN, and the results say so
    assert acf.cov.shape == (3, 3) and acf.cov.isna().all().all()
    assert acf.inference["covariance"].startswith("diagonal only")
    assert acf.inference["distribution"] == "normal"  # as R prodest


@pytest.mark.reference
def test_covariance_and_intervals(chilean):
    """Analytic (OLS) and bootstrap (LP) covariances; normal intervals as R prodest."""
    ols = production.estimate(chilean, "ols", **CHILEAN)
    assert ols.cov.notna().all().all()
    np.testing.assert_allclose(np.sqrt(np.diag(ols.cov)), ols.std_errors, rtol=1e-12)
    assert ols.cov.loc["fX1", "fX2"] != 0
    z = 1.959963984540054
    np.testing.assert_allclose(ols.conf_int()["upper"], ols.params + z * ols.std_errors)
    np.testing.assert_allclose(ols.pvalues, 2 * stats.norm.sf(np.abs(ols.params / ols.std_errors)))
    lp = production.estimate(chilean, "lp", **CHILEAN, proxy="pX", bootstrap=12, seed=4, n_jobs=1)
    draws = lp.extra["bootstrap_draws"].dropna()
    np.testing.assert_allclose(lp.cov.to_numpy(), np.cov(draws.to_numpy(), rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(lp.cov)), lp.std_errors, rtol=1e-12)


def test_arguments_are_keywords_and_one_panel_means_one_panel(sim):
    with pytest.raises(TypeError):
        production.estimate(sim, "ols", "y", "l", "k", None, "firm", "year")  # type: ignore[misc]
    with pytest.raises(TypeError, match="by"):
        production.estimate(sim, "ols", **SIM, by="firm")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="'nace'"):
        production.estimate_by(sim, "ols", by="nace", **SIM)


def test_pooling_plan():
    counts = pd.Series({10: 500, 11: 50, 12: 40, 13: 400, 14: 30})
    groups, reasons = production.plan_pooling(counts, min_obs=100)
    # 11 joins 12, still too small, joins 13; 14 is the last code and joins the previous group
    assert groups == {10: [10], 11: [11, 12, 13, 14]}
    assert "next industry" in reasons[11] and "previous industry" in reasons[14]
    groups, reasons = production.plan_pooling(counts, min_obs=100, pool_map={14: 10, 11: 10, 12: 13})
    assert groups[10] == [10, 11, 14] and groups[12] == [12, 13]
    assert "pool_map" in reasons[14]


def test_estimate_by_industry(sim):
    data = sim[sim["firm"] < 400].copy()
    data["nace2"] = np.select([data["firm"] < 180, data["firm"] < 200], [10, 11], 13)
    kw = dict(by="nace2", min_obs=500, bootstrap=20, seed=1)
    one = production.estimate_by(data, "lp", **SIM, proxy="m", n_jobs=1, **kw)
    two = production.estimate_by(data, "lp", **SIM, proxy="m", n_jobs=2, **kw)
    table = one.table
    assert table.loc[11, "estimated_as"] == "11+13" and table.loc[13, "estimated_as"] == "11+13"
    assert table.loc[11, "pooled_with"] == "13" and "min_obs=500" in table.loc[11, "reason"]
    assert table.loc[10, "reason"] == "own estimate"
    assert set(one.results) == {"10", "11+13"}
    pd.testing.assert_series_equal(one.params, two.params)
    pd.testing.assert_series_equal(one.std_errors, two.std_errors)
    tfp = one.productivity()
    assert tfp.index.equals(data.index) and tfp.notna().all()
    assert "Per-industry" in one.summary
    # the results shape over all groups: stacked by (group, term), block-diagonal covariance
    assert isinstance(one, EstimationResults)
    assert list(one.params.index.names) == ["group", "term"]
    pd.testing.assert_frame_equal(one.params_by_group, one.params.unstack("term")[["l", "k"]],
                                  check_names=False)
    assert one.nobs == sum(r.nobs for r in one.results.values())
    cov = one.cov
    for g, r in one.results.items():
        np.testing.assert_allclose(cov.loc[g, g].to_numpy(), r.cov.to_numpy())
    assert (cov.loc["10", "11+13"].to_numpy() == 0).all()
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), one.std_errors)
    assert list(one.tidy().index.names) == ["group", "term"]
    # every row left out is counted, before the groups are formed and within them
    lag_reason = "no calendar lag (first year of the firm or a year gap)"
    assert one.dropped.loc[lag_reason, "rows"] == sum(
        r.dropped.loc[lag_reason, "rows"] for r in one.results.values())
    assert one.dropped.loc[lag_reason, "stage"] == "second stage"
    levels = data.assign(m=np.exp(data["m"]))
    levels.loc[levels.index[:7], "m"] = 0.0
    logged = production.estimate_by(levels, "lp", **SIM, proxy="m", n_jobs=1,
                                    logs=["m"], by="nace2", min_obs=500)
    assert logged.dropped.loc["non-positive m before log", "rows"] == 7
    assert logged.dropped.loc["non-positive m before log", "stage"] == "all stages"


@pytest.mark.slow
def test_dask_backend_gives_the_same_errors(sim):
    """``joblib.parallel_config(backend="dask")`` with a Dask cluster: same seed, same SEs."""
    small = sim[sim["firm"] < 200]
    kw = dict(bootstrap=40, seed=8, batch_size=20)
    local = production.estimate(small, "lp", **SIM, proxy="m", n_jobs=1, **kw)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False) as cluster,
        distributed.Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        remote = production.estimate(small, "lp", **SIM, proxy="m", n_jobs=2, **kw)
    pd.testing.assert_series_equal(local.std_errors, remote.std_errors, check_exact=True)
