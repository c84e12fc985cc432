"""The synthesis chapter (06): the two studies together on the firm panel of study 1.

Two questions neither study answers, each one call returning a frozen result:

* :func:`innovative_groups` - highly innovative firms (the panel's analogue of study 2's serial
  innovators) from their pre-period patenting, on the balanced TFP panel
  (:class:`InnovativeGroups`);
* :func:`tfp_effects_by_group` - the effect of membership on log TFP for each group, the test
  that they are equal and a TWFE regression with an interaction (:class:`GroupEffects`);
* :func:`export_samples` - the exporting samples from the panel file, every firm-year counted
  (:class:`ExportSamples`);
* :func:`export_effects` - the effect of membership on exporting: initiation (whether a firm
  exports) and intensity (the export share of exporters), with the truth of synthetic data
  (:class:`ExportEffects`);
* :func:`summary_table`, :func:`collect_notes`, :func:`tfp_event_figure`,
  :func:`export_event_figure` - the chapter's summary, estimator messages and figures;
  :func:`data_banner` - what the page says at its top about its data.

The verdict rules (:func:`difference_verdict`, :func:`significance_verdict`, ...) and number
formats of the tables (:func:`ci_text`, :func:`p_text`) live here too, so the chapter only
glues, tabulates and explains. Nothing here knows the Flemish programme: years, cohorts and
clusters are read from the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.core.notes import caught_warnings
from clusterpolicy.data import read
from clusterpolicy.estimators import did
from clusterpolicy.studies import cluster_effects as ce
from clusterpolicy.studies import productivity

__all__ = [
    "GROUPS",
    "INNOVATION_MEASURES",
    "MEASURE_TEXT",
    "ExportEffects",
    "ExportSamples",
    "GroupEffects",
    "InnovativeGroups",
    "Truth",
    "agreement_verdict",
    "ci_text",
    "collect_notes",
    "data_banner",
    "design_problem",
    "difference_verdict",
    "export_effects",
    "export_event_figure",
    "export_potential_outcomes",
    "export_samples",
    "group_difference_verdict",
    "innovative_firms",
    "innovative_groups",
    "normal_p_value",
    "notes_markdown",
    "p_text",
    "pretest_verdict",
    "read_truth",
    "significance_verdict",
    "summary_table",
    "tfp_effects_by_group",
    "tfp_event_figure",
    "truth_difference_verdict",
    "year_span",
]

#: The two groups compared, in the order of every table (the first is the "highly innovative").
GROUPS = ("highly innovative", "other")

#: How the page names each innovation measure of :func:`innovative_groups`.
MEASURE_TEXT = {"patents_per_fte": "patent applications per full-time employee",
                "patents": "patent applications"}

#: The source under which the notes of the TFP estimation are listed.

#: A note: where it comes from (an estimation step) and what it says.
Note = tuple[str, str]

T = TypeVar("T")


# -- formats and verdict rules ---------------------------------------------------------------
def year_span(years: Iterable[int]) -> str:
    """``"2013–2020"`` for several years (first–last), ``"2013"`` for one."""
    ordered = sorted(int(y) for y in years)
    if not ordered:
        raise ValueError("year_span: no year given")
    return f"{ordered[0]}–{ordered[-1]}" if len(ordered) > 1 else f"{ordered[0]}"


def ci_text(estimate: float, se: float) -> str:
    """The normal 95% interval as ``"low to high"`` (3 decimals); ``"–"`` when not estimated."""
    if not (np.isfinite(estimate) and np.isfinite(se)):
        return "–"
    return f"{estimate - 1.96 * se:.3f} to {estimate + 1.96 * se:.3f}"


def p_text(p: float) -> str:
    """A p-value for prose: ``"p < 0.001"``, ``"p = 0.042"``, or ``"–"`` when missing."""
    if not np.isfinite(p):
        return "–"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def normal_p_value(estimate: float, se: float) -> float:
    """Two-sided p-value of ``estimate / se`` against the standard normal (NaN if undefined)."""
    if np.isfinite(estimate) and np.isfinite(se) and se > 0:
        return float(2 * stats.norm.sf(abs(estimate / se)))
    return float("nan")


def difference_verdict(p: float, level: float = 0.05) -> str:
    """Whether the effect ``"differs"``, ``"does not differ"`` or ``"cannot be tested"``."""
    if np.isnan(p):
        return "cannot be tested"
    return "differs" if p < level else "does not differ"


def agreement_verdict(interaction_p: float, verdict: str, level: float = 0.05) -> str:
    """Whether the interaction regression leads to the conclusion of the test by group."""
    if np.isnan(interaction_p):
        return "could not be estimated"
    if (interaction_p < level) == (verdict == "differs"):
        return "leads to the same conclusion"
    return "leads to the opposite conclusion at the 5% level"


def truth_difference_verdict(verdict: str) -> str:
    """What the test by group did, when the true difference is zero (synthetic data)."""
    if verdict == "does not differ":
        return "the test correctly finds no difference"
    if verdict == "differs":
        return "the test rejects a true null here, which happens in 5% of samples by design"
    return "the test could not be run"


def significance_verdict(estimate: float, p: float, level: float = 0.05) -> str:
    """An effect is ``"significantly positive"``/``"negative"`` or ``"not significantly
    different from zero"`` at ``level``; ``"cannot be assessed"`` without a p-value."""
    if np.isnan(p):
        return "cannot be assessed"
    if p < level:
        return "significantly positive" if estimate > 0 else "significantly negative"
    return "not significantly different from zero"


def group_difference_verdict(p: float, level: float = 0.05) -> str:
    """The test of equal effects on exporting by group, for a parenthesis of the page."""
    return "the groups differ at the 5% level" if p < level else "no significant difference"


def pretest_verdict(p: float, level: float = 0.05) -> Literal["passes", "rejects", "not computed"]:
    """The pre-test of parallel trends: ``"passes"`` (not rejected), ``"rejects"``, or
    ``"not computed"``."""
    if np.isnan(p):
        return "not computed"
    return "passes" if p >= level else "rejects"


