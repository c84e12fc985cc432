"""Study 2: serial innovators, clustering and the two margins of internationalization: the
input rules (clusterpolicy.data.innovators), the models (clusterpolicy.estimators.margins), the
chapter's studies (clusterpolicy.studies.serial_innovators) and the Monte Carlo
(clusterpolicy.checks.serial_montecarlo)."""

from __future__ import annotations

import copy
import json
import math
import shutil

import distributed
import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from clusterpolicy import synthetic
from clusterpolicy.checks import serial_montecarlo
from clusterpolicy.core import provenance
from clusterpolicy.core.results import EstimationResults
from clusterpolicy.data import innovators
from clusterpolicy.estimators import margins
from clusterpolicy.studies import serial_innovators
from clusterpolicy.studies import verdicts as vocabulary
from conftest import ROOT

DEFAULT_TECHFIRMS = ROOT / "data" / "synthetic" / "techfirms.csv"


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_draw():
    data, truth = synthetic.generate_techfirms()
    return innovators.prepare(data), truth, data


@pytest.fixture(scope="module")
def margin_fits(default_draw):
    df, _, _ = default_draw
    return serial_innovators.fit_margins(df)


@pytest.fixture(scope="module")
def default_fits(margin_fits):
    return {"initiation": margin_fits.initiation, "intensity": margin_fits.intensity,
            "two_part": margin_fits.two_part}


@pytest.fixture(scope="module")
def large_draw():
    data, truth = synthetic.generate_techfirms(seed=7, n_pairs=2000)
    return innovators.prepare(data), truth


def opposite_truth() -> dict:
    """The published pattern turned around: clustering hurts both groups, the non-serial
    profile is convex and serial innovators lose more."""
    truth = synthetic.default_tech_truth()
    opp = copy.deepcopy(truth)
    for eq in ("initiation", "intensity"):
        for term in ("z", "z2", "serial_z", "serial_z2"):
            opp[eq][term] = -truth[eq][term]
    return opp


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------
def _set(column, where, value):
    """An edit of the data: ``column`` set to ``value`` on the rows where ``where(data)``."""
    return lambda d: d.assign(**{column: d[column].mask(where(d), value)})


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda d: d.drop(columns=["foreign_share", "age"]),
         r"missing required column\(s\): 'foreign_share', 'age'"),
        (_set("foreign_share", lambda d: d.index == 3, 1.2),
         r"column 'foreign_share': rule 'must lie in \[0, 1\]' failed; 1 offending row\(s\): row 3"),
        (_set("foreign_share", lambda d: d["international"] == 0, 0.3),
         r"column 'foreign_share': rule 'must be 0 when international = 0"),
        (_set("foreign_share", lambda d: d["international"] == 1, 0.0),
         r"column 'foreign_share': rule 'must be positive when international = 1'"),
        (_set("clustering", lambda d: d.index == 5, 0.0),
         r"column 'clustering': rule 'must be positive \(enters in logs\)' failed.*row 5"),
        (_set("international", lambda d: d.index == 2, 2),
         r"column 'international': rule 'must be 0/1"),
        (lambda d: d.assign(firm_id=d["firm_id"].mask(d.index == 1, d.loc[0, "firm_id"])),
         r"column 'firm_id': rule 'unique firm identifier'"),
        (lambda d: d.assign(age=d["age"].astype(float).mask(d.index == 4, np.nan)),
         r"column 'age': rule 'no missing values' failed"),
        (_set("patents", lambda d: d.index == 4, -1),
         r"column 'patents': rule 'must be non-negative'"),
        (lambda d: d.assign(serial=True),
         r"column 'serial': rule 'both serial \(1\) and non-serial \(0\) innovators present'"),
    ],
    ids=["missing", "share>1", "share_without_intl", "intl_without_share", "clustering<=0",
         "international_not_binary", "duplicate_firm", "missing_value", "negative_patents",
         "one_group"],
)
def test_bad_input_names_column_and_rule(default_draw, edit, pattern):
    _, _, data = default_draw
    with pytest.raises(ValueError, match=pattern):
        innovators.prepare(edit(data.copy()))


def test_load_reads_tracks_and_validates_a_file(tmp_path, monkeypatch, default_draw):
    _, truth, data = default_draw
    path = tmp_path / "techfirms.csv"
    data.to_csv(path, index=False)
    (tmp_path / "techfirms.truth.json").write_text(json.dumps(truth), encoding="utf-8")
    log = tmp_path / "inputs.jsonl"
    monkeypatch.setenv(provenance.INPUT_LOG_ENV, str(log))
    loaded = innovators.load(path)
    assert len(loaded) == len(data)
    pd.testing.assert_series_equal(innovators.prepare(loaded)["z"], innovators.prepare(data)["z"])
    assert synthetic.read_truth(path)["seed"] == truth["seed"]
    logged = {r["path"] for r in provenance.read_input_log(log)}
    assert str(path.resolve()) in logged
    assert str((tmp_path / "techfirms.truth.json").resolve()) in logged
    assert synthetic.read_truth(tmp_path / "real.csv") is None

    bad = data.copy()
    bad.loc[7, "foreign_share"] = -0.5
    bad_path = tmp_path / "bad.csv"
    bad.to_csv(bad_path, index=False)
    with pytest.raises(ValueError, match=r"foreign_share") as info:
        innovators.load(bad_path)
    assert "bad.csv" in str(info.value)


def test_prepare_defines_z_exactly_as_the_generator(default_draw):
    df, _, data = default_draw
    logc = np.log(data["clustering"].to_numpy())
    np.testing.assert_allclose(df["z"], (logc - logc.mean()) / logc.std(ddof=0), rtol=0, atol=1e-14)
    assert abs(df["z"].mean()) < 1e-12 and abs(df["z"].std(ddof=0) - 1) < 1e-12
    np.testing.assert_allclose(df["serial_z2"], df["S"] * df["z"] ** 2)
    assert df.attrs["z_sd"] == pytest.approx(logc.std())
    assert set(df["group"]) == {"serial", "non-serial"}
    assert "S" not in data.columns  # the input is not modified


