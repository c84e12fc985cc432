"""Chapter 04, the effect of cluster membership on TFP: every result the page shows.

The estimators live in :mod:`clusterpolicy.estimators.did`; this module prepares what they need
and turns their results into the numbers, tables and figure that the chapter glues. One call
per section of the page, each returning a frozen dataclass:

* :func:`estimation_panel` -> :class:`EstimationPanel` - firm-year TFP (chapter 03's
  estimation, cached), the balanced panel with the pre-period covariates
  (:func:`panel_from_tfp`), the truth file when the data are synthetic;
* :func:`matched_did` -> :class:`MatchedDiD` - the study's design, propensity-score matching
  then DiD, with its balance table;
* :func:`twfe_diagnostics` -> :class:`TWFEDiagnostics` - TWFE, its Goodman-Bacon
  decomposition and the weights of the treated cells;
* :func:`staggered_did` -> :class:`StaggeredDiD` - Callaway-Sant'Anna in four specifications,
  the event study and the TWFE event study (:func:`event_study_figure` draws them);
* :func:`parallel_trends_sensitivity` -> :class:`Sensitivity` - HonestDiD robust intervals;
* :func:`heterogeneity` -> :class:`Heterogeneity` - the conditional DiD by size class (classes
  with too few members merged into a neighbour, :func:`merge_small_classes`) and by cluster,
  with tests of equal effects (:class:`GroupEffects`);
* :func:`moderation` -> :class:`Moderation` - the membership x size, age and capital-intensity
  interactions of the study's design, each with an equivalence test and its minimum
  detectable difference (:mod:`clusterpolicy.studies.equivalence`);
* :func:`specification_table` -> :class:`Specifications` - every estimate against the
  published range (and the truth);
* :func:`selection_demonstration` -> :class:`SelectionDemo` - on a synthetic panel with
  selection on pre-period TFP, what conditioning on pre-period TFP removes.

Every result carries ``notes``: source -> what the estimators reported (their warnings,
caught with :func:`clusterpolicy.core.notes.caught_warnings`, and their own notes), which
:func:`notes_markdown` lists for the page.

The building blocks are public too: :func:`balanced_panel`, :func:`add_firm_covariates`,
:func:`size_classes`, the verdicts :func:`range_verdict`, :func:`truth_verdict`,
:func:`significance_verdict`, :func:`equality_test`, and :func:`selection_panel`; chapter 06
(:mod:`clusterpolicy.studies.synthesis`) uses several of them.

Nothing here knows the Flemish programme: years, cohorts and clusters are read from the data.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.core.results import caught_warnings
from clusterpolicy.data import read, samples
from clusterpolicy.estimators import did
from clusterpolicy.studies import equivalence
from clusterpolicy.studies.productivity import TFP_SETTINGS, TFP_SOURCE, TFPSettings, firm_tfp

__all__ = [
    "ALL_SIZES",
    "CONTRAST_PERCENTILES",
    "COVARIATES",
    "CS_COVARIATES",
    "HONEST_CASES",
    "MIN_MEMBERS",
    "MODERATORS",
    "ClassMerge",
    "EstimationPanel",
    "GroupEffects",
    "Heterogeneity",
    "MatchedDiD",
    "Moderation",
    "Moderator",
    "ModeratorSpec",
    "Notes",
    "SelectionDemo",
    "Sensitivity",
    "Specifications",
    "StaggeredDiD",
    "TWFEDiagnostics",
    "add_firm_covariates",
    "add_notes",
    "balanced_panel",
    "data_banner",
    "equality_test",
    "estimation_panel",
    "event_study_figure",
    "heterogeneity",
    "honest_case",
    "interaction_fit",
    "matched_changes",
    "matched_did",
    "merge_small_classes",
    "moderation",
    "notes_markdown",
    "panel_from_tfp",
    "parallel_trends_sensitivity",
    "range_verdict",
    "selection_demonstration",
    "selection_panel",
    "significance_verdict",
    "size_classes",
    "specification_table",
    "staggered_did",
    "threshold_classes",
    "truth_verdict",
    "twfe_diagnostics",
    "year_span",
]

#: Source (who reported) -> messages, in the order they were first reported.
Notes = dict[str, list[str]]


def add_notes(notes: Notes, source: str, messages: Iterable[str]) -> Notes:
    """Add ``messages`` under ``source``, each once; a source appears only with a message.

    Parameters
    ----------
    notes : dict
        Source -> messages; changed in place.
    source : str
        Who reported (an estimation step of the page).
    messages : iterable of str
        What it reported, in order.

    Returns
    -------
    dict
        ``notes``.
    """
    for message in messages:
        kept = notes.setdefault(source, [])
        if message not in kept:
            kept.append(message)
    return notes


def _noted(notes: Notes, source: str, call: Callable[[], Any]) -> Any:
    """``call()``, with the warnings it raises and the notes of its result kept under ``source``."""
    with caught_warnings() as messages:
        result = call()
    add_notes(notes, source, [*messages, *(getattr(result, "notes", None) or [])])
    return result


def notes_markdown(*results: Any) -> str:
    """The notes of the page's results as a Markdown list.

    Parameters
    ----------
    *results
        Objects with ``notes`` (source -> messages), in the order of the page; None is skipped
        (a section the data did not allow).

    Returns
    -------
    str
        One item per message, ``* **source**: message``, sources in the order of ``results`` and
        of their first message; a message repeated under one source is listed once. Without any
        note, a sentence that says so.
    """
    merged: Notes = {}
    for result in results:
        if result is not None:
            for source, messages in result.notes.items():
                add_notes(merged, source, messages)
    if not merged:
        return "No estimator raised a warning or dropped data."
    return "\n".join(f"* **{source}**: {note}" for source, notes in merged.items() for note in notes)


#: The fewest members of the balanced panel that the chapter's estimators use (standard errors
#: clustered by firm need more than one treated firm).
MIN_MEMBERS = 2


def year_span(years: Sequence[int]) -> str:
    """The span of sorted ``years`` as text: ``"2013–2020"`` (en dash), ``"2017"`` for one year.

    Parameters
    ----------
    years : sequence of int
        Sorted years (at least one).

    Returns
    -------
    str
    """
    return f"{years[0]}–{years[-1]}" if len(years) > 1 else f"{years[0]}"


def data_banner(theta: float | None, synthetic_banner: str) -> str:
    """What the page says at its top about its data (MyST Markdown).

    Parameters
    ----------
    theta : float or None
        The true effect of synthetic data; None for real data.
    synthetic_banner : str
        The book's label of synthetic data (``clusterpolicy.book.report.SYNTHETIC_BANNER``).

    Returns
    -------
    str
        On synthetic data, ``synthetic_banner`` followed by the true effect; on real data, that
        no truth file was found and the estimates are compared with the published range only.
    """
    if theta is not None:
        return synthetic_banner + (
            f" The true effect of membership on log TFP is **{theta:.3f}** log points; every table "
            "below compares the estimates with it.")
    return ("These results are computed on the data files named in the run's parameters. No truth "
            "file was found beside them, so the comparisons with a known true effect are not "
            "available; estimates are compared with the published range only.")


REASONS = (
    "enters the panel after its first year",
    "leaves the panel before its last year",
    "misses a year in between (gap, or a row dropped for a non-positive input)",
)


def balanced_panel(
    data: pd.DataFrame, unit: str = "firm_id", time: str = "year"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the units observed in every period of the panel; count the others by reason.

    Each dropped unit is counted once, under the first reason that applies, in this order: late
    entry, early exit, gap.

    Returns
    -------
    balanced : DataFrame
        The rows of the kept units.
    table : DataFrame
        Index ``step`` (the input, one line per reason, the balanced panel); columns
        ``firms`` and ``rows``.
    """
    times = np.sort(data[time].unique())
    first, last, n_times = times[0], times[-1], len(times)
    per_unit = data.groupby(unit, sort=False)[time].agg(["min", "max", "size"])
    complete = per_unit["size"] == n_times
    late = ~complete & (per_unit["min"] > first)
    early = ~complete & ~late & (per_unit["max"] < last)
    gap = ~complete & ~late & ~early
    rows = data.groupby(unit, sort=False).size()
    table = pd.DataFrame(
        [
            ("firms in the TFP panel", len(per_unit), int(rows.sum())),
            *[
                (f"dropped: {reason}", -int(mask.sum()), -int(rows[mask[mask].index].sum()))
                for reason, mask in zip(REASONS, (late, early, gap), strict=True)
            ],
            (
                f"balanced panel ({first}-{last})",
                int(complete.sum()),
                int(rows[complete[complete].index].sum()),
            ),
        ],
        columns=["step", "firms", "rows"],
    ).set_index("step")
    keep = per_unit.index[complete]
    balanced = data.loc[data[unit].isin(keep)].reset_index(drop=True)
    return balanced, table


def add_firm_covariates(
    data: pd.DataFrame,
    columns: Sequence[str],
    *,
    unit: str = "firm_id",
    time: str = "year",
    cohort: str = "cohort",
) -> tuple[pd.DataFrame, list[int]]:
    """Add age, capital intensity and time-invariant pre-period versions of ``columns``.

    ``age = time - founding_year`` and ``capital_intensity = log_capital - log_employment``
    (log capital per FTE) are added when their inputs are present. For every column ``c`` of
    ``columns`` two firm-level columns are added: ``pre_c`` (mean over the pre-period) and
    ``last_pre_c`` (value in the last pre-period year; NaN when the firm is not observed
    then). The pre-period is every year before the first cohort, read from ``cohort``
    (0 = never treated).

    Returns
    -------
    data : DataFrame
        A copy with the new columns.
    pre_years : list of int
        The pre-period.
    """
    out = data.copy()
    if "founding_year" in out:
        out["age"] = (out[time] - out["founding_year"]).astype(float)
    if {"log_capital", "log_employment"} <= set(out.columns):
        out["capital_intensity"] = out["log_capital"] - out["log_employment"]
    treated = out.loc[out[cohort] > 0, cohort]
    if treated.empty:
        raise ValueError(f"column {cohort!r} has no treated firm (all 0): no pre-period to define")
    first_cohort = int(treated.min())
    pre_years = sorted(int(t) for t in out[time].unique() if t < first_cohort)
    if not pre_years:
        raise ValueError(f"no year of {time!r} lies before the first cohort {first_cohort}")
    pre = out.loc[out[time].isin(pre_years)]
    last = pre.loc[pre[time] == pre_years[-1]].set_index(unit)
    means = pre.groupby(unit)[list(columns)].mean()
    for col in columns:
        out[f"pre_{col}"] = out[unit].map(means[col])
        out[f"last_pre_{col}"] = out[unit].map(last[col])
    return out, pre_years


