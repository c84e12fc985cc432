"""``estimate``: one entry point for OLS, FE, OP, LP, ACF and Wooldridge."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from ._bootstrap import firm_bootstrap, seed_sequence
from ._data import NO_LAG_REASON, Panel, as_list, prepare_panel
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
from ._results import ProductionByResults, ProductionResults, dropped_frame

__all__ = [
    "Method",
    "MultipleRootsWarning",
    "NoRootWarning",
    "ProductionWarning",
    "RootSelection",
    "WooldridgeVariant",
    "estimate",
]

Method = Literal["ols", "fe", "op", "lp", "acf", "wooldridge"]
WooldridgeVariant = Literal["gmm", "iv", "rob"]
RootSelection = Literal["persistence", "criterion"]

_CONTROL_FUNCTION = ("op", "lp", "acf")


class ProductionWarning(UserWarning):
    """Base class of the warnings of :mod:`clusterpolicy.production`."""


class NoRootWarning(ProductionWarning):
    """ACF found no root of its moment conditions: the estimate is not a GMM solution."""


class MultipleRootsWarning(ProductionWarning):
    """ACF found several distinct roots of its moment conditions (all are in ``extra``)."""


class ImplausibleRootWarning(ProductionWarning):
    """ACF's roots all lie outside the plausible range of elasticities."""


def _check_options(method: str, proxy: str | None, degree: int, bootstrap: int, variant: str) -> None:
    if method not in get_args(Method):
        raise ValueError(f"method must be one of {get_args(Method)}, got {method!r}")
    if method in (*_CONTROL_FUNCTION, "wooldridge") and not proxy:
        raise ValueError(f"method={method!r} needs a proxy column")
    if not isinstance(degree, (int, np.integer)) or degree < 1:
        raise ValueError(f"degree must be a positive integer, got {degree!r}")
    if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap must be a non-negative integer, got {bootstrap!r}")
    if bootstrap == 1:
        raise ValueError("bootstrap=1 gives no standard error: use 0 or at least 2 replications")
    if variant not in get_args(WooldridgeVariant):
        raise ValueError(f"variant must be one of {get_args(WooldridgeVariant)}, got {variant!r}")


# ----------------------------------------------------------------------------------------------
# Replicate functions (top-level classes: picklable for process and Dask backends)
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# ACF point estimate
# ----------------------------------------------------------------------------------------------


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
) -> tuple[Fit, list[np.ndarray]]:
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
        "notes": notes,
    }
    fallback = [r["params"] for r in roots if r is not chosen_rec]
    fallback += default_acf_starts(k, 4, start_box)
    fit = Fit(params=params, nobs=int(built.rows.size), omega=omega, extra=extra, converged=root_found)
    return fit, fallback


# ----------------------------------------------------------------------------------------------
# estimate
# ----------------------------------------------------------------------------------------------


