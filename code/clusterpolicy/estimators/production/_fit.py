"""Estimation of one prepared panel: the control-function estimators with their options, root
selection, warnings and bootstrap replicates.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._bootstrap import firm_bootstrap, seed_sequence
from ._data import NO_LAG_REASON, Panel
from ._estimators import (
    Fit,
    build_acf,
    default_acf_starts,
    distinct,
    fit_fe,
    fit_ols,
    fit_oplp,
    fit_wooldridge,
    solve_acf,
)
from ._results import ProductionResults, dropped_frame

Method = Literal["ols", "fe", "op", "lp", "acf", "wooldridge"]


WooldridgeVariant = Literal["gmm", "iv", "rob", "prodest_iv"]


RootSelection = Literal["persistence", "criterion"]


_CONTROL_FUNCTION = ("op", "lp", "acf")


class ProductionWarning(UserWarning):
    """Base class of the warnings of :mod:`clusterpolicy.estimators.production`."""


class NoRootWarning(ProductionWarning):
    """ACF found no root of its moment conditions: the estimate is not a GMM solution."""


class MultipleRootsWarning(ProductionWarning):
    """ACF found several distinct roots of its moment conditions (all are in ``extra``)."""


class ImplausibleRootWarning(ProductionWarning):
    """ACF's roots all lie outside the plausible range of elasticities."""


class _LinearReplicate:
    def __init__(self, panel: Panel, method: str, opts: dict[str, Any]) -> None:
        self.panel, self.method, self.opts = panel, method, opts

    def __call__(self, w: np.ndarray) -> np.ndarray:
        if self.method == "ols":
            return fit_ols(self.panel, w, se=False, **self.opts).params
        if self.method == "fe":
            return fit_fe(self.panel, w, se=False, **self.opts).params
        return fit_wooldridge(self.panel, w, se=False, **self.opts).params


class _OPLPReplicate:
    def __init__(self, panel: Panel, opts: dict[str, Any], start: np.ndarray) -> None:
        self.panel, self.opts, self.start = panel, opts, start

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return fit_oplp(self.panel, w, starts=[self.start], **self.opts).params


class _ACFReplicate:
    """The root nearest the point estimate, searched from it, then from the fallback starts.

    The point estimate's selection rule carries over: only roots inside ``plausible`` count;
    a replicate without one fails (and is counted as failed).
    """

    def __init__(
        self,
        panel: Panel,
        opts: dict[str, Any],
        start: np.ndarray,
        fallback: list[np.ndarray],
        root_tol: float,
        plausible: tuple[float, float],
    ) -> None:
        self.panel, self.opts, self.start = panel, opts, start
        self.fallback, self.root_tol, self.plausible = fallback, root_tol, plausible

    def _ok(self, rec: dict[str, Any]) -> bool:
        x = rec["params"]
        return rec["is_root"] and bool(np.all((x >= self.plausible[0]) & (x <= self.plausible[1])))

    def __call__(self, w: np.ndarray) -> np.ndarray:
        built = build_acf(self.panel, w, **self.opts)
        first = solve_acf(built.problem, [self.start], root_tol=self.root_tol, max_nfev=100)
        if self._ok(first[0]):
            return first[0]["params"]
        recs = solve_acf(built.problem, self.fallback, root_tol=self.root_tol, max_nfev=100)
        good = [r for r in recs if self._ok(r)]
        if not good:
            return np.full(self.start.shape, np.nan)
        return min(good, key=lambda r: float(np.sum((r["params"] - self.start) ** 2)))["params"]