def size_classes(employment: pd.Series, thresholds: Sequence[float]) -> pd.Series:
    """Employment size classes: ``<t1``, ``t1-(t2-1)``, ..., ``>=tk`` (ordered categorical).

    Thresholds are in the unit of ``employment`` (FTE) and must increase; a value equal to a
    threshold belongs to the class that starts there.
    """
    cuts = [float(t) for t in thresholds]
    if not cuts or any(b <= a for a, b in itertools.pairwise(cuts)):
        raise ValueError(f"size thresholds must be a non-empty increasing list, got {list(thresholds)}")

    def fmt(v: float) -> str:
        return f"{v:g}"

    labels = [f"<{fmt(cuts[0])}"]
    labels += [f"{fmt(a)}-<{fmt(b)}" for a, b in itertools.pairwise(cuts)]
    labels += [f">={fmt(cuts[-1])}"]
    classes = pd.cut(employment, [-np.inf, *cuts, np.inf], right=False, labels=labels)
    return classes.rename("size class")


def range_verdict(estimate: float, low: float, high: float) -> str:
    """Where a point estimate lies relative to a published range [low, high]."""
    if not np.isfinite(estimate):
        return "not estimated"
    if estimate < low:
        return "below the published range"
    if estimate > high:
        return "above the published range"
    return "inside the published range"


def truth_verdict(estimate: float, se: float, truth: float | None, level: float = 0.95) -> str:
    """Whether the normal confidence interval of ``level`` covers the true value."""
    if truth is None:
        return "no truth (real data)"
    if not (np.isfinite(estimate) and np.isfinite(se)):
        return "not estimated"
    z = stats.norm.ppf(0.5 + level / 2)
    if estimate - z * se > truth:
        return "misses the truth (above)"
    if estimate + z * se < truth:
        return "misses the truth (below)"
    return "covers the truth"


def equality_test(estimates: Sequence[float], ses: Sequence[float]) -> dict[str, float]:
    """Wald test that several estimates are equal, treating them as independent.

    ``chi2 = sum((b_k - b_bar)^2 / se_k^2)`` with the inverse-variance weighted mean
    ``b_bar``; ``df = K - 1``. Estimates from subgroups that share control units are
    positively correlated, so treating them as independent makes the test conservative.
    """
    b = np.asarray(estimates, dtype=float)
    s = np.asarray(ses, dtype=float)
    ok = np.isfinite(b) & np.isfinite(s) & (s > 0)
    b, s = b[ok], s[ok]
    if b.size < 2:
        return {"chi2": float("nan"), "df": 0, "p_value": float("nan"), "pooled": float("nan")}
    w = 1.0 / s**2
    pooled = float((w * b).sum() / w.sum())
    chi2 = float((w * (b - pooled) ** 2).sum())
    df = int(b.size - 1)
    return {"chi2": chi2, "df": df, "p_value": float(stats.chi2.sf(chi2, df)), "pooled": pooled}


def selection_panel(
    seed: int,
    firms: int,
    strength: float,
    truth: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, float]:
    """A synthetic panel in which firms select into membership on pre-period TFP.

    Generated in memory with :func:`clusterpolicy.synthetic.generate_panel` using the DGP of
    ``truth`` (the truth file of the default data: its shape and parameters) with
    ``select_on_pre_tfp = strength``; the clusters' member counts are scaled to ``firms`` so
    that the share of members stays that of the default data. Rows with a non-positive input
    are dropped (as in the estimation sample) and the panel is balanced.

    Returns
    -------
    data : DataFrame
        ``firm_id, year, nace2, cohort`` (first join, 0 = never), the log inputs, ``omega``
        (the true log TFP, the outcome) and ``founding_year``.
    theta : float
        The true effect of membership on log TFP.
    """

    shape = synthetic.get_shape((truth or {}).get("shape", {}).get("name", "flanders"))
    known = {f.name for f in dataclasses.fields(synthetic.PanelParams)}
    params = synthetic.PanelParams(**{k: v for k, v in (truth or {}).get("params", {}).items() if k in known})
    scale = firms / shape.n_firms
    shape = dataclasses.replace(
        shape,
        clusters=tuple(
            dataclasses.replace(c, members=max(1, round(c.members * scale))) for c in shape.clusters
        ),
    )
    generated = synthetic.generate_panel(
        seed, firms=firms, shape=shape, params=params, select_on_pre_tfp=strength
    )
    sample, _ = samples.sample_construction(generated.panel)
    status = samples.membership_status(sample, generated.membership)
    sample = sample.assign(cohort=status["cohort"].to_numpy())
    sample = sample.merge(
        generated.latent[["firm_id", "year", "omega"]],
        on=["firm_id", "year"],
        how="left",
        validate="one_to_one",
    )
    balanced, _ = balanced_panel(sample)
    return balanced, float(generated.truth["treatment"]["theta"])


def significance_verdict(p_value: float, level: float = 0.05) -> str:
    """Whether a test rejects at ``level``.

    Parameters
    ----------
    p_value : float
        The test's p-value.
    level : float
        The significance level.

    Returns
    -------
    str
        ``"significant at the 5% level"`` (p below ``level``) or ``"not significant at the 5%
        level"``, with ``level`` in the text.
    """
    label = f"{100 * level:g}%"
    return (f"not significant at the {label} level" if p_value >= level
            else f"significant at the {label} level")


# ----------------------------------------------------------------------------------------------
# The estimation panel
# ----------------------------------------------------------------------------------------------
#: Matching covariates of the conditional DiD (pre-period means; for industry the last
#: pre-period value; ``last_pre_log_tfp`` is the level in the last pre-period year).
COVARIATES = ("log_employment", "age", "capital_intensity", "nace2", "log_tfp", "last_pre_log_tfp")
#: Time-invariant covariates of the doubly robust Callaway-Sant'Anna (without industry, which
#: keeps the small cohorts' score models stable).
CS_COVARIATES = ("pre_log_employment", "age_pre", "pre_capital_intensity", "pre_log_tfp",
                 "last_pre_log_tfp")
#: Row labels of the balance table.
COVARIATE_LABELS = {
    "log_employment": "size (log FTE)",
    "age": "age (years)",
    "capital_intensity": "log capital per FTE",
    "log_tfp": "log TFP, mean",
    "last_pre_log_tfp": "log TFP, last year",
}
Y, UNIT, TIME, COHORT = "log_tfp", "firm_id", "year", "cohort"


@dataclass(frozen=True)
class EstimationPanel:
    """The data of the chapter: firm-year TFP and the balanced panel every estimator uses.

    Attributes
    ----------
    full
        Every firm-year with TFP (``firm_id, year, nace2, cohort, member, log_tfp``, the log
        inputs and the panel's other columns). ``cohort`` is the first join year (0: never a
        member); treatment is absorbing (intention to treat).
    panel
        The firms of ``full`` observed in every year, with ``age``, ``capital_intensity`` and the
        pre-period covariates ``pre_*`` and ``last_pre_*`` of log TFP, employment and log
        employment (:func:`add_firm_covariates`).
    membership
        The membership file as read (:func:`clusterpolicy.data.read.load_membership`).
    clusters
        The cluster names of the run, in the order tables list them (None: as found).
    truth
        The truth file of synthetic data; None for real data.
    years, pre_years, cohorts
        The years of ``full``; the pre-period (every year before the first cohort); the
        cohorts of the balanced panel.
    sample_table
        Firms and firm-years from ``full`` to the balanced panel, dropped by reason (floats).
    cohort_table
        Firms per cohort and never-members, with the years observed after joining.
    n_firms_tfp, n_members_tfp, n_membership_ended
        Firms in ``full``; members among them; members whose membership ended before the
        panel does (still treated: intention to treat).
    n_firms_balanced, n_treated, n_never
        Firms of the balanced panel; members; never-members.
    notes
        The TFP estimation's warnings (source :data:`~clusterpolicy.studies.productivity.TFP_SOURCE`).
    """

    full: pd.DataFrame
    panel: pd.DataFrame
    membership: pd.DataFrame
    clusters: tuple[str, ...] | None
    truth: dict[str, Any] | None
    years: tuple[int, ...]
    pre_years: tuple[int, ...]
    cohorts: tuple[int, ...]
    sample_table: pd.DataFrame
    cohort_table: pd.DataFrame
    n_firms_tfp: int
    n_members_tfp: int
    n_membership_ended: int
    n_firms_balanced: int
    n_treated: int
    n_never: int
    notes: Notes

    @property
    def has_truth(self) -> bool:
        """Whether the data are synthetic, with a known true effect."""
        return self.truth is not None

    @property
    def theta(self) -> float | None:
        """The true effect of membership on log TFP (None on real data)."""
        return None if self.truth is None else float(self.truth["treatment"]["theta"])

    @property
    def ramp_years(self) -> int:
        """Years over which the true effect ramps up (0 for a constant effect, or real data)."""
        return int((self.truth or {}).get("treatment", {}).get("ramp_years", 0) or 0)

    @property
    def effect_ramps(self) -> bool:
        """Whether the true effect grows over the years since joining (synthetic data only)."""
        return self.ramp_years > 0

    @property
    def panel_years(self) -> str:
        return year_span(self.years)

    @property
    def pre_period(self) -> str:
        """The pre-period, ``"2013–2016"``; ``"none"`` when every member joined in the first
        panel year."""
        return year_span(self.pre_years) if self.pre_years else "none"

    @property
    def cohort_years(self) -> str:
        """The cohorts, ``"2017, 2018, 2019"`` (``"none"`` without members)."""
        return ", ".join(str(g) for g in self.cohorts) or "none"

    @property
    def n_dropped_balance(self) -> int:
        return self.n_firms_tfp - self.n_firms_balanced

    @property
    def has_never_members(self) -> bool:
        """Whether the balanced panel has never-members, the controls of every estimator here."""
        return self.n_never > 0

    @property
    def design_problem(self) -> str | None:
        """Why the chapter's estimators cannot run on these data (MyST Markdown), or None.

        Every estimator compares the change of members' TFP after joining with that of
        never-members over the same years, so it needs at least :data:`MIN_MEMBERS` members
        (the standard errors are clustered by firm), a year before the first members joined,
        and never-members.
        """
        scorecard = "; the scorecard marks the study-1 claims as not testable."
        if self.n_treated < MIN_MEMBERS:
            return (f"The balanced panel holds {self.n_treated:,} member firm(s). Every estimate "
                    f"of this chapter compares members with never-members, with standard errors "
                    f"clustered by firm, and needs at least {MIN_MEMBERS} members" + scorecard)
        if not self.pre_years:
            return (f"Every member of the balanced panel joined in its first year, "
                    f"{self.years[0]}: there is no year before joining to compare the members' "
                    "TFP with, so no difference-in-differences can be estimated (nor matched on "
                    "pre-period covariates)" + scorecard)
        if not self.has_never_members:
            return (f"Every one of the {self.n_firms_balanced:,} firms of the balanced panel "
                    "joined a cluster: there is no never-member. The study's conditional DiD "
                    "matches each member with a never-member, and the chapter's other estimates "
                    "(TWFE, Callaway–Sant'Anna, the Goodman-Bacon decomposition, the "
                    "sensitivity analysis, the heterogeneity and the specification table) use "
                    "never-members as controls, alone or beside members that have not joined "
                    "yet, so none of them is estimated on these data. Only a comparison of early "
                    "with late joiners would be possible, which this chapter does not make"
                    + scorecard)
        return None