# -- notes -------------------------------------------------------------------------------------
class _Notes:
    """What the estimators told the reader, by source, in the order it was told."""

    def __init__(self) -> None:
        self.by_source: dict[str, list[str]] = {}

    def append(self, source: str, message: str) -> None:
        self.by_source.setdefault(source, []).append(message)

    def run(self, source: str, step: Callable[[], T]) -> T:
        """Run ``step`` with its warnings recorded under ``source``, then keep the notes of its
        result. When ``step`` raises, its warnings are dropped with it."""
        with caught_warnings() as messages:
            result = step()
        if messages:
            kept = self.by_source.setdefault(source, [])
            kept.extend(m for m in messages if m not in kept)
        notes = getattr(result, "notes", None)
        if notes:
            kept = self.by_source.setdefault(source, [])
            kept += [n for n in notes if n not in kept]
        return result

    def items(self) -> tuple[Note, ...]:
        return tuple((source, note) for source, notes in self.by_source.items() for note in notes)


def collect_notes(*results: Any) -> list[Note]:
    """The notes of several results (each with a ``notes`` tuple of ``(source, note)``), merged
    by source in the order the sources first appear."""
    merged: dict[str, list[str]] = {}
    for result in results:
        for source, note in result.notes:
            merged.setdefault(source, []).append(note)
    return [(source, note) for source, notes in merged.items() for note in notes]


def notes_markdown(notes: Iterable[Note]) -> str:
    """Notes as a MyST Markdown list, one ``* **source**: note`` item each (empty without notes)."""
    return "\n".join(f"* **{source}**: {note}" for source, note in notes)


# -- truth ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Truth:
    """What the truth file of a synthetic panel says about the chapter's questions.

    Attributes
    ----------
    theta
        The true effect of membership on log TFP, the same for every member.
    export_membership
        The direct shift of the logit of the export propensity by membership.
    export_tfp
        The response of that logit to log TFP.
    """

    theta: float
    export_membership: float
    export_tfp: float

    @property
    def export_via_tfp(self) -> float:
        """The shift of the export logit through membership's effect on TFP (export_tfp × theta)."""
        return self.export_tfp * self.theta


def data_banner(truth: Truth | None, synthetic_banner: str) -> str:
    """What the page says at its top about its data (MyST Markdown).

    On synthetic data: ``synthetic_banner`` (the book's label of synthetic data) and the true
    effect on TFP; on real data: that no truth file was found, so no comparison with a truth.
    """
    if truth is not None:
        return synthetic_banner + (
            f" In these data the true effect of membership on log TFP is **{truth.theta:.3f}** log "
            "points for every member firm, innovative or not, and membership raises the propensity "
            "to export; the tables below compare the estimates with this truth.")
    return ("These results are computed on the data files named in the run's parameters. No truth "
            "file was found beside them, so the comparisons with a known true effect are not shown.")


def read_truth(panel_path: str | os.PathLike[str]) -> Truth | None:
    """The truth of a synthetic panel (:func:`clusterpolicy.synthetic.read_truth`); ``None`` for
    data without a truth file (real data). Records the truth file as an input either way."""
    truth = synthetic.read_truth(panel_path)
    if truth is None:
        return None
    params = truth.get("params", {})
    return Truth(theta=float(truth["treatment"]["theta"]),
                 export_membership=float(params.get("export_membership", np.nan)),
                 export_tfp=float(params.get("export_tfp", np.nan)))


# -- highly innovative firms ---------------------------------------------------------------------
INNOVATION_MEASURES = ("patents_per_fte", "patents")


def innovative_firms(
    data: pd.DataFrame,
    pre_years: Sequence[int],
    *,
    measure: str = "patents_per_fte",
    quantile: float = 0.8,
    unit: str = "firm_id",
    time: str = "year",
    patents: str = "patents",
    employment: str = "employment",
) -> tuple[pd.DataFrame, float]:
    """Classify firms as highly innovative from their patenting in the pre-period only.

    Membership may itself raise patenting, so only the years of ``pre_years`` (before the
    first cohort) are used: the classification cannot be an outcome of the treatment.

    Parameters
    ----------
    data : DataFrame
        Long panel with ``unit``, ``time``, ``patents`` (yearly patent applications, may be
        missing) and ``employment`` (FTE).
    pre_years : sequence of int
        The pre-period, e.g. from
        :func:`~clusterpolicy.studies.cluster_effects.add_firm_covariates`.
    measure : {"patents_per_fte", "patents"}
        ``patents_per_fte``: mean yearly patents over mean employment in the pre-period
        years in which patents are observed (a ratio of means); ``patents``: mean yearly
        patents.
    quantile : float
        A firm is highly innovative when its measure lies strictly above this quantile of
        the measure over the classified firms *and* is positive: a firm without any patent
        is never highly innovative. When more than ``quantile`` of the firms hold no patent,
        the quantile is 0 and every firm with a patent is highly innovative (its share then
        exceeds ``1 - quantile``).
    unit, time, patents, employment : str
        Column names.

    Returns
    -------
    firms : DataFrame
        Index ``unit`` (every unit of ``data``); columns ``pre_years_observed`` (pre-period
        years with patents observed), ``pre_patents``, ``pre_employment``, ``measure`` (the
        chosen measure) and ``group``: ``"highly innovative"``, ``"other"`` or
        ``"not classified"`` (no pre-period year with patents and positive employment
        observed).
    threshold : float
        The quantile of the measure (NaN when no firm can be classified).

    Raises
    ------
    ValueError
        Unknown ``measure``, ``quantile`` outside (0, 1), missing columns or an empty
        pre-period.
    """
    if measure not in INNOVATION_MEASURES:
        raise ValueError(f"measure must be one of {', '.join(INNOVATION_MEASURES)}, got {measure!r}")
    if not 0 < float(quantile) < 1:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {quantile!r}")
    missing = [c for c in (unit, time, patents, employment) if c not in data]
    if missing:
        raise ValueError(f"innovative_firms: column(s) {', '.join(missing)} not in the data")
    pre_years = [int(y) for y in pre_years]
    if not pre_years:
        raise ValueError("innovative_firms: the pre-period is empty")
    units = pd.Index(pd.unique(data[unit]), name=unit)
    pre = data.loc[data[time].isin(pre_years) & data[patents].notna(), [unit, patents, employment]]
    agg = pre.groupby(unit).agg(
        pre_years_observed=(patents, "size"),
        pre_patents=(patents, "mean"),
        pre_employment=(employment, "mean"),
    )
    firms = agg.reindex(units)
    firms["pre_years_observed"] = firms["pre_years_observed"].fillna(0).astype(int)
    usable = (firms["pre_years_observed"] > 0) & (firms["pre_employment"] > 0)
    if measure == "patents_per_fte":
        value = firms["pre_patents"] / firms["pre_employment"]
    else:
        value = firms["pre_patents"].astype(float)
    firms["measure"] = value.where(usable)
    classified = firms["measure"].dropna()
    threshold = float(classified.quantile(float(quantile))) if len(classified) else float("nan")
    top = (firms["measure"] > threshold) & (firms["measure"] > 0)
    firms["group"] = np.where(~usable, "not classified", np.where(top, "highly innovative", "other"))
    return firms, threshold


