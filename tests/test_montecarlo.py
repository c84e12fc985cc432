"""The one Monte Carlo harness (checks/harness.py), its two uses (the Monte Carlo appendix,
checks/montecarlo.py, and the study-2 power study, checks/serial_montecarlo.py) and the one
seeding scheme (core/seeding.py): determinism across workers, batches and backends, the
summary's formulas, the truth each estimand is compared with, and what the appendix shows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.checks import harness, serial_montecarlo
from clusterpolicy.checks import montecarlo as mc
from clusterpolicy.core import parallel, seeding

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
    pytest.importorskip("dask.distributed")
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