def estimate(
    data: pd.DataFrame,
    method: Method,
    y: str,
    free: str | Sequence[str],
    state: str | Sequence[str],
    proxy: str | None,
    id: str,
    time: str,
    degree: int = 2,
    *,
    bootstrap: int = 0,
    seed: int | np.random.SeedSequence | None = None,
    n_jobs: int | None = -1,
    batch_size: int = 20,
    logs: bool | Sequence[str] = False,
    exit: bool = False,
    law_of_motion_controls: str | Sequence[str] | None = None,
    first_stage_controls: bool = True,
    lom_degree: int = 3,
    time_effects: bool = False,
    variant: WooldridgeVariant = "gmm",
    starts: int | Sequence[Sequence[float]] = 16,
    start_box: tuple[float, float] = (0.0, 1.0),
    root_tol: float = 1e-10,
    root_selection: RootSelection = "persistence",
    plausible: tuple[float, float] = (-0.5, 1.5),
    screen_firms: int | None = 1000,
    by: str | None = None,
    min_obs: int = 200,
    pool_map: Mapping[Any, Any] | None = None,
) -> ProductionResults | ProductionByResults:
    """Estimate a Cobb-Douglas production function and firm-year productivity (log TFP).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per firm and period. Variables are in logs unless ``logs`` says otherwise.
    method : {"ols", "fe", "op", "lp", "acf", "wooldridge"}
        Pooled OLS; within-firm fixed effects; Olley-Pakes (proxy = investment, optional
        ``exit`` correction); Levinsohn-Petrin (proxy = intermediate input);
        Ackerberg-Caves-Frazer; Wooldridge's one-step IV/GMM (``variant``). OP, LP, ACF and
        Wooldridge reproduce R prodest 1.0.1 with ``degree=2``.
    y : str
        Log output (value added).
    free, state : str or list of str
        Free (e.g. labour) and state (e.g. capital) inputs.
    proxy : str or None
        Proxy variable (investment for OP, materials for LP/ACF/Wooldridge); None for OLS/FE.
    id, time : str
        Firm identifier and integer period. Lags are calendar lags: the value of the same firm
        at ``t - 1``, missing when that period is absent.
    degree : int, default 2
        Total degree of the first-stage polynomial (2 reproduces R prodest, 3 is Stata
        prodest's default).
    bootstrap : int, default 0
        Firm-block bootstrap replications for the standard errors. With 0, OP/LP/ACF have no
        standard errors (NaN) and OLS/FE/Wooldridge have analytic firm-clustered ones.
    seed : int or numpy.random.SeedSequence, optional
        Seed of the bootstrap; the same seed gives the same draws whatever ``n_jobs``.
    n_jobs : int, default -1
        Workers for :class:`joblib.Parallel` (bootstrap batches, or industries with ``by``);
        the backend is joblib's (loky) unless set with ``joblib.parallel_config``.
    batch_size : int, default 20
        Bootstrap replications per joblib task.
    logs : bool or list of str, default False
        ``True`` to take logs of ``y``, ``free``, ``state`` and ``proxy`` (rows with
        non-positive values are dropped and counted), or the list of columns to log.
    exit : bool, default False
        OP/LP: prodest's attrition correction (probit of exit on the lagged polynomial, the
        fitted probability in the law of motion).
    law_of_motion_controls : str or list of str, optional
        Variables ``D`` (e.g. a cluster-membership dummy) allowed to shift productivity:
        ``D_t`` and ``D_{t-1}`` enter the law of motion ``g(omega_{t-1}, D_{t-1}, D_t)``
        (De Loecker 2013) for OP/LP/ACF. Without them, a treatment that raises productivity
        is partly attributed to the inputs.
    first_stage_controls : bool, default True
        Also put the law-of-motion controls in the first-stage polynomial (the proxy demand
        may depend on them).
    lom_degree : int, default 3
        Degree of the polynomial ``g`` in ``omega_{t-1}`` (3 as prodest).
    time_effects : bool, default False
        OLS/FE: add period effects.
    variant : {"gmm", "iv", "rob"}, default "gmm"
        Wooldridge: R ``prodestWRDG_GMM`` (system 2SLS), Stata prodest's stacked IV, or R
        ``prodestROB`` (second equation alone). See ``Notes``.
    starts : int or list of vectors, default 16
        ACF: number of space-filling starts in ``start_box`` (added to the first-stage and OLS
        coefficients), or the explicit list of starting vectors.
    start_box : (float, float), default (0, 1)
        ACF: range of every coordinate of the space-filling starts.
    root_tol : float, default 1e-10
        ACF: a point is a root when the criterion divided by the mean squared innovation (the
        uncentred R^2 of the innovation on the instruments) is at most ``root_tol``.
    root_selection : {"persistence", "criterion"}, default "persistence"
        ACF, when several roots lie in ``plausible``: take the one whose productivity is best
        predicted by its own lag (spurious roots of the ACF moments combine the inputs so as to
        cancel the persistent productivity), or the smallest criterion.
    plausible : (float, float), default (-0.5, 1.5)
        ACF: range of elasticities within which roots compete for selection (all roots are
        reported).
    screen_firms : int or None, default 1000
        ACF: with more firms than this, the starts are first run on a fixed random subsample
        of this many firms, and every distinct end point is then solved on all data.
    by : str, optional
        Industry column: estimate each industry separately (in parallel); returns
        :class:`ProductionByResults`.
    min_obs : int, default 200
        With ``by``: industries with fewer usable rows are pooled with the next industry code
        in sort order (the last one with the previous), repeatedly, until every group has
        ``min_obs`` rows.
    pool_map : mapping, optional
        With ``by``: industry -> industry it is pooled with when too small (instead of the
        next code).

    Returns
    -------
    ProductionResults or ProductionByResults
        ``params`` indexed by the input names, ``std_errors``, ``conf_int()``, ``nobs``
        (second-stage observations for OP/LP/ACF/Wooldridge), ``summary``, ``tidy()``,
        ``productivity()``, ``dropped`` (rows left out by reason), ``inference`` (how the
        standard errors were obtained, failed replications) and ``extra`` (criterion, roots,
        first stage, ...).

    Raises
    ------
    ValueError
        Missing or non-numeric columns (named in the message), bad options, duplicated
        ``(id, time)``.

    Warns
    -----
    NoRootWarning
        ACF found no root of the moment conditions.
    MultipleRootsWarning
        ACF found several plausible roots.
    ImplausibleRootWarning
        ACF's roots all lie outside ``plausible``.

    Notes
    -----
    The bootstrap resamples firms whole; a firm drawn ``c`` times is given weight ``c``,
    which is the same as adding ``c`` copies with new ids. Every replicate starts from the
    point estimate.

    Wooldridge: ``"gmm"`` and ``"rob"`` reproduce prodest's ``prodestWRDG_GMM`` and
    ``prodestROB`` exactly. prodest 1.0.1's ``prodestWRDG`` (its "IV version") is not
    reproduced: ``"iv"`` is Stata prodest's stacked design, which differs from it by less
    than 0.004 on the chilean data. Standard errors are firm-clustered (prodest's GMM ones
    are too large by sqrt(2); the reference software's are in ``extra``).
    """
    free_l = as_list(free, "free")
    state_l = as_list(state, "state")
    controls = as_list(law_of_motion_controls, "law_of_motion_controls")
    _check_options(method, proxy, degree, bootstrap, variant)
    if controls and method not in _CONTROL_FUNCTION:
        raise ValueError("law_of_motion_controls apply to methods 'op', 'lp' and 'acf'")
    if method in ("op", "lp", "wooldridge") and not state_l:
        raise ValueError(f"method={method!r} needs at least one state variable")
    if exit and method not in ("op", "lp"):
        raise ValueError("exit=True applies to methods 'op' and 'lp'")
    kwargs = dict(
        degree=degree,
        bootstrap=bootstrap,
        seed=seed,
        n_jobs=n_jobs,
        batch_size=batch_size,
        logs=logs,
        exit=exit,
        law_of_motion_controls=controls,
        first_stage_controls=first_stage_controls,
        lom_degree=lom_degree,
        time_effects=time_effects,
        variant=variant,
        starts=starts,
        start_box=start_box,
        root_tol=root_tol,
        root_selection=root_selection,
        plausible=plausible,
        screen_firms=screen_firms,
    )
    if by is not None:
        from ._industry import estimate_by

        return estimate_by(
            data,
            method,
            y,
            free_l,
            state_l,
            proxy,
            id,
            time,
            by=by,
            min_obs=min_obs,
            pool_map=pool_map,
            **kwargs,
        )
    use_proxy = proxy if method not in ("ols", "fe") else None
    panel = prepare_panel(
        data,
        y=y,
        free=free_l,
        state=state_l,
        proxy=use_proxy,
        id=id,
        time=time,
        controls=controls,
        logs=logs,
    )
    return _estimate_panel(panel, data.index, method, **kwargs)


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
            fit, fallback = _acf_point(
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
    if fit.cov is not None:
        std_errors = np.sqrt(np.diag(fit.cov))
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
    return ProductionResults(
        params=pd.Series(fit.params, index=names),
        std_errors=pd.Series(std_errors, index=names),
        nobs=int(fit.nobs),
        model=model,
        inference=inference,
        extra=extra,
        dropped=dropped_frame(dropped, stages),
        _residual_tfp=residual_tfp,
        _fitted_tfp=fitted_tfp,
    )
