"""Chapter 06: highly innovative firms from pre-period patents, true exporting effects, and the
study module (:mod:`clusterpolicy.studies.synthesis`) the chapter calls."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.data import read
from clusterpolicy.studies import productivity, synthesis


def _patent_panel() -> pd.DataFrame:
    """Five firms, 2010-2015, pre-period 2010-2012; patents chosen so that each rule matters."""
    pre = {  # firm: (patents per pre-period year, employment)
        "a": ([0, 0, 0], 10.0),  # never patents before, many patents later (membership effect)
        "b": ([1, 1, 1], 100.0),  # 0.01 per FTE, 1 per year
        "c": ([2, 2, 2], 10.0),  # 0.2 per FTE, 2 per year: the most intensive
        "d": ([np.nan, np.nan, np.nan], 10.0),  # no patent data before the programme
        "e": ([0, 0, np.nan], 10.0),  # missing year ignored, still zero
        "f": ([6, 6, 6], 1000.0),  # 0.006 per FTE but 6 per year: the most patents
    }
    rows = []
    for firm, (patents, fte) in pre.items():
        for k, year in enumerate(range(2010, 2016)):
            later = 50.0 if firm == "a" else 0.0
            rows.append({"firm_id": firm, "year": year, "employment": fte,
                         "patents": patents[k] if k < 3 else later})
    return pd.DataFrame(rows)


def test_innovative_firms_use_only_the_pre_period():
    firms, threshold = synthesis.innovative_firms(_patent_panel(), [2010, 2011, 2012], quantile=0.6)
    assert firms.loc["d", "group"] == "not classified"
    assert firms.loc["d", "pre_years_observed"] == 0
    assert firms.loc["e", "pre_years_observed"] == 2
    # firm a patents heavily only after the pre-period: it must not count as innovative
    assert firms.loc["a", "pre_patents"] == 0
    assert firms.loc["a", "group"] == "other"
    assert firms.loc["c", "measure"] == pytest.approx(0.2)
    assert firms.loc["b", "measure"] == pytest.approx(0.01)
    # classified measures: a 0, b 0.01, c 0.2, e 0, f 0.006 -> 60% quantile 0.0072
    assert threshold == pytest.approx(np.quantile([0, 0.01, 0.2, 0, 0.006], 0.6))
    assert set(firms.index[firms["group"] == "highly innovative"]) == {"b", "c"}


def test_innovative_firms_by_count_and_ties_at_zero():
    firms, _ = synthesis.innovative_firms(_patent_panel(), [2010, 2011, 2012], measure="patents",
                                   quantile=0.7)
    assert set(firms.index[firms["group"] == "highly innovative"]) == {"c", "f"}
    # most firms without patents: the quantile is 0 and every firm with a patent is innovative,
    # but a firm without any patent never is
    firms, threshold = synthesis.innovative_firms(_patent_panel(), [2010, 2011, 2012], quantile=0.25)
    assert threshold == 0
    assert set(firms.index[firms["group"] == "highly innovative"]) == {"b", "c", "f"}
    assert firms.loc["a", "group"] == "other"


@pytest.mark.parametrize("kwargs", [{"measure": "citations"}, {"quantile": 1.0}, {"quantile": 0}])
def test_innovative_firms_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        synthesis.innovative_firms(_patent_panel(), [2010], **kwargs)
    with pytest.raises(ValueError, match="pre-period is empty"):
        synthesis.innovative_firms(_patent_panel(), [])


@pytest.fixture(scope="module")
def small_economy(tmp_path_factory):
    out = tmp_path_factory.mktemp("economy")
    written = synthetic.write_defaults(out, firms=600, shape="other", n_pairs=20)
    return written


def test_export_potential_outcomes_follow_the_generator(small_economy):
    path = small_economy["panel"]
    panel = read.load_panel(path)
    po = synthesis.export_potential_outcomes(path, panel)
    assert po is not None and po.index.equals(panel.index)
    observed = panel["exports"].notna()
    # the world of the file is the file
    assert np.array_equal(po.loc[observed, "exporter_1"], (panel.loc[observed, "exports"] > 0).astype(float))
    assert po.loc[~observed, ["exporter_1", "exporter_0"]].isna().all().all()
    # membership raises the export propensity: nobody stops exporting because of it
    d = po["exporter_1"] - po["exporter_0"]
    assert (d.dropna() >= 0).all()
    membership = read.load_membership(small_economy["membership"],
                                         clusters=synthetic.get_shape("other").cluster_names)
    first = membership.groupby("firm_id")["join_year"].min()
    join = panel["firm_id"].map(first)
    untreated = join.isna() | (panel["year"] < join)
    # no effect where there is no treatment: never members, and members before they join
    assert (d[untreated].dropna() == 0).all()
    assert np.allclose(po.loc[untreated, "share_1"], po.loc[untreated, "share_0"], rtol=1e-4,
                       equal_nan=True)
    treated = ~untreated & observed
    assert d[treated].sum() > 0
    assert (po.loc[treated, "share_1"] > po.loc[treated, "share_0"]).mean() > 0.9


def test_export_potential_outcomes_none_without_truth_and_error_on_edited_file(small_economy, tmp_path):
    path = small_economy["panel"]
    panel = read.load_panel(path)
    plain = tmp_path / "panel.parquet"
    panel.to_parquet(plain)
    assert synthesis.export_potential_outcomes(plain) is None
    edited = panel.copy()
    flip = edited.index[edited["exports"].fillna(0) > 0][:5]
    edited.loc[flip, "exports"] = 0.0
    with pytest.raises(ValueError, match="export"):
        synthesis.export_potential_outcomes(path, edited)


# -- the study module of chapter 06 (clusterpolicy.studies.synthesis) -----------------------------
def _tfp_panel(effects: dict[str, float] | None = None, n: int = 300, seed: int = 2) -> pd.DataFrame:
    """A balanced TFP panel 2010-2017, cohorts 2013 and 2015 (first cohort 2013: pre-period
    2010-2012). Every fifth firm patents 2 a year in the pre-period (the highly innovative),
    the others never; membership raises log TFP by ``effects[group]`` from the join year on.
    One extra firm has no patent data (not classified), one misses a year (not balanced)."""
    effects = effects or {"highly innovative": 0.1, "other": 0.1}
    rng = np.random.default_rng(seed)
    years = np.arange(2010, 2018)
    year_effect = rng.normal(0, 0.05, len(years))
    rows = []
    for i in range(n + 2):
        innovative = i % 5 == 0
        cohort = (0, 0, 2013, 2015)[i % 4]
        firm_effect = rng.normal(0, 0.3)
        group = "highly innovative" if innovative else "other"
        for k, year in enumerate(years):
            if i == n + 1 and year == 2016:
                continue  # a gap: the firm leaves the balanced panel
            treated = cohort > 0 and year >= cohort
            patents = (2.0 if innovative else 0.0) if year < 2013 else 5.0
            rows.append({"firm_id": f"f{i:04d}", "year": int(year), "cohort": cohort,
                         "employment": 10.0, "patents": np.nan if i == n else patents,
                         "log_tfp": firm_effect + year_effect[k] + effects[group] * treated
                         + rng.normal(0, 0.02)})
    return pd.DataFrame(rows)


def test_formats_and_verdict_rules():
    assert synthesis.year_span([2020, 2013, 2015]) == "2013–2020"
    assert synthesis.year_span([2017]) == "2017"
    assert synthesis.ci_text(0.1, 0.01) == "0.080 to 0.120"
    assert synthesis.ci_text(np.nan, 0.01) == "–"
    assert synthesis.p_text(0.0004) == "p < 0.001"
    assert synthesis.p_text(0.0421) == "p = 0.042"
    assert synthesis.p_text(np.nan) == "–"
    assert synthesis.normal_p_value(1.96, 1.0) == pytest.approx(0.05, abs=1e-4)
    assert np.isnan(synthesis.normal_p_value(1.0, 0.0))
    assert synthesis.difference_verdict(0.01) == "differs"
    assert synthesis.difference_verdict(0.2) == "does not differ"
    assert synthesis.difference_verdict(np.nan) == "cannot be tested"
    assert synthesis.agreement_verdict(0.01, "differs") == "leads to the same conclusion"
    assert synthesis.agreement_verdict(0.5, "does not differ") == "leads to the same conclusion"
    assert synthesis.agreement_verdict(0.01, "does not differ").startswith("leads to the opposite")
    assert synthesis.agreement_verdict(np.nan, "differs") == "could not be estimated"
    assert synthesis.truth_difference_verdict("does not differ") == "the test correctly finds no difference"
    assert "5% of samples" in synthesis.truth_difference_verdict("differs")
    assert synthesis.truth_difference_verdict("cannot be tested") == "the test could not be run"
    assert synthesis.significance_verdict(0.1, 0.001) == "significantly positive"
    assert synthesis.significance_verdict(-0.1, 0.001) == "significantly negative"
    assert synthesis.significance_verdict(0.1, 0.3) == "not significantly different from zero"
    assert synthesis.significance_verdict(0.1, np.nan) == "cannot be assessed"
    assert synthesis.pretest_verdict(0.8) == "passes"
    assert synthesis.pretest_verdict(0.01) == "rejects"
    assert synthesis.pretest_verdict(np.nan) == "not computed"
    assert synthesis.group_difference_verdict(0.01) == "the groups differ at the 5% level"
    assert synthesis.group_difference_verdict(0.4) == "no significant difference"


def test_innovative_groups_balance_classify_and_count():
    groups = synthesis.innovative_groups(_tfp_panel(n=300), tfp_notes=["a note"])
    assert groups.years == tuple(range(2010, 2018))
    assert groups.pre_years == (2010, 2011, 2012)
    assert groups.n_firms == 301  # the firm with a gap is not in the balanced panel
    assert groups.n_unclassified == 1
    assert groups.threshold == pytest.approx(np.quantile([0.2] * 60 + [0.0] * 240, 0.8))
    assert groups.share_innovative == pytest.approx(0.2)
    assert groups.share_any_patent == pytest.approx(0.2)
    assert groups.has_never_members
    assert groups.measure_text == "patent applications per full-time employee"
    assert groups.quantile_pct == pytest.approx(80) and groups.top_share_nominal == pytest.approx(20)
    table = groups.table
    assert list(table.index) == ["highly innovative", "other", "not classified"]
    assert list(table.columns) == ["member firms", "never members", "share of members",
                                   "mean patents per year (pre-period)", "mean FTE (pre-period)"]
    # firms 0..299: every fifth innovative; cohort by i % 4, so 30 innovative members
    assert table.loc["highly innovative", ["member firms", "never members"]].tolist() == [30, 30]
    assert table.loc["other", ["member firms", "never members"]].tolist() == [120, 120]
    assert table.loc["highly innovative", "mean patents per year (pre-period)"] == pytest.approx(2.0)
    assert set(groups.panel["group"]) == {"highly innovative", "other", "not classified"}
    assert groups.notes == ((productivity.TFP_SOURCE, "a note"),)
    # every firm classified: no "not classified" row
    complete = _tfp_panel(n=300).query("firm_id != 'f0300'")
    assert "not classified" not in synthesis.innovative_groups(complete).table.index


@pytest.mark.parametrize(("effects", "verdict"), [
    ({"highly innovative": 0.1, "other": 0.1}, "does not differ"),
    ({"highly innovative": 0.3, "other": 0.1}, "differs"),
])
def test_tfp_effects_by_group_recover_the_effects(effects, verdict):
    groups = synthesis.innovative_groups(_tfp_panel(effects))
    truth = synthesis.Truth(theta=0.1, export_membership=0.1, export_tfp=2.0)
    het = synthesis.tfp_effects_by_group(groups, min_treated=20, truth=truth)
    for group in synthesis.GROUPS:
        assert het.effect(group) == pytest.approx(effects[group], abs=0.02)
        assert het.effect_twfe(group) == pytest.approx(effects[group], abs=0.02)
        assert set(het.event_studies[group]["event_time"]) >= {-2, 0, 2}
    assert list(het.table.columns) == ["members", "never members", "Callaway–Sant'Anna", "SE", "95% CI",
                                       "pre-test p", "TWFE", "TWFE SE", "vs true effect"]
    true_diff = effects["highly innovative"] - effects["other"]
    assert het.difference == pytest.approx(true_diff, abs=0.02)
    assert het.difference_se == pytest.approx(np.hypot(*[het.effect_se(g) for g in synthesis.GROUPS]))
    assert het.mde == pytest.approx(2.8 * het.difference_se)
    assert het.verdict == verdict
    assert het.interaction == pytest.approx(true_diff, abs=0.02)
    assert het.agreement == "leads to the same conclusion"
    assert het.theta == 0.1
    assert het.table.loc["other", "vs true effect"] == "covers the truth"
    assert het.table.loc["highly innovative", "vs true effect"] == (
        "covers the truth" if verdict == "does not differ" else "misses the truth (above)")
    labels = synthesis.tfp_event_figure(het).axes[0].get_legend_handles_labels()[1]
    assert labels == ["true effect (0.100)", "highly innovative firms", "other firms"]


def test_tfp_effects_by_group_too_few_members_and_no_truth():
    groups = synthesis.innovative_groups(_tfp_panel())
    het = synthesis.tfp_effects_by_group(groups, min_treated=40)  # 30 innovative members
    assert "note" in het.table and "vs true effect" not in het.table
    assert het.table.loc["highly innovative", "note"] == "fewer than 40 members: not estimated"
    assert np.isnan(het.effect("highly innovative")) and np.isfinite(het.effect("other"))
    assert list(het.event_studies) == ["other"]
    assert het.verdict == "cannot be tested" and np.isnan(het.p_value) and np.isnan(het.difference)
    assert het.truth_verdict == "the test could not be run"
    assert np.isnan(het.theta)
    figure = synthesis.tfp_event_figure(het)
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels == ["other firms"]  # no true-effect line without truth, one group drawn


def test_collect_notes_merge_by_source_in_order():
    class R:
        def __init__(self, notes):
            self.notes = notes

    merged = synthesis.collect_notes(R((("a", "1"), ("b", "2"))), R((("c", "3"), ("a", "4"))))
    assert merged == [("a", "1"), ("a", "4"), ("b", "2"), ("c", "3")]
    assert synthesis.collect_notes(R(()), R(())) == []
    assert synthesis.notes_markdown(merged[:2]) == "* **a**: 1\n* **a**: 4"
    assert synthesis.notes_markdown([]) == ""


def test_data_banner_says_whether_the_data_carry_a_truth():
    truth = synthesis.Truth(theta=0.03, export_membership=0.1, export_tfp=2.0)
    banner = synthesis.data_banner(truth, "SYNTHETIC.")
    assert banner.startswith("SYNTHETIC. In these data the true effect of membership on log TFP is "
                             "**0.030** log points")
    real = synthesis.data_banner(None, "SYNTHETIC.")
    assert "SYNTHETIC" not in real and "No truth file was found" in real


@pytest.fixture(scope="module")
def economy_groups(small_economy):
    """Groups of the small economy's balanced sample, with a stand-in log TFP."""
    panel = read.load_panel(small_economy["panel"])
    membership = read.load_membership(small_economy["membership"],
                                      clusters=synthetic.get_shape("other").cluster_names, panel=panel)
    sample, _ = productivity.tfp_sample(panel, membership)
    sample = sample.assign(log_tfp=sample["log_value_added"] - 0.6 * sample["log_employment"])
    return synthesis.innovative_groups(sample, quantile=0.7)


