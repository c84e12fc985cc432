"""Propensity-score matching on unit-level (pre-treatment) covariates.

Logit propensity score (statsmodels GLM), greedy nearest-neighbour matching on the logit of
the score (or the score itself) with a caliper, with or without replacement, seeded
tie-breaking; common-support trimming and a balance table. This is the first stage of
:func:`clusterpolicy.estimators.did.conditional_did`, usable on its own.

Conventions (stated so that a chapter can repeat them):

* **Distance**: ``logit`` (default) = log(p / (1 - p)), as recommended by Rosenbaum & Rubin
  (1985) and Austin (2011); ``propensity`` = p.
* **Caliper**: in standard deviations of the distance over all units (Austin's 0.2 by
  default); a treated unit whose nearest available control is farther is left unmatched.
* **Common support** (``minmax``): treated units whose score lies outside the range of the
  controls' scores are dropped before matching, and counted.
* **Greedy order** without replacement: treated units with the largest score first (MatchIt's
  default), or ``smallest``, ``random`` (seeded), ``data``. With ``n_neighbors = k`` the
  matching runs in k rounds, one control per treated unit and round (as MatchIt).
* **Ties**: controls are shuffled with the seed before a stable sort on the distance, and
  equidistant left/right neighbours are chosen by a seeded coin: results are reproducible and
  do not depend on the row order of the data beyond the seed.
* **Weights** (ATT): matched treated 1; a control gets sum over the treated units it serves
  of 1 / (number of controls of that treated unit).
* **Balance**: standardised mean difference = (mean treated - mean control) / sqrt((s2_t +
  s2_c) / 2) with the variances of the *unmatched* samples in both columns (so before/after
  differ only through the means); variance ratio = s2_t / s2_c (weighted after matching).
  Categorical covariates enter as one indicator per level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from clusterpolicy.core import seeding
from clusterpolicy.core.notes import warnings_to_notes
from clusterpolicy.core.results import EstimationResults

__all__ = ["MatchResult", "balance_table", "design_matrix", "match", "propensity_score"]

Distance = Literal["logit", "propensity"]
Order = Literal["largest", "smallest", "random", "data"]

_EPS = 1e-12


def design_matrix(units: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric covariates as they are, categorical ones as indicators (``col=level``).

    All levels are kept (the balance table shows each); :func:`propensity_score` drops the
    first level of each categorical covariate to avoid collinearity with the constant.

    Parameters
    ----------
    units : DataFrame
        One row per unit.
    covariates : list of str
        Columns of ``units``; booleans and numbers are kept as floats, anything else becomes
        one 0/1 column per level (levels sorted as text).

    Returns
    -------
    DataFrame
        Indexed like ``units``.

    Raises
    ------
    ValueError
        A covariate is not a column of ``units``, or no covariate is given.
    """
    missing = [c for c in covariates if c not in units]
    if missing:
        raise ValueError(f"covariate column(s) not found: {', '.join(map(repr, missing))}")
    parts = []
    for col in covariates:
        values = units[col]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            parts.append(pd.Series(values.to_numpy(dtype=float), index=units.index, name=col))
        else:
            levels = sorted(pd.unique(values.astype(str)))
            for level in levels:
                parts.append(
                    pd.Series(
                        (values.astype(str) == level).to_numpy(dtype=float),
                        index=units.index,
                        name=f"{col}={level}",
                    )
                )
    if not parts:
        raise ValueError("at least one covariate is needed for the propensity score")
    return pd.concat(parts, axis=1)


@dataclass(frozen=True)
class _Logit:
    """The propensity-score logit: fitted scores, coefficients and their covariance."""

    pscore: pd.Series
    params: pd.Series
    cov: pd.DataFrame


