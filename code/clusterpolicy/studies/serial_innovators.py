"""Study 2 (Libaers & Meyer 2011): serial innovators, industrial clustering and the two margins of
internationalization, on a cross-section of small technology firms (serial innovators and
matched non-serial innovators).

Only the qualitative pattern of the study is public; the matched design checks, the published
findings and the explicit rules that decide each (:func:`check_findings`) are choices of this
report. The models are :mod:`clusterpolicy.estimators.margins`.

The chapter (``05_serial_innovators``) makes one call per result and glues what comes back:

* :func:`load_study` - the tech-firm file, validated and prepared, with its truth file if any;
  :func:`margins_requirement` - whether the data have both internationalized firms and others;
* :func:`fit_margins` - the five models (:class:`MarginFits`); :func:`estimates_table`;
* :func:`clustering_effects` - average marginal effects of clustering, their curves and levels
  (:class:`ClusteringEffects`), drawn by :func:`ame_figure` and :func:`levels_figure`;
* :func:`describe_design` - the sample, the balance and the pair structure of the matched
  design (:class:`DesignSummary`);
* :func:`published_findings` - the three findings decided by their rules
  (:class:`FindingsCheck`); :func:`robustness_table` - the verdicts under other specifications;
* :func:`truth_comparison` - estimates against the true parameters of synthetic data;
* :func:`monte_carlo_summary` - the coverage and verdict rates of a Monte Carlo run of
  :mod:`clusterpolicy.checks.serial_montecarlo`; :func:`estimation_notes`.

Nothing here glues: the functions return numbers (as ``{glue name: value}`` mappings), strings,
DataFrames and matplotlib figures.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.data import innovators
from clusterpolicy.data.innovators import (
    CLUSTERING_TERMS,
    CONTROLS,
    DIFFERENCE,
    GROUPS,
    require_prepared,
)
from clusterpolicy.estimators import margins, matching
from clusterpolicy.estimators.margins import (
    MarginResults,
    average_marginal_effects,
    average_marginal_effects_at,
    turning_point,
)
from clusterpolicy.studies import verdicts as vocabulary

# A rule's outcome on data without a truth file, in the words of such data; published_findings
# and robustness_table put it in the words of the run's data (clusterpolicy.studies.verdicts).
REPRODUCED, NOT_REPRODUCED = vocabulary.REPRODUCED, vocabulary.NOT_REPRODUCED

Combine = Literal["all", "any"]


#: The published findings, their glue names and the rule that decides each on one margin.
FINDINGS: dict[str, dict[str, str]] = {
    "both_gain": {
        "glue": "verdict_both_gain",
        "claim": "both serial and non-serial innovators gain from rising clustering",
        "rule": "the average marginal effect of clustering is positive and significant at the "
                "5% level (two-sided) in each group",
    },
    "nonserial_decreasing": {
        "glue": "verdict_nonserial_decreasing",
        "claim": "non-serial innovators show decreasing returns to clustering",
        "rule": "the non-serial curvature coefficient (of z²) is negative and significant at "
                "the 5% level, and the turning point −b_z/(2 b_z2) lies inside the range of z "
                "observed for non-serial innovators",
    },
    "serial_gain_more": {
        "glue": "verdict_serial_gain_more",
        "claim": "serial innovators gain more from clustering than non-serial innovators",
        "rule": "the difference of average marginal effects, serial − non-serial, is positive "
                "and significant at the 5% level",
    },
}


#: How the page names the terms of the models.
TERM_LABELS: dict[str, str] = {
    "z": "z (clustering)", "z2": "z²", "serial": "serial S", "serial_z": "S × z",
    "serial_z2": "S × z²", "log_age": "log age", "log_employees": "log employees",
    "log1p_patents": "log(1 + patents)", "const": "constant", "sigma": "σ (Tobit)"}


#: How the page names the models of :class:`MarginFits` (keys as :meth:`MarginFits.by_name`).
MODEL_LABELS: dict[str, str] = {
    "initiation": "initiation (probit)", "intensity": "intensity (fractional logit)",
    "two_part": "unconditional share (two-part)",
    "initiation_logit": "initiation (logit, robustness)",
    "tobit": "unconditional share (Tobit, robustness)"}


#: Panel titles of the figures, by margin.
MARGIN_LABELS: dict[str, str] = {"initiation": "initiation", "intensity": "intensity",
                                 "two_part": "unconditional share (two-part)"}


#: Legend labels of the figures, by group.
GROUP_LABELS: dict[str, str] = {"serial": "serial innovators",
                                "non-serial": "non-serial innovators"}


#: The data banner of a run on data without a truth file (synthetic data have their own).
REAL_DATA_BANNER = ("These results are computed on the data file named in the run's parameters "
                    "(no synthetic-data truth file was found beside it).")


# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyData:
    """The tech-firm data of a run, ready for the models.

    Attributes
    ----------
    frame : DataFrame
        The validated file with the model variables (:func:`clusterpolicy.data.innovators.prepare`).
    truth : dict or None
        The synthetic-data truth file beside the data; ``None`` for real data.
    synthetic : bool
        Whether a truth file declares the data synthetic.
    path : str
        The file read.
    """

    frame: pd.DataFrame = field(repr=False)
    truth: Mapping[str, Any] | None = field(repr=False)
    synthetic: bool
    path: str

    @property
    def size_in_pairs(self) -> int:
        """The data's size in pairs (firms // 2), the size of the data sets the Monte Carlo draws."""
        return int(len(self.frame) // 2)


def load_study(path: str | os.PathLike[str]) -> StudyData:
    """Read, validate and prepare the tech-firm file of a run, with its truth file if any.

    The file is read with :func:`clusterpolicy.data.innovators.load` (schema and the models'
    rules, recorded as an input of the chapter) and prepared with
    :func:`~clusterpolicy.data.innovators.prepare`; the truth file is looked for beside it
    (:func:`clusterpolicy.synthetic.read_truth`, recorded whether found or not).

    Parameters
    ----------
    path : str or path-like
        The ``techfirms_path`` parameter of the run.

    Returns
    -------
    StudyData
    """
    techfirms = innovators.load(path)
    truth = synthetic.read_truth(path)
    is_synthetic = synthetic.is_synthetic(path)
    frame = innovators.prepare(techfirms, source=str(path))
    return StudyData(frame=frame, truth=truth, synthetic=is_synthetic, path=str(path))


@dataclass(frozen=True)
class Requirement:
    """Whether the data can give what the rest of a page needs, and the reason when not."""

    met: bool
    reason: str


def margins_requirement(df: pd.DataFrame) -> Requirement:
    """The two margins need internationalized firms and firms that are not.

    Initiation compares firms that sell abroad with firms that do not, and intensity is
    estimated on the firms that do: with none, or only, internationalized firms neither can be
    estimated. The reason (MyST Markdown) is what the page shows where it stops.

    Parameters
    ----------
    df : DataFrame
        The prepared data.

    Returns
    -------
    Requirement
        ``met`` and, when not met, the ``reason`` naming the number of firms and which case
        it is (``reason`` is empty when met).
    """
    n_international = int(df["international"].sum())
    if 0 < n_international < len(df):
        return Requirement(True, "")
    which = ("none is internationalized (`international` = 1)" if n_international == 0
             else "every one is internationalized (`international` = 1)")
    return Requirement(False, (
        f"Of the {len(df):,} firms in the tech-firm file of this run, {which}. The study's two "
        "margins need both: initiation compares firms that sell abroad with firms that do not, "
        "and intensity is measured on the firms that do. None of the chapter's estimates or "
        "verdicts can be computed on these data, and the scorecard marks the study's three "
        "findings as not testable."))


# --------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarginFits:
    """The chapter's five models of the two margins.

    Attributes
    ----------
    initiation : ~clusterpolicy.estimators.margins.MarginResults
        Probit of ``international`` (main).
    intensity : ~clusterpolicy.estimators.margins.MarginResults
        Fractional logit of ``foreign_share`` among internationalized firms (main).
    two_part : ~clusterpolicy.estimators.margins.MarginResults
        The two combined: the unconditional expected share.
    initiation_logit : ~clusterpolicy.estimators.margins.MarginResults
        Logit of ``international`` (robustness).
    tobit : ~clusterpolicy.estimators.margins.MarginResults
        Two-limit Tobit of the share of all firms (robustness).
    """

    initiation: MarginResults
    intensity: MarginResults
    two_part: MarginResults
    initiation_logit: MarginResults
    tobit: MarginResults

    @property
    def main(self) -> dict[str, MarginResults]:
        """The main specification (margin -> result), the models the verdicts are read from."""
        return {"initiation": self.initiation, "intensity": self.intensity}

    def by_name(self) -> dict[str, MarginResults]:
        """Every model under its key of :data:`MODEL_LABELS`, in the page's order."""
        return {"initiation": self.initiation, "intensity": self.intensity,
                "two_part": self.two_part, "initiation_logit": self.initiation_logit,
                "tobit": self.tobit}

    @property
    def reference_industry(self) -> str:
        """The industry the industry effects are relative to."""
        return str(self.initiation.spec["industry_reference"])

    @property
    def notes(self) -> list[str]:
        """What the estimations had to tell the reader (the two-part model repeats its parts)."""
        return [*self.initiation.notes, *self.intensity.notes, *self.initiation_logit.notes,
                *self.tobit.notes]


def fit_margins(df: pd.DataFrame) -> MarginFits:
    """Estimate the two margins: probit and fractional logit (main), their two-part
    combination, and a logit and a two-limit Tobit as robustness checks.

    Parameters
    ----------
    df : DataFrame
        The prepared data, with internationalized firms and others
        (:func:`margins_requirement`).

    Returns
    -------
    MarginFits
    """
    init = margins.initiation(df, link="probit")
    inten = margins.intensity(df, model="fractional_logit")
    both = margins.two_part(init, inten, df)
    init_logit = margins.initiation(df, link="logit")
    tobit = margins.intensity(df, model="tobit")
    return MarginFits(initiation=init, intensity=inten, two_part=both,
                      initiation_logit=init_logit, tobit=tobit)


def _coefficient_cell(res: MarginResults, term: str) -> str:
    if term not in res.params.index:
        return ""
    p = res.pvalues[term]
    stars = "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""
    return f"{res.params[term]:.3f}{stars} ({res.std_errors[term]:.3f})"


def estimates_table(fits: MarginFits) -> pd.DataFrame:
    """Coefficients of the four single-equation models, side by side.

    Each cell is ``estimate`` with significance stars (``*`` 10%, ``**`` 5%, ``***`` 1%) and the
    cluster-robust standard error in parentheses; empty where a model has no such term.

    Parameters
    ----------
    fits : MarginFits

    Returns
    -------
    DataFrame
        Index ``term`` (clustering terms, controls, constant, Tobit σ, then the rows
        ``industry effects``, ``observations`` and ``clusters (match_id)``); one column per
        model, main specifications first.
    """
    columns = {"initiation: probit": fits.initiation, "intensity: fractional logit": fits.intensity,
               "initiation: logit": fits.initiation_logit, "share: Tobit (all firms)": fits.tobit}
    terms = [*CLUSTERING_TERMS, *CONTROLS, "const", "sigma"]
    estimates = pd.DataFrame({name: [_coefficient_cell(r, t) for t in terms]
                              for name, r in columns.items()},
                             index=pd.Index([TERM_LABELS[t] for t in terms], name="term"))
    extra_rows = pd.DataFrame(
        {name: ["yes", f"{r.nobs:,}", f"{r.inference['clusters']:,}"]
         for name, r in columns.items()},
        index=pd.Index(["industry effects", "observations", "clusters (match_id)"], name="term"))
    return pd.concat([estimates, extra_rows])


# --------------------------------------------------------------------------------------------
# Marginal effects of clustering
# --------------------------------------------------------------------------------------------
def p_text(p: float) -> str:
    """A p-value as the prose shows it.

    Parameters
    ----------
    p : float

    Returns
    -------
    str
        ``p < 0.001`` below 0.001, otherwise ``p = `` with three decimals (``p = 0.031``).
    """
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


#: Group keys of the glued names (``ame_initiation_nonserial``, ...).
_GROUP_KEYS = (("serial", "serial"), ("non-serial", "nonserial"), (DIFFERENCE, "diff"))


#: Models whose average marginal effects the prose cites.
_GLUED_AME_MODELS = ("initiation", "intensity", "two_part", "tobit")


@dataclass(frozen=True)
class ClusteringEffects:
    """Average marginal effects of clustering and the curves behind them.

    Attributes
    ----------
    curves : DataFrame
        AME along clustering (:func:`clusterpolicy.estimators.margins.marginal_effects`) of the
        initiation, intensity and two-part models, by group.
    levels : DataFrame
        The average predictions whose slopes ``curves`` are
        (:func:`~clusterpolicy.estimators.margins.adjusted_predictions`).
    ames : dict of str to DataFrame
        AMEs at the observed values by group and their difference, per model
        (keys of :data:`MODEL_LABELS`).
    table : DataFrame
        ``ames`` as the page shows them: index ``margin and model, group``; columns ``AME,
        std. error, 95% CI lower, 95% CI upper, p-value``.
    numbers : dict of str to float
        ``ame_{model}_{serial|nonserial|diff}`` and its ``_lower``, ``_upper``, ``_p``, for
        the initiation, intensity, two-part and Tobit models.
    texts : dict of str to str
        ``ame_{model}_{group}_ptext``: the p-values as the prose shows them.
    """

    curves: pd.DataFrame = field(repr=False)
    levels: pd.DataFrame = field(repr=False)
    ames: Mapping[str, pd.DataFrame] = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    numbers: Mapping[str, float]
    texts: Mapping[str, str]


def clustering_effects(fits: MarginFits, df: pd.DataFrame, grid: int = 41) -> ClusteringEffects:
    """Average marginal effects of clustering (per standard deviation of log clustering).

    At the firms' observed values for every model (delta-method standard errors from the
    cluster-robust covariance), and along ``grid`` values of clustering, with the average
    predictions, for the initiation, intensity and two-part models.

    Parameters
    ----------
    fits : MarginFits
    df : DataFrame
        The prepared data the models were estimated on.
    grid : int
        Points of the curves between the smallest and largest observed ``z``.

    Returns
    -------
    ClusteringEffects
    """
    shown = (fits.initiation, fits.intensity, fits.two_part)
    curves = pd.concat([margins.marginal_effects(r, df, grid=grid) for r in shown],
                       ignore_index=True)
    levels = pd.concat([margins.adjusted_predictions(r, df, grid=grid) for r in shown],
                       ignore_index=True)
    ames = {name: average_marginal_effects(r, df) for name, r in fits.by_name().items()}
    rows = [{"margin and model": MODEL_LABELS[name], "group": group, "AME": r["ame"],
             "std. error": r["se"], "95% CI lower": r["lower"], "95% CI upper": r["upper"],
             "p-value": r["p_value"]}
            for name, table in ames.items() for group, r in table.iterrows()]
    numbers: dict[str, float] = {}
    texts: dict[str, str] = {}
    for name in _GLUED_AME_MODELS:
        for group, key in _GROUP_KEYS:
            r = ames[name].loc[group]
            stem = f"ame_{name}_{key}"
            numbers |= {stem: float(r["ame"]), f"{stem}_lower": float(r["lower"]),
                        f"{stem}_upper": float(r["upper"]), f"{stem}_p": float(r["p_value"])}
            texts[f"{stem}_ptext"] = p_text(r["p_value"])
    return ClusteringEffects(curves=curves, levels=levels, ames=ames,
                             table=pd.DataFrame(rows).set_index(["margin and model", "group"]),
                             numbers=numbers, texts=texts)


_STYLE = {"serial": {"color": "C0", "linestyle": "-"},
          "non-serial": {"color": "C1", "linestyle": "--"}}


_AME_YLABELS = {"initiation": "change in P(international)",
                "intensity": "change in foreign share\n(internationalized firms)",
                "two_part": "change in expected\nforeign share (all firms)"}


_LEVEL_YLABELS = {"initiation": "P(international)",
                  "intensity": "foreign share\n(internationalized firms)",
                  "two_part": "expected foreign share\n(all firms)"}


def _lq_axis(ax: Any) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=2))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("clustering (location quotient, log scale)")


