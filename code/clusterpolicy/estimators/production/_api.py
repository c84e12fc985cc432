"""The public entry point :func:`estimate`: one panel, or one panel per group with ``by=``
(:mod:`._industry`); the estimation of one panel is :mod:`._fit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, get_args

import numpy as np
import pandas as pd

from ._data import as_list, prepare_panel
from ._fit import (
    _CONTROL_FUNCTION,
    Method,
    MultipleRootsWarning,
    NoRootWarning,
    ProductionWarning,
    RootSelection,
    WooldridgeVariant,
    _estimate_panel,
)
from ._industry import estimate_by
from ._results import ProductionByResults, ProductionResults

__all__ = [
    "Method",
    "MultipleRootsWarning",
    "NoRootWarning",
    "ProductionWarning",
    "RootSelection",
    "WooldridgeVariant",
    "estimate",
]


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