def export_potential_outcomes(
    panel_path: str | Any,
    panel: pd.DataFrame | None = None,
    *,
    precision: float = 1e8,
) -> pd.DataFrame | None:
    """On a synthetic panel: each firm-year's exporting with and without the programme.

    The generator (:func:`clusterpolicy.synthetic.generate_panel`) draws every block of the
    data from its own named random stream, so regenerating the panel from its truth file with
    other parameters reuses the same random numbers (common random numbers). Four panels are
    regenerated:

    * the file's own parameters: must reproduce the file (rows, value added, which firm-years
      export); this checks the assumption;
    * ``theta = 0`` and ``export_membership = 0``: the world without the programme (no effect
      on TFP, hence none on employment or exporting through TFP, and no direct effect on the
      export propensity) - whether each firm-year would export;
    * both worlds with ``export_const`` so large that every firm-year exports and with
      ``export_precision`` so large that the beta-distributed export share equals its mean:
      the expected export share of turnover (value added + materials) if the firm exports.

    Parameters
    ----------
    panel_path : str or path-like
        The panel file; its ``*.truth.json`` is read with
        :func:`clusterpolicy.synthetic.read_truth`.
    panel : DataFrame, optional
        The panel as loaded by :func:`clusterpolicy.data.read.load_panel` (read when not
        given).
    precision : float
        ``export_precision`` of the expected-share worlds.

    Returns
    -------
    DataFrame or None
        ``None`` for data without a synthetic truth file (real data). Otherwise one row per
        row of ``panel`` (same index): ``firm_id``, ``year``, ``exporter_1``, ``exporter_0``
        (0/1; NaN where the file's exports are missing) and ``share_1``, ``share_0`` (expected
        export share with and without the programme). ``_1`` is the world of the file.

    Raises
    ------
    ValueError
        The truth file does not regenerate the file (another generator version, an edited
        file) or the regenerated worlds do not share the file's firm-years.
    """

    regenerated = synthetic.regenerate(panel_path, panel)
    if regenerated is None:
        return None
    panel = regenerated.panel

    def world(**overrides: Any) -> pd.DataFrame:
        generated = regenerated.world(**overrides) if overrides else regenerated.generated
        return regenerated.align(generated.panel)

    def exporter(frame: pd.DataFrame) -> np.ndarray:
        x = frame["exports"].to_numpy(dtype=float)
        return np.where(np.isnan(x), np.nan, (x > 0).astype(float))

    def share(frame: pd.DataFrame) -> np.ndarray:
        return (frame["exports"] / (frame["value_added"] + frame["materials"])).to_numpy(dtype=float)

    observed_exp = panel["exports"].to_numpy(dtype=float)
    observed = np.where(np.isnan(observed_exp), np.nan, (observed_exp > 0).astype(float))
    same = world()
    if not np.array_equal(exporter(same), observed, equal_nan=True):
        raise ValueError(f"{panel_path}: which firm-years export differs from the panel "
                         "regenerated from its truth file")
    off = {"theta": 0.0, "export_membership": 0.0}
    always = {"export_const": 50.0, "export_precision": float(precision)}
    out = pd.DataFrame({"firm_id": panel["firm_id"].to_numpy(), "year": panel["year"].to_numpy(),
                        "exporter_1": observed, "exporter_0": exporter(world(**off)),
                        "share_1": share(world(**always)), "share_0": share(world(**off, **always))},
                       index=panel.index)
    return out

@dataclass(frozen=True)
class InnovativeGroups:
    """The balanced TFP panel split into highly innovative and other firms.

    Attributes
    ----------
    panel
        The balanced TFP panel (firms with TFP in every year) with the pre-period covariates of
        :func:`~clusterpolicy.studies.cluster_effects.add_firm_covariates` and ``group``.
    firms
        One row per firm (index ``firm_id``): ``pre_years_observed``, ``pre_patents``,
        ``pre_employment``, ``measure``, ``group`` and ``cohort`` (0 = never member).
    years
        The years of the TFP panel.
    pre_years
        The pre-period: the years before the first cohort.
    measure, quantile
        The innovation measure and the quantile above which a firm is highly innovative.
    threshold
        That quantile of the measure.
    table
        By group (index ``group``; "not classified" only when some firm is): member firms,
        never members, share of members, mean patents per year and mean FTE in the pre-period.
    notes
        The notes of the TFP estimation, as ``(source, note)``.
    """

    panel: pd.DataFrame
    firms: pd.DataFrame
    years: tuple[int, ...]
    pre_years: tuple[int, ...]
    measure: str
    quantile: float
    threshold: float
    table: pd.DataFrame
    notes: tuple[Note, ...] = ()

    @property
    def measure_text(self) -> str:
        """The measure as the page names it."""
        return MEASURE_TEXT[self.measure]

    @property
    def quantile_pct(self) -> float:
        """The quantile in percent (80 for 0.8)."""
        return 100 * self.quantile

    @property
    def top_share_nominal(self) -> float:
        """The nominal share of highly innovative firms in percent, ``100 (1 - quantile)``."""
        return 100 * (1 - self.quantile)

    @property
    def n_firms(self) -> int:
        """Firms of the balanced TFP panel."""
        return int(self.panel["firm_id"].nunique())

    @property
    def n_unclassified(self) -> int:
        """Firms without a pre-period year with patents and employment observed."""
        return int((self.firms["group"] == "not classified").sum())

    @property
    def share_any_patent(self) -> float:
        """Share of the classified firms with any patent application in the pre-period."""
        classified = self.firms[self.firms["group"] != "not classified"]
        return float((classified["pre_patents"] > 0).mean())

    @property
    def share_innovative(self) -> float:
        """Share of the classified firms that are highly innovative."""
        classified = self.firms[self.firms["group"] != "not classified"]
        return float((classified["group"] == GROUPS[0]).mean())

    @property
    def has_never_members(self) -> bool:
        """Whether the balanced panel has a firm that never joined (the DiD needs controls)."""
        return bool((self.panel["cohort"] == 0).any())