def estimation_panel(
    panel_path: str,
    membership_path: str,
    *,
    clusters: Sequence[str] | None = None,
    settings: TFPSettings = TFP_SETTINGS,
) -> EstimationPanel:
    """Firm-year log TFP and the balanced panel of the chapter, from the data files.

    TFP comes from :func:`clusterpolicy.studies.productivity.firm_tfp` (production functions by
    industry with membership in the law of motion; cached); the rest is
    :func:`panel_from_tfp`. The truth file beside ``panel_path`` is read when there is one.

    Parameters
    ----------
    panel_path, membership_path
        The firm panel and the membership file.
    clusters
        The cluster names the membership file may use, in the order of the tables.
    settings
        How TFP is measured.

    Returns
    -------
    EstimationPanel
    """
    truth = synthetic.read_truth(panel_path)
    fit = firm_tfp(panel_path, membership_path, clusters=clusters, settings=settings)
    return panel_from_tfp(fit.data, read.load_membership(membership_path, clusters=clusters),
                          clusters=clusters, truth=truth, notes=add_notes({}, TFP_SOURCE, fit.notes))


def panel_from_tfp(
    full: pd.DataFrame,
    membership: pd.DataFrame,
    *,
    clusters: Sequence[str] | None = None,
    truth: dict[str, Any] | None = None,
    notes: Notes | None = None,
) -> EstimationPanel:
    """The balanced panel and its counts, from a firm-year TFP panel.

    The balanced panel keeps the firms with TFP in every year (:func:`balanced_panel`), so that
    every estimator uses one sample, and adds the pre-period covariates
    (:func:`add_firm_covariates` of log TFP, employment and log employment).

    Parameters
    ----------
    full
        Firm-years with ``firm_id, year, cohort, member, log_tfp, employment,
        log_employment`` (and what :func:`add_firm_covariates` uses: ``founding_year``,
        ``log_capital``), e.g. the ``data`` of a
        :class:`~clusterpolicy.studies.productivity.FirmTFP`.
    membership
        The membership file as read (for the clusters of the members).
    clusters, truth, notes
        Stored in the result (see :class:`EstimationPanel`).

    Returns
    -------
    EstimationPanel
    """
    years = tuple(sorted(int(y) for y in full[TIME].unique()))
    ended = full[(full[COHORT] > 0) & (full[TIME] >= full[COHORT]) & (full["member"] == 0)]
    balanced, sample_table = balanced_panel(full)
    first_cohort = balanced.loc[balanced[COHORT] > 0, COHORT].min()
    if pd.notna(first_cohort) and (balanced[TIME] < first_cohort).any():
        panel, pre_years = add_firm_covariates(balanced, ["log_tfp", "employment", "log_employment"])
    else:  # no member, or all joined in the first year: no pre-period (design_problem says so)
        panel, pre_years = balanced.copy(), []
    unit_cohort = panel.groupby(UNIT)[COHORT].first()
    cohorts = tuple(sorted(int(g) for g in unit_cohort.unique() if g > 0))
    cohort_table = pd.DataFrame({
        "cohort (first join)": [str(g) for g in cohorts] + ["never (controls)"],
        "firms": [int((unit_cohort == g).sum()) for g in cohorts] + [int((unit_cohort == 0).sum())],
        "years observed after joining": [sum(y >= g for y in years) for g in cohorts] + [0],
    }).set_index("cohort (first join)")
    return EstimationPanel(
        full=full, panel=panel, membership=membership,
        clusters=None if clusters is None else tuple(clusters), truth=truth,
        years=years, pre_years=tuple(pre_years), cohorts=cohorts,
        sample_table=sample_table.astype(float), cohort_table=cohort_table,
        n_firms_tfp=int(full[UNIT].nunique()),
        n_members_tfp=int(full.loc[full[COHORT] > 0, UNIT].nunique()),
        n_membership_ended=int(ended[UNIT].nunique()),
        n_firms_balanced=int(panel[UNIT].nunique()),
        n_treated=int((unit_cohort > 0).sum()), n_never=int((unit_cohort == 0).sum()),
        notes=dict(notes or {}),
    )


# ----------------------------------------------------------------------------------------------
# The study's design: conditional DiD
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchedDiD:
    """The conditional (matched) DiD on the balanced panel.

    Attributes
    ----------
    fit
        The estimator's result (:class:`clusterpolicy.estimators.did.ConditionalDiDResults`).
    att, se, ci_low, ci_high, percent
        The effect on log TFP, its standard error (clustered by firm), the 95% normal interval
        and the effect in percent (``100 * expm1(att)``).
    unmatched_att, unmatched_se
        The same DiD with every never-member as control, without matching.
    balance_table
        Covariates (labelled) by members, others, SMD before; matched members, controls, SMD and
        variance ratio after; the logit score; the largest absolute industry SMD.
    max_smd_before, max_smd_after
        Largest absolute SMD over every covariate, industry indicators included.
    n_industries
        Industry indicators among the covariates.
    n_treated, n_matched, n_off_support, n_no_caliper
        Members; matched; off the common support; without a control within the caliper.
    by_cohort
        Matched members, controls and effect per cohort (index ``cohort``, text).
    notes
        Source ``conditional DiD``.
    """

    fit: did.ConditionalDiDResults
    att: float
    se: float
    ci_low: float
    ci_high: float
    percent: float
    unmatched_att: float
    unmatched_se: float
    balance_table: pd.DataFrame
    max_smd_before: float
    max_smd_after: float
    n_industries: int
    n_treated: int
    n_matched: int
    n_off_support: int
    n_no_caliper: int
    by_cohort: pd.DataFrame
    notes: Notes


BALANCE_COLUMNS = {"mean_treated": "members", "mean_control": "others", "smd_before": "SMD before",
                   "mean_treated_matched": "members matched",
                   "mean_control_matched": "controls matched", "smd_after": "SMD after",
                   "var_ratio_after": "VR after"}


def balance_table(balance: pd.DataFrame, covariates: Sequence[str] = COVARIATES) -> pd.DataFrame:
    """The page's balance table from the estimator's.

    Parameters
    ----------
    balance : DataFrame
        ``ConditionalDiDResults.balance``: one row per covariate, industry indicator
        (``nace2=...``) and the distance (``distance...``), columns of :data:`BALANCE_COLUMNS`.
    covariates : sequence of str
        The matching covariates, in the order of the table.

    Returns
    -------
    DataFrame
        Numeric covariates (labelled with :data:`COVARIATE_LABELS`), then ``logit score``, then
        ``industry (largest)``: the largest absolute SMD over the industry indicators before and
        after matching (when there are any). Index ``covariate``; columns renamed for the page.
    """
    numeric = [c for c in covariates if c in balance.index]
    industry_rows = [r for r in balance.index if r.startswith("nace2=")]
    distance_row = [r for r in balance.index if r.startswith("distance")]
    table = balance.loc[numeric + distance_row, list(BALANCE_COLUMNS)].rename(columns=BALANCE_COLUMNS)
    table.index = [COVARIATE_LABELS.get(r, r) for r in numeric] + ["logit score" for _ in distance_row]
    if industry_rows:
        ind = balance.loc[industry_rows]
        table.loc["industry (largest)"] = [np.nan, np.nan, ind["smd_before"].abs().max(), np.nan,
                                           np.nan, ind["smd_after"].abs().max(), np.nan]
    table.index.name = "covariate"
    return table


