"""clusterpolicy.cluster_effects: balanced panel, pre-period covariates, size classes, verdicts."""

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


def test_record_warnings_keeps_messages_once_and_drops_deprecations():
    notes: dict[str, list[str]] = {}
    with ce.record_warnings(notes, "step"):
        warnings.warn("fragmented frame", RuntimeWarning, stacklevel=1)
        warnings.warn("fragmented frame", RuntimeWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    assert notes == {"step": ["RuntimeWarning: fragmented frame"]}
    with ce.record_warnings(notes, "quiet"):
        pass
    assert "quiet" not in notes
