"""The one Monte Carlo harness (checks/harness.py), its two uses (the Monte Carlo appendix,
checks/montecarlo.py, and the study-2 power study, checks/serial_montecarlo.py) and the one
seeding scheme (core/seeding.py): determinism across workers, batches and backends, the
summary's formulas, the truth each estimand is compared with, and what the appendix shows."""

from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.checks import harness, serial_montecarlo
from clusterpolicy.checks import montecarlo as mc
from clusterpolicy.core import parallel, seeding
from clusterpolicy.data.innovators import prepare
from clusterpolicy.estimators import margins
from clusterpolicy.estimators.production import _bootstrap

ROOT = Path(__file__).resolve().parents[1]
SEED = seeding.DEFAULT_SEED
SMALL = {"firms": 900, "n_pairs": 120}
ALL = list(mc.ESTIMATORS)


@pytest.fixture(scope="module")
def serial_draws() -> pd.DataFrame:
    return mc.run(ALL, replications=2, seed=SEED, n_jobs=1, **SMALL)


def test_table_shape(serial_draws):
    assert list(serial_draws.columns) == harness.COLUMNS
    assert set(serial_draws["replication"]) == {0, 1}
    assert set(serial_draws["estimator"]) == {
        "acf", "cs", "conditional_did", "internationalization: initiation",
        "internationalization: intensity"}
    did_rows = serial_draws[serial_draws["estimator"].isin(["cs", "conditional_did"])]
    assert did_rows["failed"].eq("").all()
    assert np.isfinite(did_rows[["estimate", "se", "truth"]].to_numpy()).all()
    # ACF without bootstrap: no standard errors
    assert serial_draws.loc[serial_draws["estimator"] == "acf", "se"].isna().all()


@pytest.mark.slow
def test_same_seed_same_table_whatever_the_workers(serial_draws):
    again = mc.run(ALL, replications=2, seed=SEED, n_jobs=2, **SMALL)
    pd.testing.assert_frame_equal(serial_draws, again)
    other = mc.run(["cs"], replications=2, seed=SEED + 1, n_jobs=1, **SMALL)
    cs = serial_draws[serial_draws["estimator"] == "cs"]
    assert not np.allclose(cs["estimate"].to_numpy(), other["estimate"].to_numpy())


def test_replication_does_not_depend_on_the_number_of_replications(serial_draws):
    one = mc.run(["cs"], replications=1, seed=SEED, n_jobs=1, **SMALL)
    first = serial_draws[(serial_draws["estimator"] == "cs") & (serial_draws["replication"] == 0)]
    pd.testing.assert_frame_equal(one, first.reset_index(drop=True))


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_results(serial_draws):
    with parallel.backend("local", n_workers=2) as where:
        on_dask = mc.run(ALL, replications=2, seed=SEED, n_jobs=2, **SMALL)
    assert where.startswith("Dask cluster at")
    pd.testing.assert_frame_equal(serial_draws, on_dask)


def test_internationalization_rows_are_the_module_monte_carlo():
    ours = mc.run(["internationalization"], replications=2, seed=SEED, n_jobs=1, n_pairs=120)
    theirs = serial_montecarlo.monte_carlo(n_reps=2, seed=SEED, n_jobs=1, n_pairs=120).draws
    for _, row in ours.iterrows():
        margin = row["estimator"].split(": ")[1]
        match = theirs[(theirs["rep"] == row["replication"]) & (theirs["margin"] == margin)
                       & (theirs["quantity"] == row["estimand"])]
        assert len(match) == 1
        assert match["estimate"].iloc[0] == row["estimate"]
        assert match["std_error"].iloc[0] == row["se"]
        assert match["truth"].iloc[0] == row["truth"]


