"""The generators' worlds (clusterpolicy.synthetic.scenarios): the baseline is the default
data's world, and each other scenario builds in what its description says."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.data import samples
from clusterpolicy.estimators import production
from clusterpolicy.studies import productivity as tfp
from clusterpolicy.synthetic import scenarios
from conftest import ROOT

FIRMS = 3000


@pytest.fixture(scope="module")
def worlds():
    """Scenario -> the panel drawn from it (same seed, same shape)."""
    shape = synthetic.scaled_shape("flanders", FIRMS)
    return {name: synthetic.generate_panel(3, firms=FIRMS, shape=shape,
                                           params=scenarios.panel_params(name))
            for name in scenarios.PANEL_SCENARIOS}


def _labour_elasticity(generated, method: str, nace2: str = "46") -> float:
    sample, _ = samples.sample_construction(generated.panel)
    status = samples.membership_status(sample, generated.membership)
    sample = sample.assign(cohort=status["cohort"].to_numpy(), member=status["member"].to_numpy())
    options = tfp.production_options(tfp.TFP_SETTINGS, method)
    for key in ("by", "min_obs", "method"):
        options.pop(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = production.estimate(sample[sample["nace2"] == nace2], method, **options, n_jobs=1)
    return float(fit.params.iloc[0])


def test_the_baseline_is_the_default_world():
    assert scenarios.panel_params("baseline") == synthetic.PanelParams()
    assert scenarios.tech_truth("baseline") == {**synthetic.default_tech_truth(),
                                                "scenario": "baseline"}


def test_each_scenario_changes_only_what_it_names():
    base = dataclasses.asdict(synthetic.PanelParams())
    for name, scenario in scenarios.PANEL_SCENARIOS.items():
        changed = {k: v for k, v in dataclasses.asdict(scenarios.panel_params(name)).items()
                   if base[k] != v}
        assert changed == dict(scenario.changes), name
        assert scenario.description and scenario.title


def test_unknown_scenarios_are_named_in_the_error():
    with pytest.raises(ValueError, match="known: baseline, firm-effect"):
        scenarios.panel_params("firm-effects")
    with pytest.raises(ValueError, match="unknown tech scenario 'nul'"):
        scenarios.tech_truth("nul")


def test_the_firm_effect_is_permanent(worlds):
    def between_share(generated):
        latent = generated.latent
        means = latent.groupby("firm_id")["omega_tilde"].transform("mean")
        return float(means.var() / latent["omega_tilde"].var())

    assert between_share(worlds["firm-effect"]) > between_share(worlds["baseline"]) + 0.1


def test_materials_that_labour_does_not_reach_identify_levinsohn_petrin(worlds):
    true = synthetic.FLANDERS.industry("46").beta_l
    assert abs(_labour_elasticity(worlds["baseline"], "lp") - true) > 0.3  # Leontief: not identified
    assert abs(_labour_elasticity(worlds["proxy-noise"], "lp") - true) < 0.05
    assert abs(_labour_elasticity(worlds["proxy-noise"], "wooldridge") - true) < 0.05


def _pre_gap(generated) -> float:
    """Members' minus non-members' log TFP without the programme in 2016."""
    first = generated.membership.groupby("firm_id")["join_year"].min()
    pre = generated.latent[generated.latent["year"] == 2016]
    member = pre["firm_id"].isin(first.index)
    return float(pre.loc[member, "omega_tilde"].mean() - pre.loc[~member, "omega_tilde"].mean())


def test_selection_on_the_level_of_tfp_makes_members_more_productive(worlds):
    assert _pre_gap(worlds["selection-level"]) > _pre_gap(worlds["baseline"]) + 0.05


def test_selection_on_the_trend_of_tfp_selects_recent_growth(worlds):
    def growth_gap(generated):
        lat = generated.latent.pivot(index="firm_id", columns="year", values="omega_tilde")
        growth = (lat[2016] - lat[2014]).dropna()
        member = growth.index.isin(generated.membership.loc[
            generated.membership["join_year"] == 2017, "firm_id"])
        return float(growth[member].mean() - growth[~member].mean())

    assert growth_gap(worlds["selection-trend"]) > growth_gap(worlds["baseline"]) + 0.05


def test_industry_year_shocks_are_common_to_an_industry_and_year(worlds):
    def cell_sd(generated):
        latent = generated.latent.merge(generated.panel[["firm_id", "year", "nace2"]])
        return float(latent.groupby(["nace2", "year"])["omega_tilde"].mean().std())

    assert cell_sd(worlds["industry-shocks"]) > cell_sd(worlds["baseline"]) + 0.02


def test_the_dynamic_effect_ramps_up_and_rises_with_scale(worlds):
    latent = worlds["dynamic-effect"].latent
    first = worlds["dynamic-effect"].membership.groupby("firm_id")["join_year"].min()
    treated = latent[latent["treated"]].assign(
        since=lambda d: d["year"] - d["firm_id"].map(first))
    by_time = treated.groupby("since")["theta_it"].mean()
    assert by_time.loc[0] < by_time.loc[1] < by_time.loc[2]
    full = treated[treated["since"] >= 2]
    assert np.corrcoef(full["scale"], full["theta_it"])[0, 1] > 0.9


def test_anticipation_puts_part_of_the_effect_before_joining(worlds):
    generated = worlds["anticipation"]
    first = generated.membership.groupby("firm_id")["join_year"].min()
    latent = generated.latent
    before = latent[latent["year"] == latent["firm_id"].map(first) - 1]
    assert (~before["treated"]).all()
    assert before["theta_it"].mean() == pytest.approx(0.5 * 0.03)
    baseline = worlds["baseline"].latent
    assert (baseline.loc[~baseline["treated"], "theta_it"] == 0).all()


def test_the_least_productive_firms_exit(worlds):
    def exit_gap(generated):
        latent = generated.latent
        last = latent.groupby("firm_id")["year"].transform("max")
        leaves = (latent["year"] == last) & (last < 2020)
        return float(latent.loc[leaves, "omega_tilde"].mean()
                     - latent.loc[~leaves, "omega_tilde"].mean())

    assert exit_gap(worlds["exit"]) < exit_gap(worlds["baseline"]) - 0.05
    assert len(worlds["exit"].panel) < 0.95 * len(worlds["baseline"].panel)


def test_synth_writes_a_scenario_and_records_it(tmp_path):
    out = tmp_path / "exit"
    result = subprocess.run([sys.executable, "-m", "clusterpolicy", "synth", "--out", str(out),
                             "--firms", "400", "--scenario", "exit"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    truth = json.loads((out / "panel.truth.json").read_text())
    assert truth["scenario"] == "exit" and truth["params"]["exit_tfp"] == 0.10
    assert json.loads((out / "techfirms.truth.json").read_text())["scenario"] == "baseline"
    # the truth file regenerates its panel
    regenerated = synthetic.regenerate(out / "panel.parquet")
    assert regenerated is not None
    assert len(regenerated.generated.panel) == len(pd.read_parquet(out / "panel.parquet"))


def test_synth_rejects_an_unknown_scenario(tmp_path):
    result = subprocess.run([sys.executable, "-m", "clusterpolicy", "synth", "--out",
                             str(tmp_path / "x"), "--scenario", "exits"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown scenario 'exits'" in result.stderr and "firm-effect" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_scaled_shape_keeps_the_share_of_members_and_one_member_per_cluster():
    full = synthetic.get_shape("flanders")
    shape = synthetic.scaled_shape("flanders", full.n_firms // 10)
    assert [c.members for c in shape.clusters] == [round(c.members / 10) for c in full.clusters]
    assert [c.start_year for c in shape.clusters] == [c.start_year for c in full.clusters]
    tiny = synthetic.scaled_shape(full, 10)
    assert all(c.members == 1 for c in tiny.clusters)
    with pytest.raises(ValueError, match="unknown shape"):
        synthetic.scaled_shape("wallonia", 100)