def _rug(ax: Any, data: pd.DataFrame) -> None:
    for k, (group, style) in enumerate(_STYLE.items()):
        x = data.loc[data["group"] == group, "clustering"]
        ax.plot(x, np.full(len(x), 0.015 + 0.03 * k), "|", color=style["color"], alpha=0.35,
                markersize=5, transform=ax.get_xaxis_transform())


def _curve_figure(table: pd.DataFrame, df: pd.DataFrame, value: str,
                  ylabels: Mapping[str, str], hline: bool) -> Figure:
    """Three panels (initiation, intensity, two-part) of ``value`` along clustering, a line and
    a band per group, and a rug of the observed clustering of each group."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9), sharex=True)
    for ax, margin in zip(axes, ["initiation", "intensity", "two_part"], strict=True):
        part = table[table["margin"] == margin]
        for group, style in _STYLE.items():
            d = part[part["group"] == group]
            ax.fill_between(d["clustering"], d["lower"], d["upper"], color=style["color"],
                            alpha=0.18, linewidth=0)
            ax.plot(d["clustering"], d[value], label=GROUP_LABELS[group], **style)
        if hline:
            ax.axhline(0, color="0.35", linewidth=0.8)
        low, high = ax.get_ylim()
        ticks = [t for t in ax.get_yticks() if low <= t <= high]
        ax.set_ylim(low - 0.12 * (high - low), high)  # room for the rug below the curves
        ax.set_yticks(ticks)
        _rug(ax, df[df["international"] == 1] if margin == "intensity" else df)
        _lq_axis(ax)
        ax.set_title(MARGIN_LABELS[margin].capitalize())
        ax.set_ylabel(ylabels[margin])
    axes[0].legend(loc="upper left", frameon=True)
    fig.tight_layout()
    return fig


def ame_figure(effects: ClusteringEffects, df: pd.DataFrame) -> Figure:
    """The chapter's result: the AME of clustering along its observed range, by group.

    Three panels (initiation, intensity, unconditional share of the two-part model) on a
    logarithmic location-quotient axis; per group a line with its pointwise 95% band, a line
    at zero, and ticks at the bottom where the firms of each group (of the margin's sample)
    are observed.

    Parameters
    ----------
    effects : ClusteringEffects
    df : DataFrame
        The prepared data (for the rug).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _curve_figure(effects.curves, df, "ame", _AME_YLABELS, hline=True)


def levels_figure(effects: ClusteringEffects, df: pd.DataFrame) -> Figure:
    """The average predicted outcomes whose slopes :func:`ame_figure` draws, by group.

    Same panels, axis, bands and rug as :func:`ame_figure`, without the line at zero.

    Parameters
    ----------
    effects : ClusteringEffects
    df : DataFrame
        The prepared data (for the rug).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _curve_figure(effects.levels, df, "prediction", _LEVEL_YLABELS, hline=False)


# --------------------------------------------------------------------------------------------
# The matched design
# --------------------------------------------------------------------------------------------
_BALANCE_VARIABLES = {
    "log_employees": "employees (log)",
    "log_age": "age in years (log)",
    "log1p_patents": "patents (log 1 + count)",
    "z": "clustering z (standardised log LQ)",
}


def balance_table(df: pd.DataFrame, matched_on: Sequence[str] = ("industry", "log_employees"),
                  threshold: float = 0.1, variance_ratio: tuple[float, float] = (0.5, 2.0)
                  ) -> pd.DataFrame:
    """Covariate balance between serial innovators and their matched non-serial innovators.

    Means, standardised mean difference ``(mean_serial - mean_nonserial) / sqrt((s2_s +
    s2_n) / 2)`` and variance ratio ``s2_s / s2_n`` are those of
    :func:`clusterpolicy.estimators.matching.balance_table` on the whole sample (every firm is
    in the matched design), with the rows labelled for the page, the variance ratio left out
    for industry shares, and a standardised difference of 0 where both groups have no
    variance. A variable the matching used (``matched_on``) is **unbalanced** when
    ``|SMD| > threshold`` or, for a continuous variable, the variance ratio lies outside
    ``variance_ratio``. Variables the matching did not use may differ by design (serial
    innovators are older and patent more); the models control for them.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`clusterpolicy.data.innovators.prepare`.
    matched_on : sequence of str
        Variables of the matching; ``"industry"`` stands for all industry indicators.
    threshold : float
        Largest acceptable absolute standardised difference (Austin's 0.1).
    variance_ratio : tuple of float
        Acceptable (low, high) range of the variance ratio for continuous matching variables.

    Returns
    -------
    DataFrame
        Index ``covariate``; columns ``mean_serial, mean_nonserial, smd, var_ratio,
        matched_on, unbalanced, status``.
    """
    require_prepared(df)
    base = matching.balance_table(df, "S", [*_BALANCE_VARIABLES, "industry"],
                                  weights=pd.Series(1.0, index=df.index))
    variable = pd.Series([name.split("=", 1)[0] for name in base.index], index=base.index)
    continuous = (variable != "industry").to_numpy()
    matched = variable.isin(list(matched_on)).to_numpy()
    smd = base["smd_before"].fillna(0.0).to_numpy()  # no variance in either group: no difference
    ratio = np.where(continuous, base["var_ratio_before"].to_numpy(), np.nan)
    with np.errstate(invalid="ignore"):
        bad_ratio = continuous & ~((variance_ratio[0] <= ratio) & (ratio <= variance_ratio[1]))
    unbalanced = matched & ((np.abs(smd) > threshold) | bad_ratio)
    status = np.where(unbalanced, "unbalanced",
                      np.where(matched, "balanced",
                               np.where(np.abs(smd) > threshold, "differs (not matched on)",
                                        "similar")))
    labels = [_BALANCE_VARIABLES.get(name) or f"industry: {name.split('=', 1)[1]}"
              for name in base.index]
    table = pd.DataFrame({"mean_serial": base["mean_treated"].to_numpy(),
                          "mean_nonserial": base["mean_control"].to_numpy(), "smd": smd,
                          "var_ratio": ratio, "matched_on": matched, "unbalanced": unbalanced,
                          "status": status},
                         index=pd.Index(labels, name="covariate"))
    return table


def pair_checks(df: pd.DataFrame, max_size_ratio: float = 2.0) -> pd.DataFrame:
    """Checks of the match structure: serial innovators and their matched non-serial ones.

    A match group (``match_id``) should hold one serial innovator and one non-serial innovator
    (1:1) or several (1:k); a group without both kinds contributes nothing to the comparison.
    Within groups with one serial innovator, each matched non-serial innovator should share
    its industry and have a similar size (employment within ``max_size_ratio``:1).

    Parameters
    ----------
    df : DataFrame
        Output of :func:`clusterpolicy.data.innovators.prepare`.
    max_size_ratio : float
        Largest employment ratio counted as similar size.

    Returns
    -------
    DataFrame
        Index ``check``; columns ``value`` (a count or share) and ``flag`` (True when the
        check deserves the reader's attention).
    """
    require_prepared(df)
    groups = df.groupby("match_id", sort=True)
    n_s = groups["S"].sum()
    size = groups.size()
    n_n = size - n_s
    has_both = (n_s >= 1) & (n_n >= 1)
    one_to_one = (n_s == 1) & (n_n == 1)
    one_serial = df["match_id"].map(n_s == 1).to_numpy(dtype=bool)
    ser = df[one_serial & (df["S"] == 1).to_numpy()].set_index("match_id")
    non = df[one_serial & (df["S"] == 0).to_numpy()]
    partner = ser.reindex(non["match_id"])
    if len(non):
        same_ind = float((non["industry"].to_numpy() == partner["industry"].to_numpy()).mean())
        ratio = np.exp(np.abs(non["log_employees"].to_numpy() - partner["log_employees"].to_numpy()))
        within = float((ratio <= max_size_ratio).mean())
    else:
        same_ind = within = np.nan
    n_incomplete = int((~has_both).sum())
    rows = [
        ("firms", float(len(df)), False),
        ("serial innovators", float(df["S"].sum()), False),
        ("non-serial innovators", float((df["S"] == 0).sum()), False),
        ("match groups (match_id)", float(len(size)), False),
        ("1:1 pairs (one serial, one non-serial)", float(one_to_one.sum()), False),
        ("groups with several firms of a kind (1:k)", float((has_both & ~one_to_one).sum()),
         False),
        ("groups without both a serial and a non-serial firm", float(n_incomplete),
         n_incomplete > 0),
        ("share of matches in the serial innovator's industry", same_ind,
         bool(not same_ind >= 1)),
        (f"share of matches with employment within {max_size_ratio:g}:1", within,
         bool(not within >= 0.9)),
    ]
    return pd.DataFrame(rows, columns=["check", "value", "flag"]).set_index("check")


@dataclass
class MatchedDesign:
    """The matched design in one object: balance table, pair checks and notes for the reader."""

    balance: pd.DataFrame
    pairs: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """True when no matching variable is unbalanced and the pair structure is regular."""
        return not self.notes


def matched_design(df: pd.DataFrame, matched_on: Sequence[str] = ("industry", "log_employees"),
                   threshold: float = 0.1) -> MatchedDesign:
    """Balance table, pair checks, and a sentence for each problem found.

    An unbalanced matching does not stop the analysis (the models control for size, age,
    patents and industry, and inference is clustered by ``match_id`` whatever the group
    sizes), but every problem becomes a note the chapter shows in a warning box.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`clusterpolicy.data.innovators.prepare`.
    matched_on : sequence of str
        Variables of the matching (see :func:`balance_table`).
    threshold : float
        Largest acceptable absolute standardised difference.

    Returns
    -------
    MatchedDesign
    """
    balance = balance_table(df, matched_on=matched_on, threshold=threshold)
    pairs = pair_checks(df)
    notes = []
    bad = balance[balance["unbalanced"]]
    if len(bad):
        items = ", ".join(f"{name} (SMD {row.smd:+.2f}"
                          + (f", variance ratio {row.var_ratio:.2f})" if np.isfinite(row.var_ratio)
                             else ")") for name, row in bad.iterrows())
        notes.append(f"Matching variables out of balance (|SMD| > {threshold:g} or variance ratio "
                     f"outside [0.5, 2]): {items}. Serial and non-serial innovators then differ "
                     "in ways the matching was meant to remove; the regressions control for "
                     "these variables, but comparisons of raw group means are not like for like.")
    incomplete = int(pairs.loc["groups without both a serial and a non-serial firm", "value"])
    if incomplete:
        notes.append(f"{incomplete} match group(s) lack a serial or a non-serial innovator; their "
                     "firms stay in the estimation (standard errors are clustered by match_id) "
                     "but have no match to be compared with.")
    same = pairs.loc["share of matches in the serial innovator's industry", "value"]
    if not same >= 1:
        notes.append(f"Only {same:.1%} of the matched non-serial innovators share their serial "
                     "innovator's industry; the study matched within industries.")
    size_key = next(k for k in pairs.index if k.startswith("share of matches with employment"))
    if pairs.loc[size_key, "flag"]:
        notes.append(f"Only {pairs.loc[size_key, 'value']:.1%} of the matches have similar size "
                     f"({size_key.removeprefix('share of matches with ')}).")
    return MatchedDesign(balance=balance, pairs=pairs, notes=notes)


def sample_by_group(df: pd.DataFrame) -> pd.DataFrame:
    """The sample by group: firms, share internationalized, mean foreign share of the
    internationalized, and median clustering (LQ), employees, age and patents.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`clusterpolicy.data.innovators.prepare`.

    Returns
    -------
    DataFrame
        Index ``group`` (``serial``, ``non-serial``); columns ``firms, internationalized,
        mean_share_if_international, median_clustering, median_employees, median_age,
        median_patents``.
    """
    return (df.groupby("group", sort=False)
            .agg(firms=("firm_id", "size"),
                 internationalized=("international", "mean"),
                 mean_share_if_international=("foreign_share", lambda s: s[s > 0].mean()),
                 median_clustering=("clustering", "median"),
                 median_employees=("employees", "median"),
                 median_age=("age", "median"),
                 median_patents=("patents", "median"))
            .reindex(list(GROUPS)))


def bullet_list(items: Sequence[str]) -> str:
    """A Markdown bullet list, for a list of notes the page shows with ``{glue:md}``.

    Parameters
    ----------
    items : sequence of str
        One sentence each.

    Returns
    -------
    str
        ``* item`` lines; empty for no items.
    """
    return "\n".join(f"* {item}" for item in items)


@dataclass(frozen=True)
class DesignSummary:
    """The matched design as the page shows it.

    Attributes
    ----------
    design : MatchedDesign
        Balance, pair checks and notes (:func:`matched_design`).
    sample : DataFrame
        :func:`sample_by_group`.
    numbers : dict of str to number
        ``n_firms, n_serial, n_nonserial, n_pairs, n_groups_complete, n_match_groups,
        n_international`` (counts) and ``share_intl_{serial|nonserial}``,
        ``mean_share_{serial|nonserial}``.
    sample_table, balance_table, pairs_table : DataFrame
        The three tables with the page's column names and cell texts.
    notes_markdown : str
        The design's notes as a Markdown list (empty when balanced).
    """

    design: MatchedDesign = field(repr=False)
    sample: pd.DataFrame = field(repr=False)
    numbers: Mapping[str, int | float]
    sample_table: pd.DataFrame = field(repr=False)
    balance_table: pd.DataFrame = field(repr=False)
    pairs_table: pd.DataFrame = field(repr=False)
    notes_markdown: str

    @property
    def balanced(self) -> bool:
        """No matching variable unbalanced and a regular pair structure."""
        return self.design.balanced


def describe_design(df: pd.DataFrame) -> DesignSummary:
    """The sample, the covariate balance and the pair structure of the matched design.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`clusterpolicy.data.innovators.prepare`.

    Returns
    -------
    DesignSummary
    """
    design = matched_design(df)
    pairs = design.pairs["value"]
    sample = sample_by_group(df)
    numbers: dict[str, int | float] = {
        "n_firms": len(df), "n_serial": int(df["S"].sum()),
        "n_nonserial": int((df["S"] == 0).sum()),
        "n_pairs": int(pairs["1:1 pairs (one serial, one non-serial)"]),
        "n_groups_complete": int(pairs["match groups (match_id)"]
                                 - pairs["groups without both a serial and a non-serial firm"]),
        "n_match_groups": int(pairs["match groups (match_id)"]),
        "n_international": int(df["international"].sum()),
    }
    for group, key in (("serial", "serial"), ("non-serial", "nonserial")):
        numbers[f"share_intl_{key}"] = float(sample.loc[group, "internationalized"])
        numbers[f"mean_share_{key}"] = float(sample.loc[group, "mean_share_if_international"])
    sample_table = sample.rename(columns={
        "internationalized": "share internationalized",
        "mean_share_if_international": "mean foreign share (internationalized)",
        "median_clustering": "median clustering (LQ)", "median_employees": "median employees",
        "median_age": "median age (years)", "median_patents": "median patents (5 years)"})
    sample_table.index.name = "group"
    balance = design.balance[["mean_serial", "mean_nonserial", "smd", "var_ratio",
                              "matched_on", "status"]].rename(columns={
        "mean_serial": "mean, serial", "mean_nonserial": "mean, non-serial",
        "smd": "std. mean difference", "var_ratio": "variance ratio",
        "matched_on": "matching variable"})
    shown_pairs = design.pairs.assign(
        value=[f"{v:.3f}" if name.startswith("share") else f"{v:,.0f}"
               for name, v in design.pairs["value"].items()],
        flag=design.pairs["flag"].map({True: "check", False: "ok"}))
    return DesignSummary(design=design, sample=sample, numbers=numbers,
                         sample_table=sample_table, balance_table=balance,
                         pairs_table=shown_pairs, notes_markdown=bullet_list(design.notes))


# --------------------------------------------------------------------------------------------
# The published findings
# --------------------------------------------------------------------------------------------
def _nonserial_z_range(res: MarginResults, df: pd.DataFrame) -> tuple[float, float]:
    """The observed range of z of the non-serial firms in the sample of ``res``'s margin."""
    sample = df[df["international"].to_numpy() == 1] if res.spec["sample"] == "international" else df
    z_non = sample["z"].to_numpy(dtype=float)[sample["S"].to_numpy(dtype=float) == 0]
    return float(z_non.min()), float(z_non.max())


def check_findings(results: Mapping[str, MarginResults], df: pd.DataFrame, alpha: float = 0.05,
                   combine: Combine = "all") -> pd.DataFrame:
    """Check the three published findings, margin by margin, with explicit rules.

    Rules, on each margin (see :data:`FINDINGS`), with ``alpha`` the two-sided level:

    * ``both_gain``: AME(serial) > 0 with p < alpha, and AME(non-serial) > 0 with p < alpha;
    * ``nonserial_decreasing``: non-serial curvature ``b_z2 < 0`` with p < alpha, and the
      turning point ``-b_z / (2 b_z2)`` inside ``[min z, max z]`` of the non-serial firms of
      the margin's sample;
    * ``serial_gain_more``: AME(serial) − AME(non-serial) > 0 with p < alpha.

    A finding is ``reproduced`` when its rule holds on every margin (``combine="all"``,
    default: the study claims the pattern for initiating and intensifying) or on at least one
    (``"any"``); otherwise ``not reproduced``. These are the words of data without a truth
    file; :func:`published_findings` and :func:`robustness_table` word the outcome for the
    data of the run (:func:`clusterpolicy.studies.verdicts.label`).

    Parameters
    ----------
    results : mapping of str to ~clusterpolicy.estimators.margins.MarginResults
        Margin label -> single-equation result, e.g. ``{"initiation": probit, "intensity":
        fractional_logit}``.
    df : DataFrame
        The prepared data the results were estimated on.
    alpha : float
        Significance level.
    combine : {"all", "any"}

    Returns
    -------
    DataFrame
        One row per statistic: ``finding, margin, statistic, value, se, lower, upper,
        p_value, condition, holds, verdict`` (``verdict`` is the finding's, repeated).
    """
    if combine not in ("all", "any"):
        raise ValueError(f"combine must be 'all' or 'any', got {combine!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not results:
        raise ValueError("check_findings needs at least one margin")
    level = 1 - alpha
    crit = stats.norm.ppf(1 - alpha / 2)
    rows: list[dict[str, Any]] = []
    for margin, res in results.items():
        if res.spec.get("margin") == "two_part":
            raise ValueError("check_findings: pass the two parts separately, not the two-part "
                             "combination")
        ame = average_marginal_effects(res, df, level=level)
        for g in GROUPS:
            r = ame.loc[g]
            rows.append({"finding": "both_gain", "margin": margin,
                         "statistic": f"AME of z, {g}", "value": r.ame, "se": r.se,
                         "lower": r.lower, "upper": r.upper, "p_value": r.p_value,
                         "condition": f"> 0 and p < {alpha:g}",
                         "holds": bool(r.ame > 0 and r.p_value < alpha)})
        tp = turning_point(res, "non-serial", level=level)
        lo, hi = _nonserial_z_range(res, df)
        rows.append({"finding": "nonserial_decreasing", "margin": margin,
                     "statistic": "curvature b_z2, non-serial", "value": tp["curvature"],
                     "se": tp["curvature_se"],
                     "lower": tp["curvature"] - crit * tp["curvature_se"],
                     "upper": tp["curvature"] + crit * tp["curvature_se"],
                     "p_value": tp["curvature_p"], "condition": f"< 0 and p < {alpha:g}",
                     "holds": bool(tp["curvature"] < 0 and tp["curvature_p"] < alpha)})
        inside = bool(np.isfinite(tp["turning_point"]) and lo <= tp["turning_point"] <= hi)
        rows.append({"finding": "nonserial_decreasing", "margin": margin,
                     "statistic": "turning point in z, non-serial", "value": tp["turning_point"],
                     "se": tp["se"], "lower": tp["lower"], "upper": tp["upper"],
                     "p_value": np.nan, "condition": f"inside observed z range [{lo:.2f}, {hi:.2f}]",
                     "holds": inside})
        r = ame.loc[DIFFERENCE]
        rows.append({"finding": "serial_gain_more", "margin": margin,
                     "statistic": "AME of z, serial − non-serial", "value": r.ame, "se": r.se,
                     "lower": r.lower, "upper": r.upper, "p_value": r.p_value,
                     "condition": f"> 0 and p < {alpha:g}",
                     "holds": bool(r.ame > 0 and r.p_value < alpha)})
    table = pd.DataFrame(rows)
    per_margin = table.groupby(["finding", "margin"], sort=False)["holds"].all()
    combined = per_margin.groupby(level="finding", sort=False).agg("all" if combine == "all" else "any")
    table["verdict"] = table["finding"].map(lambda f: REPRODUCED if combined[f] else NOT_REPRODUCED)
    table.attrs["combine"] = combine
    table.attrs["alpha"] = alpha
    return table


def verdicts(findings: pd.DataFrame) -> dict[str, str]:
    """The verdict on each published finding, under its glue name.

    Parameters
    ----------
    findings : DataFrame
        Output of :func:`check_findings`.

    Returns
    -------
    dict of str to str
        ``{"verdict_both_gain": "reproduced" | "not reproduced", ...}`` in the order of
        :data:`FINDINGS`.
    """
    out = {}
    for key, meta in FINDINGS.items():
        values = findings.loc[findings["finding"] == key, "verdict"].unique()
        if len(values) != 1:
            raise ValueError(f"findings table has no single verdict for {key!r}")
        out[meta["glue"]] = str(values[0])
    return out


def truth_statistics(results: Mapping[str, MarginResults], df: pd.DataFrame,
                     truth: Mapping[str, Any]) -> pd.DataFrame:
    """The statistics of the rules of :func:`check_findings` at the true parameters.

    The true AMEs of clustering by group and their difference (at the true parameters, on the
    same firms: :func:`clusterpolicy.estimators.margins.average_marginal_effects_at`), the
    true non-serial curvature ``b_z2`` and the true turning point ``-b_z / (2 b_z2)``, each
    with whether it meets the rule's condition without the test (the truth has no sampling
    error): AMEs and difference positive, curvature negative, turning point inside the
    observed range of z of the non-serial firms of the margin's sample.

    Parameters
    ----------
    results : mapping of str to ~clusterpolicy.estimators.margins.MarginResults
        Margin label -> probit initiation or fractional-logit intensity result
        (:func:`true_params`).
    df : DataFrame
        The prepared data the results were estimated on.
    truth : mapping
        The truth file of synthetic tech-firm data.

    Returns
    -------
    DataFrame
        One row per statistic of :func:`check_findings` (same ``finding, margin, statistic``):
        ``truth`` and ``truth_holds``.
    """
    rows: list[dict[str, Any]] = []
    for margin, res in results.items():
        params = true_params(truth, res)
        ame = average_marginal_effects_at(res, df, params)
        for g in GROUPS:
            rows.append({"finding": "both_gain", "margin": margin, "statistic": f"AME of z, {g}",
                         "truth": float(ame[g]), "truth_holds": bool(ame[g] > 0)})
        slope, curvature = float(params["z"]), float(params["z2"])
        rows.append({"finding": "nonserial_decreasing", "margin": margin,
                     "statistic": "curvature b_z2, non-serial", "truth": curvature,
                     "truth_holds": curvature < 0})
        tp = -slope / (2 * curvature) if curvature != 0 else np.nan
        lo, hi = _nonserial_z_range(res, df)
        rows.append({"finding": "nonserial_decreasing", "margin": margin,
                     "statistic": "turning point in z, non-serial", "truth": tp,
                     "truth_holds": bool(np.isfinite(tp) and lo <= tp <= hi)})
        rows.append({"finding": "serial_gain_more", "margin": margin,
                     "statistic": "AME of z, serial − non-serial", "truth": float(ame[DIFFERENCE]),
                     "truth_holds": bool(ame[DIFFERENCE] > 0)})
    return pd.DataFrame(rows)


def truth_patterns(statistics: pd.DataFrame, combine: Combine = "all") -> dict[str, bool]:
    """Whether the truth has each published pattern, combined over margins like the verdicts.

    Parameters
    ----------
    statistics : DataFrame
        Output of :func:`truth_statistics`.
    combine : {"all", "any"}
        The pattern on every margin, or on at least one (as in :func:`check_findings`).

    Returns
    -------
    dict of str to bool
        Glue name of the verdict (``verdict_both_gain``, ...) -> whether the truth has it.
    """
    per_margin = statistics.groupby(["finding", "margin"], sort=False)["truth_holds"].all()
    combined = per_margin.groupby(level="finding", sort=False).agg(combine)
    return {meta["glue"]: bool(combined[key]) for key, meta in FINDINGS.items()}


def _labelled(outcomes: Mapping[str, str], patterns: Mapping[str, bool] | None) -> dict[str, str]:
    """Rule outcomes (glue name -> reproduced / not reproduced) in the words of the run's data:
    with a truth file (``patterns`` given) recovered or not, else reproduced or not."""
    return {name: vocabulary.label(outcome == REPRODUCED, patterns is not None,
                                   None if patterns is None else patterns[name])
            for name, outcome in outcomes.items()}


@dataclass(frozen=True)
class FindingsCheck:
    """The three published findings decided on the main specification.

    Attributes
    ----------
    statistics : DataFrame
        :func:`check_findings` on the probit and the fractional logit.
    verdicts : dict of str to str
        Glue name (``verdict_both_gain``, ...) -> the verdict in the words of the run's data
        (:func:`clusterpolicy.studies.verdicts.label`): ``recovered``, ``not recovered`` or
        ``not recovered (false negative)`` with a truth file, else ``reproduced`` / ``not
        reproduced``.
    fired : dict of str to bool
        Glue name -> whether the finding's rule fired (held on both margins).
    truth_has_pattern : dict of str to bool
        Glue name -> whether the truth has the finding's pattern (:func:`truth_patterns`);
        empty without a truth file.
    flags : dict of str to bool
        ``false_negative_{finding}`` (e.g. ``false_negative_both_gain``): the truth has the
        pattern and the rule did not fire.
    summary : DataFrame
        Per finding (index ``published finding``): whether its rule holds on each margin
        (``holds`` / ``does not hold``) and the verdict.
    table : DataFrame
        ``statistics`` as the page shows them: index ``finding, margin, statistic``; columns
        ``value, se, lower, upper, p-value, condition, holds`` (``yes`` / ``no``), and with a
        truth file ``truth, truth meets it`` (:func:`truth_statistics`).
    numbers : dict of str to float
        Per margin: the non-serial curvature ``curv_{margin}`` and its ``_p``; the turning
        point ``tp_{margin}`` with ``_lower``, ``_upper`` (in z) and ``_lq`` (as a location
        quotient); ``share_above_tp_{margin}``, the share of non-serial innovators beyond it;
        and ``z_min_nonserial``, ``z_max_nonserial``. With a truth file also the true values
        ``true_ame_{margin}_{serial|nonserial|diff}``, ``true_curv_{margin}`` and
        ``true_tp_{margin}``.
    texts : dict of str to str
        ``curv_{margin}_ptext``: the curvature's p-value as the prose shows it.
    """

    statistics: pd.DataFrame = field(repr=False)
    verdicts: Mapping[str, str]
    fired: Mapping[str, bool]
    truth_has_pattern: Mapping[str, bool]
    flags: Mapping[str, bool]
    summary: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    numbers: Mapping[str, float]
    texts: Mapping[str, str]


def published_findings(fits: MarginFits, df: pd.DataFrame, alpha: float = 0.05,
                       truth: Mapping[str, Any] | None = None) -> FindingsCheck:
    """Decide the three published findings on the probit and the fractional logit.

    A finding's rule (:func:`check_findings`) fires when it holds on both margins. Its verdict
    is worded for the data (:func:`clusterpolicy.studies.verdicts.label`): with a truth file
    the finding is recovered or not, and a miss where the truth has the pattern
    (:func:`truth_patterns` of :func:`truth_statistics`) is a false negative; without one it
    is reproduced or not. The non-serial clustering profile of each margin (curvature and
    turning point, :func:`clusterpolicy.estimators.margins.turning_point` with 95% intervals)
    comes with it, beside the range of ``z`` over all non-serial innovators.

    Parameters
    ----------
    fits : MarginFits
    df : DataFrame
        The prepared data the models were estimated on.
    alpha : float
        Significance level of the rules.
    truth : mapping, optional
        The truth file of synthetic data (the ``truth`` of a :class:`StudyData`).

    Returns
    -------
    FindingsCheck
    """
    statistics = check_findings(fits.main, df, alpha=alpha)
    outcomes = verdicts(statistics)
    fired = {name: outcome == REPRODUCED for name, outcome in outcomes.items()}
    true_stats = None if truth is None else truth_statistics(fits.main, df, truth)
    patterns = None if true_stats is None else truth_patterns(true_stats)
    verdict = _labelled(outcomes, patterns)
    flags = {f"false_negative_{key}": verdict[meta["glue"]] == vocabulary.FALSE_NEGATIVE
             for key, meta in FINDINGS.items()}
    claims = {key: meta["claim"] for key, meta in FINDINGS.items()}
    holds = statistics.groupby(["finding", "margin"], sort=False)["holds"].all()
    summary = pd.DataFrame(
        {"published finding": [claim.capitalize() for claim in claims.values()],
         **{margin: ["holds" if holds[(key, margin)] else "does not hold" for key in claims]
            for margin in fits.main},
         "verdict": [verdict[FINDINGS[key]["glue"]] for key in claims]}
    ).set_index("published finding")
    yes_no = {True: "yes", False: "no"}
    shown = ["value", "se", "lower", "upper", "p-value", "condition", "holds"]
    table = statistics.assign(holds=statistics["holds"].map(yes_no))
    if true_stats is not None:
        table = table.merge(true_stats, on=["finding", "margin", "statistic"], how="left",
                            validate="one_to_one")
        table["truth meets it"] = table.pop("truth_holds").map(yes_no)
        shown += ["truth", "truth meets it"]
    table = table.assign(finding=table["finding"].map(claims)).rename(
        columns={"p_value": "p-value"}).set_index(["finding", "margin", "statistic"])[shown]
    z_non = df.loc[df["S"] == 0, "z"]
    mean, sd = df.attrs["z_mean"], df.attrs["z_sd"]
    numbers: dict[str, float] = {}
    texts: dict[str, str] = {}
    for margin, res in fits.main.items():
        tp = turning_point(res, "non-serial")
        numbers |= {f"curv_{margin}": float(tp["curvature"]),
                    f"curv_{margin}_p": float(tp["curvature_p"]),
                    f"tp_{margin}": float(tp["turning_point"]),
                    f"tp_{margin}_lq": float(np.exp(mean + sd * tp["turning_point"])),
                    f"tp_{margin}_lower": float(tp["lower"]),
                    f"tp_{margin}_upper": float(tp["upper"]),
                    f"share_above_tp_{margin}": float((z_non > tp["turning_point"]).mean())}
        texts[f"curv_{margin}_ptext"] = p_text(tp["curvature_p"])
    numbers |= {"z_min_nonserial": float(z_non.min()), "z_max_nonserial": float(z_non.max())}
    if true_stats is not None:
        numbers |= _true_numbers(true_stats)
    return FindingsCheck(statistics=statistics, verdicts=verdict, fired=fired,
                         truth_has_pattern=patterns or {}, flags=flags, summary=summary,
                         table=table, numbers=numbers, texts=texts)


_TRUE_NUMBER_NAMES = {"AME of z, serial": "true_ame_{margin}_serial",
                      "AME of z, non-serial": "true_ame_{margin}_nonserial",
                      "AME of z, serial − non-serial": "true_ame_{margin}_diff",
                      "curvature b_z2, non-serial": "true_curv_{margin}",
                      "turning point in z, non-serial": "true_tp_{margin}"}


def _true_numbers(true_stats: pd.DataFrame) -> dict[str, float]:
    return {_TRUE_NUMBER_NAMES[r.statistic].format(margin=r.margin): float(r.truth)
            for r in true_stats.itertuples()}


def robustness_table(fits: MarginFits, df: pd.DataFrame, alpha: float = 0.05,
                     truth: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The verdicts under other specifications and a weaker combination rule.

    Three specifications (the main probit + fractional logit; a logit for initiation; a
    Tobit of the share of all firms for intensity), each with the rules required on both
    margins and on at least one. Verdicts are worded for the data as in
    :func:`published_findings`; whether the truth has a pattern is a property of the
    generator, read from the main models' true parameters and combined over the margins like
    the rule of the row.

    Parameters
    ----------
    fits : MarginFits
    df : DataFrame
        The prepared data the models were estimated on.
    alpha : float
        Significance level of the rules.
    truth : mapping, optional
        The truth file of synthetic data.

    Returns
    -------
    DataFrame
        Index ``specification, rule holds on``; one column per published finding (its claim)
        with the verdict.
    """
    specs = {
        "main: probit + fractional logit": fits.main,
        "logit + fractional logit": {"initiation": fits.initiation_logit,
                                     "intensity": fits.intensity},
        "probit + Tobit (share of all firms)": {"initiation": fits.initiation,
                                                "intensity": fits.tobit},
    }
    combines: dict[Combine, str] = {"all": "both margins", "any": "at least one margin"}
    true_stats = None if truth is None else truth_statistics(fits.main, df, truth)
    rows = []
    for label, spec in specs.items():
        for combine, shown in combines.items():
            patterns = None if true_stats is None else truth_patterns(true_stats, combine)
            v = _labelled(verdicts(check_findings(spec, df, alpha=alpha, combine=combine)),
                          patterns)
            rows.append({"specification": label, "rule holds on": shown,
                         **{meta["claim"]: v[meta["glue"]] for meta in FINDINGS.values()}})
    return pd.DataFrame(rows).set_index(["specification", "rule holds on"])


# --------------------------------------------------------------------------------------------
# Truth (synthetic data)
# --------------------------------------------------------------------------------------------
def true_params(truth: Mapping[str, Any], result: MarginResults) -> pd.Series:
    """The generator's true parameters in the parameterisation of ``result``.

    Defined for the probit initiation model and the fractional-logit intensity model (both
    correctly specified for the synthetic DGP of the baseline; in a scenario with latent
    terms these are the structural coefficients, holding them fixed, and in the
    ``"threshold"`` form they are unused by the generator and no true value exists). Industry
    effects are re-expressed relative to the result's reference industry:
    ``const + effect(reference)`` and ``effect(level) - effect(reference)``.

    Parameters
    ----------
    truth : mapping
        The truth file of synthetic tech-firm data.
    result : ~clusterpolicy.estimators.margins.MarginResults
        A probit initiation or fractional-logit intensity result.

    Returns
    -------
    Series
        Indexed like ``result.params``, named ``truth``.
    """
    key = {"probit": "initiation", "fractional_logit": "intensity"}.get(result.model)
    if key is None or result.spec.get("margin") == "two_part":
        raise ValueError(f"true parameters are defined for the probit initiation and the "
                         f"fractional-logit intensity models, not {result.model!r}")
    eq = truth[key]
    effects = eq.get("industry", {})
    ref = result.spec["industry_reference"]
    out = {}
    for name in result.params.index:
        if name == "const":
            out[name] = eq["const"] + effects.get(ref, 0.0)
        elif name.startswith("industry["):
            level = name[len("industry["):-1]
            out[name] = effects.get(level, 0.0) - effects.get(ref, 0.0)
        else:
            out[name] = eq[name]
    return pd.Series(out, name="truth", dtype=float)


def compare_truth(result: MarginResults, truth: Mapping[str, Any], level: float = 0.95
                  ) -> pd.DataFrame:
    """True parameters beside the estimates of one model.

    Parameters
    ----------
    result : ~clusterpolicy.estimators.margins.MarginResults
        A probit initiation or fractional-logit intensity result (:func:`true_params`).
    truth : mapping
        The truth file of synthetic tech-firm data.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        Index ``term``; columns ``truth, estimate, std_error, lower, upper, covered``.
    """
    true = true_params(truth, result)
    ci = result.conf_int(level)
    out = pd.DataFrame({"truth": true, "estimate": result.params, "std_error": result.std_errors,
                        "lower": ci["lower"], "upper": ci["upper"]})
    out["covered"] = (out["lower"] <= out["truth"]) & (out["truth"] <= out["upper"])
    out.index.name = "term"
    return out


@dataclass(frozen=True)
class TruthComparison:
    """The clustering terms and controls of the main models beside their true values.

    Attributes
    ----------
    table : DataFrame
        Index ``margin, term``; columns ``truth, estimate, std. error, 95% CI lower, 95% CI
        upper, covered``.
    """

    table: pd.DataFrame = field(repr=False)

    @property
    def n_covered(self) -> int:
        """How many 95% intervals contain the true value."""
        return int(self.table["covered"].sum())

    @property
    def n_terms(self) -> int:
        """How many intervals the table holds."""
        return len(self.table)


def truth_comparison(fits: MarginFits, truth: Mapping[str, Any] | None
                     ) -> TruthComparison | None:
    """Estimates of the probit and the fractional logit against the generator's parameters.

    Parameters
    ----------
    fits : MarginFits
    truth : mapping or None
        The truth file of synthetic data (the ``truth`` of a :class:`StudyData`).

    Returns
    -------
    TruthComparison or None
        ``None`` for data without a truth file.
    """
    if truth is None:
        return None
    parts = []
    for margin, res in fits.main.items():
        t = compare_truth(res, truth).loc[[*CLUSTERING_TERMS, *CONTROLS]]
        t.index = pd.MultiIndex.from_product([[MODEL_LABELS[margin]],
                                              [TERM_LABELS[i] for i in t.index]],
                                             names=["margin", "term"])
        parts.append(t)
    table = pd.concat(parts).rename(columns={"std_error": "std. error", "lower": "95% CI lower",
                                             "upper": "95% CI upper"})
    return TruthComparison(table=table)


# --------------------------------------------------------------------------------------------
# The Monte Carlo study and the notes
# --------------------------------------------------------------------------------------------
class MonteCarloRun(Protocol):
    """What :func:`monte_carlo_summary` reads of a Monte Carlo run
    (:class:`clusterpolicy.checks.serial_montecarlo.MonteCarloResults`)."""

    draws: pd.DataFrame
    verdict_draws: pd.DataFrame
    settings: dict[str, Any]

    def coverage(self) -> pd.DataFrame: ...

    def verdict_rates(self) -> pd.Series: ...


_MC_QUANTITY_LABELS = {**TERM_LABELS, "AME serial": "AME, serial",
                       "AME non-serial": "AME, non-serial",
                       "AME serial − non-serial": "AME, serial − non-serial"}


@dataclass(frozen=True)
class MonteCarloSummary:
    """A Monte Carlo run of the margins models as the page shows it.

    Attributes
    ----------
    numbers : dict of str to number
        ``mc_reps``, ``mc_pairs``, ``mc_failed`` (counts); ``mc_cov_min``, ``mc_cov_max``
        (coverage of single quantities), ``mc_cov_mean`` (pooled over all), ``mc_mcse`` (the
        Monte Carlo standard error of a coverage rate at its nominal level),
        ``mc_rate_{verdict}``, the share of replications in which each finding's rule fires
        (its power when the generator has the pattern), and ``mc_rate_joint``, the share in
        which all three fire together.
    coverage_table : DataFrame
        Per margin and quantity: truth, mean estimate, bias, sd of estimates, mean standard
        error, coverage and its Monte Carlo standard error.
    rates_table : DataFrame
        Index ``published finding`` (the three, then all three together); the share of
        replications in which the rule fires.
    replications_with_notes : int
        Replications whose estimations reported warnings.
    """

    numbers: Mapping[str, int | float]
    coverage_table: pd.DataFrame = field(repr=False)
    rates_table: pd.DataFrame = field(repr=False)
    replications_with_notes: int


def monte_carlo_summary(mc: MonteCarloRun) -> MonteCarloSummary:
    """Coverage of the intervals and power of the verdict rules in a Monte Carlo run.

    Parameters
    ----------
    mc : MonteCarloRun
        The result of :func:`clusterpolicy.checks.serial_montecarlo.monte_carlo`.

    Returns
    -------
    MonteCarloSummary
    """
    settings = mc.settings
    n_reps = int(settings["n_reps"])
    level = float(settings["level"])
    cov = mc.coverage()
    rates = mc.verdict_rates()
    joint = float((mc.verdict_draws == REPRODUCED).all(axis=1).mean())
    numbers: dict[str, int | float] = {
        "mc_reps": n_reps, "mc_pairs": int(settings["n_pairs"]),
        "mc_failed": len(settings["failed"]),
        "mc_cov_min": float(cov["coverage"].min()), "mc_cov_max": float(cov["coverage"].max()),
        "mc_cov_mean": float(mc.draws["covered"].mean()),
        "mc_mcse": float(np.sqrt(level * round(1 - level, 12) / n_reps)),
        **{f"mc_rate_{meta['glue']}": float(rates[meta["glue"]]) for meta in FINDINGS.values()},
        "mc_rate_joint": joint,
    }
    coverage_table = cov.rename(index=_MC_QUANTITY_LABELS, level="quantity").rename(columns={
        "mean_estimate": "mean estimate", "sd_estimate": "sd of estimates",
        "mean_se": "mean std. error", "coverage_mcse": "MC std. error of coverage"})
    rates_table = pd.DataFrame(
        {"share of replications in which the rule fires":
            [*(rates[m["glue"]] for m in FINDINGS.values()), joint]},
        index=pd.Index([*(m["claim"] for m in FINDINGS.values()), "all three together"],
                       name="published finding"))
    return MonteCarloSummary(numbers=numbers, coverage_table=coverage_table.drop(columns="reps"),
                             rates_table=rates_table,
                             replications_with_notes=int(settings["replications_with_notes"]))


def estimation_notes(fits: MarginFits, mc: MonteCarloSummary | None = None) -> list[str]:
    """What the estimations reported, for the page's list of notes.

    Parameters
    ----------
    fits : MarginFits
    mc : MonteCarloSummary, optional
        Adds a sentence when Monte Carlo replications reported warnings.

    Returns
    -------
    list of str
        The models' notes, then the Monte Carlo sentence if any; empty when nothing was
        reported.
    """
    notes = fits.notes
    if mc is not None and mc.replications_with_notes:
        notes.append(f"{mc.replications_with_notes} Monte Carlo replication(s) reported "
                     "estimation warnings.")
    return notes