def test_export_samples_account_for_every_firm_year(small_economy):
    shape = synthetic.get_shape("other")
    samples = synthesis.export_samples(small_economy["panel"], small_economy["membership"],
                                       clusters=shape.cluster_names)
    table = samples.table
    assert table.index[0] == "firm-years in the panel file"
    assert table.iloc[0]["firm-years remaining"] == len(samples.source)
    flow = table.iloc[:-2]  # the two sample rows restate what remains
    remaining = flow["firm-years remaining"].to_numpy()
    assert np.array_equal(remaining[1:], remaining[:-1] - flow["firm-years dropped"].to_numpy()[1:])
    assert table.loc["dropped: exports missing", "firm-years dropped"] == samples.n_missing_exports
    assert 0 < samples.n_missing_exports <= samples.source["exports"].isna().sum()
    assert samples.observed["exports"].notna().all()
    balanced = table.index[-2]
    assert balanced == f"initiation sample: balanced panel ({shape.years[0]}–{shape.years[-1]})"
    assert table.loc[balanced, "firm-years remaining"] == len(samples.panel) == remaining[-1]
    assert table.loc[balanced, "firms remaining"] == samples.n_firms
    assert samples.panel.groupby("firm_id").size().eq(len(shape.years)).all()
    assert table.iloc[-1]["firm-years remaining"] == samples.n_exporting
    assert samples.n_exporting + samples.n_not_exporting == samples.n_observed
    assert (samples.exporters["exports"] > 0).all()
    assert samples.mean_export_share == pytest.approx(
        (samples.exporters["exports"] / (samples.exporters["value_added"]
                                         + samples.exporters["materials"])).mean())
    assert 0 < samples.share_exporting < 1 and 0 < samples.n_members < samples.n_firms