def _acf_point(
    panel: Panel,
    *,
    acf_opts: dict[str, Any],
    starts: int | Sequence[Sequence[float]],
    start_box: tuple[float, float],
    root_tol: float,
    root_selection: str,
    plausible: tuple[float, float],
    screen_firms: int | None,
) -> tuple[Fit, list[np.ndarray], list[str]]:
    """The ACF point estimate: multistart root search, root selection, warnings.

    Returns the fit, the fallback starts of the bootstrap replicates and the notes (the
    messages of the warnings raised).
    """
    w = np.ones(panel.n)
    built = build_acf(panel, w, **acf_opts)
    names = panel.free_names + panel.state_names
    k = len(names)
    fs = dict(zip(built.names, built.coef, strict=True))
    fs_start = np.array([fs.get(n, 0.0) for n in names])
    ols_start = fit_ols(panel, w, se=False).params
    if isinstance(starts, (int, np.integer)):
        start_list = [fs_start, ols_start, *default_acf_starts(k, int(starts), start_box)]
    else:
        start_list = [np.asarray(s, dtype=float).reshape(k) for s in starts]
        if not start_list:
            raise ValueError("starts must be a positive number or a non-empty list of vectors")
    screened = None
    if screen_firms is not None and panel.n_firms > screen_firms:
        # Locate the basins on a fixed subsample of firms, then solve on all data from each
        # distinct end point (roots and local minima alike).
        chosen = np.random.default_rng(0).choice(panel.n_firms, screen_firms, replace=False)
        mask = np.isin(panel.firm, chosen)
        sub = build_acf(panel.subset(mask), np.ones(int(mask.sum())), **acf_opts)
        screen = distinct(solve_acf(sub.problem, start_list, root_tol=root_tol, max_nfev=60), 1e-3)
        full_starts = [rec["params"] for rec in screen]
        screened = {"firms": int(screen_firms), "end_points": len(full_starts)}
    else:
        full_starts = start_list
    records = solve_acf(built.problem, full_starts, root_tol=root_tol, max_nfev=200)
    points = distinct(records)
    roots = [p for p in points if p["is_root"]]
    problem = built.problem
    for rec in points:
        xi, _, fitted = problem.lom.evaluate(rec["params"], jacobian=False)
        wr = problem.lom.w
        om = xi + fitted
        om_c = om - np.sum(wr * om) / wr.sum()
        rec["persistence_r2"] = float(1 - np.sum(wr * xi**2) / np.sum(wr * om_c**2))
        rec["plausible"] = bool(np.all((rec["params"] >= plausible[0]) & (rec["params"] <= plausible[1])))
    notes: list[str] = []
    if roots:
        in_range = [r for r in roots if r["plausible"]]
        pool = in_range or roots
        if not in_range:
            msg = (
                f"ACF: every root found ({len(roots)}) lies outside the plausible range"
                f" {plausible} of the elasticities; the estimate is one of them (see extra['roots'])."
            )
            warnings.warn(msg, ImplausibleRootWarning, stacklevel=4)
            notes.append(msg)
        if root_selection == "persistence":
            chosen_rec = max(pool, key=lambda r: r["persistence_r2"])
        else:
            chosen_rec = min(pool, key=lambda r: r["criterion"])
        if len(pool) > 1:
            listing = "; ".join(
                f"({', '.join(f'{v:.4f}' for v in r['params'])}) R2={r['persistence_r2']:.3f}" for r in pool
            )
            msg = (
                f"ACF: {len(pool)} distinct roots of the moment conditions"
                f"{' within the plausible range ' + str(plausible) if in_range else ''}: {listing}. Chose"
                f" ({', '.join(f'{v:.4f}' for v in chosen_rec['params'])}) by"
                f" root_selection={root_selection!r}; all roots are in extra['roots']."
            )
            warnings.warn(msg, MultipleRootsWarning, stacklevel=4)
            notes.append(msg)
        root_found = True
    else:
        chosen_rec = min(points, key=lambda r: r["criterion"]) if points else None
        best = (
            "none converged"
            if chosen_rec is None
            else (
                f"smallest criterion {chosen_rec['criterion']:.3g} (relative"
                f" {chosen_rec['relative_criterion']:.3g} > root_tol={root_tol:g}) at"
                f" ({', '.join(f'{v:.4f}' for v in chosen_rec['params'])})"
            )
        )
        msg = (
            f"ACF: no root of the moment conditions found from {len(start_list)} starts; {best}."
            " The reported estimates minimise the criterion but do not solve the moment"
            " conditions: do not use them as GMM estimates (try other starts, a wider"
            " start_box, another degree, or check the data)."
        )
        warnings.warn(msg, NoRootWarning, stacklevel=4)
        notes.append(msg)
        root_found = False
    params = chosen_rec["params"] if chosen_rec is not None else np.full(k, np.nan)
    omega = np.full(panel.n, np.nan)
    omega[built.keep] = built.phi - np.hstack([built.p.free, built.p.state]) @ params
    table = pd.DataFrame(
        [
            {
                **dict(zip(names, r["params"], strict=True)),
                "criterion": r["criterion"],
                "relative_criterion": r["relative_criterion"],
                "persistence_r2": r["persistence_r2"],
                "n_starts": r["n_starts"],
                "plausible": r["plausible"],
            }
            for r in points
        ]
    )
    extra = {
        "criterion": float(chosen_rec["criterion"]) if chosen_rec else np.nan,
        "relative_criterion": float(chosen_rec["relative_criterion"]) if chosen_rec else np.nan,
        "root_found": root_found,
        "roots": table[[bool(p["is_root"]) for p in points]].reset_index(drop=True) if len(table) else table,
        "local_minima": table[[not p["is_root"] for p in points]].reset_index(drop=True)
        if len(table)
        else table,
        "n_starts": len(start_list),
        "starts": np.vstack(start_list),
        "root_tol": root_tol,
        "root_selection": root_selection,
        "screening": screened,
        "first_stage_coef": pd.Series(built.coef, index=built.names),
        "first_stage_r2": built.r2,
        "first_stage_sigma": built.sigma,
        "nobs_first_stage": built.p.n,
    }
    fallback = [r["params"] for r in roots if r is not chosen_rec]
    fallback += default_acf_starts(k, 4, start_box)
    fit = Fit(params=params, nobs=int(built.rows.size), omega=omega, extra=extra, converged=root_found)
    return fit, fallback, notes