def design_problem(data: pd.DataFrame) -> str | None:
    """Why the chapter's comparisons of members with never-members cannot be made on ``data``
    (firm-year TFP with ``firm_id, year, cohort``), or None.

    Like chapter 04's (:attr:`~clusterpolicy.studies.cluster_effects.EstimationPanel.design_problem`),
    on the balanced panel: at least :data:`~clusterpolicy.studies.cluster_effects.MIN_MEMBERS`
    members, a year before the first joined (the innovation classes are measured then) and
    never-members.
    """
    panel, _ = ce.balanced_panel(data)
    cohort = panel.groupby("firm_id")["cohort"].first()
    members = int((cohort > 0).sum())
    cannot = ("; none of this chapter's estimates can be computed on these data, and the "
              "scorecard marks its claims as not testable.")
    if members < ce.MIN_MEMBERS:
        return (f"The balanced TFP panel holds {members:,} member firm(s); this chapter compares "
                f"members with never-members and needs at least {ce.MIN_MEMBERS}" + cannot)
    first = int(cohort[cohort > 0].min())
    if not (panel["year"] < first).any():
        return (f"Every member of the balanced TFP panel joined in its first year, {first}: "
                "there is no pre-period in which to classify firms as highly innovative or to "
                "compare TFP before joining" + cannot)
    if not (cohort == 0).any():
        return (f"Every one of the {cohort.size:,} firms of the balanced TFP panel joined a "
                "cluster: there is no never-member. This chapter compares members with "
                "never-members, of the same group for TFP and in the exporting samples" + cannot)
    return None


def innovative_groups(
    data: pd.DataFrame,
    *,
    measure: str = "patents_per_fte",
    quantile: float = 0.8,
    tfp_notes: Sequence[str] = (),
) -> InnovativeGroups:
    """Balance the TFP panel and classify its firms as highly innovative or other.

    A firm is highly innovative when its pre-period ``measure`` lies above the ``quantile`` of
    all firms and is positive (:func:`innovative_firms`);
    only the years before the first cohort count, since membership may itself raise patenting.

    Parameters
    ----------
    data : DataFrame
        Firm-year log TFP (the ``data`` of a
        :class:`~clusterpolicy.studies.productivity.FirmTFP`): ``firm_id``, ``year``,
        ``cohort`` (0 = never member), ``log_tfp``, ``patents``, ``employment``.
    measure : {"patents_per_fte", "patents"}
        The innovation measure.
    quantile : float
        The quantile of the measure above which a firm is highly innovative.
    tfp_notes : sequence of str
        Notes of the TFP estimation, kept with the result for the page's notes.

    Returns
    -------
    InnovativeGroups
    """
    panel, _ = ce.balanced_panel(data)
    panel, pre_years = ce.add_firm_covariates(panel, ["log_tfp"])
    firms, threshold = innovative_firms(panel, pre_years, measure=measure, quantile=quantile)
    firms["cohort"] = panel.groupby("firm_id")["cohort"].first().reindex(firms.index)
    panel["group"] = panel["firm_id"].map(firms["group"])
    rows = []
    for group in [*GROUPS, "not classified"]:
        g = firms[firms["group"] == group]
        if group == "not classified" and g.empty:
            continue
        rows.append({"group": group, "member firms": int((g["cohort"] > 0).sum()),
                     "never members": int((g["cohort"] == 0).sum()),
                     "share of members": float((g["cohort"] > 0).mean()) if len(g) else np.nan,
                     "mean patents per year (pre-period)": float(g["pre_patents"].mean()),
                     "mean FTE (pre-period)": float(g["pre_employment"].mean())})
    years = tuple(sorted(int(y) for y in data["year"].unique()))
    return InnovativeGroups(
        panel=panel, firms=firms, years=years, pre_years=tuple(pre_years), measure=measure,
        quantile=quantile, threshold=threshold, table=pd.DataFrame(rows).set_index("group"),
        notes=tuple((productivity.TFP_SOURCE, note) for note in tfp_notes))


# -- the effect on TFP by group ------------------------------------------------------------------
@dataclass(frozen=True)
class GroupEffects:
    """The effect of membership on log TFP for highly innovative and other firms.

    Attributes
    ----------
    table
        One row per group (index ``group``): members, never members, the Callaway–Sant'Anna
        estimate (never members of the group as controls, simple aggregation) with its SE, 95%
        interval and pre-test p-value, TWFE with its SE, ``note`` (only when a group is not
        estimated) and, on synthetic data, ``vs true effect``.
    event_studies
        By estimated group, the dynamic aggregation (``event_time, att, se, conf_low,
        conf_high``).
    difference, difference_se
        Highly innovative minus other, and its standard error (independent samples).
    chi2, p_value
        The Wald test that the two effects are equal.
    verdict
        :func:`difference_verdict` of the test.
    interaction, interaction_se, interaction_p
        The membership × innovative term of one TWFE regression on both groups, with
        group-specific year effects.
    agreement
        :func:`agreement_verdict`: whether that regression agrees with the test.
    theta
        The true effect (synthetic data), else NaN.
    notes
        The estimators' notes, as ``(source, note)``.
    """

    table: pd.DataFrame
    event_studies: Mapping[str, pd.DataFrame]
    difference: float
    difference_se: float
    chi2: float
    p_value: float
    verdict: str
    interaction: float
    interaction_se: float
    interaction_p: float
    agreement: str
    theta: float = float("nan")
    notes: tuple[Note, ...] = ()

    def effect(self, group: str) -> float:
        """The Callaway–Sant'Anna effect of ``group`` (NaN when not estimated)."""
        return float(self.table.loc[group, "Callaway–Sant'Anna"])

    def effect_se(self, group: str) -> float:
        """Its standard error."""
        return float(self.table.loc[group, "SE"])

    def effect_twfe(self, group: str) -> float:
        """The TWFE effect of ``group``."""
        return float(self.table.loc[group, "TWFE"])

    @property
    def mde(self) -> float:
        """The difference detectable with 80% power at the 5% level (2.8 standard errors)."""
        return 2.8 * self.difference_se

    @property
    def truth_verdict(self) -> str:
        """:func:`truth_difference_verdict` of the test (the true difference is zero)."""
        return truth_difference_verdict(self.verdict)


