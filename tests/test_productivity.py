"""The productivity chapter's study (studies/productivity.py): estimators by industry, their
tables, diagnostics, the law-of-motion comparison, members and non-members, and the recovery of
the truth, on a small synthetic economy and on the same data without their truth file."""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import replace
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.core import provenance
from clusterpolicy.estimators import production
from clusterpolicy.studies import productivity as tfp

SMALL = tfp.TFPSettings(min_obs=200)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    return synthetic.write_defaults(out, seed=11, firms=1500, n_pairs=20)


@pytest.fixture(scope="module")
def data(small_data):
    return tfp.load_data(small_data["panel"], small_data["membership"])


@pytest.fixture(scope="module")
def fits(data):
    return tfp.estimate_methods(data.sample, settings=SMALL, bootstrap_reps=2,
                                bootstrap_methods=["acf"], seed=3, n_jobs=1)


@pytest.fixture(autouse=True)
def _no_work_cache(monkeypatch):
    monkeypatch.delenv(provenance.WORK_CACHE_ENV, raising=False)


# ----------------------------------------------------------------------------------------------
# settings, helpers
# ----------------------------------------------------------------------------------------------
def test_production_options_follow_the_settings():
    settings = tfp.TFPSettings(degree=3, min_obs=123, law_of_motion="member", by="nace2")
    acf = tfp.production_options(settings)
    assert acf["method"] == "acf" and acf["degree"] == 3 and acf["min_obs"] == 123
    assert acf["proxy"] == tfp.PROXY and acf["law_of_motion_controls"] == ["member"]
    assert "logs" not in acf
    op = tfp.production_options(settings, "op")
    assert op["proxy"] == "investment" and op["logs"] == ["investment"]
    assert op["law_of_motion_controls"] == ["member"]
    assert tfp.production_options(settings, "ols")["proxy"] is None
    assert tfp.production_options(settings, "wooldridge")["law_of_motion_controls"] is None
    none = tfp.production_options(replace(settings, law_of_motion="none"), "acf")
    assert none["law_of_motion_controls"] is None


def test_join_names_and_notes_markdown():
    assert tfp.join_names(["ACF"], "none") == "ACF"
    assert tfp.join_names(["OP", "LP"], "none") == "OP and LP"
    assert tfp.join_names(["OP", "LP", "ACF"], "x") == "OP, LP and ACF"
    assert tfp.join_names([], "none of them") == "none of them"
    assert tfp.notes_markdown(["a", "b", "a"]) == "* a\n* b"
    assert tfp.notes_markdown([]) == "No estimator raised a warning on these data."


def test_estimation_warnings_become_notes_once_in_the_estimators_words(monkeypatch):
    def fake(data, method, **options):
        warnings.warn("[nace2=10] two   roots", production.MultipleRootsWarning, stacklevel=2)
        warnings.warn("something else", RuntimeWarning, stacklevel=2)
        warnings.warn("old API", DeprecationWarning, stacklevel=2)
        return SimpleNamespace(notes=["[nace2=10] two   roots"], method=method, options=options)

    monkeypatch.setattr(tfp.production, "estimate_by", fake)
    fit, notes = tfp._estimate(pd.DataFrame(), tfp.production_options(SMALL), n_jobs=1)
    assert fit.method == "acf" and fit.options["n_jobs"] == 1 and "method" not in fit.options
    assert notes == ["[nace2=10] two   roots", "something else"]


def test_real_estimation_warnings_are_not_doubled(data):
    one = data.sample[data.sample["nace2"].astype(str) == data.sample["nace2"].astype(str).min()]
    # root_tol=0: no end point of the search counts as a root, so ACF warns in its group
    fit, notes = tfp._estimate(one, tfp.production_options(SMALL), n_jobs=1, root_tol=0.0,
                               starts=2)
    assert fit.notes and notes == fit.notes
    assert all(n.startswith("[nace2=") for n in notes)