def _estimate_panel(
    panel: Panel,
    data_index: pd.Index,
    method: str,
    *,
    degree: int,
    bootstrap: int,
    seed: int | np.random.SeedSequence | None,
    n_jobs: int | None,
    batch_size: int,
    logs: bool | Sequence[str],
    exit: bool,
    law_of_motion_controls: list[str],
    first_stage_controls: bool,
    lom_degree: int,
    time_effects: bool,
    variant: str,
    starts: int | Sequence[Sequence[float]],
    start_box: tuple[float, float],
    root_tol: float,
    root_selection: str,
    plausible: tuple[float, float],
    screen_firms: int | None,
) -> ProductionResults:
    """Estimate one prepared panel (the work of :func:`estimate` after its checks).

    ``data_index`` is the index of the input data, to align productivity with it; the options
    are those of :func:`estimate` (``logs`` and ``law_of_motion_controls`` have already been
    applied by :func:`prepare_panel`).
    """
    del logs, law_of_motion_controls
    names = panel.free_names + panel.state_names
    k = len(names)
    min_rows = k + 2
    if panel.n < min_rows or panel.n_firms < 2:
        raise ValueError(
            f"too few usable rows ({panel.n}) or firms ({panel.n_firms}) to estimate {k} elasticities"
        )
    w = np.ones(panel.n)
    stages: dict[str, str] = {}
    dropped = dict(panel.dropped)
    inference: dict[str, Any] = {}
    fallback: list[np.ndarray] = []
    notes: list[str] = []
    if method in ("ols", "fe"):
        fitter = fit_ols if method == "ols" else fit_fe
        fit = fitter(panel, w, time_effects=time_effects)
        replicate: Any = _LinearReplicate(panel, method, {"time_effects": time_effects})
        inference["std_errors"] = "analytic, clustered by firm"
        inference["small_sample"] = (
            "G/(G-1)*(N-1)/(N-K)" if method == "ols" else "N/(N-k), k = number of elasticities"
        )
        inference["clusters"] = panel.n_firms
    elif method == "wooldridge":
        fit = fit_wooldridge(panel, w, variant=variant, degree=degree)
        replicate = _LinearReplicate(panel, method, {"variant": variant, "degree": degree})
        if variant == "prodest_iv":
            # prodestWRDG's own standard errors, reproduced; not valid 2SLS standard errors
            inference["std_errors"] = "prodest's reported (OLS on fitted values)"
            inference["small_sample"] = "s^2 = u'u / (2N - columns), u the residual on the fitted regressors"
            inference["valid_alternative"] = "variant='gmm' or 'iv': firm-clustered 2SLS/GMM standard errors"
        else:
            inference["std_errors"] = "analytic, clustered by firm"
            inference["small_sample"] = "G/(G-1)"
            inference["clusters"] = panel.n_firms
        n_nolag = int((~panel.has_lag).sum())
        if n_nolag:
            dropped[NO_LAG_REASON] = n_nolag
            stages[NO_LAG_REASON] = "all stages"
    else:
        n_nolag = int((~panel.has_lag).sum())
        if n_nolag:
            dropped[NO_LAG_REASON] = n_nolag
            stages[NO_LAG_REASON] = "second stage"
        if method in ("op", "lp"):
            opts = {
                "degree": degree,
                "lom_degree": lom_degree,
                "exit": exit,
                "first_stage_controls": first_stage_controls,
            }
            fit = fit_oplp(panel, w, **opts)
            replicate = _OPLPReplicate(panel, opts, fit.params[len(panel.free_names) :])
        else:
            acf_opts = {
                "degree": degree,
                "lom_degree": lom_degree,
                "first_stage_controls": first_stage_controls,
            }
            fit, fallback, notes = _acf_point(
                panel,
                acf_opts=acf_opts,
                starts=starts,
                start_box=start_box,
                root_tol=root_tol,
                root_selection=root_selection,
                plausible=plausible,
                screen_firms=screen_firms,
            )
            replicate = _ACFReplicate(panel, acf_opts, fit.params, fallback, root_tol, plausible)
        inference["std_errors"] = "none (bootstrap=0)"

    std_errors = np.full(k, np.nan)
    cov = fit.cov
    if cov is not None:
        std_errors = np.sqrt(np.diag(cov))
    if bootstrap:
        seq = seed_sequence(seed)
        if method == "acf" and not np.all(np.isfinite(fit.params)):
            raise ValueError("ACF found no solution at all: nothing to bootstrap")
        out = firm_bootstrap(
            replicate,
            firm=panel.firm,
            n_firms=panel.n_firms,
            k=k,
            replications=int(bootstrap),
            seed=seq,
            n_jobs=n_jobs,
            batch_size=batch_size,
        )
        good = out.draws[np.all(np.isfinite(out.draws), axis=1)]
        std_errors = good.std(axis=0, ddof=1) if len(good) >= 2 else np.full(k, np.nan)
        # the covariance of the successful replicates (its diagonal: std_errors squared)
        cov = np.atleast_2d(np.cov(good, rowvar=False, ddof=1)) if len(good) >= 2 else np.full((k, k), np.nan)
        inference = {
            "std_errors": "firm-block bootstrap (firms resampled whole)",
            "replications": int(bootstrap),
            "failed_replications": int(out.failed),
            "seed": seed if isinstance(seed, int) else seq.entropy,
            "batch_size": int(batch_size),
        }
        if out.failure_reasons:
            inference["failure_reasons"] = out.failure_reasons
        fit.extra["bootstrap_draws"] = pd.DataFrame(out.draws, columns=names)

    residual_tfp = pd.Series(np.nan, index=data_index, name="tfp")
    inputs = np.hstack([panel.free, panel.state])
    residual_tfp.loc[panel.index] = panel.y - inputs @ fit.params
    fitted_tfp = None
    if method in _CONTROL_FUNCTION and fit.omega is not None:
        fitted_tfp = pd.Series(np.nan, index=data_index, name="tfp")
        fitted_tfp.loc[panel.index] = fit.omega
    extra = dict(fit.extra)
    extra.update(
        method=method,
        degree=degree,
        free=panel.free_names,
        state=panel.state_names,
        proxy=panel.proxy_name,
        n_firms=panel.n_firms,
    )
    if method in _CONTROL_FUNCTION:
        extra["lom_degree"] = lom_degree
        extra["law_of_motion_controls"] = panel.control_names
    if method == "wooldridge":
        extra["software_std_errors"] = pd.Series(extra.get("software_std_errors"), index=names)
    model = method if method != "wooldridge" else f"wooldridge ({variant})"
    # intervals and p-values with the normal distribution, as R prodest (and Stata prodest)
    inference["distribution"] = "normal"
    return ProductionResults(
        params=pd.Series(fit.params, index=names),
        std_errors=pd.Series(std_errors, index=names),
        nobs=int(fit.nobs),
        model=model,
        inference=inference,
        extra=extra,
        notes=notes,
        cov=cov,
        dropped=dropped_frame(dropped, stages),
        _residual_tfp=residual_tfp,
        _fitted_tfp=fitted_tfp,
    )