def matched_did(data: EstimationPanel, *, caliper: float, seed: int) -> MatchedDiD:
    """The study's design on the balanced panel.

    Each member is matched to the never-member with the nearest logit propensity score (no
    replacement, a caliper, common support) on :data:`COVARIATES`; then the DiD compares the
    change of mean log TFP from before to after the member's join year between the member and
    its match (:func:`clusterpolicy.estimators.did.conditional_did`).

    Parameters
    ----------
    data : EstimationPanel
        The chapter's data.
    caliper : float
        In standard deviations of the logit score.
    seed : int
        Seed of the matching (ties).

    Returns
    -------
    MatchedDiD
    """
    notes: Notes = {}
    fit = _noted(notes, "conditional DiD", lambda: did.conditional_did(
        data.panel, Y, UNIT, TIME, COHORT, list(COVARIATES), caliper=caliper, seed=seed))
    att, se = float(fit.params["ATT"]), float(fit.std_errors["ATT"])
    bal = fit.balance
    support = fit.support["value"]
    by_cohort = fit.by_cohort.rename(columns={"n_treated": "members matched", "n_controls": "controls",
                                              "att": "effect (log points)"})
    by_cohort["cohort"] = by_cohort["cohort"].astype(str)
    return MatchedDiD(
        fit=fit, att=att, se=se, ci_low=att - 1.96 * se, ci_high=att + 1.96 * se,
        percent=float(100 * np.expm1(att)),
        unmatched_att=float(fit.unmatched.params["ATT"]),
        unmatched_se=float(fit.unmatched.std_errors["ATT"]),
        balance_table=balance_table(bal),
        max_smd_before=float(bal["smd_before"].abs().max()),
        max_smd_after=float(bal["smd_after"].abs().max()),
        n_industries=sum(r.startswith("nace2=") for r in bal.index),
        n_treated=int(support["treated"]), n_matched=int(support["treated matched"]),
        n_off_support=int(support["treated off support (dropped)"]),
        n_no_caliper=int(support["treated without match in caliper (dropped)"]),
        by_cohort=by_cohort.set_index("cohort"), notes=notes,
    )


# ----------------------------------------------------------------------------------------------
# TWFE and what it averages
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TWFEDiagnostics:
    """TWFE and what it averages (Goodman-Bacon; de Chaisemartin and D'Haultfoeuille).

    Attributes
    ----------
    fit, bacon
        The TWFE and Goodman-Bacon results.
    att, se
        The TWFE coefficient of the membership dummy and its standard error.
    bacon_table
        Weight and average 2x2 DiD by comparison type (index ``comparison``).
    clean_weight, forbidden_weight
        Weight of the comparisons with never-members; of those with earlier (or always)
        treated firms as controls.
    twfe_from_bacon
        The weighted sum of the 2x2 estimates (equals ``att``).
    n_weight_cells, n_negative_weights, negative_weight_sum, min_weight
        Treated (cohort, year) cells; those with a negative weight and their total weight; the
        smallest weight.
    weight_first_per1000, weight_last_per1000, last_event_time
        A firm's weight per year (per thousand) in its join year and in the last event time
        observed, and that event time.
    clean_dominates
        Whether the comparisons with never-members carry at least 0.8 of the weight.
    notes
        Sources ``TWFE`` and ``Goodman-Bacon decomposition``.
    """

    fit: did.DiDResults
    bacon: did.BaconResults
    att: float
    se: float
    bacon_table: pd.DataFrame
    clean_weight: float
    forbidden_weight: float
    twfe_from_bacon: float
    n_weight_cells: int
    n_negative_weights: int
    negative_weight_sum: float
    min_weight: float
    weight_first_per1000: float
    weight_last_per1000: float
    last_event_time: int
    clean_dominates: bool
    notes: Notes

    @property
    def has_negative_weights(self) -> bool:
        """Whether some treated (cohort, year) cell enters TWFE with a negative weight."""
        return self.n_negative_weights > 0


#: Share of the TWFE weight on clean comparisons above which TWFE cannot stray far from them.
CLEAN_WEIGHT_DOMINANT = 0.8


