"""clusterpolicy.estimators.did against R reference results on did::mpdta (data/reference/did).

Tolerance 1e-6 throughout, except the Wald pre-test p-value, which R did stores rounded to 5
decimals (``round(1 - pchisq(W, q), 5)``): ours is compared after the same rounding.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clusterpolicy.estimators.did import (
    bacon,
    callaway_santanna,
    did2s,
    sun_abraham,
    twfe,
    twfe_event_study,
    twfe_weights,
)

pytestmark = pytest.mark.reference

TOL = 1e-6
ARGS = {"y": "lemp", "unit": "countyreal", "time": "year"}
SETTINGS = [
    f"control={c}|xformla={x}|est_method={m}|base_period={b}"
    for c, x, (m, b) in itertools.product(
        ("nevertreated", "notyettreated"),
        ("~1", "~lpop"),
        (("dr", "varying"), ("dr", "universal"), ("ipw", "varying"), ("reg", "varying")),
    )
]
AGGREGATIONS = {
    "simple": ("simple", {}),
    "dynamic": ("dynamic", {}),
    "group": ("group", {}),
    "calendar": ("calendar", {}),
    "dynamic_balance_e1": ("dynamic", {"balance_e": 1}),
    "dynamic_min_e-2_max_e2": ("dynamic", {"min_e": -2, "max_e": 2}),
}


@pytest.fixture(scope="module")
def mpdta(reference_dir) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "did" / "mpdta.csv")


@pytest.fixture(scope="module")
def ref_cs(reference_dir) -> dict:
    with open(reference_dir / "did" / "reference_mpdta.json", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def ref_other(reference_dir) -> dict:
    with open(reference_dir / "did" / "reference_mpdta_twfe_sunab_bacon.json", encoding="utf-8") as handle:
        return json.load(handle)


def test_reference_has_the_16_settings(ref_cs):
    assert sorted(ref_cs["settings"]) == sorted(SETTINGS)


@pytest.mark.parametrize("key", SETTINGS)
def test_callaway_santanna_matches_r_did(mpdta, ref_cs, key):
    ref = ref_cs["settings"][key]
    args = ref["args"]
    fit = callaway_santanna(
        mpdta,
        cohort="first.treat",
        control="never" if args["control_group"] == "nevertreated" else "notyet",
        covariates=None if args["xformla"] == "~1" else [args["xformla"].removeprefix("~")],
        method=args["est_method"],
        base_period=args["base_period"],
        **ARGS,
    )
    assert fit.extra["n_units"] == ref["n_units"]
    expected = pd.DataFrame(ref["att_gt"]).rename(columns={"group": "cohort"})
    cells = list(zip(expected["cohort"], expected["time"], strict=True))
    got = fit.att_gt.set_index(["cohort", "time"]).loc[cells]
    assert len(fit.att_gt) == len(expected)
    np.testing.assert_allclose(got["att"], expected["att"], rtol=0, atol=TOL)
    # R reports NA for the reference cells of a universal base period: so do we (NaN).
    np.testing.assert_allclose(got["se"], expected["se"].astype(float), rtol=0, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(fit.params.to_numpy(), fit.att_gt["att"].to_numpy())

    assert fit.pretest["available"]
    assert fit.pretest["wald_stat"] == pytest.approx(ref["pretest_wald_stat"], abs=TOL)
    assert round(fit.pretest["p_value"], 5) == pytest.approx(ref["pretest_wald_pvalue"], abs=1e-9)

    for name, (kind, options) in AGGREGATIONS.items():
        agg_ref = ref["aggte"][name]
        agg = fit.aggregate(kind, **options)
        assert agg.att == pytest.approx(agg_ref["overall_att"], abs=TOL), name
        assert agg.se == pytest.approx(agg_ref["overall_se"], abs=TOL), name
        if "table" in agg_ref:
            table = pd.DataFrame(agg_ref["table"])
            key_col = agg.table.columns[0]
            np.testing.assert_array_equal(agg.table[key_col].to_numpy(), table["egt"].to_numpy())
            np.testing.assert_allclose(agg.table["att"], table["att"], rtol=0, atol=TOL, err_msg=name)
            np.testing.assert_allclose(agg.table["se"], table["se"], rtol=0, atol=TOL, err_msg=name)


def _coefs(items: list[dict], key: str = "se") -> pd.DataFrame:
    return pd.DataFrame(items).set_index("term")[["estimate", key]].set_axis(["estimate", "se"], axis=1)


def test_twfe_matches_fixest(mpdta, ref_other):
    fit = twfe(mpdta, cohort="first.treat", **ARGS)
    ref = _coefs(ref_other["twfe"]["unweighted"]["coef"])
    assert fit.nobs == ref_other["twfe"]["unweighted"]["nobs"]
    assert fit.params["post"] == pytest.approx(ref.loc["post", "estimate"], abs=TOL)
    assert fit.std_errors["post"] == pytest.approx(ref.loc["post", "se"], abs=TOL)
    # the same with a 0/1 treatment column
    data = mpdta.assign(
        post=((mpdta["first.treat"] > 0) & (mpdta["year"] >= mpdta["first.treat"])).astype(int)
    )
    again = twfe(data, treated="post", **ARGS)
    assert again.params["post"] == pytest.approx(fit.params["post"], abs=1e-12)


def test_twfe_with_covariate_by_year_matches_fixest(mpdta, ref_other):
    fit = twfe(mpdta, cohort="first.treat", covariates_by_time=["lpop"], **ARGS)
    ref = _coefs(ref_other["twfe"]["with_lpop_x_year"]["coef"])
    assert list(fit.params.index) == list(ref.index)
    np.testing.assert_allclose(fit.params, ref["estimate"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.std_errors, ref["se"], rtol=0, atol=TOL)


def test_twfe_event_study_matches_fixest(mpdta, ref_other):
    fit = twfe_event_study(mpdta, cohort="first.treat", **ARGS)
    ref = _coefs(ref_other["twfe"]["event_study"]["coef"])
    ref.index = [f"e={term.split('::')[1]}" for term in ref.index]
    assert list(fit.params.index) == list(ref.index)
    np.testing.assert_allclose(fit.params, ref["estimate"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.std_errors, ref["se"], rtol=0, atol=TOL)


def test_sun_abraham_matches_fixest_sunab(mpdta, ref_other):
    fit = sun_abraham(mpdta, cohort="first.treat", **ARGS)
    ref = ref_other["sunab"]["unweighted"]
    events = _coefs(ref["event_time"])
    events.index = [f"e={term.split('::')[1]}" for term in events.index]
    assert list(fit.params.index) == list(events.index)
    np.testing.assert_allclose(fit.params, events["estimate"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.std_errors, events["se"], rtol=0, atol=TOL)

    overall = fit.aggregate("simple")
    assert overall.att == pytest.approx(ref["agg_ATT"][0]["estimate"], abs=TOL)
    assert overall.se == pytest.approx(ref["agg_ATT"][0]["se"], abs=TOL)

    cohorts = _coefs(ref["agg_cohort"])
    by_group = fit.aggregate("group").table
    np.testing.assert_array_equal(by_group["cohort"], [int(t.split("::")[1]) for t in cohorts.index])
    np.testing.assert_allclose(by_group["att"], cohorts["estimate"], rtol=0, atol=TOL)
    np.testing.assert_allclose(by_group["se"], cohorts["se"], rtol=0, atol=TOL)


def test_bacon_matches_bacondecomp(mpdta, ref_other):
    fit = bacon(mpdta, cohort="first.treat", **ARGS)
    ref = ref_other["bacon"]
    expected = pd.DataFrame(ref["two_by_two"]).replace({"untreated": {99999: 0}})
    got = fit.two_by_two.set_index(["treated", "control"])
    want = expected.set_index(["treated", "untreated"])
    assert len(got) == len(want)
    got = got.loc[list(want.index)]
    np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=0, atol=TOL)
    np.testing.assert_allclose(got["weight"], want["weight"], rtol=0, atol=TOL)
    assert list(got["type"]) == list(want["type"])

    by_type = fit.by_type.set_index("type")
    for row in ref["by_type"]:
        assert by_type.loc[row["type"], "weight"] == pytest.approx(row["weight"], abs=TOL)
        assert by_type.loc[row["type"], "avg_est"] == pytest.approx(row["avg_est"], abs=TOL)
    assert fit.twfe_estimate == pytest.approx(ref["weighted_sum"], abs=TOL)
    # and the weighted sum is the TWFE coefficient
    assert fit.twfe_estimate == pytest.approx(
        twfe(mpdta, cohort="first.treat", **ARGS).params["post"], abs=1e-10
    )


def test_twfe_cell_weights_reproduce_twfe(mpdta):
    """With y = unit + year effects + tau(g,t) * D, TWFE = sum of cell weight x tau(g,t)."""
    weights = twfe_weights(mpdta, cohort="first.treat", **ARGS)
    assert weights["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (weights["weight"] < 0).any()  # the 2004 cohort in 2007 on mpdta
    assert weights.loc[weights["weight"] < 0, ["cohort", "time"]].values.tolist() == [[2004, 2007]]
    rng = np.random.default_rng(7)
    tau = {(g, t): rng.normal() for g, t in zip(weights["cohort"], weights["time"], strict=True)}
    g, t = mpdta["first.treat"], mpdta["year"]
    counties = mpdta["countyreal"].unique()
    unit_effect = mpdta["countyreal"].map(dict(zip(counties, rng.normal(size=len(counties)), strict=True)))
    effect = [tau.get((gi, ti), 0.0) if gi > 0 and ti >= gi else 0.0 for gi, ti in zip(g, t, strict=True)]
    data = mpdta.assign(lemp=unit_effect + 0.1 * (t - 2003) ** 2 + np.asarray(effect))
    fit = twfe(data, cohort="first.treat", **ARGS)
    expected = sum(
        w * tau[(gi, ti)] for gi, ti, w in weights[["cohort", "time", "weight"]].itertuples(index=False)
    )
    assert fit.params["post"] == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("event_study", [False, True])
def test_did2s_matches_r_did2s(mpdta, ref_other, event_study):
    fit = did2s(mpdta, cohort="first.treat", event_study=event_study, **ARGS)
    ref = _coefs(ref_other["did2s"]["event_study" if event_study else "static"]["coef"])
    ref.index = [f"e={t.split('::')[1]}" if event_study else "post" for t in ref.index]
    assert list(fit.params.index) == list(ref.index)
    np.testing.assert_allclose(fit.params, ref["estimate"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.std_errors, ref["se"], rtol=0, atol=TOL)
    if not event_study:  # the static two-stage estimate is the BJS imputation estimate
        bjs = ref_other["did_imputation"]["static"]["estimates"][0]["estimate"]
        assert fit.params["post"] == pytest.approx(bjs, abs=TOL)


def test_inference_follows_the_reference_software(mpdta):
    """fixest: t with G - 1 degrees of freedom; R did and did2s: normal. Full covariances."""
    n_counties = mpdta["countyreal"].nunique()
    for fit in (twfe(mpdta, cohort="first.treat", covariates_by_time=["lpop"], **ARGS),
                twfe_event_study(mpdta, cohort="first.treat", **ARGS),
                sun_abraham(mpdta, cohort="first.treat", **ARGS)):
        assert fit.inference["distribution"] == "t" and fit.inference["df"] == n_counties - 1
        q = stats.t.ppf(0.975, n_counties - 1)
        np.testing.assert_allclose(fit.conf_int()["lower"], fit.params - q * fit.std_errors)
        t = fit.params / fit.std_errors
        np.testing.assert_allclose(fit.pvalues, 2 * stats.t.sf(np.abs(t), n_counties - 1))
        cov = fit.cov.to_numpy()
        np.testing.assert_allclose(np.sqrt(np.diag(cov)), fit.std_errors, rtol=1e-12)
        np.testing.assert_allclose(cov, cov.T, rtol=0, atol=1e-15)
        assert np.linalg.eigvalsh(cov).min() > -1e-12
        assert "covariance" not in fit.inference  # the full matrix, not a diagonal
    sa = sun_abraham(mpdta, cohort="first.treat", **ARGS)
    agg = sa.aggregate("dynamic")
    assert agg.inference["distribution"] == "t"
    q = stats.t.ppf(0.975, n_counties - 1)
    np.testing.assert_allclose(agg.table["conf_high"], agg.table["att"] + q * agg.table["se"])
    np.testing.assert_allclose(agg.std_errors.iloc[1:], sa.std_errors)  # the event-time rows
    for fit in (did2s(mpdta, cohort="first.treat", event_study=True, **ARGS),
                callaway_santanna(mpdta, cohort="first.treat", **ARGS)):
        assert fit.inference["distribution"] == "normal"
        np.testing.assert_allclose(fit.conf_int(0.9)["upper"],
                                   fit.params + stats.norm.ppf(0.95) * fit.std_errors)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), fit.std_errors, rtol=1e-8)
        assert fit.cov.notna().all().all()


def test_callaway_santanna_covariance_from_influence_functions(mpdta):
    fit = callaway_santanna(mpdta, cohort="first.treat", base_period="universal", **ARGS)
    reference = fit.std_errors.isna()
    assert reference.any()  # the cells at g - 1 have no standard error, as in R
    assert fit.cov.loc[reference, :].isna().all().all()
    have = ~reference
    cov = fit.cov.loc[have, have].to_numpy()
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), fit.std_errors[have], rtol=1e-10)
    for kind in ("simple", "dynamic", "group", "calendar"):
        agg = fit.aggregate(kind)
        ok = agg.std_errors.notna().to_numpy()
        np.testing.assert_allclose(np.sqrt(np.diag(agg.cov.to_numpy()))[ok], agg.std_errors[ok], rtol=1e-10)
    boot = callaway_santanna(mpdta, cohort="first.treat", bootstrap=True, biters=49, seed=3, **ARGS)
    assert boot.inference["covariance"].startswith("diagonal only")
    off = ~np.eye(len(boot.params), dtype=bool)
    assert np.isnan(boot.cov.to_numpy()[off]).all()