# ----------------------------------------------------------------------------------------------
# data and estimation
# ----------------------------------------------------------------------------------------------
def test_load_data_with_and_without_truth(small_data, data, tmp_path):
    assert data.has_truth and data.has_latent and not data.latent_problem
    assert data.true_tfp.index.equals(data.sample.index) and data.true_tfp.notna().all()
    assert set(data.true_industries.index) == set(data.sample["nace2"].astype(str))
    assert data.numbers == {"rows_sample": len(data.sample),
                            "firms_sample": data.sample["firm_id"].nunique()}
    for key in ("panel", "membership"):
        shutil.copy(small_data[key], tmp_path / small_data[key].name)
    real = tfp.load_data(tmp_path / small_data["panel"].name,
                         tmp_path / small_data["membership"].name)
    assert not real.has_truth and not real.has_latent and real.truth is None
    assert len(real.sample) == len(data.sample)


def test_estimate_methods(fits, data):
    assert fits.methods == ["OLS", "FE", "OP", "LP", "ACF", "Wooldridge"]
    assert fits.settings == SMALL and fits.bootstrapped == ("ACF",) and fits.replications == 2
    assert fits.texts == {"boot_list": "ACF", "noboot_list": "OP and LP"}
    assert replace(fits, bootstrapped=()).texts == {"boot_list": "none of them",
                                                     "noboot_list": "OP, LP and ACF"}
    assert fits.industries == sorted(data.sample["nace2"].astype(str).unique())
    assert tfp.standard_errors_label(fits["ACF"]) == "firm-block bootstrap, 2 replications"
    assert tfp.standard_errors_label(fits["LP"]) == "none (not bootstrapped in this run)"
    assert tfp.standard_errors_label(fits["OLS"]) == "analytic, clustered by firm"
    # membership in the law of motion changes ACF's estimates
    assert not np.allclose(fits["ACF"].params.to_numpy(), fits.acf_none.params.to_numpy())
    # every fit is aligned with the sample
    assert fits["ACF"].productivity().index.equals(data.sample.index)


def test_industry_estimates(fits):
    est = tfp.industry_estimates(fits["ACF"])
    assert list(est.index) == fits.industries and est.index.name == "industry"
    np.testing.assert_allclose(est["rts"], est["beta_l"] + est["beta_k"])
    group = est.iloc[0]["group"]
    assert est.iloc[0]["beta_l"] == fits["ACF"].params[(group, tfp.LABOUR)]
    assert est["se_l"].notna().all()
    assert tfp.industry_estimates(fits["LP"])["se_l"].isna().all()


def test_shared_tfp_panel_is_the_pages_acf(small_data, fits):
    shared = tfp.shared_tfp_panel(small_data["panel"], small_data["membership"], fits, n_jobs=1)
    assert shared.same_point and not any("differ" in n for n in shared.notes)
    assert shared.panel.settings["min_obs"] == 200
    # a TFP panel measured otherwise is flagged
    other = replace(fits, settings=replace(SMALL, law_of_motion="none"))
    flagged = tfp.shared_tfp_panel(small_data["panel"], small_data["membership"], other, n_jobs=1)
    assert not flagged.same_point
    assert flagged.notes[-1].startswith("The cached TFP panel's ACF estimates differ")


# ----------------------------------------------------------------------------------------------
# tables and figures
# ----------------------------------------------------------------------------------------------
def test_sample_summary(fits):
    summary = tfp.sample_summary(fits)
    table = summary.dropped
    assert table.index[-1] == "estimation observations"
    assert list(table.columns) == fits.methods
    assert table.loc["estimation observations", "ACF"] == sum(r.nobs for r in fits["ACF"].results.values())
    n = summary.numbers
    assert n["op_nonpositive_inv"] > 0
    used = table.loc["estimation observations"]
    assert n["op_share_lost"] == pytest.approx(100 * (1 - used["OP"] / used["ACF"]))
    assert 0 < n["op_share_lost"] < 100