def twfe_diagnostics(data: EstimationPanel) -> TWFEDiagnostics:
    """TWFE on the balanced panel, its Goodman-Bacon decomposition and the cell weights.

    Parameters
    ----------
    data : EstimationPanel
        The chapter's data.

    Returns
    -------
    TWFEDiagnostics
    """
    notes: Notes = {}
    fit = _noted(notes, "TWFE", lambda: did.twfe(data.panel, Y, UNIT, TIME, cohort=COHORT))
    bc = _noted(notes, "Goodman-Bacon decomposition",
                lambda: did.bacon(data.panel, Y, UNIT, TIME, COHORT))
    by_type = bc.by_type.rename(columns={"type": "comparison", "avg_est": "average 2x2 DiD"})
    w_by_type = dict(zip(bc.by_type["type"], bc.by_type["weight"], strict=True))
    weights = bc.twfe_weights
    negative = weights["weight"] < 0
    by_e = weights.groupby("event_time").apply(
        lambda g: g["weight"].sum() / g["n_units"].sum() * 1000, include_groups=False)
    clean = float(w_by_type.get("Treated vs Untreated", 0.0))
    return TWFEDiagnostics(
        fit=fit, bacon=bc, att=float(fit.params["post"]), se=float(fit.std_errors["post"]),
        bacon_table=by_type.set_index("comparison"), clean_weight=clean,
        forbidden_weight=float(w_by_type.get("Later vs Earlier Treated", 0.0)
                               + w_by_type.get("Later vs Always Treated", 0.0)),
        twfe_from_bacon=bc.twfe_estimate, n_weight_cells=len(weights),
        n_negative_weights=int(negative.sum()),
        negative_weight_sum=float(weights.loc[negative, "weight"].sum()),
        min_weight=float(weights["weight"].min()),
        weight_first_per1000=float(by_e.iloc[0]), weight_last_per1000=float(by_e.iloc[-1]),
        last_event_time=int(by_e.index[-1]), clean_dominates=clean >= CLEAN_WEIGHT_DOMINANT,
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------
# Staggered DiD: Callaway and Sant'Anna, event studies
# ----------------------------------------------------------------------------------------------
#: Comparison groups of Callaway-Sant'Anna, each as the estimator's name and the page's label.
CS_CONTROLS = (("never", "never members"), ("notyet", "never and not-yet members"))


@dataclass(frozen=True)
class StaggeredDiD:
    """Callaway-Sant'Anna in four specifications, and the event studies.

    Attributes
    ----------
    fits
        ``(control, with covariates)`` -> (fit, simple aggregation), control ``"never"`` or
        ``"notyet"``, in the order never/none, never/covariates, notyet/none, notyet/covariates.
    table
        Simple ATT, SE and the Wald pre-test (chi2, df, p) per specification (index control
        group, covariates).
    att, se
        Simple ATT with never-members as controls and no covariates (the main specification).
    pretest_p, pretest_df, pretest_min_p, pretest_verdict
        The main specification's pre-test; the smallest p over the specifications reporting
        one; ``"does not reject"`` / ``"rejects"`` at 5%.
    intervals
        How the main specification's bands are obtained (e.g. ``"pointwise 95%"``).
    universal, dynamic
        The fit with a universal base period (never-members) and its dynamic aggregation.
    twfe_event_study
        The TWFE event study as a table ``event_time, att, se`` (e = -1 is the reference, 0).
    effect_on_impact, effect_last, last_event_time
        The dynamic effect in the join year and at the last event time observed.
    notes
        One source per specification, ``Callaway-Sant'Anna (universal base period)`` and
        ``TWFE event study``.
    """

    fits: dict[tuple[str, bool], tuple[did.CallawaySantAnnaResults, did.AggregateResults]]
    table: pd.DataFrame
    att: float
    se: float
    pretest_p: float
    pretest_df: int
    pretest_min_p: float
    pretest_verdict: str
    intervals: str
    universal: did.CallawaySantAnnaResults
    dynamic: did.AggregateResults
    twfe_event_study: pd.DataFrame
    effect_on_impact: float
    effect_last: float
    last_event_time: int
    notes: Notes


def staggered_did(data: EstimationPanel, *, bootstrap: bool, biters: int, seed: int) -> StaggeredDiD:
    """Callaway-Sant'Anna and the event studies on the balanced panel.

    Four specifications of the doubly robust estimator (never or never and not-yet members as
    controls, without and with :data:`CS_COVARIATES`, the firm means over the pre-period of
    age and capital intensity added here), the event study with a universal base period
    (never-members) and the TWFE event study.

    Parameters
    ----------
    data : EstimationPanel
        The chapter's data.
    bootstrap, biters, seed
        Inference of :func:`clusterpolicy.estimators.did.callaway_santanna` (multiplier
        bootstrap or analytic; replications; seed).

    Returns
    -------
    StaggeredDiD
    """
    notes: Notes = {}
    panel = data.panel
    pre_rows = panel[panel[TIME].isin(data.pre_years)]
    panel = panel.assign(
        age_pre=panel[UNIT].map(pre_rows.groupby(UNIT)["age"].mean()),
        pre_capital_intensity=panel[UNIT].map(pre_rows.groupby(UNIT)["capital_intensity"].mean()))
    fits, rows = {}, []
    for control, control_label in CS_CONTROLS:
        for covs, cov_label in ((None, "none"), (list(CS_COVARIATES), "pre-period covariates")):
            source = f"Callaway-Sant'Anna ({control_label}, covariates: {cov_label})"
            fit = _noted(notes, source, lambda control=control, covs=covs: did.callaway_santanna(
                panel, Y, UNIT, TIME, COHORT, control=control, covariates=covs, method="dr",
                bootstrap=bootstrap, biters=biters, seed=seed))
            simple = _noted(notes, source, lambda fit=fit: fit.aggregate("simple"))
            fits[(control, covs is not None)] = (fit, simple)
            rows.append({"control group": control_label, "covariates": cov_label,
                         "ATT (simple)": simple.att, "SE": simple.se,
                         "pre-test chi2": fit.pretest["wald_stat"], "df": fit.pretest["df"],
                         "pre-test p": fit.pretest["p_value"]})
    table = pd.DataFrame(rows).set_index(["control group", "covariates"])
    main, simple = fits[("never", False)]
    source = "Callaway-Sant'Anna (universal base period)"
    universal = _noted(notes, source, lambda: did.callaway_santanna(
        panel, Y, UNIT, TIME, COHORT, control="never", base_period="universal",
        bootstrap=bootstrap, biters=biters, seed=seed))
    dynamic = _noted(notes, source, lambda: universal.aggregate("dynamic"))
    es = _noted(notes, "TWFE event study", lambda: did.twfe_event_study(panel, Y, UNIT, TIME, COHORT))
    es_table = pd.DataFrame({"event_time": [int(n.split("=")[1]) for n in es.params.index],
                             "att": es.params.to_numpy(), "se": es.std_errors.to_numpy()})
    es_table = pd.concat([es_table, pd.DataFrame({"event_time": [-1], "att": [0.0], "se": [0.0]})])
    post = dynamic.table[dynamic.table["event_time"] >= 0]
    pretest_p = float(main.pretest["p_value"])
    return StaggeredDiD(
        fits=fits, table=table, att=simple.att, se=simple.se, pretest_p=pretest_p,
        pretest_df=int(main.pretest["df"]), pretest_min_p=float(table["pre-test p"].min()),
        pretest_verdict="does not reject" if pretest_p >= 0.05 else "rejects",
        intervals=main.inference["intervals"], universal=universal, dynamic=dynamic,
        twfe_event_study=es_table.sort_values("event_time"),
        effect_on_impact=float(post["att"].iloc[0]), effect_last=float(post["att"].iloc[-1]),
        last_event_time=int(post["event_time"].iloc[-1]), notes=notes,
    )


def event_study_figure(
    staggered: StaggeredDiD,
    *,
    theta: float | None,
    published_range: tuple[float, float],
) -> Figure:
    """The event-study plot of the page.

    Parameters
    ----------
    staggered : StaggeredDiD
        Its dynamic aggregation (never-members, no covariates, universal base period) is drawn
        with its band, and its TWFE event study with 95% intervals.
    theta : float or None
        The true effect (synthetic data), drawn as a dashed line.
    published_range : tuple of float
        The published (low, high) range, drawn as a grey band when there is no ``theta`` (real
        data).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    if theta is not None:
        ax.axhline(theta, color="0.3", linestyle="--", linewidth=1, label=f"true effect ({theta:.3f})")
    else:
        ax.axhspan(*published_range, color="0.85", label="published range")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.axvline(-0.5, color="0.6", linestyle=":", linewidth=1)
    t = staggered.dynamic.table
    ax.fill_between(t["event_time"], t["conf_low"], t["conf_high"], color="C0", alpha=0.2,
                    label="Callaway-Sant'Anna, 95% band")
    ax.plot(t["event_time"], t["att"], "o-", color="C0", label="Callaway-Sant'Anna (never members)")
    es = staggered.twfe_event_study
    ax.errorbar(es["event_time"] + 0.15, es["att"], yerr=1.96 * es["se"], fmt="s", color="C1",
                markersize=4, capsize=2, label="TWFE event study, 95% CI")
    ax.set_xlabel("years since joining a cluster (0 = join year)")
    ax.set_ylabel("effect on log TFP (log points)")
    ax.legend(fontsize="small", loc="upper left")
    return fig


# ----------------------------------------------------------------------------------------------
# Sensitivity to violations of parallel trends
# ----------------------------------------------------------------------------------------------
#: What the robust intervals say, one case each (see :func:`honest_case`).
HONEST_CASES = (
    "zero_under_parallel_trends",  # the interval includes zero already under exact parallel trends
    "robust_to_twice",  # significant for every Mbar of a grid reaching 2 or more
    "robust_in_grid",  # significant for every Mbar of a grid below 2
    "fragile",  # significant only at Mbar = 0
    "breaks_down",  # significant up to some Mbar > 0, not beyond
    "zero_from_smallest",  # includes zero from the smallest Mbar of a grid without 0
)


def honest_case(bounds: pd.DataFrame, breakdown: float, mbar: Sequence[float]) -> tuple[str, float]:
    """What the robust intervals say: one of :data:`HONEST_CASES`.

    Parameters
    ----------
    bounds : DataFrame
        ``HonestDiDResults.bounds`` (first row: exact parallel trends).
    breakdown : float
        The smallest Mbar of the grid whose interval includes zero (NaN: none, or already under
        exact parallel trends).
    mbar : sequence of float
        The grid.

    Returns
    -------
    case : str
        One of :data:`HONEST_CASES`.
    last_excluding : float
        The largest Mbar of the grid below ``breakdown`` (NaN when there is none).
    """
    if np.isnan(breakdown):
        if bounds["contains_zero"].iloc[0]:
            return "zero_under_parallel_trends", float("nan")
        return ("robust_to_twice" if max(mbar) >= 2 else "robust_in_grid"), float("nan")
    rm = bounds[bounds["restriction"] == "relative_magnitude"].sort_values("M")
    below = rm.loc[rm["M"] < breakdown, "M"]
    if not len(below):
        return "zero_from_smallest", float("nan")
    last = float(below.max())
    return ("fragile" if last == 0 else "breaks_down"), last


@dataclass(frozen=True)
class Sensitivity:
    """Robust confidence sets (Rambachan and Roth) for the effect in the join year.

    Attributes
    ----------
    fit
        The HonestDiD result.
    table
        Lower and upper bound and whether zero is included, by restriction and Mbar.
    effect
        The event-study effect in the join year (exact parallel trends).
    case
        One of :data:`HONEST_CASES`.
    mbar_max
        The largest Mbar of the grid.
    thresholds
        The Mbars the page quotes, where the grid has them: ``breakdown`` (the first Mbar whose
        interval includes zero) and ``last_excluding`` (the largest Mbar below it).
    notes
        Source ``HonestDiD``.
    """

    fit: did.HonestDiDResults
    table: pd.DataFrame
    effect: float
    case: str
    mbar_max: float
    thresholds: dict[str, float]
    notes: Notes


def parallel_trends_sensitivity(staggered: StaggeredDiD, *, mbar: Sequence[float]) -> Sensitivity:
    """HonestDiD relative-magnitude bounds on the effect in the join year.

    Parameters
    ----------
    staggered : StaggeredDiD
        Its fit with a universal base period is the one the bounds use.
    mbar : sequence of float
        The grid of Mbar.

    Returns
    -------
    Sensitivity
    """
    notes: Notes = {}
    hd = _noted(notes, "HonestDiD", lambda: did.honest_did(
        staggered.universal, event_time=0, restrictions="relative_magnitude", mbar=list(mbar)))
    hb = hd.bounds.copy()
    hb["restriction"] = np.where(hb["restriction"] == "parallel trends", "exact parallel trends",
                                 "relative magnitude")
    hb = hb.rename(columns={"M": "Mbar", "lb": "lower bound", "ub": "upper bound",
                            "contains_zero": "includes zero"}).drop(columns=["method"])
    hb["Mbar"] = hb["Mbar"].map(lambda v: "–" if np.isnan(v) else f"{v:g}")
    breakdown = float(hd.breakdown.get("relative_magnitude", float("nan")))
    case, last = honest_case(hd.bounds, breakdown, mbar)
    thresholds = {k: v for k, v in (("breakdown", breakdown), ("last_excluding", last)) if np.isfinite(v)}
    return Sensitivity(fit=hd, table=hb.set_index(["restriction", "Mbar"]), effect=float(hd.params.iloc[0]),
                       case=case, mbar_max=float(max(mbar)), thresholds=thresholds, notes=notes)


# ----------------------------------------------------------------------------------------------
# Heterogeneity by firm size and by cluster
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupEffects:
    """The conditional DiD by subgroup of members, and the test of equal effects.

    Attributes
    ----------
    table
        Per group: members, matched, effect, SE, 95% CI (text) and a note when not estimated.
    test
        :func:`equality_test` over the estimated groups (``chi2, df, p_value, pooled``).
    """

    table: pd.DataFrame
    test: dict[str, float]

    @property
    def test_computed(self) -> bool:
        """Whether at least two groups were estimated, so the effects can be compared."""
        return not np.isnan(self.test["p_value"])

    @property
    def verdict(self) -> str:
        return significance_verdict(self.test["p_value"])

    @property
    def n_estimated(self) -> int:
        return int(self.table["effect"].notna().sum())

    @property
    def n_groups(self) -> int:
        return len(self.table)


def group_effects(
    panel: pd.DataFrame,
    group_of: pd.Series,
    groups: Sequence[Any],
    *,
    label: str,
    min_treated: int,
    caliper: float,
    seed: int,
    notes: Notes,
) -> GroupEffects:
    """The conditional DiD for the members of each group, with every never-member as control.

    Parameters
    ----------
    panel
        The balanced panel (with :data:`COVARIATES`).
    group_of
        Firm -> group (index: firm id; cohort read from ``panel``).
    groups
        The groups, in the order of the table (index ``label``).
    min_treated
        Groups with fewer members are not estimated (said in the ``note`` column); a group whose
        estimation raises ``ValueError`` is reported the same way.
    caliper, seed
        Matching options.
    notes
        Receives each group's notes under ``"{label}: {group}"``.

    Returns
    -------
    GroupEffects
    """
    cohort = panel.groupby(UNIT)[COHORT].first()
    rows = []
    for group in groups:
        treated_ids = cohort.index[(cohort > 0) & (group_of.reindex(cohort.index) == group)]
        row = {label: str(group), "members": len(treated_ids), "effect": np.nan, "SE": np.nan,
               "matched": 0, "note": ""}
        rows.append(row)
        if len(treated_ids) < min_treated:
            row["note"] = f"fewer than {min_treated} members: not estimated"
            continue
        sub = panel[panel[UNIT].isin(treated_ids) | (panel[COHORT] == 0)]
        try:
            fit = _noted(notes, f"{label}: {group}", lambda sub=sub: did.conditional_did(
                sub, Y, UNIT, TIME, COHORT, list(COVARIATES), caliper=caliper, seed=seed))
        except ValueError as exc:
            row["note"] = f"not estimated: {exc}"
            continue
        row.update(effect=float(fit.params["ATT"]), SE=float(fit.std_errors["ATT"]),
                   matched=int(fit.extra["n_treated"]))
    table = pd.DataFrame(rows).set_index(label)
    table["95% CI"] = [("–" if np.isnan(e) else f"{e - 1.96 * s:.3f} to {e + 1.96 * s:.3f}")
                       for e, s in zip(table["effect"], table["SE"], strict=True)]
    test = equality_test(table["effect"], table["SE"])
    return GroupEffects(table[["members", "matched", "effect", "SE", "95% CI", "note"]], test)


@dataclass(frozen=True)
class ClassMerge:
    """Size classes with too few members merged into a neighbour.

    A class of consecutive thresholds ``[t_k, t_{k+1})`` merged with a neighbour is the class
    without the threshold between them, so merging classes is dropping thresholds.

    Attributes
    ----------
    requested, thresholds
        The thresholds asked for, and those kept after merging.
    min_members
        The smallest number of members a class may have.
    counts_requested, counts
        Members per class (label -> count, in order) before and after merging.
    merges
        One sentence per merge, in the order made: which class, with how many members, was
        merged with which neighbour into which class.
    """

    requested: tuple[float, ...]
    thresholds: tuple[float, ...]
    min_members: int
    counts_requested: pd.Series
    counts: pd.Series
    merges: tuple[str, ...]

    @property
    def merged(self) -> bool:
        """Whether any class was merged."""
        return bool(self.merges)

    @property
    def n_classes(self) -> int:
        return len(self.counts)

    @property
    def text(self) -> str:
        """The merges as one sentence fragment (``"; "``-separated), or ``"none"``."""
        return "; ".join(self.merges) if self.merges else "none"

    @property
    def classes_text(self) -> str:
        """The classes kept with their members, ``"<10 (228), 10-<50 (791), >=50 (375)"``."""
        return ", ".join(f"{label} ({n:,})" for label, n in self.counts.items())


#: The label of the one class left when every threshold is dropped.
ALL_SIZES = "all sizes"


def threshold_classes(values: pd.Series, thresholds: Sequence[float]) -> pd.Series:
    """:func:`size_classes`, or one class :data:`ALL_SIZES` without thresholds."""
    if len(thresholds):
        return size_classes(values, thresholds)
    return pd.Series(pd.Categorical([ALL_SIZES] * len(values), categories=[ALL_SIZES]),
                     index=values.index, name="size class")


def merge_small_classes(values: pd.Series, thresholds: Sequence[float], min_members: int) -> ClassMerge:
    """Merge classes with fewer than ``min_members`` members into a neighbour.

    The smallest class below the minimum (the lower one on a tie) is merged first, with its
    neighbour that has fewer members (the lower one on a tie; a class at an end has one
    neighbour); the counts are recomputed and the rule repeated until every class has at least
    ``min_members`` members or one class is left.

    Parameters
    ----------
    values : Series
        The members' values of the class variable (pre-period mean FTE); missing values count
        in no class.
    thresholds : sequence of float
        Increasing thresholds (:func:`size_classes`).
    min_members : int
        The smallest number of members a class may have.

    Returns
    -------
    ClassMerge
    """
    requested = tuple(float(t) for t in thresholds)
    size_classes(pd.Series([], dtype=float), requested)  # checks the thresholds

    def count(cuts: Sequence[float]) -> pd.Series:
        return threshold_classes(values, cuts).value_counts(sort=False).astype(int)

    cuts = list(requested)
    counts_requested = counts = count(cuts)
    merges = []
    while len(cuts) and (counts < min_members).any():
        n = counts.to_numpy()
        k = min((i for i in range(len(n)) if n[i] < min_members), key=lambda i: (n[i], i))
        if k == 0:
            j = 1
        elif k == len(n) - 1:
            j = k - 1
        else:
            j = k - 1 if n[k - 1] <= n[k + 1] else k + 1
        del cuts[min(k, j)]
        new = count(cuts)
        into = new.index[min(k, j)]
        merges.append(f"{counts.index[k]} ({n[k]:,} members) merged with {counts.index[j]} "
                      f"({n[j]:,}) into {into}")
        counts = new
    return ClassMerge(requested=requested, thresholds=tuple(cuts), min_members=int(min_members),
                      counts_requested=counts_requested, counts=counts, merges=tuple(merges))


@dataclass(frozen=True)
class Heterogeneity:
    """The effect by size class and by cluster.

    Attributes
    ----------
    size, cluster
        :class:`GroupEffects` by size class (pre-period mean employment, classes with too few
        members merged: ``merge``) and by the cluster of the first join.
    size_thresholds
        The thresholds asked for, as text, ``"10, 50, 250"``.
    merge
        How the size classes were merged (:func:`merge_small_classes`).
    n_multi_cluster
        Members of the balanced panel in more than one cluster.
    notes
        Sources ``size class: <group>`` and ``cluster: <group>``.
    """

    size: GroupEffects
    cluster: GroupEffects
    size_thresholds: str
    merge: ClassMerge
    n_multi_cluster: int
    notes: Notes

    @property
    def size_thresholds_used(self) -> str:
        """The thresholds kept after merging, as text (``"none"`` when one class is left)."""
        return ", ".join(f"{t:g}" for t in self.merge.thresholds) or "none"


def heterogeneity(
    data: EstimationPanel,
    *,
    thresholds: Sequence[float],
    min_treated: int,
    caliper: float,
    seed: int,
) -> Heterogeneity:
    """The conditional DiD by size class and by cluster (``group_effects``).

    Size classes with fewer than ``min_treated`` members are first merged into a neighbour
    (:func:`merge_small_classes`), so that every size class left is estimated unless its
    matching fails; a cluster with fewer members is not estimated (clusters have no
    neighbours).

    Parameters
    ----------
    data : EstimationPanel
        The chapter's data; its membership file gives each member's cluster: the one it joined
        first (alphabetically first when it joined two in one year).
    thresholds : sequence of float
        Size classes of pre-period mean employment (:func:`size_classes`).
    min_treated : int
        Smallest number of members of a group that is estimated, and of a size class.
    caliper, seed
        Matching options.

    Returns
    -------
    Heterogeneity
    """
    panel = data.panel
    firm = panel.groupby(UNIT).agg(cohort=(COHORT, "first"), employment=("pre_employment", "first"))
    members = firm.index[firm["cohort"] > 0]
    merge = merge_small_classes(firm.loc[members, "employment"], thresholds, min_treated)
    firm["size class"] = threshold_classes(firm["employment"], merge.thresholds)
    joins = samples.first_join(data.membership).set_index(UNIT)
    firm["cluster"] = joins["clusters"].str.split("; ").str[0].reindex(firm.index)
    found = set(firm["cluster"].dropna())
    clusters = [c for c in (data.clusters or sorted(found)) if c in found]
    notes: Notes = {}
    options = {"min_treated": min_treated, "caliper": caliper, "seed": seed, "notes": notes}
    size = group_effects(panel, firm["size class"], list(firm["size class"].cat.categories),
                         label="size class", **options)
    cluster = group_effects(panel, firm["cluster"], clusters, label="cluster", **options)
    return Heterogeneity(size=size, cluster=cluster,
                         size_thresholds=", ".join(f"{t:g}" for t in thresholds), merge=merge,
                         n_multi_cluster=int((joins["n_clusters"].reindex(members) > 1).sum()),
                         notes=notes)


# ----------------------------------------------------------------------------------------------
# Continuous heterogeneity: the effect against size, age and capital intensity
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModeratorSpec:
    """A firm characteristic that may change the effect.

    Attributes
    ----------
    key
        Short name, used in glue names (``size``, ``age``, ``capint``).
    label
        The row of the page's table.
    column
        The panel column whose pre-period mean is the characteristic.
    variable
        What enters the interaction, in words.
    unit
        The unit of the characteristic as the page quotes its percentiles.
    transform, display
        Characteristic -> the interaction variable, and back.
    """

    key: str
    label: str
    column: str
    variable: str
    unit: str
    transform: Callable[[np.ndarray], np.ndarray]
    display: Callable[[np.ndarray], np.ndarray]


#: The moderators of the page, in the order of its table.
MODERATORS = (
    ModeratorSpec("size", "size", "employment", "log of pre-period mean FTE", "FTE",
                  np.log, np.exp),
    ModeratorSpec("age", "age", "age", "log of 1 + pre-period mean age", "years",
                  np.log1p, np.expm1),
    ModeratorSpec("capint", "capital intensity", "capital_intensity",
                  "pre-period mean of log capital per FTE", "log capital per FTE",
                  lambda x: x, lambda x: x),
)
#: Percentiles of the members' characteristic between which the contrast is taken.
CONTRAST_PERCENTILES = (10, 90)


@dataclass(frozen=True)
class Moderator:
    """The effect against one firm characteristic: the membership x characteristic
    interaction, and the difference it implies between members at two percentiles.

    Attributes
    ----------
    spec
        The characteristic (:class:`ModeratorSpec`).
    n
        Matched members in the regression.
    effect_at_mean
        The effect at the members' mean of the variable (close to the matched DiD's ATT).
    slope, slope_se
        Change of the effect per unit of the interaction variable, and its standard error
        (clustered by firm).
    low, high
        The 10th and 90th percentiles of the members' characteristic, in its unit.
    contrast, contrast_se
        The effect of a member at the 90th percentile minus one at the 10th:
        ``slope * (x90 - x10)``, and its standard error.
    test
        :func:`clusterpolicy.studies.equivalence.equivalence` of the contrast; None when not
        computed.
    reason
        Why the interaction was not estimated (empty when it was).
    """

    spec: ModeratorSpec
    n: int
    effect_at_mean: float
    slope: float
    slope_se: float
    low: float
    high: float
    contrast: float
    contrast_se: float
    test: equivalence.EquivalenceTest | None
    reason: str

    @property
    def computed(self) -> bool:
        return self.test is not None

    @property
    def outcome(self) -> str | None:
        """One of :data:`clusterpolicy.studies.equivalence.OUTCOMES`, None when not computed."""
        return None if self.test is None else self.test.outcome

    @property
    def summary(self) -> str:
        """The outcome in words, or why there is none."""
        return self.test.text if self.test is not None else f"not estimated: {self.reason}"


def matched_changes(panel: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The matched design's rows: each member's and each control's change of the outcome.

    As in :func:`clusterpolicy.estimators.did.conditional_did`: for a member of cohort g and
    its controls, the change is the mean of the outcome from g on minus the mean before;
    members and controls are stacked by cohort, a control weighted by the sum of its pairs'
    weights (1 / controls of the member).

    Parameters
    ----------
    panel : DataFrame
        The balanced panel (``firm_id, year, log_tfp``).
    pairs : DataFrame
        ``treated, control, cohort``, one row per (member, control) pair
        (``ConditionalDiDResults.matched``).

    Returns
    -------
    DataFrame
        ``unit, stack, dy, treated (1/0), w``; pairs missing either change are dropped.
    """
    columns = ["unit", "stack", "dy", "treated", "w"]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    wide = panel.pivot(index=UNIT, columns=TIME, values=Y)
    years = wide.columns.to_numpy()
    blocks = []
    for g, block in pairs.groupby("cohort"):
        change = wide.loc[:, years >= g].mean(axis=1) - wide.loc[:, years < g].mean(axis=1)
        blocks.append(block.assign(dy_treated=change.reindex(block["treated"]).to_numpy(),
                                   dy_control=change.reindex(block["control"]).to_numpy()))
    used = pd.concat(blocks).dropna(subset=["dy_treated", "dy_control"])
    used = used.assign(w=1.0 / used.groupby("treated")["control"].transform("size"))
    members = (used.drop_duplicates("treated")[["treated", "cohort", "dy_treated"]]
               .set_axis(["unit", "stack", "dy"], axis=1).assign(treated=1.0, w=1.0))
    controls = (used.groupby(["cohort", "control"], sort=True)
                .agg(dy=("dy_control", "first"), w=("w", "sum")).reset_index()
                .rename(columns={"cohort": "stack", "control": "unit"}).assign(treated=0.0))
    return pd.concat([members, controls], ignore_index=True)[columns]


