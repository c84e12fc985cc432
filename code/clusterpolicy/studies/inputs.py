"""What the programme and the data hold: the studies of the programme chapter (01) and the data
chapter (02).

The programme chapter sets the public record of the programme (a programme file read by
:func:`clusterpolicy.data.programme.load_programme`) beside the membership data
(:func:`programme_record`, :func:`membership_in_data`, :func:`timeline_figure`). The data chapter
describes the input files and how they were prepared from a raw extract, their calibration
against the published facts, the estimation sample, descriptive statistics, the pre-period
comparison of members and non-members and the tech firms of study 2 (:func:`data_files`,
:func:`preparation`, :func:`calibration`, :func:`generating_process`, :func:`sample_account`,
:func:`descriptives`, :func:`pre_period`, :func:`tech_firms`).

Every function works on any data that satisfy the schemas: real data (no truth file), a
programme file without a legal basis, data with one cohort or without never-members.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clusterpolicy.core import provenance
from clusterpolicy.data import prepare, samples
from clusterpolicy.data.programme import Programme
from clusterpolicy.data.published import Study1Facts
from clusterpolicy.synthetic.calibration import calibration_table
from clusterpolicy.synthetic.truth import read_truth

PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------------------------------
# Chapter 01: the programme
# ----------------------------------------------------------------------------------------------
def citation(key: object) -> str:
    """A bibliography key as a MyST parenthetical citation, ``–`` when there is none.

    Parameters
    ----------
    key
        A key of ``references.bib``; anything else (``None``, ``NaN``, ``""``) has no source.

    Returns
    -------
    str
        ``{cite:p}`key``` or ``–``.
    """
    return f"{{cite:p}}`{key}`" if isinstance(key, str) and key else "–"


@dataclass(frozen=True)
class ProgrammeRecord:
    """The programme as the public record describes it, ready for the page.

    Attributes
    ----------
    name, region
        The programme's name and region.
    launch_year
        The year the programme started.
    n_clusters, first_start, last_start
        Number of clusters and the range of their start years.
    legal_basis
        The legal basis with its citation (MyST), or ``None`` when the file names none.
    clusters
        One row per cluster (index ``cluster``): domain, start, public record, status, source.
    funding, membership_facts
        The file's funding and membership entries (index ``item``): value, status, source.
    n_choices
        Entries (clusters and facts) marked *choice*: decided by this report, not stated.
    """

    name: str
    region: str
    launch_year: int
    n_clusters: int
    first_start: int
    last_start: int
    legal_basis: str | None
    clusters: pd.DataFrame
    funding: pd.DataFrame
    membership_facts: pd.DataFrame
    n_choices: int


def programme_record(prog: Programme) -> ProgrammeRecord:
    """The programme's clusters, funding and membership facts, with their sources as citations.

    Parameters
    ----------
    prog
        A programme file read by :func:`clusterpolicy.data.programme.load_programme`.

    Returns
    -------
    ProgrammeRecord
    """
    clusters = prog.clusters.assign(source=prog.clusters["source"].map(citation)).rename(
        columns={"name": "cluster", "start_year": "start", "event": "public record"}
    ).set_index("cluster")[["domain", "start", "public record", "status", "source"]]
    facts = prog.facts.assign(source=prog.facts["source"].map(citation))

    def section(name: str) -> pd.DataFrame:
        return facts[facts["section"] == name].drop(columns="section").set_index("item")

    basis = prog.legal_basis or {}
    return ProgrammeRecord(
        name=prog.name, region=prog.region, launch_year=prog.launch_year,
        n_clusters=len(prog.clusters),
        first_start=int(prog.clusters["start_year"].min()),
        last_start=int(prog.clusters["start_year"].max()),
        legal_basis=f"{basis['text']} {citation(basis.get('source'))}." if basis else None,
        clusters=clusters, funding=section("funding"), membership_facts=section("membership"),
        n_choices=int((prog.clusters["status"] == "choice").sum()
                      + (prog.facts["status"] == "choice").sum()),
    )


@dataclass(frozen=True)
class MembershipInData:
    """The membership file set beside the programme file.

    Attributes
    ----------
    years
        The panel's years, first to last.
    joins_by_year
        Firms by the cluster of their first join (rows) and first-join year (columns, every
        panel year).
    clusters
        One row per cluster found in either source (index ``cluster``): programme start, member
        firms in data, first and last join in data, and ``consistent`` (``yes`` when no firm
        joined before the cluster started, ``no`` otherwise, ``n/a`` when a source lacks it).
    n_firms, n_member_firms
        Firms in the panel, and firms that join a cluster.
    member_share
        Member firms in percent of the panel's firms.
    n_inconsistent
        Clusters with a join before their start.
    n_multi
        Firms in more than one cluster (treated from their first join).
    unmatched
        Clusters found in only one of the two sources, sorted.
    """

    years: np.ndarray
    joins_by_year: pd.DataFrame
    clusters: pd.DataFrame
    n_firms: int
    n_member_firms: int
    member_share: float
    n_inconsistent: int
    n_multi: int
    unmatched: tuple[str, ...]


def membership_in_data(prog: Programme, panel: pd.DataFrame,
                       membership: pd.DataFrame) -> MembershipInData:
    """Count the members of the data by cluster and year and check them against the programme.

    Parameters
    ----------
    prog
        The programme file.
    panel
        The firm panel (``firm_id`` and ``year`` suffice).
    membership
        The membership file, validated against the panel.

    Returns
    -------
    MembershipInData
    """
    joins = samples.first_join(membership)
    firm_cluster = (membership.sort_values(["firm_id", "join_year"]).drop_duplicates("firm_id")
                    .set_index("firm_id")["cluster"].astype(str))
    joins = joins.assign(cluster=joins["firm_id"].map(firm_cluster))
    years = np.arange(int(panel["year"].min()), int(panel["year"].max()) + 1)
    by_year = (joins.groupby(["cluster", "first_join"]).size().unstack(fill_value=0)
               .reindex(columns=years, fill_value=0))
    in_data = membership.groupby(membership["cluster"].astype(str), observed=True).agg(
        firms=("firm_id", "nunique"), first_join=("join_year", "min"),
        last_join=("join_year", "max"))
    table = (prog.clusters.set_index("name")[["start_year"]]
             .join(in_data, how="outer")
             .rename(columns={"start_year": "programme start",
                              "first_join": "first join in data",
                              "last_join": "last join in data", "firms": "member firms in data"}))
    table.index.name = "cluster"
    table["consistent"] = np.where(
        table["programme start"].isna() | table["first join in data"].isna(), "n/a",
        np.where(table["first join in data"] >= table["programme start"], "yes", "no"))
    n_members, n_firms = int(joins["firm_id"].nunique()), int(panel["firm_id"].nunique())
    return MembershipInData(
        years=years, joins_by_year=by_year, clusters=table, n_firms=n_firms,
        n_member_firms=n_members, member_share=100 * n_members / n_firms,
        n_inconsistent=int((table["consistent"] == "no").sum()),
        n_multi=int((membership.groupby("firm_id").size() > 1).sum()),
        unmatched=tuple(sorted(set(in_data.index) ^ set(prog.clusters["name"]))),
    )


def timeline_figure(prog: Programme, members: MembershipInData) -> Figure:
    """The clusters from their start year (top) and first joins by year and cluster (bottom).

    Parameters
    ----------
    prog
        The programme file: clusters, start years and launch year.
    members
        The membership data (:func:`membership_in_data`).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the year axis; clusters are ordered by start year, then name, and
        clusters found only in the data come last.
    """
    years, by_year = members.years, members.joins_by_year
    starts = prog.clusters.set_index("name")["start_year"]
    order = prog.clusters.sort_values(["start_year", "name"])["name"].tolist()
    order += [c for c in by_year.index if c not in order]
    palette = dict(zip(order, plt.cm.tab10.colors * 2, strict=False))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.2), height_ratios=[1.1, 1],
                                      sharex=True)
    for i, name in enumerate(order):
        start = starts.get(name)
        if pd.notna(start):
            top.plot([start, years.max() + 0.5], [i, i], color=palette[name], lw=6, alpha=0.8,
                     solid_capstyle="butt")
            top.annotate(name, (start, i), xytext=(-6, 0), textcoords="offset points",
                         ha="right", va="center", fontsize=9)
    top.axvline(prog.launch_year - 0.5, color="0.4", ls="--", lw=1)
    top.set_yticks([])
    top.set_ylim(-0.8, len(order) - 0.2)
    top.invert_yaxis()
    top.set_title("Clusters in the programme, from their start year")
    stacked = np.zeros(len(years))
    for name in order:
        if name in by_year.index:
            counts = by_year.loc[name].to_numpy()
            bottom.bar(years, counts, bottom=stacked, color=palette[name], label=name, width=0.7)
            stacked += counts
    bottom.set_ylabel("firms joining (first join)")
    bottom.set_title("Firms joining a cluster in the data, by year")
    bottom.set_xticks(years)
    bottom.set_xlim(years.min() - 0.6, years.max() + 0.6)
    bottom.legend(ncol=2, fontsize=8, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# Chapter 02: the data
# ----------------------------------------------------------------------------------------------
SYNTHETIC_SOURCE = "generated by clusterpolicy.synthetic"


def data_files(panel_path: PathLike, membership_path: PathLike,
               techfirms_path: PathLike) -> pd.DataFrame:
    """The input files of a run: content, source, rights, whether provided, and checksum.

    A file is *provided* (synthetic) when a truth file lies beside it; the source and rights of
    the two files of study 1 follow the panel's truth file, those of study 2 the tech firms'.
    Each truth file looked for is recorded as an input of the running chapter.

    Parameters
    ----------
    panel_path, membership_path, techfirms_path
        The three inputs.

    Returns
    -------
    pandas.DataFrame
        One row per file (index ``file``, its name): content, source, rights, provided,
        ``SHA-256 (first 12)``.
    """
    panel_synthetic = read_truth(panel_path) is not None
    tech_synthetic = read_truth(techfirms_path) is not None
    rows = [
        (panel_path, "firm panel (study 1)", panel_synthetic, "annual accounts (user)"),
        (membership_path, "cluster membership (study 1)", panel_synthetic,
         "cluster membership lists (user)"),
        (techfirms_path, "tech firms (study 2)", tech_synthetic,
         "firm survey / patent data (user)"),
    ]
    return pd.DataFrame([
        {"file": Path(path).name, "content": content,
         "source": SYNTHETIC_SOURCE if synthetic else user_source,
         "rights": "CC BY 4.0" if synthetic else "user's licence",
         "provided": "yes (synthetic)" if read_truth(path) else "no (user's file)",
         "SHA-256 (first 12)": provenance.sha256_file(Path(path))[:12]}
        for path, content, synthetic, user_source in rows
    ]).set_index("file")


#: Where the input files of a run come from, one case each (see :func:`preparation`).
PREPARATION_CASES: tuple[str, ...] = (
    "given",  # no preparation report beside the panel: the files are used as they are
    "current",  # written by `prepare` and unchanged since
    "edited",  # written by `prepare`, then changed: the report does not describe the changes
)


@dataclass(frozen=True)
class Preparation:
    """How the input files of a run came to be: as given, or through ``prepare``.

    Attributes
    ----------
    case
        One of :data:`PREPARATION_CASES`.
    steps
        The preparation report's transformations and rows changed or dropped (columns
        ``input``, ``step``, ``what``, ``rows``; rows as numbers); ``None`` when given.
    recipe
        The file name of the recipe ``prepare`` carried out; ``None`` when given.
    report_file
        The file name of the readable report beside the prepared files.
    edited
        The files of this run that ``prepare`` wrote and that changed since, by name, joined
        with commas; empty unless ``case`` is ``edited``.
    """

    case: str
    steps: pd.DataFrame | None
    recipe: str | None
    report_file: str
    edited: str


def preparation(panel_path: PathLike, membership_path: PathLike,
                techfirms_path: PathLike) -> Preparation:
    """Whether the inputs came through ``prepare``, what it did, and whether they changed since.

    The report looked for is the one beside the panel
    (:func:`clusterpolicy.data.prepare.find_report`, which records it as an input of the
    running chapter). Each file of the run that the report lists is compared with the checksum
    ``prepare`` recorded; a file of the run from elsewhere (a tech-firm file that the recipe
    did not name, say) is not described by the report and not compared.

    Parameters
    ----------
    panel_path, membership_path, techfirms_path
        The three inputs of the run.

    Returns
    -------
    Preparation
    """
    report_file = f"{prepare.REPORT_NAME}.md"
    found = prepare.find_report(panel_path)
    if found is None:
        return Preparation("given", None, None, report_file, "")
    folder = Path(panel_path).resolve().parent
    mine = [Path(p).name for p in (panel_path, membership_path, techfirms_path)
            if Path(p).resolve().parent == folder]
    edited = [name for name in mine if name in found["changed"]]
    steps = prepare.steps_table(found)
    return Preparation(
        case="edited" if edited else "current",
        steps=steps.astype({"rows": "float64"}),  # shown with thousands separators
        recipe=Path(found["recipe"]).name, report_file=report_file, edited=", ".join(edited))


@dataclass(frozen=True)
class Calibration:
    """The data of a run against the published facts, and the counts the page quotes.

    Attributes
    ----------
    table
        :func:`clusterpolicy.synthetic.calibration_table`: one row per fact or choice.
    n_checks, n_checks_hold
        Rows that apply to these data (``holds`` is not ``n/a``), and those that hold.
    n_firms_panel, n_rows_panel
        Firms and firm-years of the panel.
    first_year, last_year
        The panel's first and last year.
    n_member_firms
        Firms in the membership file.
    member_share
        Member firms in percent of the panel's firms.
    """

    table: pd.DataFrame
    n_checks: int
    n_checks_hold: int
    n_firms_panel: int
    n_rows_panel: int
    first_year: int
    last_year: int
    n_member_firms: int
    member_share: float


def calibration(panel: pd.DataFrame, membership: pd.DataFrame,
                techfirms: pd.DataFrame | None = None, *,
                facts: Study1Facts,
                panel_truth: Mapping[str, Any] | None = None,
                tech_truth: Mapping[str, Any] | None = None) -> Calibration:
    """Set each published fact beside the data of this run.

    Parameters
    ----------
    panel, membership, techfirms
        The validated inputs.
    facts
        The published facts (:func:`clusterpolicy.data.published.load_study1`).
    panel_truth, tech_truth
        The truth files (synthetic data); the rows that need them are ``n/a`` without.

    Returns
    -------
    Calibration
    """
    table = calibration_table(panel, membership, techfirms, facts=facts,
                              panel_truth=panel_truth, tech_truth=tech_truth)
    n_firms, n_members = int(panel["firm_id"].nunique()), int(membership["firm_id"].nunique())
    return Calibration(
        table=table, n_checks=int((table["holds"] != "n/a").sum()),
        n_checks_hold=int((table["holds"] == "yes").sum()),
        n_firms_panel=n_firms, n_rows_panel=len(panel),
        first_year=int(panel["year"].min()), last_year=int(panel["year"].max()),
        n_member_firms=n_members, member_share=100 * n_members / n_firms,
    )


@dataclass(frozen=True)
class GeneratingProcess:
    """The true parameters of a synthetic panel that the data chapter states.

    Attributes
    ----------
    n_industries
        NACE divisions with their own production function.
    beta_l_min, beta_l_max, beta_k_min, beta_k_max
        Range of the true output elasticities of labour and capital across industries.
    rho, sigma_xi, sigma_eps
        Persistence of productivity, standard deviation of its innovation, measurement error.
    theta
        The true effect of membership on log TFP.
    known_share_pct
        Percent of the variance of the productivity innovation known when labour is chosen.
    select_on_pre_tfp
        Weight of pre-period productivity in the selection into membership (0: none).
    pre_tfp_selection
        ``"switched off"`` when that weight is 0, ``"switched on"`` otherwise.
    """

    n_industries: int
    beta_l_min: float
    beta_l_max: float
    beta_k_min: float
    beta_k_max: float
    rho: float
    sigma_xi: float
    sigma_eps: float
    theta: float
    known_share_pct: float
    select_on_pre_tfp: float | int
    pre_tfp_selection: str


def generating_process(panel_truth: Mapping[str, Any] | None) -> GeneratingProcess | None:
    """The data-generating process of a synthetic panel, from its truth file.

    Parameters
    ----------
    panel_truth
        The panel's truth file (:func:`clusterpolicy.synthetic.read_truth`).

    Returns
    -------
    GeneratingProcess or None
        ``None`` for real data (no truth file).
    """
    if panel_truth is None:
        return None
    p = panel_truth["params"]
    industries = panel_truth["production"]["industries"].values()
    beta_l = [float(i["beta_l"]) for i in industries]
    beta_k = [float(i["beta_k"]) for i in industries]
    return GeneratingProcess(
        n_industries=len(beta_l), beta_l_min=min(beta_l), beta_l_max=max(beta_l),
        beta_k_min=min(beta_k), beta_k_max=max(beta_k), rho=float(p["rho"]),
        sigma_xi=float(p["sigma_xi"]), sigma_eps=float(p["sigma_eps"]),
        theta=float(p["theta"]), known_share_pct=100 * float(p["known_share"]),
        select_on_pre_tfp=p["select_on_pre_tfp"],
        pre_tfp_selection="switched off" if p["select_on_pre_tfp"] == 0 else "switched on",
    )


@dataclass(frozen=True)
class SampleAccount:
    """The estimation sample of the dynamic estimators, with every dropped row counted.

    Attributes
    ----------
    sample
        The rows kept (:func:`clusterpolicy.data.samples.sample_construction` with
        ``require_lag=True``).
    table
        One line per step: rows dropped, rows remaining, firms remaining.
    rows_read, rows_used, firms_used
        Rows read; rows and firms kept.
    rows_dropped_logs
        Rows dropped because a variable taken in logs is not positive.
    rows_dropped_lag
        Rows dropped for want of a usable observation in the previous year.
    """

    sample: pd.DataFrame
    table: pd.DataFrame
    rows_read: int
    rows_used: int
    rows_dropped_logs: int
    rows_dropped_lag: int
    firms_used: int


def sample_account(panel: pd.DataFrame) -> SampleAccount:
    """Build the sample that needs a lag and account for every row of the panel.

    Parameters
    ----------
    panel
        The validated firm panel.

    Returns
    -------
    SampleAccount
    """
    sample, table = samples.sample_construction(panel, require_lag=True)
    dropped = table["rows dropped"]
    return SampleAccount(
        sample=sample, table=table,
        rows_read=int(table.loc["rows read", "rows remaining"]),
        rows_used=int(table.loc["used", "rows remaining"]),
        rows_dropped_logs=int(dropped[dropped.index.str.endswith("(log undefined)")].sum()),
        rows_dropped_lag=int(dropped[dropped.index.str.contains("previous year")].sum()),
        firms_used=int(table.loc["used", "firms remaining"]),
    )


@dataclass(frozen=True)
class Descriptives:
    """Descriptive statistics of the usable firm-years and the joins by cluster and year.

    Attributes
    ----------
    statistics
        :func:`clusterpolicy.data.samples.descriptive_statistics` of the firm-years that can
        enter a production function (before the lag requirement).
    joins
        Memberships by cluster (index ``cluster``) and join year (columns, as text), with the
        total over years (``all years``).
    """

    statistics: pd.DataFrame
    joins: pd.DataFrame


def descriptives(panel: pd.DataFrame, membership: pd.DataFrame) -> Descriptives:
    """Describe the usable firm-years and count memberships by cluster and join year.

    Parameters
    ----------
    panel, membership
        The validated inputs.

    Returns
    -------
    Descriptives
    """
    usable, _ = samples.sample_construction(panel)
    joins = pd.crosstab(membership["cluster"], membership["join_year"])
    joins.columns = [str(c) for c in joins.columns]
    joins["all years"] = joins.sum(axis=1)
    joins.index.name = "cluster"
    return Descriptives(statistics=samples.descriptive_statistics(usable), joins=joins)


#: The pre-period differences the page and the scorecard quote (key -> row of the comparison).
PRE_PERIOD_ROWS = {"size": "size: log employment (FTE)", "age": "age (years)",
                   "capint": "capital intensity: log capital per FTE"}


@dataclass(frozen=True)
class PrePeriod:
    """Members (firms that ever join) against non-members before the programme.

    Attributes
    ----------
    policy_year
        The first join year of the data: the pre-period is the years before it.
    table
        :func:`clusterpolicy.data.samples.pre_period_comparison`.
    n_members, n_others
        Firms observed in the pre-period that later join, and that never do.
    compared
        Whether there are at least two firms on each side: otherwise there is no difference
        to test, and ``difference`` and ``p_welch`` are empty.
    difference, p_welch
        Members minus non-members, and the p-value of Welch's t-test, for each key of
        :data:`PRE_PERIOD_ROWS`.
    """

    policy_year: int
    table: pd.DataFrame
    n_members: int
    n_others: int
    compared: bool
    difference: dict[str, float]
    p_welch: dict[str, float]


def pre_period(panel: pd.DataFrame, membership: pd.DataFrame) -> PrePeriod:
    """Compare members and non-members over the years before the first join.

    Uses the firm-years that can enter a production function (before the lag requirement);
    each firm counts once, with its averages over the pre-period.

    Parameters
    ----------
    panel, membership
        The validated inputs.

    Returns
    -------
    PrePeriod
    """
    usable, _ = samples.sample_construction(panel)
    policy_year = int(membership["join_year"].min())
    table = samples.pre_period_comparison(usable, membership, before=policy_year)
    n_members = int(table["firms (members)"].min())
    n_others = int(table["firms (non-members)"].min())
    compared = min(n_members, n_others) >= 2
    rows = PRE_PERIOD_ROWS if compared else {}
    return PrePeriod(
        policy_year=policy_year, table=table, n_members=n_members, n_others=n_others,
        compared=compared,
        difference={key: float(table.loc[row, "difference"]) for key, row in rows.items()},
        p_welch={key: float(table.loc[row, "p (Welch)"]) for key, row in rows.items()},
    )


@dataclass(frozen=True)
class TechFirms:
    """The tech firms of study 2, serial against non-serial innovators.

    Attributes
    ----------
    table
        One row per group (index ``group``: ``non-serial``, ``serial``): firms, share
        international, foreign share of the international firms, and the medians of
        clustering, employees, age and patents.
    n_serial, n_nonserial
        Serial and non-serial innovators.
    n_match
        Matched sets.
    """

    table: pd.DataFrame
    n_serial: int
    n_nonserial: int
    n_match: int


def tech_firms(techfirms: pd.DataFrame) -> TechFirms:
    """Summarise the tech-firm cross-section by group.

    Parameters
    ----------
    techfirms
        The validated tech-firm file.

    Returns
    -------
    TechFirms
    """
    tech = techfirms.assign(group=np.where(techfirms["serial"], "serial", "non-serial"))
    table = tech.groupby("group").agg(
        firms=("firm_id", "size"), international=("international", "mean"),
        foreign_share_if_international=("foreign_share", lambda s: s[s > 0].mean()),
        clustering_median=("clustering", "median"), employees_median=("employees", "median"),
        age_median=("age", "median"), patents_median=("patents", "median"))
    table.columns = ["firms", "share international", "foreign share (if international)",
                     "clustering (median LQ)", "employees (median)", "age (median)",
                     "patents, 5 years (median)"]
    return TechFirms(table=table, n_serial=int(techfirms["serial"].sum()),
                     n_nonserial=int((~techfirms["serial"]).sum()),
                     n_match=int(techfirms["match_id"].nunique()))