def test_export_samples_without_exporters(small_economy, tmp_path):
    panel = read.load_panel(small_economy["panel"]).assign(exports=0.0)
    path = tmp_path / "panel.parquet"
    panel.to_parquet(path)
    samples = synthesis.export_samples(path, small_economy["membership"],
                                       clusters=synthetic.get_shape("other").cluster_names)
    assert samples.n_exporting == 0 and samples.n_not_exporting == samples.n_observed
    assert not samples.table.index.str.startswith("intensity").any()


def test_export_effects_against_the_truth(small_economy, economy_groups):
    samples = synthesis.export_samples(small_economy["panel"], small_economy["membership"],
                                       clusters=synthetic.get_shape("other").cluster_names)
    truth = synthesis.read_truth(small_economy["panel"])
    raw_truth = synthetic.read_truth(small_economy["panel"])
    assert truth.theta == raw_truth["treatment"]["theta"]
    assert truth.export_via_tfp == pytest.approx(raw_truth["params"]["export_tfp"] * truth.theta)
    effects = synthesis.export_effects(samples, economy_groups, truth=truth, min_treated=5)
    table = effects.table
    assert table.index.names == ["margin", "estimator"]
    assert list(table.columns) == ["sample", "firms", "members", "estimate", "SE", "95% CI",
                                   "true effect", "vs true effect"]
    first = table.iloc[0]
    assert (first["estimate"], first["SE"]) == (effects.initiation, effects.initiation_se)
    assert table.iloc[1]["estimate"] == effects.initiation_twfe
    assert (first["firms"], first["members"]) == (samples.n_firms, samples.n_members)
    assert effects.truth_computed and not effects.truth_missing
    assert first["true effect"] == effects.true_initiation > 0
    assert effects.true_intensity > 0
    assert effects.logit_membership == truth.export_membership
    assert effects.by_group_estimated
    by_group = table.xs("Callaway–Sant'Anna (never members of the group)", level="estimator")
    assert effects.initiation_of("other") == by_group["estimate"].iloc[1]
    assert list(by_group["sample"]) == ["balanced, highly innovative firms", "balanced, other firms"]
    assert 0 <= effects.group_test["p_value"] <= 1
    assert effects.initiation_p == pytest.approx(synthesis.normal_p_value(effects.initiation,
                                                                          effects.initiation_se))
    assert effects.pretest in ("passes", "rejects", "not computed")
    n_always = samples.panel.groupby("firm_id")["exporter"].min().sum()
    assert effects.n_always_firms == n_always
    assert effects.always_estimated == (effects.n_always_members >= 5)
    labels = synthesis.export_event_figure(effects).axes[0].get_legend_handles_labels()[1]
    assert labels[0] == f"true average effect ({effects.true_initiation:.3f})"
    summary = synthesis.summary_table(synthesis.tfp_effects_by_group(economy_groups, min_treated=5),
                                      effects)
    assert summary.loc["effect on the probability of exporting", "estimate"] == effects.initiation
    assert summary.loc["effect on the export share of exporters", "SE"] == effects.intensity_se
    assert list(summary.columns) == ["estimate", "SE", "95% CI", "p-value"]