def test_summarise_formulas():
    draws = pd.DataFrame({
        "replication": [0, 1, 2, 3, 0, 1],
        "estimator": ["a"] * 4 + ["b"] * 2,
        "estimand": ["x"] * 4 + ["y"] * 2,
        "estimate": [1.0, 2.0, 3.0, np.nan, 0.5, 0.7],
        "se": [0.3, 0.3, 0.6, 0.1, np.nan, np.nan],
        "truth": [1.5, 1.5, 2.0, 1.5, 0.6, 0.6],
        "nominal": [9.0] * 4 + [0.6] * 2,
        "notes": [0, 1, 0, 0, 0, 0],
        "failed": ["", "", "", "no root", "", ""],
    })
    s = harness.summarise(draws)
    a = s.loc[("a", "x")]
    err = np.array([-0.5, 0.5, 1.0])
    assert a["replications"] == 3 and a["failed"] == 1 and a["notes"] == 1
    assert a["truth"] == pytest.approx(5.0 / 3)
    assert a["mean"] == pytest.approx(2.0)
    assert a["bias"] == pytest.approx(err.mean())
    assert a["rmse"] == pytest.approx(math.sqrt((err**2).mean()))
    assert a["sd"] == pytest.approx(1.0)
    assert a["bias_mcse"] == pytest.approx(1.0 / math.sqrt(3))
    assert a["mean_se"] == pytest.approx(0.4)
    # |err| <= 1.96 se: 0.5 <= 0.588 yes, 0.5 <= 0.588 yes, 1.0 <= 1.176 yes
    assert a["coverage"] == pytest.approx(1.0)
    assert a["coverage_mcse"] == pytest.approx(0.0)
    # coverage is against ``truth``, not ``nominal`` (9.0 would never be covered)
    assert a["nominal"] == pytest.approx(9.0)
    b = s.loc[("b", "y")]
    assert math.isnan(b["coverage"]) and math.isnan(b["mean_se"])
    assert b["bias"] == pytest.approx(0.0)
    assert b["rmse"] == pytest.approx(0.1)


def test_coverage_mcse_and_partial_coverage():
    draws = pd.DataFrame({
        "replication": range(4), "estimator": "a", "estimand": "x",
        "estimate": [0.0, 0.0, 3.0, -3.0], "se": [1.0] * 4, "truth": [0.0] * 4,
        "nominal": [0.0] * 4, "notes": 0, "failed": "",
    })
    s = harness.summarise(draws).loc[("a", "x")]
    assert s["coverage"] == pytest.approx(0.5)
    assert s["coverage_mcse"] == pytest.approx(math.sqrt(0.25 / 4))
    assert harness.summarise(draws, level=0.999).loc[("a", "x"), "coverage"] == pytest.approx(1.0)


def test_truths_are_the_targets_of_the_data(serial_draws):
    seq = seeding.spawn(SEED, 2)[0]
    data = mc._panel(seq, SMALL["firms"], "flanders")
    bal = data["balanced"]
    post = bal[(bal["cohort"] > 0) & (bal["year"] >= bal["cohort"])]
    theta = data["truth"]["treatment"]["theta"]
    first = serial_draws[serial_draws["replication"] == 0].set_index("estimator")
    # CS: the mean true effect over post-join firm-years (<= theta: some memberships end)
    assert first.loc["cs", "truth"] == pytest.approx(post["theta_it"].mean())
    assert first.loc["cs", "nominal"] == theta
    assert first.loc["cs", "truth"] <= theta + 1e-12
    assert post["theta_it"].isin([0.0, theta]).all()
    # conditional DiD: a mean over the matched members' post-join effects
    assert 0 < first.loc["conditional_did", "truth"] <= theta + 1e-12
    # ACF: the generator's elasticities of the largest industry
    shape = data["shape"]
    code = max(shape.industries, key=lambda i: i.weight).nace2
    acf = serial_draws[(serial_draws["estimator"] == "acf") & (serial_draws["replication"] == 0)]
    assert sorted(acf["truth"]) == sorted([shape.industry(code).beta_l, shape.industry(code).beta_k])
    assert all(code in e for e in acf["estimand"])


def test_scaled_shape_keeps_the_share_of_members():
    shape = mc.scaled_shape("flanders", 1200)
    full = synthetic.get_shape("flanders")
    assert [c.members for c in shape.clusters] == [round(c.members / 10) for c in full.clusters]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown estimators"):
        mc.run(["ols"], replications=1)
    with pytest.raises(ValueError, match="replications"):
        mc.run(["cs"], replications=0)


# --------------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------------
def _toy(seq, scale=1.0):
    """A replication drawing from its own child seed: two estimands."""
    x = seeding.generator(seq).normal(size=2)
    return [harness.row("toy", "a", scale * x[0], 1.0, 0.0, 0.0),
            harness.row("toy", "b", scale * x[1], 1.0, 0.0, 0.0, notes=1)]


