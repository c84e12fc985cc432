"""Chapter 06 helpers: highly innovative firms from pre-period patents, true exporting effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.data import read
from clusterpolicy.studies import cluster_effects as ce


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
    firms, threshold = ce.innovative_firms(_patent_panel(), [2010, 2011, 2012], quantile=0.6)
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
    firms, _ = ce.innovative_firms(_patent_panel(), [2010, 2011, 2012], measure="patents",
                                   quantile=0.7)
    assert set(firms.index[firms["group"] == "highly innovative"]) == {"c", "f"}
    # most firms without patents: the quantile is 0 and every firm with a patent is innovative,
    # but a firm without any patent never is
    firms, threshold = ce.innovative_firms(_patent_panel(), [2010, 2011, 2012], quantile=0.25)
    assert threshold == 0
    assert set(firms.index[firms["group"] == "highly innovative"]) == {"b", "c", "f"}
    assert firms.loc["a", "group"] == "other"


@pytest.mark.parametrize("kwargs", [{"measure": "citations"}, {"quantile": 1.0}, {"quantile": 0}])
def test_innovative_firms_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ce.innovative_firms(_patent_panel(), [2010], **kwargs)
    with pytest.raises(ValueError, match="pre-period is empty"):
        ce.innovative_firms(_patent_panel(), [])


@pytest.fixture(scope="module")
def small_economy(tmp_path_factory):
    out = tmp_path_factory.mktemp("economy")
    written = synthetic.write_defaults(out, firms=600, shape="other", n_pairs=20)
    return written


def test_export_potential_outcomes_follow_the_generator(small_economy):
    path = small_economy["panel"]
    panel = read.load_panel(path)
    po = ce.export_potential_outcomes(path, panel)
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
    assert ce.export_potential_outcomes(plain) is None
    edited = panel.copy()
    flip = edited.index[edited["exports"].fillna(0) > 0][:5]
    edited.loc[flip, "exports"] = 0.0
    with pytest.raises(ValueError, match="export"):
        ce.export_potential_outcomes(path, edited)