def tfp_effects_by_group(
    groups: InnovativeGroups,
    *,
    min_treated: int = 20,
    truth: Truth | None = None,
) -> GroupEffects:
    """Estimate the effect of membership on log TFP separately for each group.

    Within each group, members are compared with never members *of the same group*:
    Callaway–Sant'Anna (never members as controls, universal base period, no covariates) and
    TWFE. A group with fewer than ``min_treated`` members, or whose estimation fails, is not
    estimated (the table says why). The two samples share no firm, so the difference has the
    standard error ``hypot(se_1, se_2)``. One TWFE regression on both groups with a membership ×
    innovative interaction and year effects by group checks the comparison.

    Parameters
    ----------
    groups : InnovativeGroups
        From :func:`innovative_groups`; must have never members.
    min_treated : int
        Fewest members of a group for its effect to be estimated.
    truth : Truth, optional
        On synthetic data: the table says whether each interval covers ``truth.theta``.

    Returns
    -------
    GroupEffects
    """
    notes = _Notes()
    panel = groups.panel
    theta = float("nan") if truth is None else truth.theta
    rows: list[dict[str, Any]] = []
    events: dict[str, pd.DataFrame] = {}
    for group in GROUPS:
        sub = panel[panel["group"] == group]
        n_treated = int(sub.loc[sub["cohort"] > 0, "firm_id"].nunique())
        row: dict[str, Any] = {
            "group": group, "members": n_treated,
            "never members": int(sub.loc[sub["cohort"] == 0, "firm_id"].nunique()),
            "Callaway–Sant'Anna": np.nan, "SE": np.nan, "95% CI": "–", "pre-test p": np.nan,
            "TWFE": np.nan, "TWFE SE": np.nan, "note": ""}
        rows.append(row)
        if n_treated < min_treated:
            row["note"] = f"fewer than {min_treated} members: not estimated"
            continue
        source = f"Callaway-Sant'Anna, {group} firms"
        try:
            fit = notes.run(source, lambda sub=sub: did.callaway_santanna(
                sub, "log_tfp", "firm_id", "year", "cohort", control="never", base_period="universal"))
            simple = notes.run(source, lambda fit=fit: fit.aggregate("simple"))
            dynamic = notes.run(source, lambda fit=fit: fit.aggregate("dynamic"))
            tw = notes.run(f"TWFE, {group} firms",
                           lambda sub=sub: did.twfe(sub, "log_tfp", "firm_id", "year", cohort="cohort"))
        except ValueError as exc:
            row["note"] = f"not estimated: {exc}"
            continue
        events[group] = dynamic.table
        row.update({"Callaway–Sant'Anna": simple.att, "SE": simple.se,
                    "95% CI": ci_text(simple.att, simple.se), "pre-test p": fit.pretest["p_value"],
                    "TWFE": float(tw.params["post"]), "TWFE SE": float(tw.std_errors["post"])})
        if truth is not None:
            row["vs true effect"] = ce.truth_verdict(simple.att, simple.se, theta)
    table = pd.DataFrame(rows).set_index("group")
    if not table["note"].astype(bool).any():
        table = table.drop(columns="note")

    b = table["Callaway–Sant'Anna"].to_numpy(dtype=float)
    s = table["SE"].to_numpy(dtype=float)
    test = ce.equality_test(b, s)
    verdict = difference_verdict(test["p_value"])
    interaction, interaction_se = _interaction(panel, notes)
    interaction_p = normal_p_value(interaction, interaction_se)
    return GroupEffects(
        table=table, event_studies=events, difference=float(b[0] - b[1]),
        difference_se=float(np.hypot(s[0], s[1])), chi2=test["chi2"], p_value=test["p_value"],
        verdict=verdict, interaction=interaction, interaction_se=interaction_se,
        interaction_p=interaction_p, agreement=agreement_verdict(interaction_p, verdict),
        theta=theta, notes=notes.items())


def _interaction(panel: pd.DataFrame, notes: _Notes) -> tuple[float, float]:
    """TWFE on both groups: membership, membership × innovative, year effects by group."""
    both = panel[panel["group"].isin(GROUPS)].copy()
    both["innovative"] = (both["group"] == GROUPS[0]).astype(float)
    both["member_post"] = ((both["cohort"] > 0) & (both["year"] >= both["cohort"])).astype(float)
    both["member_post_x_innovative"] = both["member_post"] * both["innovative"]
    source = "TWFE with interaction"
    try:
        fit = notes.run(source, lambda: did.twfe(
            both, "log_tfp", "firm_id", "year", treated="member_post",
            covariates=["member_post_x_innovative"], covariates_by_time=["innovative"]))
        return (float(fit.params["member_post_x_innovative"]),
                float(fit.std_errors["member_post_x_innovative"]))
    except (ValueError, KeyError) as exc:
        notes.append(source, f"not estimated: {exc}")
        return float("nan"), float("nan")


