"""The Monte Carlo grid (checks/grid.py): cells of a study and a scenario that grow by
replications, run every estimator below ``full`` and the headline estimators beyond; and the
code closure (core/provenance.py) that will key their stored results."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.checks import grid, harness, store
from clusterpolicy.core import provenance, seeding

SETTINGS = grid.GridSettings(firms=800, full=1, n_pairs=150)


@pytest.fixture(scope="module")
def cell() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return grid.run_cell("panel", "anticipation", 2, settings=SETTINGS, n_jobs=1)


def test_replications_below_full_run_every_estimator_and_later_ones_the_headline(cell):
    first = set(cell.loc[cell["replication"] == 0, "estimator"])
    assert first == {f"tfp:{m}" for m in grid.TFP_METHODS} | {
        f"effect:{e}" for e in grid.EFFECT_ESTIMATORS} | {
        f"effect:{e} (true TFP)" for e in grid.TRUE_TFP_ESTIMATORS}
    assert set(cell.loc[cell["replication"] == 1, "estimator"]) == set(grid.HEADLINE)
    assert cell["failed"].eq("").all()


def test_effect_targets_are_the_sample_itt_and_elasticities_the_industrys(cell):
    effects = cell[cell["estimator"].str.startswith("effect:")]
    assert (effects["nominal"] == 0.03).all()
    # memberships that end early make the sample target smaller than theta, never larger
    assert ((effects["truth"] > 0.02) & (effects["truth"] <= 0.03 + 1e-12)).all()
    tfp = cell[cell["estimator"].str.startswith("tfp:")]
    assert set(tfp["estimand"]) == {"beta_l (NACE 43)", "beta_k (NACE 43)"}
    assert set(tfp["truth"]) == {0.70, 0.20}
    # analytic standard errors where the estimator has them, none (no bootstrap) otherwise
    with_se = set(tfp.loc[np.isfinite(tfp["se"]), "estimator"])
    assert with_se == {"tfp:ols", "tfp:fe", "tfp:wooldridge"}


def test_a_cell_grows_without_changing_the_replications_it_holds(cell):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        later = grid.run_cell("panel", "anticipation", 2, settings=SETTINGS, first=1, n_jobs=1)
    pd.testing.assert_frame_equal(later.reset_index(drop=True),
                                  cell[cell["replication"] == 1].reset_index(drop=True))


def test_study2_cells_and_bad_names():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = grid.run_cell("tech", "null", 2, settings=SETTINGS, n_jobs=1)
    assert set(table["replication"]) == {0, 1} and "verdict" in set(table["estimator"])
    with pytest.raises(ValueError, match="unknown panel scenario"):
        grid.run_cell("panel", "nul", 1, n_jobs=1)
    with pytest.raises(ValueError, match="study must be"):
        grid.run_cell("firms", "baseline", 1, n_jobs=1)  # type: ignore[arg-type]


def _one(seq, offset=0.0):
    rng = seeding.generator(seq)
    return [harness.row("x", "y", float(rng.normal()) + offset, 1.0, 0.0, 0.0)]


def test_the_harness_runs_from_a_first_replication():
    whole = harness.simulate(_one, 5, 3, n_jobs=1)
    tail = harness.simulate(_one, 5, 3, n_jobs=1, first=3)
    pd.testing.assert_frame_equal(tail.reset_index(drop=True),
                                  whole[whole["replication"] >= 3].reset_index(drop=True))
    for first in (-1, 5):
        with pytest.raises(ValueError, match="first must be in"):
            harness.simulate(_one, 5, 3, first=first)


def test_the_code_closure_follows_imports_and_only_them():
    files = {f.relative_to(provenance.PACKAGE_ROOT).as_posix()
             for f in provenance.module_closure("clusterpolicy.synthetic.panel")}
    assert {"synthetic/panel.py", "synthetic/shapes.py", "core/seeding.py",
            "synthetic/__init__.py", "__init__.py"} <= files
    assert not any(f.startswith(("book/", "checks/", "studies/", "estimators/")) for f in files)
    grid_files = {f.relative_to(provenance.PACKAGE_ROOT).as_posix()
                  for f in provenance.module_closure("clusterpolicy.checks.grid")}
    assert {"checks/grid.py", "checks/harness.py", "estimators/did/staggered.py",
            "estimators/production/_fit.py", "synthetic/scenarios.py"} <= grid_files
    assert not any(f.startswith("book/") for f in grid_files)
    assert store.code_digest("clusterpolicy.synthetic.panel") != \
        store.code_digest("clusterpolicy.checks.grid")
    with pytest.raises(ValueError, match="not a module of the package"):
        provenance.module_closure("clusterpolicy.nothing")


def test_the_summary_of_cells_and_the_rates_of_the_rules(cell, tmp_path):
    from clusterpolicy.checks import grid_summary, store

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tech = store.ensure(tmp_path, [("tech", "baseline"), ("tech", "null")], 4,
                            settings=SETTINGS, n_jobs=1)
    cells = {("panel", "anticipation"): store.Cell("panel", "anticipation", cell, "computed", 0.0),
             **tech}
    summary = grid_summary.estimator_summary(cells)
    acf = summary.loc[("panel", "anticipation", "tfp:acf", "beta_l (NACE 43)")]
    rows = cell[(cell["estimator"] == "tfp:acf") & (cell["estimand"] == "beta_l (NACE 43)")]
    assert acf["replications"] == 2
    assert acf["bias"] == pytest.approx((rows["estimate"] - rows["truth"]).mean())
    assert np.isnan(acf["coverage"])  # ACF without bootstrap: no standard error
    cs = summary.loc[("panel", "anticipation", "effect:cs", "ATT")]
    assert cs["replications"] == 2 and np.isfinite(cs["se_sd"])
    assert cs["se_sd"] == pytest.approx(cs["mean_se"] / cs["sd"])
    assert "verdict" not in set(summary.index.get_level_values("estimator"))

    rates = grid_summary.rule_rates(cells, settings=SETTINGS)
    # the null world has no pattern (every rate a size), the baseline every pattern (powers)
    assert set(rates.loc["null", "kind"]) == {"size"}
    assert set(rates.loc["baseline", "kind"]) == {"power"}
    assert list(rates.loc["null"].index) == ["verdict_both_gain", "verdict_nonserial_decreasing",
                                             "verdict_serial_gain_more", "all three"]
    verdicts = tech[("tech", "baseline")].table.query("estimator == 'verdict'")
    wide = verdicts.pivot(index="replication", columns="estimand", values="estimate")
    assert rates.loc[("baseline", "all three"), "fires"] == pytest.approx(wide.min(axis=1).mean())
    assert (rates["replications"] == 4).all()


def test_the_advice_ranks_estimators_by_their_error_across_scenarios():
    from clusterpolicy.checks import grid_summary

    index = pd.MultiIndex.from_tuples(
        [("panel", s, f"tfp:{m}", q) for s in ("a", "b") for m in ("ols", "acf", "lp")
         for q in ("beta_l", "beta_k")], names=["study", "scenario", "estimator", "estimand"])
    error = {"ols": 0.2, "acf": 0.05, "lp": 0.1}
    summary = pd.DataFrame({
        "bias": [error[i[2][4:]] * (2 if i[1] == "b" else 1) for i in index],
        "rmse": [error[i[2][4:]] * (3 if i[1] == "b" and i[2] == "tfp:acf" else 1.5) for i in index],
    }, index=index)
    advice = grid_summary.tfp_advice(summary)
    assert (advice.best, advice.runner_up) == ("tfp:acf", "tfp:lp")
    assert advice.scenarios == ("a", "b") and advice.best_worst_scenario == "b"
    assert list(advice.table.index) == ["tfp:acf", "tfp:lp", "tfp:ols"]
    assert list(advice.per_scenario) == ["tfp:acf", "tfp:acf"] and advice.proxy_identified == ()
    assert advice.per_scenario_text() == "ACF in a, b"
    with pytest.raises(ValueError, match="no production-function estimates"):
        grid_summary.tfp_advice(summary.iloc[0:0])
    # bias ranks, not RMSE: a precise but biased estimator does not win
    precise = summary.copy()
    precise.loc[precise.index.get_level_values("estimator") == "tfp:ols", "rmse"] = 0.001
    assert grid_summary.tfp_advice(precise).best == "tfp:acf"
    # the least biased estimator world by world; the worlds where LP and Wooldridge are identified
    worlds = summary.rename(index={"a": "baseline", "b": "proxy-noise"}, level="scenario")
    lp_wins = worlds.copy()
    in_proxy = (lp_wins.index.get_level_values("scenario") == "proxy-noise") & (
        lp_wins.index.get_level_values("estimator") == "tfp:lp")
    lp_wins.loc[in_proxy, "bias"] = 0.001
    advice = grid_summary.tfp_advice(lp_wins)
    assert advice.proxy_identified == ("proxy-noise",)
    assert advice.per_scenario_text() == "ACF in baseline; Levinsohn–Petrin in proxy-noise"


@pytest.mark.parametrize("row, expected", [
    ({"coverage": 0.95, "bias": 0.5, "sd": 0.1, "se_sd": 0.5}, ""),  # inside the band
    ({"coverage": float("nan"), "bias": 0.5, "sd": 0.1, "se_sd": float("nan")}, ""),
    ({"coverage": 0.60, "bias": 0.08, "sd": 0.1, "se_sd": 1.0}, "biased: the bias is 0.8 SD"),
    ({"coverage": 0.85, "bias": 0.0, "sd": 0.1, "se_sd": 0.7}, "standard errors too small"),
    ({"coverage": 0.80, "bias": 0.09, "sd": 0.1, "se_sd": 0.6}, "biased: the bias is 0.9 SD, "),
    ({"coverage": 0.99, "bias": 0.0, "sd": 0.1, "se_sd": 1.3}, "conservative"),
    ({"coverage": 0.92, "bias": 0.01, "sd": 0.1, "se_sd": 0.98}, "neither the bias nor"),
    # outside the band by less than two Monte Carlo s.e.
    ({"coverage": 0.925, "bias": 0.0, "sd": 0.1, "se_sd": 0.7, "coverage_mcse": 0.012},
     "within two Monte Carlo s.e."),
    ({"coverage": 0.90, "bias": 0.0, "sd": 0.1, "se_sd": 0.7, "coverage_mcse": 0.012},
     "standard errors too small"),
])
def test_coverage_outside_the_band_is_diagnosed_from_the_row(row, expected):
    from clusterpolicy.checks import grid_summary

    text = grid_summary.diagnose(row)
    assert text.startswith(expected) if expected else text == ""
    if row["coverage"] == 0.80:  # both reasons named
        assert "standard errors too small (SE/SD 0.60;" in text


def test_the_report_of_the_grid(cell, tmp_path):
    from clusterpolicy import synthetic
    from clusterpolicy.checks import grid_summary, store

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wanted = [("tech", s) for s in synthetic.TECH_SCENARIOS]
        store.ensure(tmp_path, wanted, 3, settings=SETTINGS, n_jobs=1)
        tech = store.for_page(tmp_path, wanted, 3, settings=SETTINGS, n_jobs=1,
                              work=tmp_path / "work")
    cells = {("panel", "baseline"): store.Cell("panel", "baseline", cell, "computed", 1.5),
             **tech}
    report = grid_summary.grid_report(cells, settings=SETTINGS, repository=tmp_path)
    effects = report.tables["effects"]
    assert set(effects.index.get_level_values("world")) == {"baseline"}
    assert len(effects) == len(grid.EFFECT_ESTIMATORS) + len(grid.TRUE_TFP_ESTIMATORS)
    summary = report.summary.loc[("panel", "baseline", "effect:cs", "ATT")]
    assert report.numbers["cs_cov"] == summary["coverage"]
    assert effects.loc[("baseline", "Callaway–Sant'Anna"), "diagnosis"] == (
        grid_summary.diagnose(summary) or "–")
    end_to_end = effects.iloc[:len(grid.EFFECT_ESTIMATORS)]["diagnosis"]
    assert report.numbers["n_outside"] == sum(~end_to_end.isin(["–", grid_summary.NOISE]))
    assert report.numbers["n_band_noise"] == sum(end_to_end == grid_summary.NOISE)
    # the threshold world's coefficients have no true value; its AMEs have one
    tech_table = report.tables["tech"]
    assert (tech_table.xs("threshold", level="world").xs("curvature (z², non-serial)",
            level="quantity")["coverage"] == "no true parameter").all()
    assert tech_table.xs("baseline", level="world")["truth"].notna().all()
    rules = report.tables["rules"]
    assert set(rules.xs("null", level="world")["measures"]) == {"size"}
    assert report.numbers["power_joint"] == report.rules.loc[("baseline", "all three"), "fires"]
    cells_table = report.tables["cells"]
    assert cells_table.loc[("1 (firm panel)", "baseline"), "from"] == "computed in this build"
    assert cells_table.loc[("2 (tech firms)", "null"), "from"] == "the repository's store"
    assert cells_table.loc[("2 (tech firms)", "null"), "carried over"] == "no: computed by this code"
    assert cells_table.loc[("1 (firm panel)", "baseline"), "carried over"] == "–"
    entry = store.read_index(tmp_path)["cells"]["tech/null"]
    store._record(tmp_path, "tech/null", {**entry, "carried": [
        {"from_key": "old", "replications": [0, 1, 2], "max_relative_difference": 1.6e-15,
         "at": "2026-12-08T01:00:00+00:00"}]})
    carried = grid_summary.grid_report(cells, settings=SETTINGS, repository=tmp_path)
    assert carried.tables["cells"].loc[("2 (tech firms)", "null"), "carried over"] == (
        "3 replications recomputed, largest difference 2e-15 (2026-12-08)")
    assert not report.flags["all_stored"]
    assert report.texts["best"] == grid_summary.label(report.advice.best)
    for figure in (grid_summary.coverage_figure(report), grid_summary.tfp_figure(report)):
        assert figure.axes


def test_a_study2_cell_is_chapter_05s_monte_carlo_study(tmp_path):
    """Chapter 05 reads its Monte Carlo study from the grid: the cell's views equal those of
    serial_montecarlo.monte_carlo for the same seed, size and replications."""
    from clusterpolicy.checks import grid_summary, serial_montecarlo, store

    settings = grid.GridSettings(n_pairs=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = store.ensure(tmp_path, [("tech", "baseline")], 3, seed=11, settings=settings,
                            n_jobs=1)[("tech", "baseline")]
        theirs = serial_montecarlo.monte_carlo(n_reps=3, seed=11, n_pairs=120, n_jobs=1)
    ours = grid_summary.serial_results(cell, 11, settings)
    pd.testing.assert_frame_equal(ours.draws, theirs.draws)
    pd.testing.assert_frame_equal(ours.verdict_draws, theirs.verdict_draws)
    pd.testing.assert_frame_equal(ours.coverage(), theirs.coverage())
    assert {k: v for k, v in ours.settings.items() if k != "n_jobs"} == {
        k: v for k, v in theirs.settings.items() if k != "n_jobs"}


def test_the_world_of_data_is_named_by_their_truth():
    from clusterpolicy.checks import grid_summary

    assert grid_summary.world_of("tech", None) == "baseline"
    assert grid_summary.world_of("tech", {"scenario": "threshold"}) == "threshold"
    assert grid_summary.world_of("tech", {}) == "baseline"
    assert grid_summary.world_of("tech", {"scenario": "exit"}) == "baseline"  # a panel world
    assert grid_summary.world_of("panel", {"scenario": "exit"}) == "exit"