def test_coefficient_and_methods_tables(fits, data):
    table = tfp.coefficient_table(fits, "beta_l", data.true_industries)
    assert list(table.columns) == ["truth", *fits.methods]
    assert all(re.fullmatch(r"-?\d+\.\d{3} \(\d+\.\d{3}\)", c) for c in table["ACF"])
    assert all(re.fullmatch(r"-?\d+\.\d{3}", c) for c in table["LP"])  # no standard error
    assert "truth" not in tfp.coefficient_table(fits, "beta_k").columns
    methods = tfp.methods_table(fits, data.true_industries)
    assert list(methods.index) == ["truth", *fits.methods]
    est = tfp.industry_estimates(fits["OLS"])
    assert methods.loc["OLS", "mean β_l"] == round(est["beta_l"].mean(), 3)
    assert methods.loc["truth", "standard errors"] == "–"
    assert "truth" not in tfp.methods_table(fits).index


def test_estimator_errors(fits, data):
    errors = tfp.estimator_errors(fits, data.true_industries)
    tl = data.true_industries["beta_l"].reindex(fits.industries)
    ols = tfp.industry_estimates(fits["OLS"])
    assert errors["ols_bias_l"] == pytest.approx((ols["beta_l"] - tl).mean())
    assert errors["ols_up_l"] == int((ols["beta_l"] > tl).sum()) <= len(fits.industries)
    assert errors["lp_mean_l"] == round(errors["lp_mean_l"], 3)
    # on synthetic data OLS credits labour with productivity
    assert errors["ols_bias_l"] > 0


def test_figures(fits, data):
    fig = tfp.elasticities_figure(fits, data.true_industries)
    left, right = fig.axes[:2]
    assert len(left.lines) == len(fits.methods) + 1 == len(right.lines)
    assert [t.get_text() for t in left.get_yticklabels()] == fits.industries
    plt.close(fig)
    fig = tfp.elasticities_figure(fits)
    assert len(fig.axes[0].lines) == len(fits.methods)
    plt.close(fig)


def test_diagnostics(fits, data):
    diag = tfp.diagnostics(fits, data.true_industries)
    roots = diag.roots
    assert list(roots.index) == list(fits["ACF"].results)
    assert diag.numbers["diag_groups"] == len(roots)
    assert diag.numbers["diag_one_root"] == int((roots["plausible roots"] == 1).sum())
    assert (roots["failed replicates"].str.fullmatch(r"\d+ of 2")).all()
    assert re.fullmatch(r"ACF: \d+ of [\d,]+", diag.texts["boot_failed_text"])
    assert diag.pooling.index.name == "industry" and diag.pooling.columns[0] == "label"
    assert diag.numbers["n_pooled_acf"] == int((fits["ACF"].table["pooled_with"] != "").sum())
    plain = tfp.diagnostics(replace(fits, fits={**fits.fits, "ACF": fits.acf_none}))
    assert plain.texts["boot_failed_text"] == "no estimator was bootstrapped"
    assert "label" not in plain.pooling.columns


# ----------------------------------------------------------------------------------------------
# law of motion, members, recovery
# ----------------------------------------------------------------------------------------------
def test_law_of_motion_comparison(fits, data):
    lom = tfp.law_of_motion_comparison(data, fits)
    assert list(lom.table.index) == ["truth", tfp.VARIANT_MEMBER, tfp.VARIANT_NONE]
    n = lom.numbers
    assert n["gain_member"] == lom.table.loc[tfp.VARIANT_MEMBER, "TWFE membership gain"]
    assert n["lom_diff_gain"] == pytest.approx(n["gain_none"] - n["gain_member"])
    assert n["theta_true"] == data.truth["params"]["theta"]
    assert ("sigma_xi" in n) == lom.small
    est, none = tfp.industry_estimates(fits["ACF"]), tfp.industry_estimates(fits.acf_none)
    assert n["lom_diff_l"] == pytest.approx((none["beta_l"] - est["beta_l"]).mean())
    assert n["acf_se_median"] == pytest.approx(np.median(np.r_[est["se_l"], est["se_k"]]))
    # without truth: no truth row, no truth columns, no truth numbers
    real = replace(data, truth=None, true_industries=None, true_tfp=None, true_shock=None)
    lom_real = tfp.law_of_motion_comparison(real, fits)
    assert list(lom_real.table.index) == [tfp.VARIANT_MEMBER, tfp.VARIANT_NONE]
    assert not any("truth" in c for c in lom_real.table.columns)
    assert not {"gain_true", "theta_true", "sigma_xi"} & set(lom_real.numbers)


