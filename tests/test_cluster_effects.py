"""clusterpolicy.studies.cluster_effects, the building blocks: balanced panel, pre-period covariates,
size classes, verdicts, notes, the robust-interval cases and the balance table (the studies
themselves: tests/test_cluster_effects_study.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.studies import cluster_effects as ce


def _panel() -> pd.DataFrame:
    years = range(2010, 2016)
    rows = []
    spans = {
        "a": list(years),  # complete
        "b": list(years)[2:],  # enters late
        "c": list(years)[:-1],  # leaves early
        "d": [y for y in years if y != 2012],  # gap
        "e": list(years)[1:-1],  # enters late and leaves early: counted once, as late entry
        "f": list(years),  # complete
    }
    cohorts = {"a": 2013, "b": 0, "c": 0, "d": 2014, "e": 0, "f": 0}
    for firm, span in spans.items():
        for y in span:
            rows.append(
                {
                    "firm_id": firm,
                    "year": y,
                    "cohort": cohorts[firm],
                    "founding_year": 2000,
                    "log_capital": 3.0 + 0.1 * (y - 2010),
                    "log_employment": 2.0,
                    "log_tfp": 0.01 * (y - 2010) + (firm == "a"),
                }
            )
    return pd.DataFrame(rows)


def test_balanced_panel_counts_every_dropped_firm_once():
    data = _panel()
    balanced, table = ce.balanced_panel(data)
    assert sorted(balanced["firm_id"].unique()) == ["a", "f"]
    firms = table["firms"]
    assert firms.iloc[0] == 6
    assert firms.iloc[-1] == 2
    assert firms.iloc[1:-1].tolist() == [-2, -1, -1]  # late (b, e), early (c), gap (d)
    assert firms.iloc[0] + firms.iloc[1:-1].sum() == firms.iloc[-1]
    assert table["rows"].iloc[0] + table["rows"].iloc[1:-1].sum() == table["rows"].iloc[-1] == len(balanced)
    assert "2010-2015" in table.index[-1]  # years read from the data


def test_firm_covariates_use_the_years_before_the_first_cohort():
    out, pre = ce.add_firm_covariates(_panel(), ["log_tfp", "capital_intensity"])
    assert pre == [2010, 2011, 2012]
    a = out[out["firm_id"] == "a"]
    assert np.allclose(a["pre_log_tfp"], 1.01)  # mean of 1.00, 1.01, 1.02
    assert np.allclose(a["last_pre_log_tfp"], 1.02)
    assert np.allclose(a["age"], a["year"] - 2000)
    assert np.allclose(a["pre_capital_intensity"], 1.1)
    d = out[out["firm_id"] == "d"]  # not observed in 2012
    assert d["last_pre_log_tfp"].isna().all() and d["pre_log_tfp"].notna().all()
    with pytest.raises(ValueError, match="no treated firm"):
        ce.add_firm_covariates(_panel().assign(cohort=0), ["log_tfp"])


def test_size_classes_include_the_lower_threshold():
    classes = ce.size_classes(pd.Series([1, 9.99, 10, 49, 50, 250, 1000]), [10, 50, 250])
    assert classes.astype(str).tolist() == ["<10", "<10", "10-<50", "10-<50", "50-<250", ">=250", ">=250"]
    assert list(classes.cat.categories) == ["<10", "10-<50", "50-<250", ">=250"]
    with pytest.raises(ValueError, match="increasing"):
        ce.size_classes(pd.Series([1.0]), [50, 10])


def test_verdicts():
    assert ce.range_verdict(0.03, 0.01, 0.044) == "inside the published range"
    assert ce.range_verdict(0.005, 0.01, 0.044) == "below the published range"
    assert ce.range_verdict(0.05, 0.01, 0.044) == "above the published range"
    assert ce.range_verdict(float("nan"), 0.01, 0.044) == "not estimated"
    assert ce.truth_verdict(0.035, 0.005, 0.03) == "covers the truth"
    assert ce.truth_verdict(0.045, 0.005, 0.03) == "misses the truth (above)"
    assert ce.truth_verdict(0.015, 0.005, 0.03) == "misses the truth (below)"
    assert ce.truth_verdict(0.03, 0.01, None) == "no truth (real data)"


def test_equality_test():
    same = ce.equality_test([0.03, 0.03, 0.03], [0.01, 0.02, 0.01])
    assert same["chi2"] == pytest.approx(0.0) and same["p_value"] == pytest.approx(1.0)
    assert same["df"] == 2 and same["pooled"] == pytest.approx(0.03)
    diff = ce.equality_test([0.0, 0.1], [0.01, 0.01])
    assert diff["chi2"] == pytest.approx(50.0) and diff["p_value"] < 1e-6
    assert np.isnan(ce.equality_test([0.1, np.nan], [0.01, 0.01])["p_value"])


def test_selection_panel_is_balanced_with_true_tfp():
    truth = {"shape": {"name": "flanders"}, "params": {"theta": 0.05, "unknown_field": 1}}
    data, theta = ce.selection_panel(seed=3, firms=400, strength=4.0, truth=truth)
    assert theta == 0.05
    n_years = data["year"].nunique()
    assert (data.groupby("firm_id").size() == n_years).all()
    assert {"omega", "cohort", "log_employment", "nace2"} <= set(data.columns)
    assert data["omega"].notna().all()
    assert (data["cohort"] > 0).any() and (data["cohort"] == 0).any()


def test_add_notes_keeps_each_message_once_and_only_sources_with_a_message():
    notes: ce.Notes = {}
    ce.add_notes(notes, "step", ["a", "b", "a"])
    ce.add_notes(notes, "quiet", [])
    ce.add_notes(notes, "step", ["b", "c"])
    assert notes == {"step": ["a", "b", "c"]}


def test_notes_markdown_lists_sources_in_order_and_skips_none():
    class Result:
        def __init__(self, notes):
            self.notes = notes

    first = Result({"TFP": ["pooled industry 10"], "TWFE": ["singletons dropped"]})
    second = Result({"TWFE": ["singletons dropped", "collinear"], "HonestDiD": ["reference period"]})
    text = ce.notes_markdown(first, None, second)
    assert text.splitlines() == [
        "* **TFP**: pooled industry 10",
        "* **TWFE**: singletons dropped",
        "* **TWFE**: collinear",
        "* **HonestDiD**: reference period",
    ]
    assert ce.notes_markdown(Result({}), None) == "No estimator raised a warning or dropped data."


def test_noted_keeps_warnings_before_the_results_notes_and_drops_deprecations():
    class Fit:
        notes = ("12 units dropped", "fragmented frame check")

    def fit():
        warnings.warn("fragmented frame", RuntimeWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
        return Fit()

    notes: ce.Notes = {}
    assert isinstance(ce._noted(notes, "step", fit), Fit)
    assert notes == {"step": ["fragmented frame", "12 units dropped",
                              "fragmented frame check"]}
    assert ce._noted(notes, "quiet", lambda: 3) == 3
    assert "quiet" not in notes


def test_texts_of_the_page():
    assert ce.year_span([2013, 2014, 2020]) == "2013–2020"
    assert ce.year_span([2017]) == "2017"
    synthetic = ce.data_banner(0.03, "SYNTHETIC.")
    assert synthetic.startswith("SYNTHETIC. The true effect") and "**0.030** log points" in synthetic
    real = ce.data_banner(None, "SYNTHETIC.")
    assert "SYNTHETIC" not in real and "No truth file was found" in real
    assert ce.significance_verdict(0.2446) == "not significant at the 5% level"
    assert ce.significance_verdict(0.05) == "not significant at the 5% level"
    assert ce.significance_verdict(0.049) == "significant at the 5% level"
    assert ce.significance_verdict(0.02, level=0.01) == "not significant at the 1% level"


def _bounds(grid, first_zero_at=None, zero_under_parallel_trends=False):
    rows = [{"restriction": "parallel trends", "M": np.nan, "lb": 0.01, "ub": 0.05,
             "method": "original", "contains_zero": zero_under_parallel_trends}]
    rows += [{"restriction": "relative_magnitude", "M": m, "lb": 0.01 - m / 10, "ub": 0.05 + m / 10,
              "method": "C-LF", "contains_zero": first_zero_at is not None and m >= first_zero_at}
             for m in grid]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("grid", "zero_at", "at_exact", "case", "last"), [
    ([0, 0.5, 1], None, True, "zero_under_parallel_trends", None),
    ([0, 1, 2], None, False, "robust_to_twice", None),
    ([0, 0.5, 1.5], None, False, "robust_in_grid", None),
    ([0, 0.5, 1], 0.5, False, "fragile", 0.0),
    ([0, 0.5, 1, 1.5, 2], 1.5, False, "breaks_down", 1.0),
    ([0.5, 1], 0.5, False, "zero_from_smallest", None),
])
def test_honest_case_covers_every_sentence_of_the_page(grid, zero_at, at_exact, case, last):
    breakdown = float("nan") if zero_at is None else zero_at
    found, last_excluding = ce.honest_case(_bounds(grid, zero_at, at_exact), breakdown, grid)
    assert found == case and found in ce.HONEST_CASES
    if last is None:
        assert np.isnan(last_excluding)
    else:
        assert last_excluding == last


def test_balance_table_labels_covariates_and_summarises_industries():
    columns = list(ce.BALANCE_COLUMNS)
    balance = pd.DataFrame(
        [[3.0, 2.0, 0.9, 3.1, 3.0, 0.05, 1.1],
         [26.0, 20.0, 0.3, 24.0, 23.0, -0.04, 0.9],
         [0.1, 0.2, -0.2, 0.1, 0.1, 0.01, 1.0],
         [0.3, 0.1, 0.4, 0.2, 0.2, -0.06, 1.0],
         [-0.7, -2.7, 1.4, -0.9, -1.0, 0.07, 1.2]],
        index=["log_employment", "age", "nace2=10", "nace2=20", "distance (logit)"], columns=columns)
    table = ce.balance_table(balance)
    assert table.index.name == "covariate"
    assert list(table.index) == ["size (log FTE)", "age (years)", "logit score", "industry (largest)"]
    assert list(table.columns) == list(ce.BALANCE_COLUMNS.values())
    industry = table.loc["industry (largest)"]
    assert industry["SMD before"] == pytest.approx(0.4) and industry["SMD after"] == pytest.approx(0.06)
    assert industry[["members", "others", "VR after"]].isna().all()
    assert "industry (largest)" not in ce.balance_table(balance.drop(index=["nace2=10", "nace2=20"])).index