def _logit(units: pd.DataFrame, treatment: str, covariates: Sequence[str], notes: list[str]) -> _Logit:
    """Fit the logit of :func:`propensity_score`; its warnings go to ``notes``."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    treated = units[treatment].to_numpy(dtype=float)
    design = design_matrix(units, covariates)
    keep = []
    for col in covariates:
        cols = [c for c in design.columns if c == col or c.startswith(f"{col}=")]
        keep += cols if len(cols) == 1 and cols[0] == col else cols[1:]
    X = design[keep]
    X = X.loc[:, X.std(ddof=0) > 0]
    X.insert(0, "const", 1.0)
    with warnings_to_notes(notes, "propensity score (statsmodels GLM logit)"):
        fit = GLM(treated, X.to_numpy(), family=families.Binomial()).fit()
        cov = np.asarray(fit.cov_params(), dtype=float)
    return _Logit(
        pscore=pd.Series(np.asarray(fit.fittedvalues, dtype=float), index=units.index, name="pscore"),
        params=pd.Series(np.asarray(fit.params, dtype=float), index=X.columns),
        cov=pd.DataFrame(cov, index=X.columns, columns=X.columns),
    )


def propensity_score(
    units: pd.DataFrame, treatment: str, covariates: Sequence[str], notes: list[str] | None = None
) -> pd.Series:
    """Logit propensity score P(treated | covariates), one value per row of ``units``.

    Parameters
    ----------
    units : DataFrame
        One row per unit.
    treatment : str
        0/1 column.
    covariates : list of str
        Columns of ``units``; non-numeric ones enter as level indicators (the first level of
        each left out), constant columns are left out.
    notes : list of str, optional
        Receives the estimation's warnings (e.g. quasi-separation) as notes.

    Returns
    -------
    Series
        Fitted probabilities, indexed like ``units``.
    """
    return _logit(units, treatment, covariates, notes if notes is not None else []).pscore


def _weighted_var(x: np.ndarray, w: np.ndarray) -> float:
    sw = w.sum()
    if sw <= 0:
        return float("nan")
    mean = (w * x).sum() / sw
    denom = sw - (w**2).sum() / sw
    return float((w * (x - mean) ** 2).sum() / denom) if denom > 0 else float("nan")


def balance_table(
    units: pd.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    weights: pd.Series,
    extra_columns: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Means, standardised differences and variance ratios before and after matching.

    Parameters
    ----------
    units : DataFrame
        One row per unit (all units, before matching).
    treatment : str
        0/1 column.
    covariates : list of str
        Covariates to show (categorical ones by level).
    weights : Series
        Matching weights indexed like ``units`` (0 = not in the matched sample).
    extra_columns : dict, optional
        Further variables to show (e.g. the propensity score), name -> Series.

    Returns
    -------
    DataFrame
        Index ``covariate``; columns ``mean_treated, mean_control, smd_before,
        var_ratio_before, mean_treated_matched, mean_control_matched, smd_after,
        var_ratio_after``.
    """
    design = design_matrix(units, covariates)
    for name, values in (extra_columns or {}).items():
        design[name] = values.reindex(units.index).to_numpy(dtype=float)
    t = units[treatment].to_numpy(dtype=float) == 1
    w = weights.reindex(units.index).fillna(0.0).to_numpy(dtype=float)
    rows = {}
    for col in design.columns:
        x = design[col].to_numpy(dtype=float)
        xt, xc = x[t], x[~t]
        var_t, var_c = xt.var(ddof=1), xc.var(ddof=1)
        scale = np.sqrt((var_t + var_c) / 2)
        wt, wc = w[t], w[~t]
        mt_after = (wt * xt).sum() / wt.sum() if wt.sum() > 0 else np.nan
        mc_after = (wc * xc).sum() / wc.sum() if wc.sum() > 0 else np.nan
        vt_after, vc_after = _weighted_var(xt, wt), _weighted_var(xc, wc)
        rows[col] = {
            "mean_treated": xt.mean(),
            "mean_control": xc.mean(),
            "smd_before": (xt.mean() - xc.mean()) / scale if scale > 0 else np.nan,
            "var_ratio_before": var_t / var_c if var_c > 0 else np.nan,
            "mean_treated_matched": mt_after,
            "mean_control_matched": mc_after,
            "smd_after": (mt_after - mc_after) / scale if scale > 0 else np.nan,
            "var_ratio_after": vt_after / vc_after if vc_after > 0 else np.nan,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "covariate"
    return table


@dataclass(repr=False, kw_only=True)
class MatchResult(EstimationResults):
    """Outcome of :func:`match`.

    Everything of :class:`~clusterpolicy.core.results.EstimationResults` for the
    propensity-score logit: ``params`` its coefficients (``const`` and the covariates, levels
    of categorical ones as ``col=level``), ``std_errors``, ``cov`` (statsmodels' model-based
    covariance), normal intervals and p-values, ``nobs`` the units, ``notes`` what the reader
    should know (drops, the logit's warnings). Plus:

    Attributes
    ----------
    pairs : DataFrame
        One row per (treated, control) match: ``treated, control, distance, round``
        (unit identifiers as in the input).
    weights : Series
        Matching weight of every unit in the matched sample, indexed by unit.
    pscore : Series
        Propensity score of every unit, indexed by unit.
    balance : DataFrame
        See :func:`balance_table` (includes the distance as a row).
    support : DataFrame
        Counts (index ``item``, column ``value``): treated, controls, treated off common
        support (dropped), treated without a control within the caliper (dropped),
        treated matched, controls used, caliper, score ranges.
    settings : dict
        The options used.
    """

    pairs: pd.DataFrame
    weights: pd.Series
    pscore: pd.Series
    balance: pd.DataFrame
    support: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


class _Available:
    """Nearest still-available sorted position at or right/left of a position.

    Union-find with path halving: ``right[i]`` leads to the nearest available position
    >= i (``n`` = none); ``left[j]`` works on positions shifted by one (``j = i + 1``) and
    leads to the nearest available position <= i (``-1`` = none).
    """

    def __init__(self, n: int) -> None:
        self.right = np.arange(n + 1)
        self.left = np.arange(n + 1)

    def find_right(self, i: int) -> int:
        r = self.right
        while r[i] != i:
            r[i] = r[r[i]]
            i = r[i]
        return int(i)

    def find_left(self, i: int) -> int:
        lft = self.left
        j = i + 1
        while lft[j] != j:
            lft[j] = lft[lft[j]]
            j = lft[j]
        return int(j) - 1

    def remove(self, i: int) -> None:
        self.right[i] = i + 1
        self.left[i + 1] = i


def _greedy(
    d_treated: np.ndarray,
    d_control: np.ndarray,
    caliper: float,
    n_neighbors: int,
    replace: bool,
    order: np.ndarray,
    rng: np.random.Generator,
) -> list[tuple[int, int, float, int]]:
    """Nearest-neighbour matches as (treated position, control position, distance, round)."""
    perm = rng.permutation(len(d_control))
    sorted_pos = perm[np.argsort(d_control[perm], kind="stable")]
    values = d_control[sorted_pos]
    n = len(values)
    matches: list[tuple[int, int, float, int]] = []
    if replace:
        for i in order:
            x = d_treated[i]
            hi = int(np.searchsorted(values, x, side="left"))
            lo = hi - 1
            for r in range(n_neighbors):
                left_d = x - values[lo] if lo >= 0 else np.inf
                right_d = values[hi] - x if hi < n else np.inf
                if left_d == np.inf and right_d == np.inf:
                    break
                go_left = left_d < right_d or (left_d == right_d and rng.random() < 0.5)
                dist = left_d if go_left else right_d
                if dist > caliper:
                    break
                if go_left:
                    matches.append((int(i), int(sorted_pos[lo]), float(dist), r + 1))
                    lo -= 1
                else:
                    matches.append((int(i), int(sorted_pos[hi]), float(dist), r + 1))
                    hi += 1
        return matches
    avail = _Available(n)
    active = np.ones(len(d_treated), dtype=bool)
    for r in range(n_neighbors):
        for i in order:
            if not active[i]:
                continue
            x = d_treated[i]
            pos = int(np.searchsorted(values, x, side="left"))
            hi = avail.find_right(pos) if pos < n else n
            lo = avail.find_left(pos - 1) if pos > 0 else -1
            left_d = x - values[lo] if lo >= 0 else np.inf
            right_d = values[hi] - x if hi < n else np.inf
            if left_d == np.inf and right_d == np.inf:
                active[i] = False
                continue
            go_left = left_d < right_d or (left_d == right_d and rng.random() < 0.5)
            dist, j = (left_d, lo) if go_left else (right_d, hi)
            if dist > caliper:
                active[i] = False
                continue
            matches.append((int(i), int(sorted_pos[j]), float(dist), r + 1))
            avail.remove(j)
    return matches


def match(
    units: pd.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    *,
    caliper: float | None = 0.2,
    replace: bool = False,
    n_neighbors: int = 1,
    distance: Distance = "logit",
    order: Order = "largest",
    common_support: bool = True,
    seed: int = 0,
) -> MatchResult:
    """Nearest-neighbour propensity-score matching of treated to control units (ATT).

    Parameters
    ----------
    units : DataFrame
        One row per unit, indexed by unit identifier.
    treatment : str
        0/1 column (1 = treated).
    covariates : list of str
        Columns for the logit propensity score (non-numeric ones as level indicators).
    caliper : float or None
        Maximum distance, in standard deviations of the distance; None = no caliper.
    replace : bool
        Whether a control may serve several treated units.
    n_neighbors : int
        Controls per treated unit (k:1 matching).
    distance : {"logit", "propensity"}
        Match on the logit of the score or on the score.
    order : {"largest", "smallest", "random", "data"}
        Order in which treated units pick controls (matters without replacement).
    common_support : bool
        Drop treated units whose score is outside the controls' range (``minmax``).
    seed : int
        Seed of the tie-breaking (and of ``order="random"``).

    Returns
    -------
    MatchResult
    """
    if treatment not in units:
        raise ValueError(f"column(s) not found in data: treatment={treatment!r}")
    t = units[treatment].to_numpy(dtype=float)
    if not np.all(np.isin(t, (0.0, 1.0))):
        raise ValueError(f"treatment column {treatment!r} must be 0/1")
    if t.sum() == 0 or t.sum() == len(t):
        raise ValueError(f"matching needs treated and control units; {treatment!r} has only one group")
    if not isinstance(n_neighbors, int | np.integer) or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors!r}")
    if distance not in ("logit", "propensity"):
        raise ValueError(f"distance must be 'logit' or 'propensity', got {distance!r}")
    if order not in ("largest", "smallest", "random", "data"):
        raise ValueError(f"order must be 'largest', 'smallest', 'random' or 'data', got {order!r}")
    if caliper is not None and caliper <= 0:
        raise ValueError(
            f"caliper must be positive (standard deviations of the distance) or None, got {caliper}"
        )
    if units.index.has_duplicates:
        raise ValueError("units must have one row per unit (duplicate index values)")

    notes: list[str] = []
    logit = _logit(units, treatment, covariates, notes)
    ps = logit.pscore
    p = np.clip(ps.to_numpy(), _EPS, 1 - _EPS)
    dist = np.log(p / (1 - p)) if distance == "logit" else p
    treated_mask = t == 1
    caliper_abs = float(caliper * dist.std(ddof=1)) if caliper is not None else np.inf

    on_support = np.ones(len(units), dtype=bool)
    if common_support:
        lo, hi = p[~treated_mask].min(), p[~treated_mask].max()
        on_support = ~treated_mask | ((p >= lo) & (p <= hi))
    n_off = int((treated_mask & ~on_support).sum())
    if n_off:
        notes.append(f"{n_off} treated unit(s) outside the common support of the propensity score dropped")

    treated_pos = np.flatnonzero(treated_mask & on_support)
    control_pos = np.flatnonzero(~treated_mask)
    rng = seeding.generator(seed)
    d_t = dist[treated_pos]
    if order == "largest":
        seq = np.argsort(-d_t, kind="stable")
    elif order == "smallest":
        seq = np.argsort(d_t, kind="stable")
    elif order == "random":
        seq = rng.permutation(len(d_t))
    else:
        seq = np.arange(len(d_t))
    raw = _greedy(d_t, dist[control_pos], caliper_abs, int(n_neighbors), replace, seq, rng)
    ids = units.index.to_numpy()
    pairs = pd.DataFrame(
        {
            "treated": ids[treated_pos[[m[0] for m in raw]]] if raw else [],
            "control": ids[control_pos[[m[1] for m in raw]]] if raw else [],
            "distance": [m[2] for m in raw],
            "round": [m[3] for m in raw],
        }
    )
    n_matched_t = pairs["treated"].nunique() if len(pairs) else 0
    n_no_match = len(treated_pos) - n_matched_t
    if n_no_match:
        notes.append(
            f"{n_no_match} treated unit(s) without a control within the caliper "
            f"({caliper} SD of the {distance} score) dropped"
        )
    if not replace and len(treated_pos) * n_neighbors > len(control_pos):
        notes.append(
            "fewer controls than requested matches: later treated units in the greedy order got fewer"
        )

    weights = pd.Series(0.0, index=units.index, name="weight")
    if len(pairs):
        per_treated = pairs.groupby("treated")["control"].transform("size")
        control_w = (1.0 / per_treated).groupby(pairs["control"]).sum()
        weights.loc[pairs["treated"].unique()] = 1.0
        weights.loc[control_w.index] = control_w.to_numpy()
    distance_series = pd.Series(dist, index=units.index)
    balance = balance_table(
        units,
        treatment,
        covariates,
        weights,
        extra_columns={f"distance ({distance} score)": distance_series},
    )
    counts = pd.Series(
        {
            "treated": int(treated_mask.sum()),
            "controls": int((~treated_mask).sum()),
            "treated off support (dropped)": n_off,
            "treated without match in caliper (dropped)": int(n_no_match),
            "treated matched": int(n_matched_t),
            "controls used": int(pairs["control"].nunique()) if len(pairs) else 0,
            "caliper (distance units)": caliper_abs,
            "min score, treated": float(p[treated_mask].min()),
            "max score, treated": float(p[treated_mask].max()),
            "min score, controls": float(p[~treated_mask].min()),
            "max score, controls": float(p[~treated_mask].max()),
        },
        dtype=object,
    )
    support = counts.to_frame("value")
    support.index.name = "item"
    return MatchResult(
        params=logit.params,
        std_errors=pd.Series(np.sqrt(np.diag(logit.cov.to_numpy())), index=logit.params.index),
        nobs=len(units),
        model="propensity score (logit)",
        inference={
            "estimator": "logit of the treatment on the covariates (statsmodels GLM, binomial)",
            "covariance": "model-based (inverse information)",
            "distribution": "normal",
        },
        cov=logit.cov,
        pairs=pairs,
        weights=weights[weights > 0],
        pscore=ps,
        balance=balance,
        support=support,
        notes=notes,
        settings={
            "caliper": caliper,
            "replace": replace,
            "n_neighbors": int(n_neighbors),
            "distance": distance,
            "order": order,
            "common_support": common_support,
            "seed": seed,
        },
    )