def test_member_comparison(small_data, data):
    panel = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL, n_jobs=1)
    members = tfp.member_comparison(panel, data)
    n = members.numbers
    assert n["n_members_tfp"] + n["n_nonmembers_tfp"] == panel.data["firm_id"].nunique()
    assert members.texts["first_cohort"] == str(min(members.cohorts))
    assert members.texts["cohort_list"] == ", ".join(str(c) for c in members.cohorts)
    year = members.yearly.index[0]
    rel = members.relative[members.relative["year"] == year]
    expected = (rel.loc[rel["group"] == tfp.MEMBERS, "relative"].mean()
                - rel.loc[rel["group"] == tfp.NON_MEMBERS, "relative"].mean())
    assert members.yearly.loc[year, "diff"] == pytest.approx(expected)
    assert members.gaps_shown and members.has_true and members.yearly["true_diff"].notna().all()
    assert n["gap_pre"] == pytest.approx(members.yearly.loc[
        members.yearly.index < min(members.cohorts), "diff"].mean())
    fig = tfp.tfp_distribution_figure(members)
    assert len(fig.axes) == 2
    assert len(fig.axes[1].lines) >= 2  # estimated difference and the truth
    plt.close(fig)
    # no members: no cohorts, no gaps
    nobody = replace(panel, data=panel.data.assign(cohort=0, member=0))
    none = tfp.member_comparison(nobody, data)
    assert not none.gaps_shown and none.cohorts == [] and none.texts["last_cohort"] == "–"
    assert none.numbers["n_members_tfp"] == 0


def test_truth_recovery(fits, data):
    real = replace(data, truth=None, true_industries=None, true_tfp=None, true_shock=None)
    assert tfp.truth_recovery(real, fits) is None
    recovery = tfp.truth_recovery(data, fits)
    table, n = recovery.table, recovery.numbers
    assert list(table.index) == fits.methods
    assert table.loc["LP", "β_l in 2 SE"] == "–"  # no standard errors
    assert n["acf_in_both"] <= min(n["acf_in_l"], n["acf_in_k"]) <= len(fits.industries)
    assert n["acf_expected_both"] == pytest.approx(0.95**2 * len(fits.industries))
    est = tfp.industry_estimates(fits["ACF"])
    tl = data.true_industries["beta_l"].reindex(fits.industries)
    assert n["acf_rmse_l"] == table.loc["ACF", "RMSE β_l"]
    assert n["acf_rmse_l"] == pytest.approx(np.sqrt(((est["beta_l"] - tl) ** 2).mean()))
    assert n["acf_in_l"] == int((np.abs(est["beta_l"] - tl) <= 2 * est["se_l"]).sum())
    assert -1 <= n["corr_acf_within"] <= n["corr_ceiling"] + 0.05
    assert n["corr_acf"] == table.loc["ACF", "corr. overall"]
    # without the latent productivity: elasticities only
    no_latent = replace(data, true_tfp=None, true_shock=None, latent_problem="no match")
    partial = tfp.truth_recovery(no_latent, fits)
    assert "corr. within" not in partial.table.columns and "corr_acf" not in partial.numbers