def tfp_event_figure(effects: GroupEffects) -> Figure:
    """Event study by group: the effect on log TFP by years since joining, with 95% intervals;
    on synthetic data a dashed line at the true effect."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    if np.isfinite(effects.theta):
        ax.axhline(effects.theta, color="0.3", linestyle="--", linewidth=1,
                   label=f"true effect ({effects.theta:.3f})")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.axvline(-0.5, color="0.6", linestyle=":", linewidth=1)
    for k, group in enumerate(GROUPS):
        if group not in effects.event_studies:
            continue
        t = effects.event_studies[group]
        shift = -0.1 if k == 0 else 0.1
        ax.errorbar(t["event_time"] + shift, t["att"],
                    yerr=[t["att"] - t["conf_low"], t["conf_high"] - t["att"]],
                    fmt="o-" if k == 0 else "s--", color=f"C{k}", markersize=4, capsize=2,
                    label=f"{group} firms")
    ax.set_xlabel("years since joining a cluster (0 = join year)")
    ax.set_ylabel("effect on log TFP (log points)")
    ax.legend(fontsize="small", loc="upper left")
    return fig


# -- the exporting samples -----------------------------------------------------------------------
@dataclass(frozen=True)
class ExportSamples:
    """The samples of the exporting outcomes, from the panel file.

    Attributes
    ----------
    path
        The panel file (its truth file gives the true exporting effects).
    source
        The panel as read (:func:`clusterpolicy.data.read.load_panel`).
    observed
        The estimation sample of the productivity chapters (rows with a non-positive input
        dropped) with exports observed, with ``cohort``, ``exporter`` (0/1) and
        ``export_share`` (exports / (value added + materials)).
    panel
        The initiation sample: the firms of ``observed`` in every year (balanced).
    exporters
        The intensity sample: the firm-years of ``observed`` with exports > 0 (unbalanced).
    table
        From the panel file to the samples (index ``step``): firm-years dropped, firm-years
        remaining, firms remaining; the intensity row only when some firm-year exports.
    n_missing_exports
        Firm-years dropped because exports are missing.
    """

    path: str
    source: pd.DataFrame
    observed: pd.DataFrame
    panel: pd.DataFrame
    exporters: pd.DataFrame
    table: pd.DataFrame
    n_missing_exports: int

    @property
    def n_observed(self) -> int:
        """Firm-years with exports observed."""
        return len(self.observed)

    @property
    def n_exporting(self) -> int:
        """Firm-years with positive exports."""
        return len(self.exporters)

    @property
    def n_not_exporting(self) -> int:
        """Firm-years with exports observed and zero."""
        return int((self.observed["exporter"] == 0).sum())

    @property
    def n_firms(self) -> int:
        """Firms of the initiation sample."""
        return int(self.panel["firm_id"].nunique())

    @property
    def n_members(self) -> int:
        """Members among them."""
        return int(self.panel.loc[self.panel["cohort"] > 0, "firm_id"].nunique())

    @property
    def n_intensity_firms(self) -> int:
        """Firms with at least one exporting firm-year."""
        return int(self.exporters["firm_id"].nunique())

    @property
    def share_exporting(self) -> float:
        """Share of the initiation sample's firm-years that export."""
        return float(self.panel["exporter"].mean())

    @property
    def mean_export_share(self) -> float:
        """Mean export share of the exporting firm-years."""
        return float(self.exporters["export_share"].mean())


def export_samples(
    panel_path: str | os.PathLike[str],
    membership_path: str | os.PathLike[str],
    *,
    clusters: Sequence[str] | None = None,
) -> ExportSamples:
    """Build the exporting samples from the panel file, counting every firm-year dropped.

    The rows with a non-positive input are dropped as in the productivity chapters
    (:func:`clusterpolicy.studies.productivity.tfp_sample`), so that exports relate to the same
    accounts; firm-years with exports missing are dropped, never imputed. Initiation needs a
    balanced panel (each firm dropped is counted under the first reason that applies);
    intensity, the export share, exists only where a firm exports.

    Parameters
    ----------
    panel_path, membership_path
        The firm panel and the cluster-membership file.
    clusters
        Cluster names the membership file may use.

    Returns
    -------
    ExportSamples
    """
    raw = read.load_panel(panel_path)
    membership = read.load_membership(membership_path, clusters=clusters, panel=raw)
    sample, construction = productivity.tfp_sample(raw, membership)
    steps = [(str(s), int(r["rows dropped"]), int(r["rows remaining"]), int(r["firms remaining"]))
             for s, r in construction.drop(index="used").iterrows()]
    steps[0] = ("firm-years in the panel file", 0, steps[0][2], steps[0][3])
    missing_exports = sample["exports"].isna()
    observed = sample[~missing_exports].copy()
    steps.append(("dropped: exports missing", int(missing_exports.sum()), len(observed),
                  int(observed["firm_id"].nunique())))
    observed["exporter"] = (observed["exports"] > 0).astype(float)
    observed["export_share"] = observed["exports"] / (observed["value_added"] + observed["materials"])
    panel, balance = ce.balanced_panel(observed)
    rows_left, firms_left = len(observed), int(observed["firm_id"].nunique())
    for step, r in balance.iloc[1:-1].iterrows():  # the reasons a firm is not in the balanced panel
        rows_left += int(r["rows"])
        firms_left += int(r["firms"])
        steps.append((str(step).replace("(gap, or a row dropped for a non-positive input)",
                                        "(gap, a row with a non-positive input or with exports missing)"),
                      -int(r["rows"]), rows_left, firms_left))
    if (rows_left, firms_left) != (len(panel), panel["firm_id"].nunique()):
        raise RuntimeError("export_samples: the firm-years dropped do not add up to the balanced panel")
    steps.append((f"initiation sample: balanced panel ({year_span(observed['year'].unique())})", 0,
                  len(panel), int(panel["firm_id"].nunique())))
    exporters = observed[observed["exporter"] == 1]
    if len(exporters):
        steps.append(("intensity sample: firm-years with exports > 0 (after 'exports missing'; unbalanced)",
                      0, len(exporters), int(exporters["firm_id"].nunique())))
    table = pd.DataFrame(steps, columns=["step", "firm-years dropped", "firm-years remaining",
                                         "firms remaining"]).set_index("step")
    return ExportSamples(path=str(panel_path), source=raw, observed=observed, panel=panel,
                         exporters=exporters, table=table, n_missing_exports=int(missing_exports.sum()))