def interaction_fit(rows: pd.DataFrame, x: pd.Series) -> tuple[float, float, float, float]:
    """The matched DiD with a membership x moderator interaction.

    Weighted least squares of the change ``dy`` on cohort-stack intercepts, the member dummy
    ``D``, the moderator ``x`` centred at the members' mean and ``D x``, with standard errors
    clustered by firm (CR1). The main effect of ``x`` lets the change of the outcome depend on
    the characteristic for members and controls alike (mean reversion of size, say), so the
    interaction measures how the *effect* changes with it.

    Parameters
    ----------
    rows : DataFrame
        :func:`matched_changes`.
    x : Series
        Firm -> moderator (no missing value for the firms of ``rows``).

    Returns
    -------
    effect, effect_se, slope, slope_se : float
        The effect at the members' mean of ``x`` (coefficient of ``D``) and the change of the
        effect per unit of ``x`` (coefficient of ``D x``).
    """
    d = rows["treated"].to_numpy(dtype=float)
    xv = x.reindex(rows["unit"]).to_numpy(dtype=float)
    xc = xv - xv[d == 1].mean()
    stacks = pd.get_dummies(rows["stack"].to_numpy()).to_numpy(dtype=float)
    design = np.column_stack([stacks, d, xc, d * xc])
    w = rows["w"].to_numpy(dtype=float)
    y = rows["dy"].to_numpy(dtype=float)
    bread = np.linalg.pinv(design.T @ (design * w[:, None]))
    beta = bread @ design.T @ (w * y)
    scores = design * (w * (y - design @ beta))[:, None]
    cluster = pd.factorize(rows["unit"])[0]
    summed = np.zeros((cluster.max() + 1, design.shape[1]))
    np.add.at(summed, cluster, scores)
    n, k, g = len(y), design.shape[1], summed.shape[0]
    cov = bread @ (summed.T @ summed) @ bread * (g / (g - 1)) * ((n - 1) / (n - k))
    at = stacks.shape[1]
    return (float(beta[at]), float(np.sqrt(cov[at, at])), float(beta[at + 2]),
            float(np.sqrt(cov[at + 2, at + 2])))


