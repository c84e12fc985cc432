"""The studies of the programme and data chapters (clusterpolicy.studies.inputs): what the
programme file and the data hold, on the defaults and on small or degenerate data."""

from __future__ import annotations

import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml

from clusterpolicy import synthetic
from clusterpolicy.core import provenance
from clusterpolicy.data import programme, published, read, samples
from clusterpolicy.studies import contract, inputs
from conftest import ROOT

DEFAULTS = ROOT / "data" / "synthetic"
FLANDERS = ROOT / "data" / "programme" / "flanders.yml"
FACTS = published.load_study1(ROOT / "data" / "facts" / "published.yml")


@pytest.fixture(scope="module")
def defaults():
    panel = read.load_panel(DEFAULTS / "panel.parquet")
    membership = read.load_membership(DEFAULTS / "membership.csv", panel=panel)
    techfirms = read.load_techfirms(DEFAULTS / "techfirms.csv")
    return panel, membership, techfirms


def small_panel(firms: dict[str, dict]) -> pd.DataFrame:
    """A panel with the schema's columns: ``firms`` maps id -> years, employment, capital,
    founding year (and optionally a year whose materials are zero)."""
    rows = []
    for firm, spec in firms.items():
        for year in spec["years"]:
            rows.append({"firm_id": firm, "year": year, "nace2": 25,
                         "value_added": 10.0 * spec["employment"],
                         "employment": float(spec["employment"]),
                         "capital": float(spec["capital"]),
                         "materials": 0.0 if year == spec.get("no_materials") else 50.0,
                         "wage_bill": 5.0, "investment": 1.0,
                         "founding_year": spec["founded"], "exports": 0.0, "patents": 0})
    return pd.DataFrame(rows)