# -- the effect on exporting ---------------------------------------------------------------------
@dataclass(frozen=True)
class ExportEffects:
    """The effect of membership on exporting, on its two margins.

    Attributes
    ----------
    table
        One row per estimate (index ``margin, estimator``): sample, firms, members, estimate,
        SE, 95% interval and, on synthetic data, the true effect and whether the interval
        covers it.
    initiation, initiation_se
        Callaway–Sant'Anna (never members, universal base period) on the probability of
        exporting, balanced panel.
    initiation_twfe
        TWFE on the same outcome and sample.
    pretest_p
        The Callaway–Sant'Anna pre-test of parallel trends for initiation.
    event
        Its event study (``event_time, att, se, conf_low, conf_high``).
    intensity, intensity_se
        TWFE on the export share of the exporting firm-years.
    by_group
        The initiation effect ``(att, se)`` of each group with at least ``min_treated`` members.
    n_always_firms, n_always_members
        Firms exporting in every year, and members among them.
    always_estimated
        Whether Callaway–Sant'Anna on the export share of those firms was estimated.
    true_initiation, true_intensity
        On synthetic data, the true effects averaged over the members' firm-years from their
        join year on, in the initiation and intensity samples (NaN otherwise).
    truth
        The truth of the data (``None`` for real data).
    truth_computed
        Whether the true effects could be computed from the truth file.
    min_treated
        Fewest members for an estimate.
    notes
        The estimators' notes, as ``(source, note)``.
    """

    table: pd.DataFrame
    initiation: float
    initiation_se: float
    initiation_twfe: float
    pretest_p: float
    event: pd.DataFrame
    intensity: float
    intensity_se: float
    by_group: Mapping[str, tuple[float, float]]
    n_always_firms: int
    n_always_members: int
    always_estimated: bool
    true_initiation: float
    true_intensity: float
    truth: Truth | None
    truth_computed: bool
    min_treated: int
    notes: tuple[Note, ...] = ()

    @property
    def logit_membership(self) -> float:
        """The true direct shift of the export logit by membership (NaN without truth)."""
        return float("nan") if self.truth is None else self.truth.export_membership

    @property
    def logit_via_tfp(self) -> float:
        """The true shift of the export logit through TFP, export_tfp × theta (NaN without truth)."""
        return float("nan") if self.truth is None else self.truth.export_via_tfp

    @property
    def truth_missing(self) -> bool:
        """Synthetic data whose true exporting effects could not be computed."""
        return self.truth is not None and not self.truth_computed

    @property
    def initiation_p(self) -> float:
        """p-value of the initiation effect against zero."""
        return normal_p_value(self.initiation, self.initiation_se)

    @property
    def intensity_p(self) -> float:
        """p-value of the intensity effect against zero."""
        return normal_p_value(self.intensity, self.intensity_se)

    @property
    def initiation_verdict(self) -> str:
        """:func:`significance_verdict` of the initiation effect."""
        return significance_verdict(self.initiation, self.initiation_p)

    @property
    def intensity_verdict(self) -> str:
        """:func:`significance_verdict` of the intensity effect."""
        return significance_verdict(self.intensity, self.intensity_p)

    @property
    def pretest(self) -> str:
        """:func:`pretest_verdict` of the initiation pre-test."""
        return pretest_verdict(self.pretest_p)

    def initiation_of(self, group: str) -> float:
        """The initiation effect of ``group`` (NaN when not estimated)."""
        return self.by_group.get(group, (float("nan"), float("nan")))[0]

    @property
    def by_group_estimated(self) -> bool:
        """Whether the initiation effect was estimated for both groups."""
        return all(group in self.by_group for group in GROUPS)

    @property
    def group_test(self) -> dict[str, float]:
        """The Wald test that the groups' initiation effects are equal (NaN unless both are
        estimated)."""
        pairs = [self.by_group.get(g, (np.nan, np.nan)) for g in GROUPS]
        return ce.equality_test([a for a, _ in pairs], [s for _, s in pairs])

    @property
    def group_verdict(self) -> str:
        """:func:`group_difference_verdict` of :attr:`group_test`."""
        return group_difference_verdict(self.group_test["p_value"])


def _units(frame: pd.DataFrame) -> tuple[int, int]:
    """Firms and members of a sample."""
    if frame.empty:
        return 0, 0
    ids = frame.groupby("firm_id")["cohort"].first()
    return len(ids), int((ids > 0).sum())


def _true_effect(potential: pd.DataFrame | None, sample: pd.DataFrame, outcome: str) -> float:
    """Mean of the true effect over the members' firm-years from their join year on."""
    if potential is None:
        return float("nan")
    rows = sample[(sample["cohort"] > 0) & (sample["year"] >= sample["cohort"])][["firm_id", "year"]]
    merged = rows.merge(potential, on=["firm_id", "year"], how="left", validate="one_to_one")
    return float((merged[f"{outcome}_1"] - merged[f"{outcome}_0"]).mean())