def test_harness_table_does_not_depend_on_batching_or_on_later_replications():
    table = harness.simulate(_toy, 5, 7, batch_size=1, scale=2.0)
    assert list(table.columns) == harness.COLUMNS
    assert table["replication"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert table["estimand"].tolist() == ["a", "b"] * 5
    pd.testing.assert_frame_equal(table, harness.simulate(_toy, 5, 7, batch_size=3, scale=2.0))
    pd.testing.assert_frame_equal(harness.simulate(_toy, 2, 7, scale=2.0),
                                  table.iloc[:4].reset_index(drop=True))
    # replication r draws from the r-th child of SeedSequence(seed)
    expected = 2.0 * np.random.default_rng(np.random.SeedSequence(7).spawn(5)[3]).normal(size=2)
    np.testing.assert_array_equal(table.loc[table["replication"] == 3, "estimate"], expected)
    assert not np.array_equal(table["estimate"], harness.simulate(_toy, 5, 8, scale=2.0)["estimate"])
    with pytest.raises(ValueError, match="replications"):
        harness.simulate(_toy, 0)
    with pytest.raises(ValueError, match="batch_size"):
        harness.simulate(_toy, 2, batch_size=0)


def test_harness_rows_and_failures():
    row = harness.row("e", "q", np.float64(1.5), 0.1, 1.0, 2.0, np.int64(3), "")
    assert row == {"estimator": "e", "estimand": "q", "estimate": 1.5, "se": 0.1, "truth": 1.0,
                   "nominal": 2.0, "notes": 3, "failed": ""}
    assert type(row["estimate"]) is float and type(row["notes"]) is int
    assert harness.failure(ValueError("first line\nsecond")) == "ValueError: first line"
    assert harness.failure(KeyError()) == "KeyError: "
    assert harness.failure(RuntimeError("x" * 500)) == "RuntimeError: " + "x" * 160


def test_parallel_helpers():
    assert parallel.worker_count(None) == parallel.worker_count(0) == parallel.worker_count(1) == 1
    assert parallel.worker_count(3) == 3
    assert parallel.worker_count(-1) == parallel.default_n_jobs()
    assert parallel.worker_count(-10**6) == 1
    assert parallel.default_batch_size(30, 2) == 4
    assert parallel.default_batch_size(3, 8) == 1
    assert parallel.batches(5, 2) == [range(0, 2), range(2, 4), range(4, 5)]
    assert parallel.run_tasks(max, [1, 5, 3], 1, 4) == [4, 5, 4]
    assert parallel.run_tasks(max, [1, 5, 3], 2, 4) == [4, 5, 4]


# --------------------------------------------------------------------------------------------
# The seeding scheme
# --------------------------------------------------------------------------------------------
def test_seeding_scheme():
    children = seeding.spawn(11, 3)
    assert [c.spawn_key for c in children] == [(0,), (1,), (2,)]
    assert all(c.entropy == 11 for c in children)
    root = np.random.SeedSequence(5)
    assert seeding.sequence(root) is root
    assert seeding.sequence(5).entropy == 5
    assert seeding.sequence(None).entropy is not None
    # a SeedSequence spawns from its own state, as numpy's spawn does
    first, second = seeding.spawn(root, 2), seeding.spawn(root, 2)
    assert (first[0].spawn_key, second[0].spawn_key) == ((0,), (2,))
    words = seeding.words(children[0], 4)
    assert words[:1] == seeding.words(children[0], 1)
    assert all(isinstance(w, int) and 0 <= w < 2**32 for w in words)
    assert seeding.generator(3).random() == np.random.default_rng(3).random()
    assert seeding.stream_rng(1, "firms").random() == np.random.default_rng([1, 1]).random()
    # the production bootstrap takes its sequence from the scheme
    assert _bootstrap.seed_sequence(5).entropy == 5
    assert _bootstrap.seed_sequence(root) is root


def test_the_default_seed_is_written_once():
    literal = str(seeding.DEFAULT_SEED)
    files = [*(ROOT / "code" / "clusterpolicy").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    holders = sorted(str(f.relative_to(ROOT)) for f in files if literal in f.read_text(encoding="utf-8"))
    assert holders == ["code/clusterpolicy/core/seeding.py"]
    for function in (mc.run, mc.study, serial_montecarlo.monte_carlo, harness.simulate):
        assert inspect.signature(function).parameters["seed"].default == seeding.DEFAULT_SEED


# --------------------------------------------------------------------------------------------
# The study-2 power study: the harness's second use
# --------------------------------------------------------------------------------------------
def test_replicate_margins_rows():
    seq = seeding.spawn(SEED, 1)[0]
    rows = pd.DataFrame(serial_montecarlo.replicate_margins(seq, 150))
    assert list(rows.columns) == harness.COLUMNS[1:]
    assert rows["failed"].eq("").all()
    quantities = rows[rows["estimator"] != serial_montecarlo.VERDICT]
    expected = [*serial_montecarlo.MC_TERMS, "AME serial", "AME non-serial", "AME serial − non-serial"]
    for margin in ("initiation", "intensity"):
        assert quantities.loc[quantities["estimator"] == margin, "estimand"].tolist() == expected
    assert (quantities["truth"] == quantities["nominal"]).all()
    verdicts = rows[rows["estimator"] == serial_montecarlo.VERDICT]
    assert verdicts["estimand"].tolist() == [m["glue"] for m in
                                             serial_montecarlo.FINDINGS.values()]
    assert set(verdicts["estimate"]) <= {0.0, 1.0} and verdicts["se"].isna().all()
    # the sample is drawn with word 0 of the child; the AME truth is the generator's structural
    # AME, in the baseline the AME at the true parameters
    data, truth = synthetic.generate_techfirms(seed=seeding.words(seq, 1)[0], n_pairs=150)
    df = prepare(data)
    fit = margins.initiation(df)
    init = quantities[quantities["estimator"] == "initiation"].set_index("estimand")
    assert init.loc["z", "estimate"] == fit.params["z"]
    assert init.loc["AME serial", "truth"] == truth["structural"]["initiation"]["ame"]["serial"]
    true_ame = margins.average_marginal_effects_at(
        fit, df, serial_montecarlo.true_params(truth, fit))
    assert init.loc["AME serial", "truth"] == pytest.approx(true_ame["serial"], abs=1e-10)


def test_average_marginal_effects_at_other_parameters():
    data, _ = synthetic.generate_techfirms(seed=3, n_pairs=150)
    df = prepare(data)
    fit = margins.initiation(df)
    at_estimate = margins.average_marginal_effects_at(fit, df, fit.params)
    pd.testing.assert_series_equal(at_estimate, margins.average_marginal_effects(fit, df)["ame"])
    # a Series is aligned by name, an array taken in order
    pd.testing.assert_series_equal(margins.average_marginal_effects_at(fit, df, fit.params.iloc[::-1]),
                                   at_estimate)
    pd.testing.assert_series_equal(margins.average_marginal_effects_at(fit, df, fit.params.to_numpy()),
                                   at_estimate)
    # no effect of clustering without clustering coefficients
    flat = fit.params.where(~fit.params.index.isin(["z", "z2", "serial_z", "serial_z2"]), 0.0)
    np.testing.assert_allclose(margins.average_marginal_effects_at(fit, df, flat), 0.0, atol=1e-15)
    with pytest.raises(ValueError, match="values"):
        margins.average_marginal_effects_at(fit, df, np.ones(2))


def test_power_study_views_failures_and_notes(monkeypatch):
    real = serial_montecarlo.initiation
    calls = []

    def flaky(df):
        calls.append(1)
        if len(calls) == 2:
            raise np.linalg.LinAlgError("singular design")
        return real(df)

    monkeypatch.setattr(serial_montecarlo, "initiation", flaky)
    res = serial_montecarlo.monte_carlo(n_reps=3, seed=5, n_pairs=120, n_jobs=1)
    seeds = [seeding.words(c, 1)[0] for c in seeding.spawn(5, 3)]
    assert res.settings["seeds"] == seeds
    assert res.settings["failed"] == [{"rep": 1, "seed": seeds[1], "error": "LinAlgError: singular design"}]
    assert sorted(set(res.draws["rep"])) == [0, 2]
    assert list(res.verdict_draws.index) == [0, 2]
    assert set(res.verdict_draws.stack()) <= {"reproduced", "not reproduced"}
    assert (res.table["replication"] == 1).sum() == 1
    # the draws are a view of the harness's table
    ok = res.table[(res.table["estimator"] != serial_montecarlo.VERDICT) & (res.table["failed"] == "")]
    np.testing.assert_array_equal(res.draws["estimate"], ok["estimate"])
    np.testing.assert_array_equal(res.draws["seed"], [seeds[r] for r in ok["replication"]])
    covered = (res.draws["estimate"] - res.draws["truth"]).abs() <= 1.959963984540054 * res.draws["std_error"]
    assert (res.draws["covered"] == covered).all()
    assert res.settings["replications_with_notes"] == int(
        (res.table.groupby("replication")["notes"].max() > 0).sum())
    with pytest.raises(ValueError, match="level"):
        serial_montecarlo.monte_carlo(n_reps=1, level=1.5)


# --------------------------------------------------------------------------------------------
# What the appendix shows
# --------------------------------------------------------------------------------------------
ACF_CODE = max(synthetic.get_shape("flanders").industries, key=lambda i: i.weight).nace2


def _stub_draws() -> pd.DataFrame:
    spec = [
        ("acf", f"labour elasticity (NACE {ACF_CODE})", [0.7, 0.71, 0.69, 0.7], np.nan, 0.7, 0.7),
        ("acf", f"capital elasticity (NACE {ACF_CODE})", [0.2, 0.21, 0.19, 0.2], np.nan, 0.2, 0.2),
        ("cs", "ATT (simple)", [0.03, 0.031, 0.029, 0.03], 0.01, 0.03, 0.03),
        ("conditional_did", "ATT (matched)", [0.1, 0.1, 0.11, 0.09], 0.001, 0.03, 0.04),
        ("internationalization: initiation", "AME serial − non-serial", [0.1, 0.12, 0.08, 0.1], 0.02,
         0.1, 0.1),
    ]
    rows = [{"replication": r, "estimator": e, "estimand": q, "estimate": values[r], "se": se,
             "truth": truth, "nominal": nominal, "notes": 0, "failed": ""}
            for r in range(4) for e, q, values, se, truth, nominal in spec]
    return pd.DataFrame(rows, columns=harness.COLUMNS)


def test_describe_what_the_appendix_shows():
    study = mc.describe(_stub_draws(), replications=4, firms=100, n_pairs=50, acf_bootstrap=0,
                        where="here", run_notes=["UserWarning: x", "y"])
    n, texts, flags = study.numbers, study.texts, study.flags
    assert (n["mc_reps"], n["mc_firms"], n["mc_pairs"], n["mc_acf_bootstrap"]) == (4, 100, 50, 0)
    assert (n["mc_n_estimands"], n["mc_n_with_se"]) == (5, 3)
    assert (n["mc_cov_min"], n["mc_cov_max"]) == (0.0, 1.0)
    assert n["mc_theta"] == 0.03 and n["mc_cs_target_gap"] == 0.0
    assert n["mc_conditional_did_target_gap"] == pytest.approx(-0.01)
    assert n["mc_conditional_did_bias"] == pytest.approx(0.07)
    assert n["mc_mcse_95"] == math.sqrt(0.95 * 0.05 / 4)
    assert n["mc_cov_band_high"] == 1.0
    assert n["mc_acf_l_rmse"] == pytest.approx(math.sqrt(0.0002 / 4))
    assert n["mc_default_firms"] == synthetic.get_shape("flanders").n_firms
    assert flags == {"mc_any_cov_low": True, "mc_any_biased": True, "mc_has_run_notes": True}
    assert texts["mc_cov_low_names"] == "conditional DiD ATT (matched)"
    assert texts["mc_biased_names"] == "conditional DiD ATT (matched) (+0.0700)"
    assert texts["mc_cs_se_verdict"] == "larger than"
    assert texts["mc_conditional_did_se_verdict"] == "smaller than"
    assert texts["mc_where"] == "here"
    assert texts["mc_acf_industry"].startswith(f"{ACF_CODE} (")
    assert study.run_notes_markdown == "* UserWarning: x\n* y"
    assert list(study.table.index) == [
        (f"ACF (NACE {ACF_CODE})", "labour elasticity"), (f"ACF (NACE {ACF_CODE})", "capital elasticity"),
        ("Callaway–Sant'Anna", "ATT (simple)"), ("conditional DiD", "ATT (matched)"),
        ("initiation", "AME difference")]
    assert list(study.table.columns) == ["truth", "bias", "RMSE", "SD", "mean SE", "coverage", "MC s.e."]
    assert study.table["coverage"].isna().tolist() == [True, True, False, False, False]
    fig = mc.distributions_figure(study)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 8 and len(shown) == 5
    assert shown[0].get_title() == f"ACF (NACE {ACF_CODE})\nlabour elasticity"
    plt.close(fig)


def test_describe_without_flags(serial_draws):
    draws = serial_draws.assign(se=np.nan, notes=0)  # no standard errors: no coverage to flag
    study = mc.describe(draws, replications=2, firms=900, n_pairs=120, acf_bootstrap=0)
    assert study.flags["mc_any_cov_low"] is False and study.flags["mc_has_run_notes"] is False
    assert study.texts["mc_cov_low_names"] == "" and study.run_notes_markdown == ""
    assert study.numbers["mc_failed"] == int(harness.summarise(draws)["failed"].sum())
    pd.testing.assert_frame_equal(study.summary, harness.summarise(draws))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the figure draws without NaN warnings
        plt.close(mc.distributions_figure(study))