# --------------------------------------------------------------------------------------------
# The matched design
# --------------------------------------------------------------------------------------------
def test_balanced_design_has_no_flags(default_draw):
    df, _, _ = default_draw
    design = serial_innovators.matched_design(df)
    assert design.balanced and design.notes == []
    bal = design.balance
    assert bal.index.name == "covariate"
    assert not bal["unbalanced"].any()
    assert bal.loc["employees (log)", "status"] == "balanced"
    # serial innovators patent far more: a difference by design, not a matching failure
    assert bal.loc["patents (log 1 + count)", "status"] == "differs (not matched on)"
    assert design.pairs.loc["1:1 pairs (one serial, one non-serial)", "value"] == 400
    assert design.pairs.loc["share of matches in the serial innovator's industry", "value"] == 1
    assert not design.pairs["flag"].any()


def test_unbalanced_matching_is_flagged(default_draw):
    _, _, data = default_draw
    bad = data.copy()
    non = ~bad["serial"]
    bad.loc[non, "employees"] = (bad.loc[non, "employees"] * 4).clip(upper=2000)
    rng = np.random.default_rng(0)
    bad.loc[non, "industry"] = rng.permutation(bad.loc[non, "industry"].to_numpy())
    bad = bad.drop(index=bad.index[[1, 3]])  # two serial innovators lose their partner
    design = serial_innovators.matched_design(innovators.prepare(bad))
    assert not design.balanced
    bal = design.balance
    assert bal.loc["employees (log)", "unbalanced"]
    assert bal.loc["employees (log)", "status"] == "unbalanced"
    assert not bal.loc["patents (log 1 + count)", "unbalanced"]  # not a matching variable
    pairs = design.pairs
    assert pairs.loc["groups without both a serial and a non-serial firm", "value"] == 2
    assert pairs.loc["groups without both a serial and a non-serial firm", "flag"]
    assert pairs.loc["share of matches in the serial innovator's industry", "flag"]
    assert pairs.loc["share of matches with employment within 2:1", "flag"]
    text = " ".join(design.notes)
    assert "employees (log)" in text and "2 match group(s) lack" in text
    assert "share their serial innovator's industry" in text and "similar size" in text


def test_one_to_k_matching_is_not_a_problem(default_draw):
    _, _, data = default_draw
    extra = data[~data["serial"]].head(30).copy()  # a second non-serial match for 30 groups
    extra["firm_id"] = [f"X{i:04d}" for i in range(len(extra))]
    design = serial_innovators.matched_design(innovators.prepare(pd.concat([data, extra], ignore_index=True)))
    assert design.pairs.loc["groups with several firms of a kind (1:k)", "value"] == 30
    assert design.pairs.loc["1:1 pairs (one serial, one non-serial)", "value"] == 370
    assert not design.pairs["flag"].any()


# --------------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------------
def test_every_result_has_the_package_results_shape(default_draw, default_fits, margin_fits):
    df, _, _ = default_draw
    fits = dict(default_fits, logit=margin_fits.initiation_logit, tobit=margin_fits.tobit)
    assert [r.model for r in margin_fits.by_name().values()] == [
        "probit", "fractional_logit", "two_part", "logit", "tobit"]
    for name, res in fits.items():
        assert isinstance(res, EstimationResults), name
        assert res.params.index.equals(res.std_errors.index)
        assert np.all(np.isfinite(res.std_errors)) and np.all(res.std_errors > 0), name
        ci = res.conf_int()
        assert list(ci.columns) == ["lower", "upper"] and (ci["lower"] < ci["upper"]).all()
        tidy = res.tidy()
        assert tidy.index.name == "term"
        assert list(tidy.columns) == ["estimate", "std_error", "t", "p", "conf_low", "conf_high"]
        assert "match_id" in res.summary and "<table" in res._repr_html_()
        assert res.cov.shape == (len(res.params),) * 2
        np.testing.assert_allclose(np.sqrt(np.diag(res.cov)), res.std_errors)
        assert res.notes == [], (name, res.notes)
    assert fits["initiation"].nobs == 800
    assert fits["intensity"].nobs == int(df["international"].sum())
    assert "sigma" in fits["tobit"].params.index
    with pytest.raises(ValueError, match="link must be"):
        margins.initiation(df, link="cloglog")
    with pytest.raises(ValueError, match="model must be"):
        margins.intensity(df, model="beta")