def memberships(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame({"firm_id": [r[0] for r in rows], "cluster": [r[1] for r in rows],
                         "join_year": [r[2] for r in rows],
                         "exit_year": pd.array([pd.NA] * len(rows), dtype="Int64")})


def two_cluster_programme(tmp_path, legal_basis: bool = True) -> programme.Programme:
    data = {"programme": "Test programme", "region": "Testland", "launch_year": 2016,
            "clusters": [
                {"name": "A", "domain": "alpha", "start_year": 2016, "status": "stated",
                 "source": "key2016a"},
                {"name": "B", "start_year": 2018, "status": "choice"}],
            "funding": [{"item": "support", "value": "EUR 1", "status": "choice",
                         "source": "key2016a"}],
            "membership": [{"item": "members", "value": 10, "status": "stated"}]}
    if legal_basis:
        data["legal_basis"] = {"text": "A decree of 2015", "source": "decree2015"}
    path = tmp_path / "programme.yml"
    path.write_text(yaml.safe_dump(data))
    return programme.load_programme(path)


# ----------------------------------------------------------------------------------------------
# Chapter 01
# ----------------------------------------------------------------------------------------------
def test_citation_formats_keys_and_marks_missing_sources():
    assert inputs.citation("vives2019spearhead") == "{cite:p}`vives2019spearhead`"
    assert inputs.citation(None) == inputs.citation(np.nan) == inputs.citation("") == "–"


def test_programme_record_of_the_flemish_programme():
    record = inputs.programme_record(programme.load_programme(FLANDERS))
    assert (record.n_clusters, record.first_start, record.last_start, record.launch_year) == (
        7, 2017, 2020, 2017)
    assert record.legal_basis == ("Decision of the Flemish government of 4 March 2016 on "
                                  "cluster support {cite:p}`flanders2016cluster`.")
    assert list(record.clusters.columns) == ["domain", "start", "public record", "status",
                                             "source"]
    assert record.clusters.index.name == "cluster"
    assert record.clusters.loc["Catalisti", "source"] == "{cite:p}`vives2019spearhead`"
    assert record.n_choices == 1
    assert record.funding.index.name == record.membership_facts.index.name == "item"
    assert "section" not in record.funding.columns


def test_programme_record_counts_choices_and_allows_no_legal_basis(tmp_path):
    record = inputs.programme_record(two_cluster_programme(tmp_path, legal_basis=False))
    assert record.legal_basis is None
    assert record.n_choices == 2  # cluster B and the funding entry
    assert record.clusters.loc["B", "source"] == "–"
    assert record.clusters.loc["A", "domain"] == "alpha"
    assert list(record.funding.index) == ["support"]
    assert record.membership_facts.loc["members", "value"] == "10"


def test_membership_in_data_checks_the_file_against_the_programme(tmp_path):
    prog = two_cluster_programme(tmp_path)
    panel = small_panel({f: {"years": range(2015, 2020), "employment": 5, "capital": 10,
                             "founded": 2000} for f in "pqrst"})
    membership = memberships([("p", "A", 2016), ("q", "A", 2017), ("q", "B", 2018),
                              ("r", "B", 2017), ("s", "C", 2019)])
    members = inputs.membership_in_data(prog, panel, membership)
    assert list(members.years) == [2015, 2016, 2017, 2018, 2019]
    assert (members.n_firms, members.n_member_firms, members.n_multi) == (5, 4, 1)
    assert members.member_share == pytest.approx(80.0)
    table = members.clusters
    assert table.loc["A", "consistent"] == "yes"
    assert table.loc["B", "consistent"] == "no"  # r joined B in 2017, before it started
    assert table.loc["C", "consistent"] == "n/a"  # not in the programme file
    assert members.n_inconsistent == 1
    assert members.unmatched == ("C",)
    assert table.loc["A", "member firms in data"] == 2
    # q is counted once, in the cluster of its first join
    assert members.joins_by_year.loc["A"].tolist() == [0, 1, 1, 0, 0]
    assert members.joins_by_year.loc["B"].tolist() == [0, 0, 1, 0, 0]
    assert members.joins_by_year.to_numpy().sum() == members.n_member_firms


def test_timeline_figure_draws_every_cluster_and_every_join(tmp_path):
    prog = two_cluster_programme(tmp_path)
    panel = small_panel({f: {"years": range(2015, 2020), "employment": 5, "capital": 10,
                             "founded": 2000} for f in "pqr"})
    members = inputs.membership_in_data(prog, panel, memberships(
        [("p", "A", 2016), ("q", "B", 2018), ("r", "A", 2018)]))
    fig = inputs.timeline_figure(prog, members)
    try:
        top, bottom = fig.axes
        assert [t.get_text() for t in top.texts] == ["A", "B"]
        heights = sum(p.get_height() for p in bottom.patches)
        assert heights == members.n_member_firms
        assert [t.get_text() for t in bottom.get_legend().get_texts()] == ["A", "B"]
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------------------------
# Chapter 02
# ----------------------------------------------------------------------------------------------
def test_data_files_say_whether_each_file_is_synthetic(tmp_path):
    paths = [DEFAULTS / "panel.parquet", DEFAULTS / "membership.csv", DEFAULTS / "techfirms.csv"]
    files = inputs.data_files(*paths)
    assert list(files.index) == ["panel.parquet", "membership.csv", "techfirms.csv"]
    assert (files["provided"] == "yes (synthetic)").all()
    assert (files["rights"] == "CC BY 4.0").all()
    assert files.loc["panel.parquet", "SHA-256 (first 12)"] == provenance.sha256_file(paths[0])[:12]
    own = []
    for path in paths:  # the same files without their truth files: a user's data
        shutil.copy(path, tmp_path / path.name)
        own.append(tmp_path / path.name)
    files = inputs.data_files(*own)
    assert (files["provided"] == "no (user's file)").all()
    assert (files["rights"] == "user's licence").all()
    assert files.loc["membership.csv", "source"] == "cluster membership lists (user)"


def test_calibration_of_the_defaults_holds(defaults):
    panel, membership, techfirms = defaults
    result = inputs.calibration(panel, membership, techfirms, facts=FACTS,
                                panel_truth=synthetic.read_truth(DEFAULTS / "panel.parquet"),
                                tech_truth=synthetic.read_truth(DEFAULTS / "techfirms.csv"))
    assert result.n_checks == result.n_checks_hold == 17
    assert (result.first_year, result.last_year) == (2013, 2020)
    assert result.n_rows_panel == len(panel)
    assert result.n_firms_panel == panel["firm_id"].nunique()
    assert result.member_share == pytest.approx(
        100 * membership["firm_id"].nunique() / panel["firm_id"].nunique())
    without = inputs.calibration(panel, membership, techfirms, facts=FACTS)
    assert without.n_checks < result.n_checks
    assert without.table.loc["effect of membership on log TFP", "holds"] == "n/a"


def test_calibration_says_not_comparable_with_fewer_than_two_members(defaults):
    panel, membership, _ = defaults
    one = membership[membership["firm_id"] == membership["firm_id"].iloc[0]]
    table = inputs.calibration(panel, one, facts=FACTS).table
    row = table.loc["members vs non-members before the policy"]
    assert row["in the data"].startswith("not comparable: fewer than two members")
    assert row["holds"] == "n/a"


def test_generating_process_reads_the_truth():
    assert inputs.generating_process(None) is None
    truth = {"params": {"rho": 0.7, "sigma_xi": 0.1, "sigma_eps": 0.05, "theta": 0.03,
                        "known_share": 0.25, "select_on_pre_tfp": 0.5},
             "production": {"industries": {"10": {"beta_l": 0.65, "beta_k": 0.3},
                                           "25": {"beta_l": 0.6, "beta_k": 0.2}}}}
    dgp = inputs.generating_process(truth)
    assert (dgp.n_industries, dgp.beta_l_min, dgp.beta_l_max, dgp.beta_k_min,
            dgp.beta_k_max) == (2, 0.6, 0.65, 0.2, 0.3)
    assert dgp.known_share_pct == pytest.approx(25.0)
    assert dgp.pre_tfp_selection == "switched on"
    truth["params"]["select_on_pre_tfp"] = 0
    assert inputs.generating_process(truth).pre_tfp_selection == "switched off"


def test_generating_process_of_the_defaults():
    dgp = inputs.generating_process(synthetic.read_truth(DEFAULTS / "panel.parquet"))
    assert dgp.theta == pytest.approx(0.03)
    assert dgp.n_industries == 22
    assert dgp.select_on_pre_tfp == 0 and dgp.pre_tfp_selection == "switched off"


def test_sample_account_counts_each_reason():
    panel = small_panel({
        "a": {"years": [2015, 2016, 2017], "employment": 5, "capital": 10, "founded": 2000,
              "no_materials": 2016},
        "b": {"years": [2015, 2017], "employment": 5, "capital": 10, "founded": 2000},
        "c": {"years": [2016], "employment": 5, "capital": 0, "founded": 2000}})
    account = inputs.sample_account(panel)
    assert account.rows_read == 6
    assert account.rows_dropped_logs == 2  # a in 2016 (materials), c (capital)
    assert account.rows_dropped_lag == 4  # a 2015, a 2017 (gap), b 2015, b 2017 (gap)
    assert account.rows_used == 0 and account.firms_used == 0
    assert account.rows_read - account.rows_dropped_logs - account.rows_dropped_lag == 0
    assert account.table["rows dropped"].sum() == 6


def test_sample_account_of_the_defaults_adds_up(defaults):
    panel = defaults[0]
    account = inputs.sample_account(panel)
    assert account.rows_read == len(panel)
    assert account.rows_used == len(account.sample)
    assert account.rows_read - account.rows_dropped_logs - account.rows_dropped_lag == \
        account.rows_used
    assert account.rows_dropped_logs > 0 and account.rows_dropped_lag > 0


def test_descriptives_count_joins_by_cluster_and_year():
    panel = small_panel({f: {"years": [2016, 2017], "employment": 5, "capital": 10,
                             "founded": 2010} for f in "pqr"})
    described = inputs.descriptives(panel, memberships(
        [("p", "A", 2016), ("q", "A", 2017), ("r", "B", 2017)]))
    assert described.joins.index.name == "cluster"
    assert list(described.joins.columns) == ["2016", "2017", "all years"]
    assert described.joins.loc["A"].tolist() == [1, 1, 2]
    assert described.statistics.loc["employment", "observations"] == 6
    assert described.statistics.loc["age", "mean"] == pytest.approx(6.5)


def comparison_data(n_members: int, n_others: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Members twice as large and older than non-members, observed 2014-2017; joins in 2016."""
    firms = {f"m{i}": {"years": range(2014, 2018), "employment": 20 + i, "capital": 400,
                       "founded": 1990 + i} for i in range(n_members)}
    firms |= {f"o{i}": {"years": range(2014, 2018), "employment": 10 + i, "capital": 100,
                        "founded": 2005 + i} for i in range(n_others)}
    return small_panel(firms), memberships([(f"m{i}", "A", 2016) for i in range(n_members)])


def test_pre_period_compares_members_with_non_members():
    panel, membership = comparison_data(5, 6)
    pre = inputs.pre_period(panel, membership)
    assert pre.policy_year == 2016
    assert (pre.n_members, pre.n_others, pre.compared) == (5, 6, True)
    assert set(pre.difference) == set(pre.p_welch) == set(inputs.PRE_PERIOD_ROWS)
    assert pre.difference["age"] == pytest.approx(15.5)  # (2005 + 2.5) - (1990 + 2)
    assert pre.difference["size"] > 0 and pre.difference["capint"] > 0
    assert pre.p_welch["size"] < 0.01


@pytest.mark.parametrize(("n_members", "n_others"), [(1, 6), (5, 1), (4, 0)])
def test_pre_period_with_fewer_than_two_on_a_side_is_not_compared(n_members, n_others):
    panel, membership = comparison_data(n_members, n_others)
    pre = inputs.pre_period(panel, membership)  # warnings are errors in the tests
    assert (pre.n_members, pre.n_others, pre.compared) == (n_members, n_others, False)
    assert pre.difference == {} and pre.p_welch == {}
    assert pre.table["p (Welch)"].isna().all() and pre.table["p (Mann-Whitney)"].isna().all()


def test_pre_period_comparison_tests_only_with_two_firms_on_each_side():
    panel, membership = comparison_data(2, 2)
    usable, _ = samples.sample_construction(panel)
    table = samples.pre_period_comparison(usable, membership, before=2016)
    assert table["p (Welch)"].notna().all()
    assert (table["firms (members)"] == 2).all()


def test_tech_firms_summarise_the_groups():
    techfirms = pd.DataFrame({
        "firm_id": list("abcdef"), "serial": [True, True, True, False, False, False],
        "match_id": ["1", "2", "3", "1", "2", "3"], "international": [1, 1, 0, 1, 0, 0],
        "foreign_share": [0.2, 0.4, 0.0, 0.5, 0.0, 0.0], "clustering": [1.0, 2.0, 3.0] * 2,
        "employees": [10, 20, 30, 40, 50, 60], "age": [5, 6, 7, 8, 9, 10],
        "patents": [20, 30, 40, 1, 2, 3]})
    tech = inputs.tech_firms(techfirms)
    assert (tech.n_serial, tech.n_nonserial, tech.n_match) == (3, 3, 3)
    assert list(tech.table.index) == ["non-serial", "serial"]
    assert tech.table.loc["serial", "foreign share (if international)"] == pytest.approx(0.3)
    assert tech.table.loc["non-serial", "share international"] == pytest.approx(1 / 3)
    assert tech.table.loc["serial", "patents, 5 years (median)"] == 30


def test_pre_period_keys_are_those_the_contract_exports():
    assert tuple(inputs.PRE_PERIOD_ROWS) == contract.SELECTION_KEYS
