"""The one Monte Carlo harness (checks/harness.py), its study-2 use (the power study,
checks/serial_montecarlo.py; the grid's own tests are in test_grid.py) and the one seeding
scheme (core/seeding.py): determinism across workers, batches and backends, and the summary's
formulas."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.checks import grid, harness, serial_montecarlo
from clusterpolicy.core import parallel, seeding
from clusterpolicy.data.innovators import prepare
from clusterpolicy.estimators import margins
from clusterpolicy.estimators.production import _bootstrap

ROOT = Path(__file__).resolve().parents[1]
SEED = seeding.DEFAULT_SEED


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


def test_same_table_with_several_workers_and_on_a_dask_cluster():
    one = harness.simulate(_toy, 6, 7, n_jobs=1, scale=2.0)
    pd.testing.assert_frame_equal(one, harness.simulate(_toy, 6, 7, n_jobs=2, scale=2.0))
    with parallel.backend("local", n_workers=2) as where:
        on_dask = harness.simulate(_toy, 6, 7, n_jobs=2, scale=2.0)
    assert where.startswith("Dask cluster at")
    pd.testing.assert_frame_equal(one, on_dask)


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
    for function in (grid.run_cell, serial_montecarlo.monte_carlo, harness.simulate):
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