def test_cluster_covariance_is_statsmodels_crv1_and_two_part_is_joint(default_fits):
    init, inten, tp = (default_fits[k] for k in ("initiation", "intensity", "two_part"))
    for res in (init, inten):
        own = margins._cluster_sandwich(res._scores, res._hess_inv, res._groups)
        np.testing.assert_allclose(own, res.cov.to_numpy(), rtol=1e-9, atol=1e-14)
    k1 = len(init.params)
    joint = tp.cov.to_numpy()
    np.testing.assert_allclose(joint[:k1, :k1], init.cov.to_numpy(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(joint[k1:, k1:], inten.cov.to_numpy(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(joint, joint.T, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(joint) > -1e-12)
    assert np.abs(joint[:k1, k1:]).max() > 0  # within-pair correlation across the equations


@pytest.mark.parametrize("margin", ["initiation", "intensity"])
def test_default_sample_estimates_are_within_3_se_of_the_truth(default_draw, default_fits, margin):
    _, truth, _ = default_draw
    table = serial_innovators.compare_truth(default_fits[margin], truth)
    terms = [*innovators.CLUSTERING_TERMS, *innovators.CONTROLS]
    dev = ((table["estimate"] - table["truth"]) / table["std_error"]).loc[terms]
    assert (dev.abs() < 3).all(), dev


@pytest.mark.parametrize("margin", ["initiation", "intensity"])
def test_large_sample_recovers_the_truth(large_draw, margin):
    df, truth = large_draw
    res = margins.initiation(df) if margin == "initiation" else margins.intensity(df)
    table = serial_innovators.compare_truth(res, truth)
    dev = (table["estimate"] - table["truth"]) / table["std_error"]
    assert (dev.abs() < 3).all(), dev
    slopes = table.loc[["z", "z2", "serial_z", "serial_z2"]]
    assert (slopes["std_error"] < 0.08).all()  # 4000 firms: tight
    # the turning point of the non-serial profile is recovered too
    tp = margins.turning_point(res, "non-serial")
    true_tp = truth[f"turning_point_nonserial_{margin}"]
    assert abs(tp["turning_point"] - true_tp) < 3 * tp["se"]


def test_true_params_follow_the_reference_industry(default_draw, default_fits):
    _, truth, _ = default_draw
    res = default_fits["initiation"]
    ref = res.spec["industry_reference"]
    tp = serial_innovators.true_params(truth, res)
    effects = truth["initiation"]["industry"]
    assert tp["const"] == pytest.approx(truth["initiation"]["const"] + effects[ref])
    assert tp["industry[Software]"] == pytest.approx(effects["Software"] - effects[ref])
    with pytest.raises(ValueError, match="defined for the probit"):
        serial_innovators.true_params(truth, default_fits["two_part"])


def test_tobit_recovers_a_censored_normal_model():
    rng = np.random.default_rng(3)
    n = 3000
    data, _ = synthetic.generate_techfirms(seed=11, n_pairs=n // 2)
    df = innovators.prepare(data)
    beta = {"const": -0.4, "z": 0.3, "z2": -0.1, "serial": 0.2, "serial_z": 0.15,
            "serial_z2": 0.1, "log_age": 0.05, "log_employees": 0.04, "log1p_patents": 0.02}
    xb = sum(v * (df["S"] if k == "serial" else (1.0 if k == "const" else df[k]))
             for k, v in beta.items())
    ystar = xb + 0.35 * rng.standard_normal(n)
    y = np.clip(ystar, 0, 1)
    df = df.assign(foreign_share=y, international=(y > 0).astype("int64"))
    df["industry"] = "Software"  # no industry effects in this check
    res = margins.intensity(df, model="tobit")
    for term, value in beta.items():
        assert abs(res.params[term] - value) < 3.5 * res.std_errors[term], term
    assert abs(res.params["sigma"] - 0.35) < 3.5 * res.std_errors["sigma"]
    assert res.extra["n_left_censored"] > 0 and res.extra["n_right_censored"] > 0
    # the analytic score vanishes at the optimum
    X = margins._design(df, innovators.CONTROLS, []).to_numpy()
    theta = np.r_[res.params.to_numpy()[:-1], np.log(res.params["sigma"])]
    _, scores = margins._tobit_obs(theta, y, X)
    assert np.abs(scores.sum(axis=0)).max() < 1e-3


# --------------------------------------------------------------------------------------------
# Marginal effects
# --------------------------------------------------------------------------------------------
def _mean_prediction_at(result, df, z_value, group):
    """Mean predicted outcome of a group with every firm's z set to ``z_value`` (by hand)."""
    data = df[df["international"] == 1] if result.spec["sample"] == "international" else df
    data = data[data["group"] == group].copy()
    data["z"] = z_value
    data["z2"] = z_value**2
    data["serial_z"] = data["S"] * data["z"]
    data["serial_z2"] = data["S"] * data["z2"]
    if result.spec["margin"] == "two_part":
        parts = []
        for prefix, spec in zip(("initiation:", "intensity:"), result.spec["parts"], strict=True):
            b = result.params[[n for n in result.params.index if n.startswith(prefix)]]
            b.index = [n.split(":", 1)[1] for n in b.index]
            X = margins._design(data, spec["controls"], spec["industry_levels"])
            xb = X.to_numpy() @ b.reindex(X.columns).to_numpy()
            parts.append(stats.norm.cdf(xb) if spec["model"] == "probit" else special.expit(xb))
        return float((parts[0] * parts[1]).mean())
    X = margins._design(data, result.spec["controls"], result.spec["industry_levels"])
    xb = X.to_numpy() @ result.params.reindex(X.columns).to_numpy()
    if result.model == "probit":
        return float(stats.norm.cdf(xb).mean())
    return float(special.expit(xb).mean())


@pytest.mark.parametrize("which", ["initiation", "intensity", "two_part"])
def test_ame_curve_matches_numerical_differences(default_draw, default_fits, which):
    df, _, _ = default_draw
    res = default_fits[which]
    grid = np.array([-1.5, 0.0, 0.9, 1.8])
    curve = margins.marginal_effects(res, df, grid=grid)
    assert list(curve.columns) == ["margin", "model", "group", "z", "clustering", "ame", "se",
                                   "lower", "upper"]
    h = 1e-5
    for row in curve.itertuples():
        numeric = (_mean_prediction_at(res, df, row.z + h, row.group)
                   - _mean_prediction_at(res, df, row.z - h, row.group)) / (2 * h)
        assert row.ame == pytest.approx(numeric, rel=1e-6, abs=1e-9)
        assert row.lower < row.ame < row.upper
    # clustering is the location quotient at z
    mean, sd = df.attrs["z_mean"], df.attrs["z_sd"]
    np.testing.assert_allclose(curve["clustering"], np.exp(mean + sd * curve["z"]))


def test_ame_at_observed_values_matches_numerical_differences(default_draw, default_fits):
    df, _, _ = default_draw
    res = default_fits["initiation"]
    ame = margins.average_marginal_effects(res, df)
    h = 1e-6
    for group in innovators.GROUPS:
        d = df[df["group"] == group]
        up, dn = d.copy(), d.copy()
        for frame, step in ((up, h), (dn, -h)):
            frame["z"] = d["z"] + step
            frame["z2"] = frame["z"] ** 2
            frame["serial_z"] = frame["S"] * frame["z"]
            frame["serial_z2"] = frame["S"] * frame["z2"]
        X_up = margins._design(up, innovators.CONTROLS, res.spec["industry_levels"]).to_numpy()
        X_dn = margins._design(dn, innovators.CONTROLS, res.spec["industry_levels"]).to_numpy()
        b = res.params.to_numpy()
        numeric = ((stats.norm.cdf(X_up @ b) - stats.norm.cdf(X_dn @ b)) / (2 * h)).mean()
        assert ame.loc[group, "ame"] == pytest.approx(numeric, rel=1e-6)
    diff = ame.loc[innovators.DIFFERENCE]
    assert diff["ame"] == pytest.approx(ame.loc["serial", "ame"] - ame.loc["non-serial", "ame"])
    # the difference's SE accounts for the covariance of the two AMEs
    assert diff["se"] != pytest.approx(np.hypot(ame.loc["serial", "se"], ame.loc["non-serial", "se"]))


def test_delta_method_agrees_with_the_pairs_bootstrap(default_draw, default_fits):
    df, _, _ = default_draw
    res = default_fits["initiation"]
    delta = margins.average_marginal_effects(res, df, method="delta")
    boot = margins.average_marginal_effects(res, df, method="bootstrap", n_boot=80, seed=5,
                                         n_jobs=2)
    np.testing.assert_allclose(boot["ame"], delta["ame"])  # same point estimates
    # 80 draws estimate a standard error to within about 8% (one sd): allow 4 sd either way
    ratio = boot["se"] / delta["se"]
    assert ((ratio > 0.65) & (ratio < 1.5)).all(), ratio
    assert "pairs bootstrap (80 replications, 0 failed" in boot.attrs["inference"]
    # the draws depend on the seed only, not on the number of jobs
    again = margins.average_marginal_effects(res, df, method="bootstrap", n_boot=6, seed=9, n_jobs=1)
    par = margins.average_marginal_effects(res, df, method="bootstrap", n_boot=6, seed=9, n_jobs=2)
    pd.testing.assert_frame_equal(again, par)


def test_turning_point_delta_method(default_fits):
    res = default_fits["intensity"]
    tp = margins.turning_point(res, "non-serial")
    b1, b2 = res.params["z"], res.params["z2"]
    assert tp["turning_point"] == pytest.approx(-b1 / (2 * b2))
    assert tp["curvature"] == pytest.approx(b2)
    assert tp["curvature_se"] == pytest.approx(res.std_errors["z2"])
    # numerical gradient of -b1 / (2 b2)
    grad = np.array([1 / (-2 * b2), b1 / (2 * b2**2)])
    cov = res.cov.loc[["z", "z2"], ["z", "z2"]].to_numpy()
    assert tp["se"] == pytest.approx(np.sqrt(grad @ cov @ grad))
    serial = margins.turning_point(res, "serial")
    assert serial["curvature"] == pytest.approx(b2 + res.params["serial_z2"])


# --------------------------------------------------------------------------------------------
# The published findings
# --------------------------------------------------------------------------------------------
def test_findings_table_and_verdicts_on_the_default_data(default_draw, default_fits):
    df, _, _ = default_draw
    fits = {k: default_fits[k] for k in ("initiation", "intensity")}
    table = serial_innovators.check_findings(fits, df)
    assert list(table.columns) == ["finding", "margin", "statistic", "value", "se", "lower",
                                   "upper", "p_value", "condition", "holds", "verdict"]
    assert len(table) == 10
    v = serial_innovators.verdicts(table)
    assert set(v) == {"verdict_both_gain", "verdict_nonserial_decreasing",
                      "verdict_serial_gain_more"}
    assert set(v.values()) <= {"reproduced", "not reproduced"}
    # each verdict follows from its rows: all margins hold <=> reproduced
    for key, meta in serial_innovators.FINDINGS.items():
        rows = table[table["finding"] == key]
        assert (v[meta["glue"]] == "reproduced") == bool(rows["holds"].all())
    # "any" is weaker than "all"
    any_v = serial_innovators.verdicts(serial_innovators.check_findings(fits, df, combine="any"))
    for key in v:
        assert not (v[key] == "reproduced" and any_v[key] == "not reproduced")
    with pytest.raises(ValueError, match="two parts separately"):
        serial_innovators.check_findings({"x": default_fits["two_part"]}, df)


def test_opposite_pattern_is_not_reproduced():
    data, _ = synthetic.generate_techfirms(seed=31, truth=opposite_truth())
    df = innovators.prepare(data)
    fits = {"initiation": margins.initiation(df), "intensity": margins.intensity(df)}
    v = serial_innovators.verdicts(serial_innovators.check_findings(fits, df))
    assert v == {"verdict_both_gain": "not reproduced",
                 "verdict_nonserial_decreasing": "not reproduced",
                 "verdict_serial_gain_more": "not reproduced"}
    # not even on a single margin
    findings = serial_innovators.check_findings(fits, df, combine="any")
    assert set(serial_innovators.verdicts(findings).values()) == {"not reproduced"}


def test_published_pattern_is_reproduced_on_a_large_sample(large_draw):
    df, _ = large_draw
    fits = {"initiation": margins.initiation(df), "intensity": margins.intensity(df)}
    v = serial_innovators.verdicts(serial_innovators.check_findings(fits, df))
    assert set(v.values()) == {"reproduced"}, v


def test_no_clustering_effect_is_not_reproduced():
    truth = synthetic.default_tech_truth()
    for eq in ("initiation", "intensity"):
        for term in ("z", "z2", "serial_z", "serial_z2"):
            # z2 = 0 exactly makes the generator divide by zero (its turning point)
            truth[eq][term] = -1e-12 if term == "z2" else 0.0
    data, _ = synthetic.generate_techfirms(seed=5, truth=truth)
    df = innovators.prepare(data)
    fits = {"initiation": margins.initiation(df), "intensity": margins.intensity(df)}
    v = serial_innovators.verdicts(serial_innovators.check_findings(fits, df))
    assert v["verdict_both_gain"] == "not reproduced"
    assert v["verdict_nonserial_decreasing"] == "not reproduced"


def test_estimation_warnings_become_notes(default_draw):
    df, _, _ = default_draw
    # perfect prediction: international = 1 exactly when log employees exceed their median
    perfect = df.copy()
    cut = perfect["log_employees"].median()
    perfect["international"] = (perfect["log_employees"] > cut).astype("int64")
    res = margins.initiation(perfect)  # pytest turns any escaped warning into an error
    assert res.notes, "perfect prediction should leave a note"
    assert all(note.startswith("initiation (probit)") for note in res.notes)
    assert "Notes:" in res.summary


# --------------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------------
def test_monte_carlo_coverage_near_nominal():
    mc = serial_montecarlo.monte_carlo(n_reps=24, seed=123, n_jobs=2)
    assert mc.settings["failed"] == []
    cov = mc.coverage()
    assert (cov["reps"] == 24).all()
    # pooled over the quantities: 24 reps x 22 quantities (correlated within a replication)
    pooled = mc.draws["covered"].mean()
    assert 0.88 <= pooled <= 0.995, pooled
    # no quantity's intervals are badly off: with 24 reps, coverage below 0.7 would be a 4-sigma event
    assert (cov["coverage"] >= 0.7).all(), cov["coverage"]
    # estimates centre on the truth: mean bias within 4 Monte Carlo standard errors
    mcse = cov["sd_estimate"] / np.sqrt(cov["reps"])
    assert ((cov["bias"].abs() / mcse) < 4).all(), cov[["bias", "sd_estimate"]]
    # the standard errors match the spread of the estimates
    ratio = cov["mean_se"] / cov["sd_estimate"]
    assert ((ratio > 0.6) & (ratio < 1.6)).all(), ratio
    rates = mc.verdict_rates()
    assert set(rates.index) == {m["glue"] for m in serial_innovators.FINDINGS.values()}
    assert rates["verdict_both_gain"] > 0.5  # the rules have power under the true pattern


def test_monte_carlo_does_not_depend_on_jobs_or_backend():
    serial = serial_montecarlo.monte_carlo(n_reps=3, seed=99, n_jobs=1)
    parallel = serial_montecarlo.monte_carlo(n_reps=3, seed=99, n_jobs=2, batch_size=1)
    pd.testing.assert_frame_equal(serial.draws, parallel.draws)
    pd.testing.assert_frame_equal(serial.verdict_draws, parallel.verdict_draws)
    assert serial.settings["seeds"] == parallel.settings["seeds"]


def test_monte_carlo_runs_under_the_dask_backend():
    reference = serial_montecarlo.monte_carlo(n_reps=2, seed=4, n_jobs=1)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client, \
            joblib.parallel_config(backend="dask"):
        assert client.status == "running"
        on_dask = serial_montecarlo.monte_carlo(n_reps=2, seed=4, n_jobs=2)
    pd.testing.assert_frame_equal(reference.draws, on_dask.draws)


def test_adjusted_predictions_are_the_levels_of_the_marginal_effects(default_draw, default_fits):
    df, _, _ = default_draw
    res = default_fits["two_part"]
    h = 1e-5
    z0 = np.array([-1.0, 0.5, 1.5])
    up = margins.adjusted_predictions(res, df, grid=z0 + h, by=None)
    dn = margins.adjusted_predictions(res, df, grid=z0 - h, by=None)
    curve = margins.marginal_effects(res, df, grid=z0, by=None)
    assert set(curve["group"]) == {"all"}
    numeric = (up["prediction"].to_numpy() - dn["prediction"].to_numpy()) / (2 * h)
    np.testing.assert_allclose(curve["ame"], numeric, rtol=1e-6)
    levels = margins.adjusted_predictions(res, df, grid=5)
    assert levels["prediction"].between(0, 1).all() and (levels["lower"] <= levels["upper"]).all()
    # predict() gives each firm's expected outcome; its mean is the pooled level at observed z
    pred = margins.predict(res, df)
    assert len(pred) == len(df) and pred.between(0, 1).all()


# --------------------------------------------------------------------------------------------
# The chapter's studies: one call per result
# --------------------------------------------------------------------------------------------
def test_load_study_reads_the_file_and_its_truth(tmp_path):
    study = serial_innovators.load_study(DEFAULT_TECHFIRMS)
    assert study.synthetic and study.truth is not None and "initiation" in study.truth
    assert study.path == str(DEFAULT_TECHFIRMS)
    innovators.require_prepared(study.frame)  # the model variables are there
    assert study.size_in_pairs == len(study.frame) // 2 == 400
    # the same file without its truth file: real data
    copy_path = tmp_path / "techfirms.csv"
    shutil.copy(DEFAULT_TECHFIRMS, copy_path)
    real = serial_innovators.load_study(copy_path)
    assert real.truth is None and not real.synthetic
    pd.testing.assert_series_equal(real.frame["z"], study.frame["z"])


def test_require_prepared_names_the_missing_variables(default_draw):
    _, _, data = default_draw
    with pytest.raises(ValueError, match=r"missing S, z, z2.*innovators\.prepare\(\)"):
        innovators.require_prepared(data)
    with pytest.raises(ValueError, match="data are not prepared"):
        serial_innovators.balance_table(data)


def test_margins_requirement_on_default_and_degenerate_data(default_draw):
    df, _, _ = default_draw
    assert serial_innovators.margins_requirement(df) == serial_innovators.Requirement(True, "")
    nobody = serial_innovators.margins_requirement(df.assign(international=0))
    assert not nobody.met
    assert nobody.reason.startswith("Of the 800 firms in the tech-firm file of this run, none is "
                                    "internationalized (`international` = 1).")
    assert "marks the study's three findings as not testable" in nobody.reason
    everyone = serial_innovators.margins_requirement(df.assign(international=1))
    assert not everyone.met and "every one is internationalized" in everyone.reason


def test_estimates_table_cells_follow_the_estimates(margin_fits):
    table = serial_innovators.estimates_table(margin_fits)
    assert list(table.columns) == ["initiation: probit", "intensity: fractional logit",
                                   "initiation: logit", "share: Tobit (all firms)"]
    assert table.index.name == "term"
    assert list(table.index[-3:]) == ["industry effects", "observations", "clusters (match_id)"]
    res = margin_fits.initiation
    for term in ("z", "log_age"):
        p = res.pvalues[term]
        stars = "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""
        expected = f"{res.params[term]:.3f}{stars} ({res.std_errors[term]:.3f})"
        assert table.loc[serial_innovators.TERM_LABELS[term], "initiation: probit"] == expected
    # σ exists in the Tobit only
    sigma = table.loc["σ (Tobit)"]
    assert (sigma.iloc[:3] == "").all()
    assert sigma.iloc[3].startswith(f"{margin_fits.tobit.params['sigma']:.3f}")
    assert table.loc["observations", "intensity: fractional logit"] == f"{margin_fits.intensity.nobs:,}"
    assert table.loc["clusters (match_id)", "initiation: probit"] == "400"
    assert margin_fits.reference_industry == res.spec["industry_reference"]


def test_p_text():
    assert serial_innovators.p_text(0.0004) == "p < 0.001"
    assert serial_innovators.p_text(0.001) == "p = 0.001"
    assert serial_innovators.p_text(0.03068) == "p = 0.031"


def test_clustering_effects_numbers_are_the_ames(default_draw, margin_fits):
    df, _, _ = default_draw
    effects = serial_innovators.clustering_effects(margin_fits, df, grid=5)
    assert set(effects.ames) == set(serial_innovators.MODEL_LABELS)
    # 4 cited models x 3 groups x (value, lower, upper, p) and one p-text each
    assert len(effects.numbers) == 48 and len(effects.texts) == 12
    tobit = margins.average_marginal_effects(margin_fits.tobit, df)
    assert effects.numbers["ame_tobit_nonserial"] == tobit.loc["non-serial", "ame"]
    assert effects.numbers["ame_tobit_diff_upper"] == tobit.loc[innovators.DIFFERENCE, "upper"]
    init = effects.ames["initiation"]
    assert effects.numbers["ame_initiation_serial_p"] == init.loc["serial", "p_value"]
    assert effects.texts["ame_initiation_diff_ptext"] == serial_innovators.p_text(
        init.loc[innovators.DIFFERENCE, "p_value"])
    assert not any(k.startswith("ame_initiation_logit") for k in effects.numbers)
    # the table: five models x three rows, in the page's labels
    assert effects.table.index.names == ["margin and model", "group"]
    assert len(effects.table) == 15
    assert effects.table.loc[("intensity (fractional logit)", "serial"), "AME"] == \
        effects.numbers["ame_intensity_serial"]
    # curves and levels of the three margins shown, 5 grid points x 2 groups each
    assert len(effects.curves) == len(effects.levels) == 30
    assert list(effects.curves["margin"].unique()) == ["initiation", "intensity", "two_part"]


def test_figures_have_three_panels_with_a_line_per_group(default_draw, margin_fits):
    df, _, _ = default_draw
    effects = serial_innovators.clustering_effects(margin_fits, df, grid=5)
    for make, zero_line in ((serial_innovators.ame_figure, True),
                            (serial_innovators.levels_figure, False)):
        fig = make(effects, df)
        try:
            axes = fig.get_axes()
            assert [ax.get_title() for ax in axes] == ["Initiation", "Intensity",
                                                       "Unconditional share (two-part)"]
            assert all(ax.get_xscale() == "log" for ax in axes)
            labels = [line.get_label() for line in axes[0].get_lines()]
            assert labels[:2] == ["serial innovators", "non-serial innovators"]
            # two curves, the zero line where asked, and a rug per group
            assert len(axes[1].get_lines()) == 2 + zero_line + 2
            # the rug of the intensity panel shows the internationalized firms only
            rug = axes[1].get_lines()[-1]
            assert len(rug.get_xdata()) == int(((df["S"] == 0) & (df["international"] == 1)).sum())
        finally:
            plt.close(fig)


def _balance_by_hand(df, matched_on=("industry", "log_employees"), threshold=0.1):
    """The balance table computed directly (the chapter's table before it used
    estimators.matching): the values the page shows."""
    s = df["S"].to_numpy() == 1
    labels = {"log_employees": "employees (log)", "log_age": "age in years (log)",
              "log1p_patents": "patents (log 1 + count)", "z": "clustering z (standardised log LQ)"}
    columns = {label: (var, df[var].to_numpy(dtype=float)) for var, label in labels.items()}
    for level in sorted(df["industry"].unique()):
        columns[f"industry: {level}"] = ("industry", (df["industry"] == level).to_numpy(dtype=float))
    rows = {}
    for label, (var, x) in columns.items():
        xs, xn = x[s], x[~s]
        vs, vn = xs.var(ddof=1), xn.var(ddof=1)
        scale = math.sqrt((vs + vn) / 2)
        smd = (xs.mean() - xn.mean()) / scale if scale > 0 else 0.0
        continuous = var != "industry"
        ratio = (vs / vn if vn > 0 else np.nan) if continuous else np.nan
        matched = var in matched_on
        bad = continuous and not (0.5 <= ratio <= 2.0)
        rows[label] = {"mean_serial": xs.mean(), "mean_nonserial": xn.mean(), "smd": smd,
                       "var_ratio": ratio, "matched_on": matched,
                       "unbalanced": bool(matched and (abs(smd) > threshold or bad))}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_balance_table_values_are_exactly_the_direct_computation(default_draw):
    df, _, data = default_draw
    bad = data.copy()
    non = ~bad["serial"]
    bad.loc[non, "employees"] = (bad.loc[non, "employees"] * 4).clip(upper=2000)
    for frame in (df, innovators.prepare(bad)):
        table = serial_innovators.balance_table(frame)
        expected = _balance_by_hand(frame)
        assert list(table.index) == list(expected.index)
        for column in ("mean_serial", "mean_nonserial", "smd", "var_ratio"):
            np.testing.assert_array_equal(table[column].to_numpy(dtype=float),
                                          expected[column].to_numpy(dtype=float), err_msg=column)
        assert table["matched_on"].tolist() == expected["matched_on"].tolist()
        assert table["unbalanced"].tolist() == expected["unbalanced"].tolist()
    # one industry: its indicator has no variance in either group, a difference of 0
    one = serial_innovators.balance_table(df.assign(industry="Software"))
    assert one.loc["industry: Software", "smd"] == 0.0
    assert one.loc["industry: Software", "status"] == "balanced"
    assert np.isnan(one.loc["industry: Software", "var_ratio"])


def test_describe_design_on_the_default_data(default_draw):
    df, _, _ = default_draw
    summary = serial_innovators.describe_design(df)
    n = summary.numbers
    assert (n["n_firms"], n["n_serial"], n["n_nonserial"]) == (800, 400, 400)
    assert (n["n_pairs"], n["n_match_groups"], n["n_groups_complete"]) == (400, 400, 400)
    assert n["n_international"] == int(df["international"].sum())
    assert all(isinstance(n[k], int) for k in ("n_firms", "n_pairs", "n_international"))
    serial = df[df["S"] == 1]
    assert n["share_intl_serial"] == pytest.approx(serial["international"].mean())
    shares = serial.loc[serial["foreign_share"] > 0, "foreign_share"]
    assert n["mean_share_serial"] == pytest.approx(shares.mean())
    assert summary.balanced and summary.notes_markdown == ""
    assert summary.sample_table.index.name == "group"
    assert list(summary.sample_table.index) == ["serial", "non-serial"]
    assert "share internationalized" in summary.sample_table.columns
    pairs = summary.pairs_table
    assert pairs.loc["firms", "value"] == "800"
    assert pairs.loc["share of matches in the serial innovator's industry", "value"] == "1.000"
    assert set(pairs["flag"]) == {"ok"}
    assert list(summary.balance_table.columns) == [
        "mean, serial", "mean, non-serial", "std. mean difference", "variance ratio",
        "matching variable", "status"]


def test_describe_design_lists_the_problems_of_an_unbalanced_design(default_draw):
    _, _, data = default_draw
    bad = data.copy()
    non = ~bad["serial"]
    bad.loc[non, "employees"] = (bad.loc[non, "employees"] * 4).clip(upper=2000)
    bad = bad.drop(index=bad.index[[1, 3]])
    summary = serial_innovators.describe_design(innovators.prepare(bad))
    assert not summary.balanced
    lines = summary.notes_markdown.split("\n")
    assert len(lines) == len(summary.design.notes) >= 2
    assert all(line.startswith("* ") for line in lines)
    assert summary.numbers["n_groups_complete"] == summary.numbers["n_match_groups"] - 2
    assert summary.pairs_table.loc["groups without both a serial and a non-serial firm",
                                   "flag"] == "check"


def test_bullet_list():
    assert serial_innovators.bullet_list([]) == ""
    assert serial_innovators.bullet_list(["a", "b c"]) == "* a\n* b c"


def test_published_findings_follow_the_rules(default_draw, margin_fits):
    df, _, _ = default_draw
    check = serial_innovators.published_findings(margin_fits, df)
    table = serial_innovators.check_findings(margin_fits.main, df)
    pd.testing.assert_frame_equal(check.statistics, table)
    assert check.verdicts == serial_innovators.verdicts(table)
    # the summary says, per margin, whether every statistic of the rule holds
    assert list(check.summary.columns) == ["initiation", "intensity", "verdict"]
    for key, meta in serial_innovators.FINDINGS.items():
        row = check.summary.loc[meta["claim"].capitalize()]
        for margin in ("initiation", "intensity"):
            holds = table[(table["finding"] == key) & (table["margin"] == margin)]["holds"].all()
            assert row[margin] == ("holds" if holds else "does not hold")
        assert row["verdict"] == check.verdicts[meta["glue"]]
        assert (row["verdict"] == "reproduced") == (row[["initiation", "intensity"]] == "holds").all()
    assert check.table.index.names == ["finding", "margin", "statistic"]
    assert set(check.table["holds"]) <= {"yes", "no"}
    assert len(check.table) == 10
    # the non-serial profile
    z_non = df.loc[df["S"] == 0, "z"]
    for margin, res in margin_fits.main.items():
        tp = margins.turning_point(res, "non-serial")
        assert check.numbers[f"curv_{margin}"] == tp["curvature"]
        assert check.numbers[f"tp_{margin}_upper"] == tp["upper"]
        assert check.numbers[f"tp_{margin}_lq"] == pytest.approx(
            math.exp(df.attrs["z_mean"] + df.attrs["z_sd"] * tp["turning_point"]))
        assert check.numbers[f"share_above_tp_{margin}"] == pytest.approx(
            (z_non > tp["turning_point"]).mean())
        assert check.texts[f"curv_{margin}_ptext"] == serial_innovators.p_text(tp["curvature_p"])
    assert check.numbers["z_min_nonserial"] == z_non.min()
    assert check.numbers["z_max_nonserial"] == z_non.max()


def test_truth_statistics_are_the_rules_statistics_at_the_true_parameters(default_draw, margin_fits):
    df, truth, _ = default_draw
    true = serial_innovators.truth_statistics(margin_fits.main, df, truth)
    checked = serial_innovators.check_findings(margin_fits.main, df)
    # one truth per statistic of the rules
    assert true[["finding", "margin", "statistic"]].equals(checked[["finding", "margin", "statistic"]])
    for margin, res in margin_fits.main.items():
        rows = true[true["margin"] == margin].set_index("statistic")["truth"]
        ame = margins.average_marginal_effects_at(res, df, serial_innovators.true_params(truth, res))
        assert rows["AME of z, serial"] == ame["serial"]
        assert rows["AME of z, serial − non-serial"] == ame["serial − non-serial"]
        assert rows["curvature b_z2, non-serial"] == truth[margin]["z2"]
        assert rows["turning point in z, non-serial"] == pytest.approx(
            -truth[margin]["z"] / (2 * truth[margin]["z2"]))
    # the default generator has every published pattern, on both margins
    assert true["truth_holds"].all()
    assert set(serial_innovators.truth_patterns(true).values()) == {True}
    # the opposite generator has none of them
    opposite = serial_innovators.truth_statistics(margin_fits.main, df, opposite_truth())
    assert set(serial_innovators.truth_patterns(opposite).values()) == {False}
    assert set(serial_innovators.truth_patterns(opposite, "any").values()) == {False}


def test_verdicts_on_synthetic_data_say_recovered_and_name_false_negatives(default_draw,
                                                                          margin_fits):
    df, truth, _ = default_draw
    real = serial_innovators.published_findings(margin_fits, df)
    check = serial_innovators.published_findings(margin_fits, df, truth=truth)
    assert check.fired == {name: v == "reproduced" for name, v in real.verdicts.items()}
    assert set(check.truth_has_pattern.values()) == {True}
    for key, meta in serial_innovators.FINDINGS.items():
        name = meta["glue"]
        expected = vocabulary.RECOVERED if check.fired[name] else vocabulary.FALSE_NEGATIVE
        assert check.verdicts[name] == expected
        assert check.flags[f"false_negative_{key}"] == (expected == vocabulary.FALSE_NEGATIVE)
        assert check.summary.loc[meta["claim"].capitalize(), "verdict"] == expected
    # the truth beside each statistic of the rules, and its true values for the prose
    assert list(check.table.columns[-2:]) == ["truth", "truth meets it"]
    assert set(check.table["truth meets it"]) == {"yes"}
    assert check.numbers["true_curv_initiation"] == truth["initiation"]["z2"]
    assert "true_ame_intensity_diff" in check.numbers
    # without a truth file: no truth, no false negative, the words of real data
    assert "truth" not in real.table.columns
    assert not any(real.flags.values()) and real.truth_has_pattern == {}
    assert not any(k.startswith("true_") for k in real.numbers)
    # a rule that fires where the truth lacks the pattern is a false positive
    wrong = serial_innovators.published_findings(margin_fits, df, truth=opposite_truth())
    for name, fired in wrong.fired.items():
        assert wrong.verdicts[name] == (vocabulary.FALSE_POSITIVE if fired
                                        else vocabulary.NOT_RECOVERED)


def test_robustness_table_on_synthetic_data(default_draw, margin_fits):
    df, truth, _ = default_draw
    robust = serial_innovators.robustness_table(margin_fits, df, truth=truth)
    plain = serial_innovators.robustness_table(margin_fits, df)
    assert set(robust.stack()) <= {vocabulary.RECOVERED, vocabulary.FALSE_NEGATIVE}
    assert ((robust == vocabulary.RECOVERED) == (plain == "reproduced")).all().all()
    main = serial_innovators.published_findings(margin_fits, df, truth=truth).verdicts
    first = robust.loc[("main: probit + fractional logit", "both margins")]
    assert list(first) == [main[m["glue"]] for m in serial_innovators.FINDINGS.values()]


def test_robustness_table(default_draw, margin_fits):
    df, _, _ = default_draw
    robust = serial_innovators.robustness_table(margin_fits, df)
    assert robust.index.names == ["specification", "rule holds on"]
    assert robust.shape == (6, 3)
    claims = [m["claim"] for m in serial_innovators.FINDINGS.values()]
    assert list(robust.columns) == claims
    main = serial_innovators.published_findings(margin_fits, df).verdicts
    first = robust.loc[("main: probit + fractional logit", "both margins")]
    assert list(first) == [main[m["glue"]] for m in serial_innovators.FINDINGS.values()]
    # "at least one margin" is never stricter than "both margins"
    for spec in robust.index.get_level_values("specification").unique():
        both = robust.loc[(spec, "both margins")]
        one = robust.loc[(spec, "at least one margin")]
        assert not ((both == "reproduced") & (one == "not reproduced")).any(), spec
    tobit_spec = serial_innovators.verdicts(serial_innovators.check_findings(
        {"initiation": margin_fits.initiation, "intensity": margin_fits.tobit}, df))
    assert list(robust.loc[("probit + Tobit (share of all firms)", "both margins")]) == \
        [tobit_spec[m["glue"]] for m in serial_innovators.FINDINGS.values()]


def test_truth_comparison(default_draw, margin_fits):
    _, truth, _ = default_draw
    assert serial_innovators.truth_comparison(margin_fits, None) is None
    comparison = serial_innovators.truth_comparison(margin_fits, truth)
    table = comparison.table
    assert table.index.names == ["margin", "term"]
    assert comparison.n_terms == len(table) == 16
    assert comparison.n_covered == int(table["covered"].sum())
    assert 0 < comparison.n_covered <= 16
    row = table.loc[("intensity (fractional logit)", "z²")]
    assert row["truth"] == truth["intensity"]["z2"]
    assert row["estimate"] == margin_fits.intensity.params["z2"]
    assert row["covered"] == (row["95% CI lower"] <= row["truth"] <= row["95% CI upper"])


def _monte_carlo_stub(n_reps=4, failed=0, with_notes=0):
    """A Monte Carlo result with known draws: two quantities, coverage 3/4 and 4/4."""
    draws = pd.DataFrame({
        "rep": np.repeat(np.arange(n_reps), 2), "seed": 0,
        "margin": "initiation", "quantity": ["z", "AME serial"] * n_reps,
        "estimate": np.linspace(0.1, 0.8, 2 * n_reps), "std_error": 0.1, "truth": 0.5,
        "covered": [False, True] + [True, True] * (n_reps - 1)})
    glue = [m["glue"] for m in serial_innovators.FINDINGS.values()]
    verdict_draws = pd.DataFrame({glue[0]: ["reproduced"] * n_reps,
                                  glue[1]: ["reproduced"] + ["not reproduced"] * (n_reps - 1),
                                  glue[2]: ["not reproduced"] * n_reps},
                                 index=pd.Index(range(n_reps), name="rep"))
    settings = {"n_reps": n_reps + failed, "seed": 1, "n_pairs": 123, "level": 0.95,
                "n_jobs": 1, "failed": [{"rep": 99, "seed": 0, "error": "x"}] * failed,
                "seeds": [], "replications_with_notes": with_notes}
    return serial_montecarlo.MonteCarloResults(draws=draws, verdict_draws=verdict_draws,
                                               settings=settings)


def test_monte_carlo_summary_of_known_draws():
    summary = serial_innovators.monte_carlo_summary(_monte_carlo_stub(failed=1, with_notes=2))
    n = summary.numbers
    assert (n["mc_reps"], n["mc_pairs"], n["mc_failed"]) == (5, 123, 1)
    assert (n["mc_cov_min"], n["mc_cov_max"]) == (0.75, 1.0)
    assert n["mc_cov_mean"] == 7 / 8
    assert n["mc_mcse"] == np.sqrt(0.95 * 0.05 / 5)
    assert (n["mc_rate_verdict_both_gain"], n["mc_rate_verdict_nonserial_decreasing"],
            n["mc_rate_verdict_serial_gain_more"]) == (1.0, 0.25, 0.0)
    cov = summary.coverage_table
    assert "reps" not in cov.columns
    assert list(cov.index.get_level_values("quantity")) == ["z (clustering)", "AME, serial"]
    assert cov.loc[("initiation", "z (clustering)"), "coverage"] == 0.75
    assert "MC std. error of coverage" in cov.columns
    # no replication fires all three rules: the third never fires
    assert n["mc_rate_joint"] == 0.0
    rates = summary.rates_table
    assert rates.index.name == "published finding"
    assert rates.index[-1] == "all three together"
    assert rates.iloc[:, 0].tolist() == [1.0, 0.25, 0.0, 0.0]
    assert summary.replications_with_notes == 2


def test_joint_power_is_the_share_of_replications_in_which_all_three_rules_fire():
    mc = _monte_carlo_stub(n_reps=4)
    glue = list(mc.verdict_draws.columns)
    # rule 1 fires in reps 0-3, rule 2 in 0-2, rule 3 in 1-3: together in reps 1 and 2
    mc.verdict_draws[glue[1]] = ["reproduced"] * 3 + ["not reproduced"]
    mc.verdict_draws[glue[2]] = ["not reproduced"] + ["reproduced"] * 3
    n = serial_innovators.monte_carlo_summary(mc).numbers
    assert (n["mc_rate_verdict_both_gain"], n["mc_rate_verdict_nonserial_decreasing"],
            n["mc_rate_verdict_serial_gain_more"]) == (1.0, 0.75, 0.75)
    assert n["mc_rate_joint"] == 0.5


def test_estimation_notes(margin_fits):
    quiet = serial_innovators.monte_carlo_summary(_monte_carlo_stub())
    assert serial_innovators.estimation_notes(margin_fits, quiet) == []
    noisy = serial_innovators.monte_carlo_summary(_monte_carlo_stub(with_notes=3))
    notes = serial_innovators.estimation_notes(margin_fits, noisy)
    assert notes == ["3 Monte Carlo replication(s) reported estimation warnings."]
    assert margin_fits.notes == []  # the fits' notes are not changed
