"""The public entry points: :func:`estimate` for one panel (estimated by :mod:`._fit`) and
:func:`estimate_by` for one panel per group (:mod:`._industry`). Both check their arguments
here, with the same rules and messages.
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
from ._industry import estimate_groups
from ._results import ProductionByResults, ProductionResults

__all__ = [
    "Method",
    "MultipleRootsWarning",
    "NoRootWarning",
    "ProductionWarning",
    "RootSelection",
    "WooldridgeVariant",
    "estimate",
    "estimate_by",
]


def _options(
    method: str,
    *,
    free: str | Sequence[str],
    state: str | Sequence[str],
    proxy: str | None,
    degree: int,
    bootstrap: int,
    seed: int | np.random.SeedSequence | None,
    n_jobs: int | None,
    batch_size: int,
    logs: bool | Sequence[str],
    exit: bool,
    law_of_motion_controls: str | Sequence[str] | None,
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
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Check the arguments shared by :func:`estimate` and :func:`estimate_by`.

    Returns the free and state inputs as lists and the options of the one-panel estimation.
    """
    free_l = as_list(free, "free")
    state_l = as_list(state, "state")
    controls = as_list(law_of_motion_controls, "law_of_motion_controls")
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
    if controls and method not in _CONTROL_FUNCTION:
        raise ValueError("law_of_motion_controls apply to methods 'op', 'lp' and 'acf'")
    if method in ("op", "lp", "wooldridge") and not state_l:
        raise ValueError(f"method={method!r} needs at least one state variable")
    if exit and method not in ("op", "lp"):
        raise ValueError("exit=True applies to methods 'op' and 'lp'")
    options = dict(
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
    return free_l, state_l, options


def estimate(
    data: pd.DataFrame,
    method: Method,
    *,
    y: str,
    free: str | Sequence[str],
    state: str | Sequence[str],
    proxy: str | None = None,
    unit: str,
    time: str,
    degree: int = 2,
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
) -> ProductionResults:
    """Estimate a Cobb-Douglas production function and firm-year productivity (log TFP) on one
    panel.

    For one estimate per industry (pooling small industries) use :func:`estimate_by`.

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
    proxy : str, optional
        Proxy variable (investment for OP, materials for LP/ACF/Wooldridge); not used by OLS
        and FE.
    unit, time : str
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
        Workers for :class:`joblib.Parallel` (bootstrap batches); the backend is joblib's
        (loky) unless set with ``joblib.parallel_config``.
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
    variant : {"gmm", "iv", "rob", "prodest_iv"}, default "gmm"
        Wooldridge: R ``prodestWRDG_GMM`` (system 2SLS), Stata prodest's stacked IV, R
        ``prodestROB`` (second equation alone), or R ``prodestWRDG`` (prodest's "IV
        version": OLS on first-stage fitted values, with that OLS's standard errors, which
        are not valid 2SLS standard errors). See ``Notes``.
    starts : int or list of array, default 16
        ACF: number of space-filling starts in ``start_box`` (added to the first-stage and OLS
        coefficients), or the explicit list of starting vectors.
    start_box : tuple of float, optional
        ACF: range of every coordinate of the space-filling starts (default ``(0, 1)``).
    root_tol : float, default 1e-10
        ACF: a point is a root when the criterion divided by the mean squared innovation (the
        uncentred R^2 of the innovation on the instruments) is at most ``root_tol``.
    root_selection : {"persistence", "criterion"}, default "persistence"
        ACF, when several roots lie in ``plausible``: take the one whose productivity is best
        predicted by its own lag (spurious roots of the ACF moments combine the inputs so as to
        cancel the persistent productivity), or the smallest criterion.
    plausible : tuple of float, optional
        ACF: range of elasticities within which roots compete for selection (all roots are
        reported; default ``(-0.5, 1.5)``).
    screen_firms : int or None, default 1000
        ACF: with more firms than this, the starts are first run on a fixed random subsample
        of this many firms, and every distinct end point is then solved on all data.

    Returns
    -------
    ProductionResults
        ``params`` indexed by the input names, ``std_errors``, ``cov`` (the analytic sandwich,
        or the covariance of the bootstrap replicates), ``conf_int()`` and ``pvalues`` (normal
        distribution, as R prodest), ``nobs`` (second-stage observations for
        OP/LP/ACF/Wooldridge), ``summary``, ``tidy()``, ``productivity()``, ``dropped`` (rows
        left out by reason), ``notes`` (the messages of the warnings below), ``inference`` (how
        the standard errors were obtained, failed replications) and ``extra`` (criterion,
        roots, first stage, ...).

    Raises
    ------
    ValueError
        Missing or non-numeric columns (named in the message), bad options, duplicated
        ``(unit, time)``.

    Warns
    -----
    NoRootWarning
        ACF found no root of the moment conditions.
    MultipleRootsWarning
        ACF found several plausible roots.
    ImplausibleRootWarning
        ACF's roots all lie outside ``plausible``.

    See Also
    --------
    estimate_by : one estimate per industry.

    Notes
    -----
    The bootstrap resamples firms whole; a firm drawn ``c`` times is given weight ``c``,
    which is the same as adding ``c`` copies with new ids. Every replicate starts from the
    point estimate.

    Wooldridge: ``"gmm"``, ``"rob"`` and ``"prodest_iv"`` reproduce prodest 1.0.1's
    ``prodestWRDG_GMM``, ``prodestROB`` and ``prodestWRDG`` (its "IV version") exactly;
    ``"iv"`` is Stata prodest's stacked design, which differs from ``prodestWRDG`` by less
    than 0.004 on the chilean data. ``prodestWRDG`` regresses the stacked outcome on a
    constant and the regressors fitted on the instruments (a first stage without a
    constant), and reports that OLS's conventional standard errors: ``"prodest_iv"``'s
    standard errors are those, for reproduction only (``inference["std_errors"]`` says so);
    they are not valid 2SLS standard errors. The valid, firm-clustered 2SLS/GMM standard
    errors are those of ``"gmm"`` and ``"iv"`` (prodest's GMM ones are too large by sqrt(2);
    the reference software's own standard errors are in ``extra["software_std_errors"]``).

    Examples
    --------
    >>> from clusterpolicy.estimators import production
    >>> res = production.estimate(df, "acf", y="Y", free=["fX1", "fX2"], state="sX", proxy="pX",
    ...                           unit="idvar", time="timevar", bootstrap=100, seed=1)  # doctest: +SKIP
    >>> res.params, res.conf_int(), res.productivity()  # doctest: +SKIP
    """
    free_l, state_l, options = _options(
        method,
        free=free,
        state=state,
        proxy=proxy,
        degree=degree,
        bootstrap=bootstrap,
        seed=seed,
        n_jobs=n_jobs,
        batch_size=batch_size,
        logs=logs,
        exit=exit,
        law_of_motion_controls=law_of_motion_controls,
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
    panel = prepare_panel(
        data,
        y=y,
        free=free_l,
        state=state_l,
        proxy=proxy if method not in ("ols", "fe") else None,
        unit=unit,
        time=time,
        controls=options["law_of_motion_controls"],
        logs=logs,
    )
    return _estimate_panel(panel, data.index, method, **options)


def estimate_by(
    data: pd.DataFrame,
    method: Method,
    *,
    by: str,
    min_obs: int = 200,
    pool_map: Mapping[Any, Any] | None = None,
    y: str,
    free: str | Sequence[str],
    state: str | Sequence[str],
    proxy: str | None = None,
    unit: str,
    time: str,
    degree: int = 2,
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
) -> ProductionByResults:
    """Estimate a production function per industry, pooling industries that are too small.

    Each group of industries is estimated separately by :func:`estimate` (the groups in
    parallel), and firm-year productivity comes from each row's group estimate.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per firm and period.
    method : {"ols", "fe", "op", "lp", "acf", "wooldridge"}
        See :func:`estimate`.
    by : str
        Industry column.
    min_obs : int, default 200
        Industries with fewer usable rows are pooled with the next industry code in sort order
        (the last one with the previous), repeatedly, until every group has ``min_obs`` rows.
    pool_map : mapping, optional
        Industry -> industry it is pooled with when too small (instead of the next code).
    y, free, state, proxy, unit, time, degree, bootstrap, batch_size, logs, exit, \
law_of_motion_controls, first_stage_controls, lom_degree, time_effects, variant, starts, \
start_box, root_tol, root_selection, plausible, screen_firms
        As in :func:`estimate`, for every group.
    seed : int or numpy.random.SeedSequence, optional
        Seed of the bootstrap; group ``i`` uses the ``i``-th child of its SeedSequence.
    n_jobs : int, default -1
        Workers for :class:`joblib.Parallel` over the groups (each group's bootstrap runs in
        its worker).

    Returns
    -------
    ProductionByResults
        ``params``, ``std_errors`` stacked by ``(group, term)`` and their block-diagonal
        ``cov``; ``params_by_group``/``std_errors_by_group`` (one row per group); ``results``
        (each group's :class:`ProductionResults`); ``table`` (one row per industry: the group
        it is estimated in and why); ``productivity()``; ``dropped``; ``notes`` (the groups'
        warnings, prefixed with their group).

    Raises
    ------
    ValueError
        As :func:`estimate`, and ``by`` or an industry of ``pool_map`` not in the data. A
        group whose estimation fails is reported in ``table`` (``reason``), not raised.

    Warns
    -----
    ProductionWarning
        The warnings of every group's estimation, re-emitted with ``[<by>=<group>]`` in front.

    See Also
    --------
    estimate : one panel.
    plan_pooling : how industries are pooled.
    """
    free_l, state_l, options = _options(
        method,
        free=free,
        state=state,
        proxy=proxy,
        degree=degree,
        bootstrap=bootstrap,
        seed=seed,
        n_jobs=n_jobs,
        batch_size=batch_size,
        logs=logs,
        exit=exit,
        law_of_motion_controls=law_of_motion_controls,
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
    return estimate_groups(
        data,
        method,
        y=y,
        free=free_l,
        state=state_l,
        proxy=proxy,
        unit=unit,
        time=time,
        by=by,
        min_obs=min_obs,
        pool_map=pool_map,
        **options,
    )