def export_effects(
    samples: ExportSamples,
    groups: InnovativeGroups,
    *,
    truth: Truth | None = None,
    min_treated: int = 20,
) -> ExportEffects:
    """Estimate the effect of membership on exporting: initiation and intensity.

    * Initiation: Callaway–Sant'Anna (never members, universal base period; also the event
      study) and TWFE on the balanced panel; Callaway–Sant'Anna by group (the groups of the
      balanced TFP panel) when a group has at least ``min_treated`` members.
    * Intensity: TWFE on the exporting firm-years; Callaway–Sant'Anna on the firms exporting in
      every year when at least ``min_treated`` of them are members.

    On synthetic data (``truth`` given) the true effects come from the panel regenerated without
    the programme from the same random numbers
    (:func:`export_potential_outcomes`).

    Parameters
    ----------
    samples : ExportSamples
        From :func:`export_samples`; must have exporting and non-exporting firm-years.
    groups : InnovativeGroups
        The groups of the balanced TFP panel.
    truth : Truth, optional
        The truth of synthetic data.
    min_treated : int
        Fewest members for an estimate by group or on the firms exporting every year.

    Returns
    -------
    ExportEffects
    """
    notes = _Notes()
    potential = None
    if truth is not None:
        try:
            potential = export_potential_outcomes(samples.path, samples.source)
        except ValueError as exc:
            notes.append("true exporting effects", f"not computed: {exc}")
    rows: list[dict[str, Any]] = []

    def add(margin: str, estimator: str, label: str, sample: pd.DataFrame, est: float, se: float,
            outcome: str) -> None:
        n_firms, n_members = _units(sample)
        row = {"margin": margin, "estimator": estimator, "sample": label, "firms": n_firms,
               "members": n_members, "estimate": est, "SE": se, "95% CI": ci_text(est, se)}
        if truth is not None:
            true = _true_effect(potential, sample, outcome)
            row["true effect"] = true
            row["vs true effect"] = ce.truth_verdict(est, se, true if np.isfinite(true) else None)
        rows.append(row)

    initiation, panel = "initiation (P(exports > 0))", samples.panel.copy()
    source = "Callaway-Sant'Anna, exporter"
    cs = notes.run(source, lambda: did.callaway_santanna(
        panel, "exporter", "firm_id", "year", "cohort", control="never", base_period="universal"))
    simple = notes.run(source, lambda: cs.aggregate("simple"))
    dynamic = notes.run(source, lambda: cs.aggregate("dynamic"))
    tw = notes.run("TWFE, exporter", lambda: did.twfe(panel, "exporter", "firm_id", "year", cohort="cohort"))
    add(initiation, "Callaway–Sant'Anna (never members)", "balanced, all firms", panel,
        simple.att, simple.se, "exporter")
    add(initiation, "TWFE", "balanced, all firms", panel, float(tw.params["post"]),
        float(tw.std_errors["post"]), "exporter")
    panel["group"] = panel["firm_id"].map(groups.firms["group"])
    by_group: dict[str, tuple[float, float]] = {}
    for group in GROUPS:
        sub = panel[panel["group"] == group]
        if _units(sub)[1] < min_treated:
            continue
        source = f"Callaway-Sant'Anna, exporter, {group} firms"
        try:
            fit = notes.run(source, lambda sub=sub: did.callaway_santanna(
                sub, "exporter", "firm_id", "year", "cohort", control="never"))
            agg = notes.run(source, lambda fit=fit: fit.aggregate("simple"))
        except ValueError as exc:
            notes.append(source, f"not estimated: {exc}")
            continue
        by_group[group] = (agg.att, agg.se)
        add(initiation, "Callaway–Sant'Anna (never members of the group)", f"balanced, {group} firms",
            sub, agg.att, agg.se, "exporter")

    intensity, exporters = "intensity (export share, exporters)", samples.exporters
    tw_int = notes.run("TWFE, export share", lambda: did.twfe(
        exporters, "export_share", "firm_id", "year", cohort="cohort"))
    add(intensity, "TWFE", "firm-years with exports > 0", exporters, float(tw_int.params["post"]),
        float(tw_int.std_errors["post"]), "share")
    always_ids = panel.groupby("firm_id")["exporter"].min()
    always = panel[panel["firm_id"].isin(always_ids.index[always_ids == 1])]
    n_always_firms, n_always_members = _units(always)
    source, always_estimated = "Callaway-Sant'Anna, export share", False
    if n_always_members >= min_treated:
        try:
            agg = notes.run(source, lambda: did.callaway_santanna(
                always, "export_share", "firm_id", "year", "cohort", control="never").aggregate("simple"))
            add(intensity, "Callaway–Sant'Anna (never members)", "balanced, firms exporting in every year",
                always, agg.att, agg.se, "share")
            always_estimated = True
        except ValueError as exc:
            notes.append(source, f"not estimated: {exc}")
    else:
        notes.append(source, f"not estimated: only {n_always_members} members export in every year "
                             f"(fewer than {min_treated})")

    return ExportEffects(
        table=pd.DataFrame(rows).set_index(["margin", "estimator"]), initiation=simple.att,
        initiation_se=simple.se, initiation_twfe=float(tw.params["post"]),
        pretest_p=float(cs.pretest["p_value"]), event=dynamic.table,
        intensity=float(tw_int.params["post"]), intensity_se=float(tw_int.std_errors["post"]),
        by_group=by_group, n_always_firms=n_always_firms, n_always_members=n_always_members,
        always_estimated=always_estimated, true_initiation=_true_effect(potential, panel, "exporter"),
        true_intensity=_true_effect(potential, exporters, "share"), truth=truth,
        truth_computed=potential is not None, min_treated=min_treated, notes=notes.items())


def export_event_figure(effects: ExportEffects) -> Figure:
    """Event study of the probability of exporting, with a shaded 95% interval; on synthetic
    data a dashed line at the true average effect."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.axvline(-0.5, color="0.6", linestyle=":", linewidth=1)
    if effects.truth is not None and np.isfinite(effects.true_initiation):
        ax.axhline(effects.true_initiation, color="0.3", linestyle="--", linewidth=1,
                   label=f"true average effect ({effects.true_initiation:.3f})")
    t = effects.event.copy()
    for col in ("conf_low", "conf_high"):  # the reference year has no interval: draw it at its value
        t[col] = t[col].fillna(t["att"])
    ax.fill_between(t["event_time"], t["conf_low"], t["conf_high"], color="C0", alpha=0.2,
                    label="95% interval")
    ax.plot(t["event_time"], t["att"], "o-", color="C0", label="Callaway–Sant'Anna (never members)")
    ax.set_xlabel("years since joining a cluster (0 = join year)")
    ax.set_ylabel("effect on P(exports > 0)")
    ax.legend(fontsize="small", loc="upper left")
    return fig


# -- the answers in one table ----------------------------------------------------------------------
def summary_table(tfp: GroupEffects, exports: ExportEffects) -> pd.DataFrame:
    """The chapter's answers (index ``question``): estimate, SE, 95% interval and p-value
    against zero."""
    rows = [
        ("effect of membership on log TFP, highly innovative firms", tfp.effect(GROUPS[0]),
         tfp.effect_se(GROUPS[0])),
        ("effect of membership on log TFP, other firms", tfp.effect(GROUPS[1]), tfp.effect_se(GROUPS[1])),
        ("difference (highly innovative − other)", tfp.difference, tfp.difference_se),
        ("effect on the probability of exporting", exports.initiation, exports.initiation_se),
        ("effect on the export share of exporters", exports.intensity, exports.intensity_se),
    ]
    summary = pd.DataFrame(rows, columns=["question", "estimate", "SE"]).set_index("question")
    pairs = list(zip(summary["estimate"], summary["SE"], strict=True))
    summary["95% CI"] = [ci_text(e, s) for e, s in pairs]
    summary["p-value"] = [normal_p_value(e, s) for e, s in pairs]
    return summary