#: The fewest matched members an interaction is estimated on.
MIN_INTERACTION_MEMBERS = 3


def _moderator(spec: ModeratorSpec, rows: pd.DataFrame, panel: pd.DataFrame,
               pre_years: Sequence[int], bound: float, level: float, power: float) -> Moderator:
    empty = {"n": 0, "effect_at_mean": np.nan, "slope": np.nan, "slope_se": np.nan, "low": np.nan,
             "high": np.nan, "contrast": np.nan, "contrast_se": np.nan, "test": None}
    if spec.column not in panel:
        return Moderator(spec, reason=f"the data have no {spec.label} ({spec.column})", **empty)
    pre = panel[panel[TIME].isin(pre_years)]
    value = pre.groupby(UNIT)[spec.column].mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        x = pd.Series(spec.transform(value.to_numpy(dtype=float)), index=value.index)
    x = x[np.isfinite(x)]
    rows = rows[rows["unit"].isin(x.index)]
    members = rows.loc[rows["treated"] == 1, "unit"]
    n = int(members.nunique())
    empty["n"] = n
    if n < MIN_INTERACTION_MEMBERS or not (rows["treated"] == 0).any():
        return Moderator(spec, reason=(
            f"only {n} matched member(s) with a {spec.label} and a control (at least "
            f"{MIN_INTERACTION_MEMBERS} needed)"), **empty)
    x_low, x_high = np.percentile(x.reindex(members).to_numpy(), CONTRAST_PERCENTILES)
    if not x_high > x_low:
        return Moderator(spec, reason=(
            f"the matched members' {spec.label} does not vary between its "
            f"{CONTRAST_PERCENTILES[0]}th and {CONTRAST_PERCENTILES[1]}th percentiles"), **empty)
    effect, _, slope, slope_se = interaction_fit(rows, x)
    contrast, contrast_se = slope * (x_high - x_low), slope_se * (x_high - x_low)
    if not (np.isfinite(contrast) and np.isfinite(contrast_se) and contrast_se > 0):
        return Moderator(spec, reason="the interaction has no finite, positive standard error "
                         "on these data", **empty)
    test = equivalence.equivalence(contrast, contrast_se, bound, level=level, power=power)
    low, high = spec.display(np.array([x_low, x_high]))
    return Moderator(spec, n=n, effect_at_mean=effect, slope=slope, slope_se=slope_se,
                     low=float(low), high=float(high), contrast=contrast, contrast_se=contrast_se,
                     test=test, reason="")


@dataclass(frozen=True)
class Moderation:
    """The effect against size, age and capital intensity, with equivalence tests.

    Attributes
    ----------
    moderators
        Key (``size``, ``age``, ``capint``) -> :class:`Moderator`.
    table
        One row per moderator: the variable, matched members, the 10th-90th percentile range,
        slope and SE, the 90th-minus-10th contrast with SE, p of a zero difference, TOST p, MDD
        and the outcome (or why it is missing).
    bound, level, power
        The equivalence bound (log points), the size of the tests and the power of the MDD.
    n_pairs
        Matched members with a change of log TFP before and after joining (and a control's).
    """

    moderators: dict[str, Moderator]
    table: pd.DataFrame
    bound: float
    level: float
    power: float
    n_pairs: int
    notes: Notes

    @property
    def flags(self) -> dict[str, bool]:
        """The flags the page glues, for each moderator ``KEY`` one ``KEY_<outcome>`` per
        equivalence outcome (the sentence that applies) and ``KEY_interaction_computed``."""
        out: dict[str, bool] = {}
        for key, m in self.moderators.items():
            for outcome in equivalence.OUTCOMES:
                out[f"{key}_{outcome.replace(' ', '_')}"] = m.outcome == outcome
            out[f"{key}_interaction_computed"] = m.computed
        return out

    @property
    def texts(self) -> dict[str, str]:
        """The texts the page glues, ``KEY_summary`` of each moderator and
        ``KEY_interaction_reason`` of those not computed."""
        out = {f"{key}_summary": m.summary for key, m in self.moderators.items()}
        out.update({f"{key}_interaction_reason": m.reason
                    for key, m in self.moderators.items() if not m.computed})
        return out

    @property
    def numbers(self) -> dict[str, float]:
        """The test's level and power, and per computed moderator its slope, 10th and 90th
        percentiles, contrast and equivalence test (``KEY_slope``, ``KEY_tost_p``, ...)."""
        out = {"mdd_power": self.power, "test_level": self.level,
               "tost_interval": 1 - 2 * self.level,
               "mdd_multiplier": equivalence.minimum_detectable_difference(
                   1.0, self.level, self.power)}
        for key, m in self.moderators.items():
            if not m.computed or m.test is None:
                continue
            out.update({f"{key}_{name}": value for name, value in (
                ("slope", m.slope), ("slope_se", m.slope_se), ("low", m.low), ("high", m.high),
                ("contrast", m.contrast), ("contrast_se", m.contrast_se),
                ("contrast_lo", m.test.ci_low), ("contrast_hi", m.test.ci_high),
                ("diff_p", m.test.p_difference), ("tost_p", m.test.p_tost),
                ("mdd", m.test.mdd), ("smallest_bound", m.test.smallest_bound))})
        return out


def moderation(
    data: EstimationPanel,
    matched: MatchedDiD,
    *,
    bound: float,
    level: float = equivalence.LEVEL,
    power: float = equivalence.POWER,
) -> Moderation:
    """The membership x characteristic interactions of the study's design, tested for
    equivalence.

    The changes of log TFP of the matched members and their controls (:func:`matched_changes`
    on the pairs of ``matched``) are regressed on cohort-stack intercepts, membership, the
    firm's centred characteristic (:data:`MODERATORS`: log size, log age, log capital per FTE;
    pre-period means) and membership x characteristic (:func:`interaction_fit`, standard errors
    clustered by firm). The interaction's slope times the distance between the members' 10th and
    90th percentiles of the characteristic is the *contrast*: how much larger the effect is for
    a member at the 90th percentile than for one at the 10th. The contrast is tested with
    :func:`clusterpolicy.studies.equivalence.equivalence` against ``±bound``.

    Parameters
    ----------
    data : EstimationPanel
        The chapter's data.
    matched : MatchedDiD
        The study's design on it (its matched pairs).
    bound : float
        The equivalence bound (:func:`clusterpolicy.studies.equivalence.equivalence_bound`).
    level, power : float
        Size of the tests and power of the minimum detectable difference.

    Returns
    -------
    Moderation
        A characteristic the data lack, too few members or no variation give a moderator
        without a test and with the reason.
    """
    rows = matched_changes(data.panel, matched.fit.matched)
    moderators = {spec.key: _moderator(spec, rows, data.panel, data.pre_years, bound, level, power)
                  for spec in MODERATORS}
    lines = []
    for m in moderators.values():
        t = m.test
        lines.append({
            "characteristic": m.spec.label, "variable": m.spec.variable, "members": m.n,
            "10th–90th percentile": (f"{m.low:.3g} to {m.high:.3g} {m.spec.unit}" if m.computed
                                     else "–"),
            "slope": m.slope, "SE": m.slope_se,
            "difference 90th − 10th": m.contrast, "SE (difference)": m.contrast_se,
            "p (difference)": np.nan if t is None else t.p_difference,
            "TOST p": np.nan if t is None else t.p_tost,
            "MDD": np.nan if t is None else t.mdd,
            "outcome": m.summary if t is None else t.outcome})
    table = pd.DataFrame(lines).set_index("characteristic")
    return Moderation(moderators=moderators, table=table, bound=float(bound), level=level,
                      power=power, n_pairs=int((rows["treated"] == 1).sum()), notes={})


