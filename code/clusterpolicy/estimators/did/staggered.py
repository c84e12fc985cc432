"""Callaway & Sant'Anna (2021) group-time effects and Rambachan & Roth (2023) sensitivity.

Both wrap moderndid (which reproduces R ``did`` 2.5.1 and ``HonestDiD``): this module only
translates the arguments, checks the input with errors that name the column, turns the
library's warnings into ``notes`` and returns the package's one results shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy.core.notes import warnings_to_notes

from ._common import EXPLANATIONS, DiDResults, as_list, prepare_panel, series

__all__ = [
    "AggregateResults",
    "CallawaySantAnnaResults",
    "HonestDiDResults",
    "callaway_santanna",
    "honest_did",
]

Control = Literal["never", "notyet"]
Method = Literal["dr", "ipw", "reg"]
BasePeriod = Literal["varying", "universal"]
AggregationKind = Literal["simple", "dynamic", "group", "calendar"]
Restriction = Literal["relative_magnitude", "smoothness"]

_CONTROL = {"never": "nevertreated", "notyet": "notyettreated"}
_KEY = {"dynamic": "event_time", "group": "cohort", "calendar": "time"}
_PREFIX = {"dynamic": "e", "group": "g", "calendar": "t"}


def _influence_cov(influence: Any, std_errors: np.ndarray) -> np.ndarray | None:
    """Covariance of estimates from their influence functions (one row per unit).

    ``psi' psi / n^2``, as the analytic standard errors of R did (and moderndid) are the square
    roots of its diagonal. Terms without a standard error (the reference cells of a universal
    base period) get NaN rows and columns. ``None`` (the results then keep a diagonal
    covariance) when the influence functions are missing or do not reproduce the standard
    errors, e.g. with bootstrap standard errors.
    """
    if influence is None:
        return None
    psi = np.asarray(influence, dtype=float)
    if psi.ndim == 1:
        psi = psi[:, None]
    if psi.ndim != 2 or psi.shape[1] != std_errors.size or not np.all(np.isfinite(psi)):
        return None
    cov = psi.T @ psi / psi.shape[0] ** 2
    have = np.isfinite(std_errors)
    if not np.allclose(np.sqrt(np.diag(cov))[have], std_errors[have], rtol=1e-8, atol=1e-12):
        return None
    cov[~have, :] = np.nan
    cov[:, ~have] = np.nan
    return cov


@dataclass(repr=False)
class AggregateResults(DiDResults):
    """An aggregation of ATT(g,t) (or of Sun-Abraham cells): overall ``att``/``se`` and a
    ``table`` by event time, cohort or period.

    ``params`` holds ``ATT`` (the overall effect) followed by one term per row of
    ``table`` (``e=-1``, ``g=2004``, ``t=2005``...); ``cov`` their joint covariance
    (influence functions; diagonal only with bootstrap standard errors).

    Attributes
    ----------
    kind : str
        ``"simple"``, ``"dynamic"``, ``"group"`` or ``"calendar"``.
    table : pandas.DataFrame
        The key column (``event_time``, ``cohort`` or ``time``) and ``att, se, conf_low,
        conf_high``; the interval is pointwise with analytic standard errors and simultaneous
        (uniform over the rows) with the bootstrap. Empty for ``"simple"``.
    raw : object
        The library's own result (moderndid ``AGGTEResult``; None for Sun-Abraham).
    """

    kind: str = "simple"
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    raw: Any = field(default=None, repr=False)

    @property
    def att(self) -> float:
        """Overall aggregated effect."""
        return float(self.params["ATT"])

    @property
    def se(self) -> float:
        """Standard error of the overall effect."""
        return float(self.std_errors["ATT"])


@dataclass(repr=False)
class CallawaySantAnnaResults(DiDResults):
    """Group-time average treatment effects ATT(g,t) of Callaway & Sant'Anna (2021).

    ``params``/``std_errors`` are indexed ``ATT(g,t)``, ``cov`` is their covariance from the
    influence functions (diagonal only with bootstrap standard errors), intervals and
    p-values use the normal distribution (as R did); :meth:`aggregate` gives the summaries
    of the paper.

    Attributes
    ----------
    att_gt : pandas.DataFrame
        ``cohort, time, event_time, att, se, conf_low, conf_high`` (the interval with the
        critical value of ``extra["critical_value"]``: pointwise, or simultaneous with the
        bootstrap).
    pretest : dict
        Wald pre-test of parallel trends on the pre-treatment ATT(g,t): ``wald_stat, df,
        p_value, available``.
    raw : object
        moderndid's own result.
    settings : dict
        ``seed, bootstrap, base_period, anticipation, alpha``.
    """

    att_gt: pd.DataFrame = field(default_factory=pd.DataFrame)
    pretest: dict[str, Any] = field(default_factory=dict)
    raw: Any = field(default=None, repr=False)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)

    def aggregate(
        self,
        kind: AggregationKind = "simple",
        *,
        balance_e: int | None = None,
        min_e: int | None = None,
        max_e: int | None = None,
    ) -> AggregateResults:
        """Aggregate the ATT(g,t) as in Callaway & Sant'Anna (2021, section 3).

        Parameters
        ----------
        kind : {"simple", "dynamic", "group", "calendar"}
            ``simple``: weighted average of all post-treatment ATT(g,t), weights
            proportional to cohort size. ``dynamic``: event study by event time
            e = t - g. ``group``: average effect of each cohort. ``calendar``: average
            effect in each period.
        balance_e : int, optional
            Dynamic only: keep the cohorts observed at least ``balance_e`` periods after
            treatment, so the composition of the event study does not change with e.
        min_e, max_e : int, optional
            Dynamic only: the event-time window.

        Returns
        -------
        AggregateResults
            ``att``, ``se`` (overall) and ``table``.
        """
        import moderndid

        if kind not in ("simple", "dynamic", "group", "calendar"):
            raise ValueError(f"kind must be 'simple', 'dynamic', 'group' or 'calendar', got {kind!r}")
        if kind != "dynamic" and (balance_e is not None or min_e is not None or max_e is not None):
            raise ValueError("balance_e, min_e and max_e apply to kind='dynamic' only")
        notes: list[str] = []
        with warnings_to_notes(notes, "moderndid.aggte", explanations=EXPLANATIONS):
            agg = moderndid.aggte(
                self.raw,
                type=kind,
                balance_e=balance_e,
                min_e=-np.inf if min_e is None else min_e,
                max_e=np.inf if max_e is None else max_e,
                random_state=self.settings.get("seed"),
            )
        names = ["ATT"]
        att = [float(agg.overall_att)]
        se = [float(agg.overall_se)]
        table = pd.DataFrame()
        if kind != "simple":
            key = _KEY[kind]
            events = np.asarray(agg.event_times, dtype=float).astype(np.int64)
            crit = np.broadcast_to(np.asarray(agg.critical_values, dtype=float), events.shape)
            est = np.asarray(agg.att_by_event, dtype=float)
            err = np.asarray(agg.se_by_event, dtype=float)
            table = pd.DataFrame(
                {
                    key: events,
                    "att": est,
                    "se": err,
                    "conf_low": est - crit * err,
                    "conf_high": est + crit * err,
                }
            )
            names += [f"{_PREFIX[kind]}={v}" for v in events]
            att += est.tolist()
            se += err.tolist()
        cov = None
        if not self.settings.get("bootstrap"):
            influence = agg.influence_func_overall
            if kind != "simple" and agg.influence_func is not None:
                influence = np.column_stack([np.asarray(influence, dtype=float).reshape(-1),
                                             np.asarray(agg.influence_func, dtype=float)])
            cov = _influence_cov(influence, np.asarray(se, dtype=float))
        inference = dict(self.inference)
        inference["aggregation"] = (
            kind
            + (f" (balance_e={balance_e})" if balance_e is not None else "")
            + (
                f" (event times {'-inf' if min_e is None else min_e} to {'inf' if max_e is None else max_e})"
                if min_e is not None or max_e is not None
                else ""
            )
        )
        return AggregateResults(
            params=series(att, names),
            std_errors=series(se, names),
            nobs=self.nobs,
            model=f"callaway_santanna[{kind}]",
            inference=inference,
            extra={"n_units": self.extra.get("n_units")},
            notes=list(self.notes) + notes,
            cov=cov,
            kind=kind,
            table=table,
            raw=agg,
        )


def callaway_santanna(
    data: pd.DataFrame,
    y: str,
    unit: str,
    time: str,
    cohort: str,
    control: Control = "never",
    covariates: Sequence[str] | str | None = None,
    method: Method = "dr",
    base_period: BasePeriod = "varying",
    *,
    anticipation: int = 0,
    alpha: float = 0.05,
    bootstrap: bool = False,
    biters: int = 999,
    seed: int | None = None,
) -> CallawaySantAnnaResults:
    """Callaway & Sant'Anna (2021) ATT(g,t) on a balanced panel (wraps moderndid).

    Parameters
    ----------
    data : DataFrame
        Long panel, one row per unit and period.
    y, unit, time : str
        Outcome, unit identifier and period (whole numbers, e.g. years) columns.
    cohort : str
        Period in which the unit is first treated; 0 or NaN for never treated. Must be
        constant within a unit. Cohorts and periods are read from the data.
    control : {"never", "notyet"}
        Comparison group: never-treated units only, or never- and not-yet-treated units.
    covariates : list of str, optional
        Pre-treatment covariates for conditional parallel trends (R ``xformla``). moderndid,
        like R ``did``, uses their value in the base period of each comparison.
    method : {"dr", "ipw", "reg"}
        Doubly robust (Sant'Anna & Zhao 2020), inverse probability weighting, or outcome
        regression.
    base_period : {"varying", "universal"}
        ``varying``: each pre-treatment ATT(g,t) compares t with t-1 (R default);
        ``universal``: every ATT(g,t) compares t with g-1-anticipation (needed by
        :func:`honest_did`).
    anticipation : int
        Periods before treatment in which units may already react.
    alpha : float
        Level of the confidence intervals (1 - alpha).
    bootstrap : bool
        False (default): analytic influence-function standard errors, clustered by unit,
        pointwise intervals. True: multiplier bootstrap (``biters`` draws, seeded with
        ``seed``) for standard errors and simultaneous confidence bands.
    biters : int
        Bootstrap draws.
    seed : int, optional
        Seed of the bootstrap (required when ``bootstrap=True``).

    Returns
    -------
    CallawaySantAnnaResults

    Raises
    ------
    ValueError
        Missing columns, cohort not constant within unit, duplicate unit-period rows,
        an unbalanced panel, no never-treated units with ``control="never"``, no
        treated cohort with a pre-treatment period.
    """
    import moderndid

    if control not in _CONTROL:
        raise ValueError(f"control must be 'never' or 'notyet', got {control!r}")
    if method not in ("dr", "ipw", "reg"):
        raise ValueError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if bootstrap and seed is None:
        raise ValueError("bootstrap=True needs an integer seed so that the results can be reproduced")
    covariates = as_list(covariates)
    panel, info = prepare_panel(
        data, y=y, unit=unit, time=time, cohort=cohort, covariates=covariates, balanced=True
    )
    for k, col in enumerate(covariates):
        if not pd.api.types.is_numeric_dtype(panel[f"_x{k}"]):
            raise ValueError(f"covariate column {col!r} must be numeric (encode categories as dummies)")
    if not info.cohorts:
        raise ValueError(f"cohort column {cohort!r} has no treated units (all 0 or NaN)")
    if control == "never" and info.n_never == 0:
        raise ValueError(
            f"control='never' needs never-treated units (cohort 0 or NaN in {cohort!r}); "
            "there are none: use control='notyet'"
        )
    if max(info.cohorts) <= info.times[0]:
        raise ValueError(
            f"no cohort in {cohort!r} is first treated after the first period {info.times[0]} "
            f"of {time!r}: there is no pre-treatment period to compare with"
        )

    # Internal names keep formulaic away from the caller's column names (e.g. "first.treat").
    frame = pd.DataFrame(
        {
            "id": pd.factorize(panel["_unit"])[0] + 1,
            "t": panel["_time"],
            "y": panel["_y"],
            "g": panel["_cohort"],
        }
    )
    for k in range(len(covariates)):
        frame[f"x{k}"] = panel[f"_x{k}"].astype(float)
    xformla = "~ " + " + ".join(f"x{k}" for k in range(len(covariates))) if covariates else None

    notes: list[str] = []
    with warnings_to_notes(notes, "moderndid.att_gt", explanations=EXPLANATIONS):
        fit = moderndid.att_gt(
            frame,
            yname="y",
            tname="t",
            idname="id",
            gname="g",
            xformla=xformla,
            alpha=alpha,
            cband=bootstrap,
            boot=bootstrap,
            biters=biters,
            est_method=method,
            control_group=_CONTROL[control],
            anticipation=anticipation,
            base_period=base_period,
            random_state=seed,
        )

    groups = np.asarray(fit.groups, dtype=float).astype(np.int64)
    times = np.asarray(fit.times, dtype=float).astype(np.int64)
    att = np.asarray(fit.att_gt, dtype=float)
    se = np.asarray(fit.se_gt, dtype=float)
    crit = float(fit.critical_value)
    table = pd.DataFrame(
        {
            "cohort": groups,
            "time": times,
            "event_time": times - groups,
            "att": att,
            "se": se,
            "conf_low": att - crit * se,
            "conf_high": att + crit * se,
        }
    )
    if base_period == "universal":
        reference = table["time"] == table["cohort"] - 1 - anticipation
        if reference.any():
            notes.append(
                "universal base period: the ATT(g,t) at t = g-1"
                + (f"-{anticipation}" if anticipation else "")
                + " are 0 by construction (the reference period) and have no standard error"
            )

    pre = np.flatnonzero((groups > times) & np.isfinite(se))
    if fit.wald_stat is not None:
        wald = float(fit.wald_stat)
        pretest = {
            "wald_stat": wald,
            "df": len(pre),
            "p_value": float(stats.chi2.sf(wald, len(pre))),
            "available": True,
        }
    else:
        pretest = {"wald_stat": np.nan, "df": len(pre), "p_value": np.nan, "available": False}

    names = [f"ATT({g},{t})" for g, t in zip(groups, times, strict=True)]
    inference = {
        "standard errors": (
            f"multiplier bootstrap ({biters} draws, Mammen weights, seed {seed}), clustered by unit"
            if bootstrap
            else "analytic (influence function), clustered by unit"
        ),
        "intervals": (
            f"simultaneous {1 - alpha:.0%} bands (bootstrap critical value {crit:.3f})"
            if bootstrap
            else f"pointwise {1 - alpha:.0%}"
        ),
        "control group": {"never": "never treated", "notyet": "never and not yet treated"}[control],
        "estimator": {
            "dr": "doubly robust",
            "ipw": "inverse probability weighting",
            "reg": "outcome regression",
        }[method],
        "base period": base_period,
        "covariates": ", ".join(covariates) if covariates else "none",
        "anticipation": anticipation,
        "distribution": "normal",
    }
    return CallawaySantAnnaResults(
        params=series(att, names),
        std_errors=series(se, names),
        nobs=int(fit.estimation_params.get("n_obs", len(frame))),
        model="callaway_santanna",
        inference=inference,
        extra={
            "n_units": int(fit.n_units),
            "cohorts": list(info.cohorts),
            "times": list(info.times),
            "critical_value": crit,
        },
        notes=notes,
        cov=None if bootstrap else _influence_cov(fit.influence_func, se),
        att_gt=table,
        pretest=pretest,
        raw=fit,
        settings={
            "seed": seed,
            "bootstrap": bootstrap,
            "base_period": base_period,
            "anticipation": anticipation,
            "alpha": alpha,
        },
    )


@dataclass(repr=False)
class HonestDiDResults(DiDResults):
    """Rambachan & Roth (2023) robust confidence sets for one event-study effect.

    ``params``/``std_errors`` hold the event-study estimate ``theta`` at the chosen event
    time (under exact parallel trends).

    Attributes
    ----------
    bounds : pandas.DataFrame
        The robust intervals: one row per restriction and M (smoothness) or Mbar (relative
        magnitudes), columns ``restriction, M, lb, ub, method, contains_zero``; the row with
        ``M = NaN`` and method ``original`` is the interval under exact parallel trends.
    breakdown : dict of str to float
        For each restriction, the smallest M/Mbar of the grid at which the robust interval
        includes 0 (NaN when already the original interval includes 0, or when no grid value
        does).
    event_time : int
        The event time of the effect.
    """

    bounds: pd.DataFrame = field(default_factory=pd.DataFrame)
    breakdown: dict[str, float] = field(default_factory=dict)
    event_time: int = 0


def honest_did(
    result: CallawaySantAnnaResults,
    event_time: int = 0,
    restrictions: Sequence[Restriction] | Restriction = ("relative_magnitude", "smoothness"),
    *,
    mbar: Sequence[float] | None = None,
    m: Sequence[float] | None = None,
    min_e: int | None = None,
    max_e: int | None = None,
    alpha: float = 0.05,
) -> HonestDiDResults:
    """Sensitivity of an event-study effect to violations of parallel trends.

    Wraps ``moderndid.honest_did`` on the dynamic aggregation of ``result``.

    Parameters
    ----------
    result : CallawaySantAnnaResults
        A fit with ``base_period="universal"`` (the restrictions measure every
        coefficient from one reference period, as in R HonestDiD).
    event_time : int
        Post-treatment event time of the effect (0 = on impact).
    restrictions : {"relative_magnitude", "smoothness"} or sequence of str
        One of the two, or both (the default). ``relative_magnitude``: post-treatment
        violations at most Mbar times the largest pre-treatment one (method C-LF).
        ``smoothness``: the slope of the differential trend changes by at most M per period
        (method FLCI).
    mbar, m : sequence of float, optional
        Grids of Mbar and M (moderndid's defaults: Mbar 0..2 in 10 steps; M from 0 to a
        data-driven bound).
    min_e, max_e : int, optional
        Event-time window of the event study.
    alpha : float
        1 - confidence level.

    Returns
    -------
    HonestDiDResults
        ``bounds`` by M/Mbar, ``breakdown`` values, ``params`` = the effect at
        ``event_time``.
    """
    import moderndid

    if not isinstance(result, CallawaySantAnnaResults):
        raise TypeError("honest_did needs the result of callaway_santanna()")
    if result.settings.get("base_period") != "universal":
        raise ValueError(
            "honest_did needs callaway_santanna(..., base_period='universal'): the restrictions "
            "measure every event-study coefficient from one reference period"
        )
    restrictions = [restrictions] if isinstance(restrictions, str) else list(restrictions)
    for item in restrictions:
        if item not in ("relative_magnitude", "smoothness"):
            raise ValueError(f"restrictions must be 'relative_magnitude' and/or 'smoothness', got {item!r}")
    _quiet_highs_banner()
    study = result.aggregate("dynamic", min_e=min_e, max_e=max_e)
    table = study.table
    row = table.loc[table["event_time"] == event_time]
    if row.empty or event_time < 0:
        raise ValueError(
            f"event_time={event_time} is not a post-treatment event time of the event study "
            f"(available: {table.loc[table['event_time'] >= 0, 'event_time'].tolist()})"
        )
    notes = list(study.notes)
    rows: list[dict[str, Any]] = []
    breakdown: dict[str, float] = {}
    original = None
    for item in restrictions:
        kwargs: dict[str, Any] = {"alpha": alpha}
        if item == "relative_magnitude" and mbar is not None:
            kwargs["m_bar_vec"] = np.asarray(mbar, dtype=float)
        if item == "smoothness" and m is not None:
            kwargs["m_vec"] = np.asarray(m, dtype=float)
        with warnings_to_notes(notes, "moderndid.honest_did", explanations=EXPLANATIONS):
            out = moderndid.honest_did(study.raw, event_time=event_time, sensitivity_type=item, **kwargs)
        original = out.original_ci
        robust = out.robust_ci.to_pandas()
        grid_col = "Mbar" if item == "relative_magnitude" else "m"
        for rec in robust.to_dict("records"):
            lb, ub = float(rec["lb"]), float(rec["ub"])
            rows.append(
                {
                    "restriction": item,
                    "M": float(rec[grid_col]),
                    "lb": lb,
                    "ub": ub,
                    "method": str(rec["method"]),
                    "contains_zero": bool(lb <= 0 <= ub),
                }
            )
        breakdown[item] = _breakdown(
            robust[grid_col].to_numpy(float),
            robust["lb"].to_numpy(float),
            robust["ub"].to_numpy(float),
            float(original.lb),
            float(original.ub),
        )
        label = "Mbar" if item == "relative_magnitude" else "M"
        if np.isnan(breakdown[item]):
            if original.lb <= 0 <= original.ub:
                notes.append(f"{item}: the interval includes 0 already under exact parallel trends")
            else:
                notes.append(f"{item}: the effect stays significant for every {label} of the grid")
    assert original is not None
    first_row = {
        "restriction": "parallel trends",
        "M": np.nan,
        "lb": float(original.lb),
        "ub": float(original.ub),
        "method": "original",
        "contains_zero": bool(original.lb <= 0 <= original.ub),
    }
    bounds = pd.DataFrame([first_row, *rows])
    name = f"e={event_time}"
    inference = dict(result.inference)
    inference["sensitivity"] = (
        f"Rambachan & Roth (2023), {1 - alpha:.0%} robust confidence sets; breakdown value = smallest "
        "grid M/Mbar whose set includes 0"
    )
    return HonestDiDResults(
        params=series([float(row["att"].iloc[0])], [name]),
        std_errors=series([float(row["se"].iloc[0])], [name]),
        nobs=result.nobs,
        model="honest_did",
        inference=inference,
        extra={"event_study": table},
        notes=notes,
        bounds=bounds,
        breakdown=breakdown,
        event_time=event_time,
    )


_HIGHS_QUIET = False


def _quiet_highs_banner() -> None:
    """Construct one HiGHS solver with the process's stdout closed.

    highspy prints a licence banner from C on the first ``Highs()`` of a process (before
    moderndid can switch its output off); in a chapter it would appear as cell output.
    """
    global _HIGHS_QUIET
    if _HIGHS_QUIET:
        return
    import ctypes
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
            ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _HIGHS_QUIET = True


def _breakdown(grid: np.ndarray, lb: np.ndarray, ub: np.ndarray, lb0: float, ub0: float) -> float:
    """Smallest grid value whose interval includes 0 (NaN: never, or already at exact PT)."""
    if lb0 <= 0 <= ub0:
        return float("nan")
    order = np.argsort(grid)
    for value, low, high in zip(grid[order], lb[order], ub[order], strict=True):
        if low <= 0 <= high:
            return float(value)
    return float("nan")
