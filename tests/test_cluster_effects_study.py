"""clusterpolicy.studies.cluster_effects, the studies of chapter 04, on a small generated economy.

The outcome is the generator's *true* log TFP (no production-function estimation), so each
study runs in seconds; every result is computed once per module and checked for what the page
glues from it: counts that must add up, estimates that must agree with each other, verdicts
that must follow from the numbers, and the sentence case that must match the data.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.studies import cluster_effects as ce
from clusterpolicy.studies import equivalence
from clusterpolicy.studies.productivity import tfp_sample

pytestmark = pytest.mark.slow

SEED, FIRMS, CALIPER = 5, 2000, 0.2
THRESHOLDS = (10, 50, 250)


@pytest.fixture(scope="module")
def economy() -> synthetic.SyntheticPanel:
    shape = synthetic.get_shape("flanders")
    scale = FIRMS / shape.n_firms
    shape = dataclasses.replace(shape, clusters=tuple(
        dataclasses.replace(c, members=max(1, round(c.members * scale))) for c in shape.clusters))
    return synthetic.generate_panel(SEED, firms=FIRMS, shape=shape)


@pytest.fixture(scope="module")
def clusters(economy) -> list[str]:
    return [c["name"] for c in economy.truth["shape"]["clusters"]]


@pytest.fixture(scope="module")
def full(economy) -> pd.DataFrame:
    """What firm_tfp returns, with the true log TFP as ``log_tfp``."""
    sample, _ = tfp_sample(economy.panel, economy.membership)
    return sample.merge(economy.latent[["firm_id", "year", "omega"]], on=["firm_id", "year"],
                        validate="one_to_one").rename(columns={"omega": "log_tfp"})


@pytest.fixture(scope="module")
def data(economy, full, clusters) -> ce.EstimationPanel:
    return ce.panel_from_tfp(full, economy.membership, clusters=clusters, truth=economy.truth)


@pytest.fixture(scope="module")
def matched(data) -> ce.MatchedDiD:
    return ce.matched_did(data, caliper=CALIPER, seed=SEED)


@pytest.fixture(scope="module")
def twfe(data) -> ce.TWFEDiagnostics:
    return ce.twfe_diagnostics(data)


@pytest.fixture(scope="module")
def staggered(data) -> ce.StaggeredDiD:
    return ce.staggered_did(data, bootstrap=False, biters=99, seed=SEED)


@pytest.fixture(scope="module")
def sensitivity(staggered) -> ce.Sensitivity:
    return ce.parallel_trends_sensitivity(staggered, mbar=[0.0, 0.5, 1.0, 1.5, 2.0])


@pytest.fixture(scope="module")
def het(data) -> ce.Heterogeneity:
    return ce.heterogeneity(data, thresholds=THRESHOLDS, min_treated=20, caliper=CALIPER, seed=SEED)


@pytest.fixture(scope="module")
def spec(data, matched, twfe, staggered) -> ce.Specifications:
    return ce.specification_table(data, matched, twfe, staggered, caliper=CALIPER, seed=SEED,
                                  published_low=0.01, published_high=0.044, published_headline=0.03)


def test_estimation_panel_reads_the_truth_and_keeps_the_tfp_notes(tmp_path, monkeypatch, economy,
                                                                 full, clusters):
    panel_path = tmp_path / "panel.parquet"
    (tmp_path / "panel.truth.json").write_text(json.dumps(economy.truth), encoding="utf-8")
    economy.membership.to_csv(tmp_path / "membership.csv", index=False)
    calls = []

    def fake_tfp(panel, membership, *, clusters, settings):
        calls.append((panel, membership, clusters, settings))
        return SimpleNamespace(data=full, notes=["industry 10 pooled"])

    monkeypatch.setattr(ce, "firm_tfp", fake_tfp)
    settings = ce.TFPSettings(degree=3)
    data = ce.estimation_panel(str(panel_path), str(tmp_path / "membership.csv"), clusters=clusters,
                               settings=settings)
    assert calls == [(str(panel_path), str(tmp_path / "membership.csv"), clusters, settings)]
    assert data.has_truth and data.theta == economy.truth["treatment"]["theta"]
    assert data.notes == {ce.TFP_SOURCE: ["industry 10 pooled"]}
    assert data.clusters == tuple(clusters)
    assert set(data.membership["firm_id"]) == set(economy.membership["firm_id"])

    (tmp_path / "panel.truth.json").unlink()
    real = ce.estimation_panel(str(panel_path), str(tmp_path / "membership.csv"), clusters=clusters)
    assert not real.has_truth and real.theta is None and real.ramp_years == 0


def test_panel_from_tfp_counts_every_firm(data, full, economy):
    shape = economy.truth["shape"]
    first, last = shape["first_year"], shape["last_year"]
    assert data.years == tuple(range(first, last + 1))
    assert data.panel_years == f"{first}–{last}"
    assert data.n_firms_tfp == full["firm_id"].nunique()
    assert data.n_treated + data.n_never == data.n_firms_balanced
    assert data.n_dropped_balance == data.n_firms_tfp - data.n_firms_balanced > 0
    # the balanced panel: every firm in every year, with its pre-period covariates
    assert (data.panel.groupby("firm_id").size() == len(data.years)).all()
    assert {"pre_log_tfp", "last_pre_log_tfp", "pre_employment", "age", "capital_intensity"} <= set(
        data.panel.columns)
    assert data.pre_years == tuple(range(first, min(data.cohorts)))
    assert data.pre_period == f"{first}–{min(data.cohorts) - 1}"
    # the tables add up
    assert data.sample_table["firms"].iloc[0] == data.n_firms_tfp
    assert data.sample_table["firms"].sum() - data.sample_table["firms"].iloc[-1] == data.n_firms_balanced
    assert all(pd.api.types.is_float_dtype(t) for t in data.sample_table.dtypes)
    cohorts = data.cohort_table
    assert list(cohorts.index) == [str(g) for g in data.cohorts] + ["never (controls)"]
    assert cohorts["firms"].sum() == data.n_firms_balanced
    assert cohorts["firms"].iloc[-1] == data.n_never
    assert cohorts["years observed after joining"].tolist() == [last - g + 1 for g in data.cohorts] + [0]
    assert data.cohort_years == ", ".join(str(g) for g in data.cohorts)
    # members whose membership ended are still treated (intention to treat)
    ended = full[(full["cohort"] > 0) & (full["year"] >= full["cohort"]) & (full["member"] == 0)]
    assert data.n_membership_ended == ended["firm_id"].nunique()
    assert data.n_members_tfp == full.loc[full["cohort"] > 0, "firm_id"].nunique()
    assert data.has_never_members
    assert data.ramp_years == int(economy.truth["treatment"].get("ramp_years") or 0)
    assert data.effect_ramps == (data.ramp_years > 0)
    ramping = dataclasses.replace(data, truth={"treatment": {"theta": 0.03, "ramp_years": 3}})
    assert ramping.effect_ramps and ramping.ramp_years == 3 and ramping.theta == 0.03


def test_panel_from_tfp_without_never_members(full, economy):
    members_only = ce.panel_from_tfp(full[full["cohort"] > 0], economy.membership)
    assert members_only.n_never == 0 and not members_only.has_never_members
    assert "there is no never-member" in members_only.design_problem
    assert members_only.n_treated == members_only.n_firms_balanced > 0
    assert members_only.truth is None and members_only.notes == {}
    assert not members_only.effect_ramps and members_only.theta is None


def test_matched_did(matched, data):
    assert matched.ci_low == pytest.approx(matched.att - 1.96 * matched.se)
    assert matched.ci_high == pytest.approx(matched.att + 1.96 * matched.se)
    assert matched.percent == pytest.approx(100 * np.expm1(matched.att))
    assert abs(matched.att - data.theta) < 3 * matched.se  # the design recovers the true effect
    assert matched.unmatched_att == pytest.approx(float(matched.fit.unmatched.params["ATT"]))
    assert matched.n_treated == data.n_treated
    assert matched.n_matched + matched.n_off_support + matched.n_no_caliper == matched.n_treated
    assert matched.by_cohort["members matched"].sum() == matched.n_matched
    assert set(matched.by_cohort.index) <= {str(g) for g in data.cohorts}
    assert matched.max_smd_after < matched.max_smd_before
    assert matched.balance_table.index.name == "covariate"
    assert matched.balance_table.index[0] == "size (log FTE)"
    assert matched.n_industries == sum(r.startswith("nace2=") for r in matched.fit.balance.index) > 0
    assert set(matched.notes) <= {"conditional DiD"}


def test_twfe_diagnostics_add_up(twfe, data):
    assert twfe.twfe_from_bacon == pytest.approx(twfe.att, abs=1e-8)
    weights = twfe.bacon_table["weight"]
    assert weights.sum() == pytest.approx(1.0)
    assert twfe.clean_weight == pytest.approx(weights["Treated vs Untreated"])
    assert twfe.forbidden_weight == pytest.approx(weights["Later vs Earlier Treated"])
    assert twfe.clean_dominates == (twfe.clean_weight >= 0.8)
    # one weight per treated (cohort, year) cell
    assert twfe.n_weight_cells == data.cohort_table["years observed after joining"].sum()
    assert (twfe.n_negative_weights == 0) == (twfe.negative_weight_sum == 0.0)
    assert twfe.has_negative_weights == (twfe.min_weight < 0)
    assert twfe.min_weight == pytest.approx(float(twfe.bacon.twfe_weights["weight"].min()))
    assert twfe.last_event_time == data.years[-1] - min(data.cohorts)
    assert twfe.weight_first_per1000 > 0 and twfe.weight_last_per1000 > 0


def test_staggered_did(staggered, data):
    assert list(staggered.fits) == [("never", False), ("never", True), ("notyet", False), ("notyet", True)]
    table = staggered.table
    assert table.index.names == ["control group", "covariates"]
    assert table.index[0] == ("never members", "none")
    assert staggered.att == table["ATT (simple)"].iloc[0] and staggered.se == table["SE"].iloc[0]
    assert staggered.pretest_p == table["pre-test p"].iloc[0]
    assert staggered.pretest_min_p == table["pre-test p"].min()
    assert staggered.pretest_verdict == ("does not reject" if staggered.pretest_p >= 0.05 else "rejects")
    assert abs(staggered.att - data.theta) < 3 * staggered.se
    es = staggered.twfe_event_study
    assert es["event_time"].is_monotonic_increasing
    assert es.loc[es["event_time"] == -1, ["att", "se"]].to_numpy().tolist() == [[0.0, 0.0]]
    dynamic = staggered.dynamic.table.set_index("event_time")["att"]
    assert staggered.effect_on_impact == dynamic[0]
    assert staggered.last_event_time == dynamic.index.max() == data.years[-1] - min(data.cohorts)
    assert staggered.effect_last == dynamic[staggered.last_event_time]


def test_event_study_figure_marks_the_truth_or_the_published_range(staggered):
    synthetic_data = ce.event_study_figure(staggered, theta=0.03, published_range=(0.01, 0.044))
    real_data = ce.event_study_figure(staggered, theta=None, published_range=(0.01, 0.044))
    labels = [[t.get_text() for t in f.axes[0].get_legend().get_texts()] for f in (synthetic_data, real_data)]
    plt.close(synthetic_data)
    plt.close(real_data)
    assert labels[0][0] == "true effect (0.030)" and "published range" not in labels[0]
    assert labels[1][0] == "published range" and not any(s.startswith("true effect") for s in labels[1])
    assert "TWFE event study, 95% CI" in labels[1] and "Callaway-Sant'Anna, 95% band" in labels[1]


def test_sensitivity_says_which_case_and_quotes_its_thresholds(sensitivity, staggered):
    assert sensitivity.case in ce.HONEST_CASES
    expected = {"breaks_down": {"breakdown", "last_excluding"}, "fragile": {"breakdown", "last_excluding"},
                "zero_from_smallest": {"breakdown"}}.get(sensitivity.case, set())
    assert set(sensitivity.thresholds) == expected
    assert sensitivity.mbar_max == 2.0
    assert sensitivity.effect == pytest.approx(staggered.effect_on_impact)
    table = sensitivity.table
    assert table.index.names == ["restriction", "Mbar"]
    assert table.index[0] == ("exact parallel trends", "–")
    assert [m for _, m in table.index[1:]] == ["0", "0.5", "1", "1.5", "2"]
    if "breakdown" in sensitivity.thresholds:
        first_zero = table.loc["relative magnitude"]
        first_zero = first_zero.index[first_zero["includes zero"].astype(bool)][0]
        assert float(first_zero) == sensitivity.thresholds["breakdown"]


def test_heterogeneity_by_size_and_cluster(het, data, clusters):
    size = het.size.table
    merge = het.merge
    # the requested classes, counted; those below the minimum merged into a neighbour
    assert list(merge.counts_requested.index) == ["<10", "10-<50", "50-<250", ">=250"]
    assert merge.counts_requested.sum() == merge.counts.sum() == data.n_treated
    assert list(size.index) == list(merge.counts.index)
    assert size["members"].tolist() == merge.counts.tolist()
    assert (size["members"] >= 20).all() or len(size) == 1
    assert merge.merged == (merge.counts_requested < 20).any()
    assert len(merge.merges) == len(merge.requested) - len(merge.thresholds)
    assert het.size_thresholds_used == (", ".join(f"{t:g}" for t in merge.thresholds) or "none")
    assert het.size.n_estimated == size["effect"].notna().sum() and het.size.n_groups == len(size)
    assert het.size.test_computed == (het.size.n_estimated >= 2)
    assert het.size.verdict == ce.significance_verdict(het.size.test["p_value"])
    assert het.size_thresholds == "10, 50, 250"
    cluster = het.cluster.table
    assert list(cluster.index) == [c for c in clusters if c in set(cluster.index)]
    assert cluster["members"].sum() == data.n_treated  # each member once, in its first cluster
    assert 0 <= het.n_multi_cluster <= data.n_treated
    estimated = cluster.dropna(subset=["effect"])
    assert (estimated["95% CI"] == [f"{e - 1.96 * s:.3f} to {e + 1.96 * s:.3f}"
                                    for e, s in zip(estimated["effect"], estimated["SE"], strict=True)]).all()
    sources = {f"size class: {g}" for g in size.index} | {f"cluster: {c}" for c in cluster.index}
    assert set(het.notes) <= sources


def test_heterogeneity_without_enough_members_has_no_test(data):
    none = ce.heterogeneity(data, thresholds=[50], min_treated=10**6, caliper=CALIPER, seed=SEED)
    # both classes are below the minimum: merged into one, which is not estimated either
    assert list(none.size.table.index) == [ce.ALL_SIZES] and none.size_thresholds_used == "none"
    assert none.merge.merged and list(none.merge.counts_requested.index) == ["<50", ">=50"]
    assert none.size.n_estimated == 0 and not none.size.test_computed
    assert not none.cluster.test_computed and none.notes == {}


def _with_member_effect(full: pd.DataFrame, slope: float, centre: float) -> pd.DataFrame:
    """``full`` with ``slope * (log pre-period mean FTE - centre)`` added to every member's log
    TFP from its join year on: a known membership x log size interaction."""
    pre = full[full["year"] < full.loc[full["cohort"] > 0, "cohort"].min()]
    log_size = np.log(full["firm_id"].map(pre.groupby("firm_id")["employment"].mean()))
    post = (full["cohort"] > 0) & (full["year"] >= full["cohort"])
    return full.assign(log_tfp=full["log_tfp"] + np.where(post, slope * (log_size - centre), 0.0))


def test_moderation_recovers_an_interaction_built_into_the_outcome(data, matched, full, economy, clusters):
    base = ce.moderation(data, matched, bound=0.015)
    assert list(base.moderators) == ["size", "age", "capint"]
    assert list(base.table.index) == ["size", "age", "capital intensity"]
    size = base.moderators["size"]
    assert size.computed and size.n == matched.n_matched == base.n_pairs
    assert abs(size.effect_at_mean - matched.att) < 0.5 * matched.se   # the intercept is the ATT
    assert size.low < size.high
    assert size.contrast == pytest.approx(size.slope * np.log(size.high / size.low))
    assert size.test.mdd == pytest.approx(2.8015852 * size.contrast_se)
    assert base.table.loc["size", "outcome"] == size.outcome in ("no difference", "differs",
                                                                 "not detected")
    # the same data with a known interaction of 0.2 per log point: the matching sees only the
    # pre-period, so the pairs are the same and the slope moves by exactly 0.2 (OLS is linear)
    shifted = ce.panel_from_tfp(_with_member_effect(full, 0.2, 3.0), economy.membership,
                                clusters=clusters, truth=economy.truth)
    matched_shifted = ce.matched_did(shifted, caliper=CALIPER, seed=SEED)
    assert matched_shifted.fit.matched.equals(matched.fit.matched)
    steep = ce.moderation(shifted, matched_shifted, bound=0.015).moderators["size"]
    assert steep.slope - size.slope == pytest.approx(0.2, abs=1e-9)
    assert steep.contrast - size.contrast == pytest.approx(0.2 * np.log(size.high / size.low))
    assert steep.slope_se == pytest.approx(size.slope_se, rel=1e-6)   # no noise added
    assert steep.outcome == "differs" and steep.contrast > steep.test.mdd


@pytest.mark.parametrize(("world", "outcome"), [("baseline", "no difference"),
                                                ("dynamic-effect", "differs")])
def test_moderation_finds_the_generators_size_effect_and_only_it(world, outcome):
    """With the generator's true effect as the outcome (no noise), the size contrast is that of
    ``theta_size``: zero in the baseline world, positive where the effect rises with size."""
    shape = synthetic.get_shape("flanders")
    scale = FIRMS / shape.n_firms
    shape = dataclasses.replace(shape, clusters=tuple(
        dataclasses.replace(c, members=max(1, round(c.members * scale))) for c in shape.clusters))
    world_economy = synthetic.generate_panel(SEED, firms=FIRMS, shape=shape,
                                             params=synthetic.panel_params(world))
    sample, _ = tfp_sample(world_economy.panel, world_economy.membership)
    latent = world_economy.latent[["firm_id", "year", "omega", "theta_it"]]
    full_world = sample.merge(latent, on=["firm_id", "year"], validate="one_to_one")
    data_world = ce.panel_from_tfp(full_world.rename(columns={"omega": "log_tfp"}),
                                   world_economy.membership, truth=world_economy.truth)
    matched_world = ce.matched_did(data_world, caliper=CALIPER, seed=SEED)
    # the same members and pairs, with the true effect (theta_it) as the outcome
    effect_only = dataclasses.replace(
        data_world, panel=data_world.panel.assign(log_tfp=data_world.panel["theta_it"]))
    size = ce.moderation(effect_only, matched_world, bound=0.015).moderators["size"]
    theta_size = world_economy.truth["params"].get("theta_size", 0.0)
    assert size.outcome == outcome, (size.contrast, size.contrast_se)
    if theta_size:
        assert size.slope > 0 and size.contrast > 0.015
    else:
        assert abs(size.contrast) < 0.005


def test_moderation_says_why_when_a_characteristic_is_missing_or_constant(data, matched):
    no_age = dataclasses.replace(data, panel=data.panel.drop(columns=["age"]))
    age = ce.moderation(no_age, matched, bound=0.015).moderators["age"]
    assert not age.computed and age.outcome is None
    assert age.reason == "the data have no age (age)"
    assert age.summary == "not estimated: the data have no age (age)"
    same_size = dataclasses.replace(data, panel=data.panel.assign(employment=25.0))
    moderation = ce.moderation(same_size, matched, bound=0.015)
    size = moderation.moderators["size"]
    assert not size.computed and "does not vary" in size.reason
    assert moderation.table.loc["size", "outcome"].startswith("not estimated: ")
    assert np.isnan(moderation.table.loc["size", "TOST p"])
    assert moderation.moderators["capint"].computed   # the others are unaffected
    # what the page glues: numbers of computed moderators only, the reason of the others
    numbers, texts, flags = moderation.numbers, moderation.texts, moderation.flags
    assert "size_slope" not in numbers and numbers["capint_tost_p"] == (
        moderation.moderators["capint"].test.p_tost)
    assert numbers["tost_interval"] == pytest.approx(1 - 2 * moderation.level)
    assert texts["size_interaction_reason"] == size.reason
    assert "capint_interaction_reason" not in texts and texts["capint_summary"]
    assert flags["size_interaction_computed"] is False and flags["capint_interaction_computed"]
    assert sum(flags[f"capint_{o.replace(' ', '_')}"] for o in equivalence.OUTCOMES) == 1
    assert not any(flags[f"size_{o.replace(' ', '_')}"] for o in equivalence.OUTCOMES)


def test_specification_table(spec, data, matched, twfe, staggered):
    table = spec.table
    assert spec.n == len(table) == 10
    assert table.loc["conditional DiD (matched, the study's design)", "estimate"] == matched.att
    assert table["estimate"].iloc[3] == twfe.att and table["estimate"].iloc[5] == staggered.att
    assert spec.n_inside == (table["vs published range"] == "inside the published range").sum()
    assert (spec.min, spec.max) == (table["estimate"].min(), table["estimate"].max())
    covers = (table["estimate"] - 0.03).abs() <= 1.96 * table["SE"]
    assert spec.n_cover_headline == covers.sum()
    assert spec.n_cover_truth == (table["vs true effect"] == "covers the truth").sum()
    assert table["sample"].iloc[0] == f"balanced ({data.n_firms_balanced:,} firms)"
    assert table["sample"].iloc[1].startswith(f"all firms observed in {data.pre_years[-1]} (")
    assert set(spec.notes) <= {"conditional DiD (all firms)", "TWFE (all firms)", "Sun-Abraham"}


def test_specification_table_on_real_data_has_no_truth_column(data, matched, twfe, staggered):
    real = ce.specification_table(dataclasses.replace(data, truth=None), matched, twfe, staggered,
                                  caliper=CALIPER, seed=SEED, published_low=0.01,
                                  published_high=0.044, published_headline=0.03)
    assert "vs true effect" not in real.table and real.n_cover_truth is None


def test_selection_demonstration(economy):
    sel = ce.selection_demonstration(economy.truth, seed=SEED, firms=1500, strength=4.0, caliper=CALIPER)
    assert sel.firms_generated == 1500 and sel.strength == 4.0 and 0 < sel.n_firms <= 1500
    assert sel.theta == economy.truth["treatment"]["theta"]
    table = sel.table
    assert len(table) == 6
    assert np.allclose(table["bias"], table["estimate"] - sel.theta)
    assert table["estimate"].iloc[0] == sel.unmatched and table["estimate"].iloc[1] == sel.twfe
    assert table["estimate"].iloc[2] == sel.cs and table["estimate"].iloc[4] == sel.mean_only
    assert table["estimate"].iloc[-1] == sel.matched and table["SE"].iloc[-1] == sel.matched_se
    assert sel.matched_verdict == ce.truth_verdict(sel.matched, sel.matched_se, sel.theta)
    assert sel.has_later_cohorts == np.isfinite(sel.late_att)
    assert set(sel.notes) <= {"selection demonstration"}


def test_notes_of_the_page_follow_the_sections(data, matched, twfe, staggered, sensitivity, het, spec):
    results = [data, matched, twfe, staggered, sensitivity, het, spec, None]
    lines = ce.notes_markdown(*results).splitlines()
    sources = [line.split("**")[1] for line in lines]
    expected = [s for r in results if r is not None for s in r.notes]
    assert list(dict.fromkeys(sources)) == expected
    assert len(lines) == sum(len(n) for r in results if r is not None for n in r.notes.values())


def test_degenerate_memberships_are_explained_not_crashed_on(full, economy, data):
    assert data.design_problem is None
    first = int(full["year"].min())
    all_first = ce.panel_from_tfp(full.assign(cohort=np.where(full["cohort"] > 0, first, 0)),
                                  economy.membership)
    assert all_first.pre_years == () and all_first.pre_period == "none"
    assert all_first.design_problem.startswith(
        f"Every member of the balanced panel joined in its first year, {first}: there is no "
        "year before joining")
    member = full.loc[full["cohort"] > 0, "firm_id"].iloc[0]
    single = ce.panel_from_tfp(full.assign(cohort=np.where(full["firm_id"] == member,
                                                           full["cohort"], 0)),
                               economy.membership)
    assert single.n_treated == 1 and single.pre_years  # a pre-period, but one member
    assert single.design_problem.startswith("The balanced panel holds 1 member firm(s).")
    none = ce.panel_from_tfp(full.assign(cohort=0), economy.membership)
    assert none.n_treated == 0 and none.cohort_years == "none"
    assert "holds 0 member firm(s)" in none.design_problem