# ----------------------------------------------------------------------------------------------
# The specification table
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Specifications:
    """Every estimate of the chapter against the published range (and the truth).

    Attributes
    ----------
    table
        Per specification: sample, estimate, SE, 95% CI (text), ``vs published range`` and, on
        synthetic data, ``vs true effect``.
    n, n_inside, min, max
        Specifications; estimates inside the published range; smallest and largest estimate.
    n_cover_headline
        95% intervals that include the published headline.
    n_cover_truth
        95% intervals that cover the true effect (None on real data).
    notes
        Sources ``conditional DiD (all firms)``, ``TWFE (all firms)`` and ``Sun-Abraham``.
    """

    table: pd.DataFrame
    n: int
    n_inside: int
    min: float
    max: float
    n_cover_headline: int
    n_cover_truth: int | None
    notes: Notes


def specification_table(
    data: EstimationPanel,
    matched: MatchedDiD,
    twfe: TWFEDiagnostics,
    staggered: StaggeredDiD,
    *,
    caliper: float,
    seed: int,
    published_low: float,
    published_high: float,
    published_headline: float,
) -> Specifications:
    """Every estimate of the chapter in one table, with its verdicts.

    The estimates on the balanced panel, beside the conditional DiD on all firms observed in
    the last pre-period year, TWFE on all firms and Sun-Abraham; each row with
    :func:`range_verdict` and, on synthetic data, :func:`truth_verdict`.

    Parameters
    ----------
    data, matched, twfe, staggered
        The chapter's data and estimates.
    caliper, seed
        Matching options of the conditional DiD on all firms.
    published_low, published_high, published_headline
        The published range and headline effect (log points).

    Returns
    -------
    Specifications
    """
    notes: Notes = {}
    full, panel = data.full, data.panel
    full_cov, _ = add_firm_covariates(full, ["log_tfp"])
    full_cov = full_cov.dropna(subset=["last_pre_log_tfp"])
    cdid_all = _noted(notes, "conditional DiD (all firms)", lambda: did.conditional_did(
        full_cov, Y, UNIT, TIME, COHORT, list(COVARIATES), caliper=caliper, seed=seed))
    tw_all = _noted(notes, "TWFE (all firms)", lambda: did.twfe(full, Y, UNIT, TIME, cohort=COHORT))
    sa = _noted(notes, "Sun-Abraham", lambda: did.sun_abraham(panel, Y, UNIT, TIME, COHORT))
    sa_simple = _noted(notes, "Sun-Abraham", lambda: sa.aggregate("simple"))

    balanced = f"balanced ({panel[UNIT].nunique():,} firms)"
    spec = [
        ("conditional DiD (matched, the study's design)", balanced, matched.att, matched.se),
        ("conditional DiD (matched)",
         f"all firms observed in {data.pre_years[-1]} ({full_cov[UNIT].nunique():,} firms)",
         float(cdid_all.params["ATT"]), float(cdid_all.std_errors["ATT"])),
        ("DiD without matching (all never members)", balanced, matched.unmatched_att, matched.unmatched_se),
        ("TWFE", balanced, twfe.att, twfe.se),
        ("TWFE", f"all firms ({full[UNIT].nunique():,} firms, unbalanced)",
         float(tw_all.params["post"]), float(tw_all.std_errors["post"])),
    ]
    for (control, cov), (_, simple) in staggered.fits.items():
        label = ("Callaway–Sant'Anna, " + ("never members" if control == "never" else "not-yet members")
                 + (", covariates" if cov else ", no covariates"))
        spec.append((label, balanced, simple.att, simple.se))
    spec.append(("Sun–Abraham (interaction-weighted)", balanced, sa_simple.att, sa_simple.se))

    rows = []
    for name, sample, est, se in spec:
        row = {"specification": name, "sample": sample, "estimate": est, "SE": se,
               "95% CI": f"{est - 1.96 * se:.3f} to {est + 1.96 * se:.3f}",
               "vs published range": range_verdict(est, published_low, published_high)}
        if data.has_truth:
            row["vs true effect"] = truth_verdict(est, se, data.theta)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("specification")
    return Specifications(
        table=table, n=len(table),
        n_inside=int((table["vs published range"] == "inside the published range").sum()),
        min=float(table["estimate"].min()), max=float(table["estimate"].max()),
        n_cover_headline=int(sum(abs(e - published_headline) <= 1.96 * s for _, _, e, s in spec)),
        n_cover_truth=(int((table["vs true effect"] == "covers the truth").sum())
                       if data.has_truth else None),
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------
# Selection on productivity: the mean-reversion demonstration
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SelectionDemo:
    """Estimates on a synthetic panel whose firms select into clusters on pre-period TFP.

    Attributes
    ----------
    table
        Estimate, SE, bias and verdict against the truth, per estimator (index ``estimator``).
    theta
        The true effect.
    firms_generated, strength, n_firms
        Firms generated; the selection strength (per log point of TFP); firms in the balanced
        panel.
    unmatched, twfe, cs, mean_only, matched, matched_se
        DiD without matching; TWFE; Callaway-Sant'Anna without covariates; matched on the
        pre-period mean of TFP (and size, age, capital intensity, industry); matched also on
        the last pre-period TFP (this chapter's design), with its SE.
    matched_verdict
        :func:`truth_verdict` of the chapter's design.
    first_cohort, first_att
        The first cohort and its effect in the chapter's design.
    late_att
        The member-weighted mean effect of the later cohorts (NaN without one).
    notes
        Source ``selection demonstration``.
    """

    table: pd.DataFrame
    theta: float
    firms_generated: int
    strength: float
    n_firms: int
    unmatched: float
    twfe: float
    cs: float
    mean_only: float
    matched: float
    matched_se: float
    matched_verdict: str
    first_cohort: int
    first_att: float
    late_att: float
    notes: Notes

    @property
    def has_later_cohorts(self) -> bool:
        return bool(np.isfinite(self.late_att))


def selection_demonstration(
    truth: dict[str, Any],
    *,
    seed: int,
    firms: int,
    strength: float,
    caliper: float,
) -> SelectionDemo:
    """What selection on pre-period TFP does to the estimators.

    :func:`selection_panel` generates a panel with the DGP of ``truth`` and selection into
    membership on TFP in the year before each cluster starts; the effect on the *true* log TFP
    is estimated without matching, with TWFE, with Callaway-Sant'Anna, and with the conditional
    DiD matching on size, age, capital intensity and industry, then also on the pre-period mean
    of TFP, then also on its last pre-period level.

    Parameters
    ----------
    truth : dict
        The truth file of synthetic data (shape and DGP parameters).
    seed : int
        Seed of the generator and of the matching.
    firms : int
        Firms generated.
    strength : float
        Selection strength, per log point of TFP.
    caliper : float
        Matching caliper.

    Returns
    -------
    SelectionDemo
    """
    notes: Notes = {}
    source = "selection demonstration"
    demo, theta = _noted(notes, source, lambda: selection_panel(seed, firms, strength, truth))
    demo, _ = add_firm_covariates(demo, ["omega"])
    base = ["log_employment", "age", "capital_intensity", "nace2"]
    args = (demo, "omega", UNIT, TIME, COHORT)

    def matched(covariates: list[str]) -> did.ConditionalDiDResults:
        return _noted(notes, source, lambda: did.conditional_did(*args, covariates, caliper=caliper,
                                                                 seed=seed))

    d_none, d_mean = matched(base), matched([*base, "omega"])
    d_both = matched([*base, "omega", "last_pre_omega"])
    d_tw = _noted(notes, source, lambda: did.twfe(*args[:4], cohort=COHORT))
    d_cs = _noted(notes, source, lambda: did.callaway_santanna(*args, control="never").aggregate("simple"))
    rows = []
    for name, est, se in [
        ("DiD without matching (all never members)", d_none.unmatched.params["ATT"],
         d_none.unmatched.std_errors["ATT"]),
        ("TWFE", d_tw.params["post"], d_tw.std_errors["post"]),
        ("Callaway–Sant'Anna, never members, no covariates", d_cs.att, d_cs.se),
        ("matched on size, age, capital intensity, industry", d_none.params["ATT"], d_none.std_errors["ATT"]),
        ("... and pre-period mean TFP", d_mean.params["ATT"], d_mean.std_errors["ATT"]),
        ("... and pre-period mean and last pre-period TFP (this chapter's design)",
         d_both.params["ATT"], d_both.std_errors["ATT"]),
    ]:
        rows.append({"estimator": name, "estimate": float(est), "SE": float(se),
                     "bias": float(est) - theta,
                     "vs true effect": truth_verdict(float(est), float(se), theta)})
    by_cohort = d_both.by_cohort
    first = by_cohort.iloc[0]
    late = by_cohort[by_cohort["cohort"] > first["cohort"]]
    late_att = (float((late["att"] * late["n_treated"]).sum() / late["n_treated"].sum())
                if len(late) else float("nan"))
    matched_att, matched_se = float(d_both.params["ATT"]), float(d_both.std_errors["ATT"])
    return SelectionDemo(
        table=pd.DataFrame(rows).set_index("estimator"), theta=theta, firms_generated=int(firms),
        strength=float(strength), n_firms=int(demo[UNIT].nunique()),
        unmatched=float(d_none.unmatched.params["ATT"]), twfe=float(d_tw.params["post"]), cs=d_cs.att,
        mean_only=float(d_mean.params["ATT"]), matched=matched_att, matched_se=matched_se,
        matched_verdict=truth_verdict(matched_att, matched_se, theta),
        first_cohort=int(first["cohort"]), first_att=float(first["att"]), late_att=late_att,
        notes=notes,
    )






