"""Conditional difference-in-differences: propensity-score matching, then DiD.

The design of Angelino, Czarnitzki & Volckaert (2024): treated firms are matched to
never-treated firms on pre-treatment characteristics (size, age, capital intensity,
industry, pre-period TFP...), then the change of the outcome from before to after treatment
is compared between the treated and their matched controls.

Estimator (stated in ``inference``)
-----------------------------------
1. Pre-period = the panel years before the first treatment cohort (read from the data; or
   ``pre_period``). Unit-level covariates: the mean over the pre-period of each numeric
   covariate, the last pre-period value of a categorical one.
2. :func:`clusterpolicy.estimators.matching.match` (logit score, nearest neighbour, caliper, with or
   without replacement, seeded ties, common support).
3. For each treated unit of cohort g and for its matched controls: the change
   ``dY = mean(y, t >= g) - mean(y, t < g)`` (years present in the data). Treated and
   controls are stacked by cohort; the ATT is the coefficient of the treated dummy in a
   weighted regression of dY on the treated dummy and cohort-stack intercepts (matching
   weights). It equals the average over matched treated units of their change minus the
   (weighted) mean change of their controls, so late cohorts are never compared with
   already-treated units. Collapsing to pre/post means before the regression follows
   Bertrand, Duflo & Mullainathan (2004).
4. Standard errors clustered by unit (a control matched in several cohort stacks is one
   cluster), CR1 as R fixest, with intervals and p-values from the t distribution with G - 1
   degrees of freedom (fixest's default). They are conditional on the matched sample: the
   estimation of the propensity score and the matching itself are not propagated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from clusterpolicy.estimators.matching import MatchResult, match

from ._common import DiDResults, as_list, prepare_panel, series
from ._fixest import feols

__all__ = ["ConditionalDiDResults", "conditional_did"]


@dataclass(repr=False)
class ConditionalDiDResults(DiDResults):
    """Matched (conditional) DiD.

    ``params``/``std_errors``: ``ATT``, unit-clustered CR1 standard error, intervals and
    p-values from the t distribution with G - 1 degrees of freedom (as R fixest).

    Attributes
    ----------
    balance : pandas.DataFrame
        The balance table before/after matching.
    support : pandas.DataFrame
        Common-support and caliper counts.
    matched : pandas.DataFrame
        One row per (treated, control) pair with the treated unit's cohort and the score
        distance.
    by_cohort : pandas.DataFrame
        ATT of each cohort with its counts.
    unmatched : DiDResults or None
        The same DiD with all never-treated units as controls (what matching changes).
    matching : ~clusterpolicy.estimators.matching.MatchResult or None
        The full matching result.
    """

    balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    support: pd.DataFrame = field(default_factory=pd.DataFrame)
    matched: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_cohort: pd.DataFrame = field(default_factory=pd.DataFrame)
    unmatched: DiDResults | None = None
    matching: MatchResult | None = field(default=None, repr=False)


def _unit_covariates(panel: pd.DataFrame, covariates: list[str], pre_years: list[int]) -> pd.DataFrame:
    pre = panel.loc[panel["_time"].isin(pre_years)].sort_values(["_unit", "_time"])
    grouped = pre.groupby("_unit", sort=True)
    columns = {}
    for k, col in enumerate(covariates):
        values = pre[f"_x{k}"]
        if pd.api.types.is_numeric_dtype(values):
            columns[col] = grouped[f"_x{k}"].mean()
        else:
            columns[col] = grouped[f"_x{k}"].last()
    return pd.DataFrame(columns)


def _changes(wide: pd.DataFrame, g: int) -> pd.Series:
    """post-minus-pre mean of y for every unit, around cohort year g."""
    years = wide.columns.to_numpy()
    pre = wide.loc[:, years < g].mean(axis=1, skipna=True)
    post = wide.loc[:, years >= g].mean(axis=1, skipna=True)
    return post - pre


def _stacked_did(rows: pd.DataFrame, notes: list[str], label: str) -> tuple[float, float, int, int]:
    """WLS of dY on the treated dummy with cohort-stack intercepts; unit-clustered CR1.

    Returns the ATT, its standard error, the number of units (clusters) in ``rows`` and the
    degrees of freedom of its t distribution (clusters of the estimation sample - 1, as R
    fixest).
    """
    frame = rows.assign(_cl=pd.factorize(rows["unit"])[0])
    fixef = ["stack"] if frame["stack"].nunique() > 1 else []
    fit = feols(frame, "dy", ["treated"], fixef=fixef, cluster="_cl", notes=notes,
                source=f"pyfixest ({label})", weights="w", full_cov=False)
    at = fit.names.index("treated")
    return float(fit.params[at]), float(fit.std_errors[at]), int(frame["_cl"].nunique()), fit.clusters - 1


def conditional_did(
    data: pd.DataFrame,
    y: str,
    unit: str,
    time: str,
    cohort: str,
    covariates: Sequence[str] | str,
    *,
    pre_period: Sequence[int] | None = None,
    caliper: float | None = 0.2,
    replace: bool = False,
    n_neighbors: int = 1,
    distance: Literal["logit", "propensity"] = "logit",
    order: Literal["largest", "smallest", "random", "data"] = "largest",
    common_support: bool = True,
    seed: int = 0,
) -> ConditionalDiDResults:
    """Propensity-score-matched difference-in-differences (the study's design).

    Parameters
    ----------
    data : DataFrame
        Long panel (gaps allowed: means use the years present).
    y, unit, time : str
        Outcome (e.g. log TFP), unit and period columns.
    cohort : str
        First treatment period (0 or NaN: never treated). Treated units are compared with
        never-treated units only; units treated in the first period or after the last one
        are left out (and counted in ``notes``).
    covariates : list of str
        Matching covariates, measured in the pre-period (numeric: pre-period mean;
        categorical: last pre-period value, entering as level indicators). To match on the
        pre-period level of the outcome, list ``y`` among them.
    pre_period : sequence of int, optional
        Years over which the covariates are measured; default all years before the first
        cohort. Must end before the first cohort.
    caliper, replace, n_neighbors, distance, order, common_support, seed
        Matching options, see :func:`clusterpolicy.estimators.matching.match` (caliper in standard
        deviations of the distance; None for no caliper).

    Returns
    -------
    ConditionalDiDResults
        ``params["ATT"]``, ``std_errors``, ``balance``, ``support``, ``matched``,
        ``by_cohort``, ``unmatched``, ``notes``.

    Raises
    ------
    ValueError
        Missing columns or values, cohort not constant within unit, no treated or no
        never-treated units, no pre-period before the first cohort.
    """
    covariates = as_list(covariates)
    if not covariates:
        raise ValueError("conditional_did needs at least one matching covariate")
    panel, info = prepare_panel(data, y=y, unit=unit, time=time, cohort=cohort, covariates=covariates)
    first, last = info.times[0], info.times[-1]
    notes: list[str] = []
    unit_cohort = panel.groupby("_unit", sort=True)["_cohort"].first()
    in_range = (unit_cohort > first) & (unit_cohort <= last)
    outside = (unit_cohort > 0) & ~in_range
    if outside.any():
        notes.append(
            f"{int(outside.sum())} unit(s) first treated in the first period {first} or after the last "
            f"period {last} left out (no pre- or post-period)"
        )
    if not in_range.any():
        raise ValueError(f"cohort column {cohort!r} has no unit first treated within ({first}, {last}]")
    if not (unit_cohort == 0).any():
        raise ValueError(
            f"conditional_did compares with never-treated units (cohort 0 or NaN in {cohort!r}); "
            "there are none"
        )
    first_cohort = int(unit_cohort[in_range].min())
    if pre_period is None:
        pre_years = [t for t in info.times if t < first_cohort]
    else:
        pre_years = sorted(int(t) for t in pre_period)
        unknown = [t for t in pre_years if t not in info.times]
        if unknown:
            raise ValueError(f"pre_period years {unknown} are not periods of {time!r}")
        if pre_years and max(pre_years) >= first_cohort:
            raise ValueError(
                f"pre_period must end before the first cohort ({first_cohort}): covariates measured "
                "later may already respond to treatment"
            )
    if not pre_years:
        raise ValueError(
            f"no pre-period: the first cohort ({first_cohort}) is treated in the first period of {time!r} "
            "that has data before it"
        )

    units = _unit_covariates(panel, covariates, pre_years)
    keep = unit_cohort.index[in_range | (unit_cohort == 0)]
    units = units.reindex(keep)
    no_pre = units.isna().any(axis=1)
    if no_pre.any():
        notes.append(
            f"{int(no_pre.sum())} unit(s) without pre-period ({pre_years[0]}-{pre_years[-1]}) data left out"
        )
        units = units.loc[~no_pre]
    units["__treated__"] = (unit_cohort.reindex(units.index) > 0).astype(int)
    if units["__treated__"].sum() == 0 or units["__treated__"].sum() == len(units):
        raise ValueError("after removing units without pre-period data, treated or control units are missing")

    m = match(
        units,
        "__treated__",
        covariates,
        caliper=caliper,
        replace=replace,
        n_neighbors=n_neighbors,
        distance=distance,
        order=order,
        common_support=common_support,
        seed=seed,
    )
    notes += m.notes

    wide = panel.pivot(index="_unit", columns="_time", values="_y")
    cohorts_of = unit_cohort
    pairs = m.pairs.assign(cohort=cohorts_of.reindex(m.pairs["treated"]).to_numpy())
    change = {g: _changes(wide, g) for g in sorted(pairs["cohort"].unique())}
    pairs["dy_treated"] = [change[g][u] for g, u in zip(pairs["cohort"], pairs["treated"], strict=True)]
    pairs["dy_control"] = [change[g][u] for g, u in zip(pairs["cohort"], pairs["control"], strict=True)]
    usable = pairs["dy_treated"].notna() & pairs["dy_control"].notna()
    if (~usable).any():
        notes.append(
            f"{int((~usable).sum())} matched pair(s) dropped: no outcome before or after the cohort year"
        )
    pairs_used = pairs.loc[usable].copy()
    if pairs_used.empty:
        raise ValueError("no matched pair has outcome data both before and after treatment")
    pairs_used["w"] = 1.0 / pairs_used.groupby("treated")["control"].transform("size")

    treated_rows = (
        pairs_used.drop_duplicates("treated")[["cohort", "treated", "dy_treated"]]
        .set_axis(["stack", "unit", "dy"], axis=1)
        .assign(treated=1.0, w=1.0)
    )
    control_rows = (
        pairs_used.groupby(["cohort", "control"], sort=True)
        .agg(dy=("dy_control", "first"), w=("w", "sum"))
        .reset_index()
        .rename(columns={"cohort": "stack", "control": "unit"})
        .assign(treated=0.0)
    )
    rows = pd.concat([treated_rows, control_rows], ignore_index=True)
    att, se, clusters, df = _stacked_did(rows, notes, "matched")

    by_cohort = []
    for g, block in pairs_used.groupby("cohort"):
        tr = block.drop_duplicates("treated")
        by_cohort.append(
            {
                "cohort": int(g),
                "n_treated": len(tr),
                "n_controls": block["control"].nunique(),
                "att": float(tr["dy_treated"].mean() - (block["w"] * block["dy_control"]).sum() / len(tr)),
            }
        )
    by_cohort_df = pd.DataFrame(by_cohort)

    unmatched = _unmatched_did(units, cohorts_of, change_fn=lambda g: _changes(wide, g), notes=notes)
    n_obs = int(panel["_unit"].isin(rows["unit"].unique()).sum())
    inference: dict[str, Any] = {
        "design": (
            f"propensity-score matching (logit; {n_neighbors}:1 nearest neighbour on the {distance} score, "
            f"{'with' if replace else 'without'} replacement, caliper "
            f"{'none' if caliper is None else f'{caliper} SD'}, common support "
            f"{'min-max' if common_support else 'not imposed'}, seed {seed}), then DiD"
        ),
        "matching covariates": f"{', '.join(covariates)}; pre-period {pre_years[0]}-{pre_years[-1]}",
        "comparison": (
            "each treated unit vs its matched never-treated controls: mean outcome from its cohort year "
            "on minus mean before; stacked by cohort, weighted by matching weights"
        ),
        "standard errors": (
            f"clustered by unit ({clusters} clusters), CR1 as R fixest; conditional on the matched "
            "sample (propensity-score estimation and matching not propagated)"
        ),
        "distribution": "t",
        "df": df,
    }
    return ConditionalDiDResults(
        params=series([att], ["ATT"]),
        std_errors=series([se], ["ATT"]),
        nobs=n_obs,
        model="conditional_did",
        inference=inference,
        extra={
            "n_treated": len(treated_rows),
            "n_controls": int(control_rows["unit"].nunique()),
            "pre_period": pre_years,
            "cohorts": sorted(int(g) for g in pairs_used["cohort"].unique()),
        },
        notes=notes,
        balance=m.balance,
        support=m.support,
        matched=pairs.drop(columns=["dy_treated", "dy_control"]),
        by_cohort=by_cohort_df,
        unmatched=unmatched,
        matching=m,
    )


def _unmatched_did(
    units: pd.DataFrame, cohorts_of: pd.Series, change_fn: Any, notes: list[str]
) -> DiDResults:
    """Same DiD with every never-treated unit as control of every cohort (no matching)."""
    treated = units.index[units["__treated__"] == 1]
    controls = units.index[units["__treated__"] == 0]
    frames = []
    for g in sorted(cohorts_of.reindex(treated).unique()):
        dy = change_fn(int(g))
        members = treated[cohorts_of.reindex(treated).to_numpy() == g]
        tr = pd.DataFrame(
            {"stack": g, "unit": members, "dy": dy.reindex(members).to_numpy(), "treated": 1.0, "w": 1.0}
        )
        ct = pd.DataFrame(
            {
                "stack": g,
                "unit": controls,
                "dy": dy.reindex(controls).to_numpy(),
                "treated": 0.0,
                "w": len(members) / len(controls),
            }
        )
        frames += [tr, ct]
    rows = pd.concat(frames, ignore_index=True).dropna(subset=["dy"])
    local: list[str] = []
    att, se, clusters, df = _stacked_did(rows, local, "unmatched")
    notes += local
    return DiDResults(
        params=series([att], ["ATT"]),
        std_errors=series([se], ["ATT"]),
        nobs=len(rows),
        model="unmatched_did",
        inference={
            "comparison": (
                "every treated unit (before support trimming) vs all never-treated units, stacked by cohort"
            ),
            "standard errors": f"clustered by unit ({clusters} clusters), CR1 as R fixest",
            "distribution": "t",
            "df": df,
        },
    )