def test_export_effects_without_truth_or_with_a_truth_that_does_not_regenerate(small_economy,
                                                                                economy_groups):
    samples = synthesis.export_samples(small_economy["panel"], small_economy["membership"],
                                       clusters=synthetic.get_shape("other").cluster_names)
    plain = synthesis.export_effects(samples, economy_groups, min_treated=10_000)
    assert "true effect" not in plain.table and not plain.truth_computed and not plain.truth_missing
    assert np.isnan(plain.true_initiation) and np.isnan(plain.logit_membership)
    assert not plain.by_group_estimated and np.isnan(plain.initiation_of("other"))
    assert not plain.always_estimated
    assert ("Callaway-Sant'Anna, export share",
            f"not estimated: only {plain.n_always_members} members export in every year "
            "(fewer than 10000)") in plain.notes
    edited = samples.source.copy()
    flip = edited.index[edited["exports"].fillna(0) > 0][:5]
    edited.loc[flip, "exports"] = 0.0
    truth = synthesis.read_truth(small_economy["panel"])
    broken = synthesis.export_effects(dataclasses.replace(samples, source=edited), economy_groups,
                                      truth=truth, min_treated=10_000)
    assert broken.truth_missing and np.isnan(broken.true_initiation)
    assert (broken.table["vs true effect"] == "no truth (real data)").all()
    assert broken.notes[0][0] == "true exporting effects"


def test_the_design_problem_names_what_the_data_lack_before_any_estimate():
    panel = _tfp_panel(n=40)
    assert synthesis.design_problem(panel) is None
    first_year = panel.assign(cohort=np.where(panel["cohort"] > 0, 2010, 0))
    assert "joined in its first year, 2010: there is no pre-period" in synthesis.design_problem(
        first_year)
    one = panel.assign(cohort=np.where(panel["firm_id"] == "f0002", 2013, 0))
    assert synthesis.design_problem(one).startswith(
        "The balanced TFP panel holds 1 member firm(s); this chapter compares members with "
        "never-members and needs at least 2")
    every = panel.assign(cohort=2013)
    assert "there is no never-member" in synthesis.design_problem(every)
    assert "not testable" in synthesis.design_problem(every)
