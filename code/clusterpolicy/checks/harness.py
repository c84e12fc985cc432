"""The one Monte Carlo harness of the package: replications from a seed, in parallel, as a table.

:func:`simulate` runs ``replicate(seq, **options)`` for ``replications`` children of one seed
(replication ``r`` gets ``SeedSequence(seed).spawn(replications)[r]``,
:func:`clusterpolicy.core.seeding.spawn`) through ``joblib.Parallel`` (on the backend chosen
with :func:`clusterpolicy.core.parallel.backend`), and returns one table: a row per
replication, estimator and estimand (:data:`COLUMNS`). Everything a replication draws comes
from its child, so the table is the same with one worker, several local processes or a Dask
cluster, whatever the batching, and a replication does not depend on the number of
replications after it. :func:`summarise` turns the table into bias, RMSE, spread, mean standard
error and coverage per estimator and estimand.

Two studies use it: the Monte Carlo grid of the book's estimators
(:func:`clusterpolicy.checks.grid.run_cell`, the Monte Carlo appendix) and the power of the
study-2 verdict rules (:func:`clusterpolicy.checks.serial_montecarlo.monte_carlo`, chapter 05).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy.core import parallel, seeding

__all__ = ["COLUMNS", "Replicate", "failure", "row", "simulate", "summarise"]

#: Columns of the table of :func:`simulate` (one row per replication, estimator and estimand).
COLUMNS = ["replication", "estimator", "estimand", "estimate", "se", "truth", "nominal", "notes",
           "failed"]

#: One replication, ``replicate(seq, **options)`` -> rows (dicts of :data:`COLUMNS` without
#: ``replication``, e.g. made with :func:`row`).
Replicate = Callable[..., list[dict[str, Any]]]


def row(estimator: str, estimand: str, estimate: float, se: float, truth: float,
        nominal: float, notes: int = 0, failed: str = "") -> dict[str, Any]:
    """One row of a replication.

    Parameters
    ----------
    estimator, estimand : str
        What was estimated.
    estimate, se : float
        The estimate and its standard error (NaN: not available).
    truth : float
        The estimand's true value in this replication's data.
    nominal : float
        The generator's parameter the estimand stands for (equal to ``truth`` unless the
        sample's target differs from it).
    notes : int, default 0
        Warnings the estimation raised.
    failed : str, default ""
        Empty, or why the estimator failed (the estimate is then NaN).

    Returns
    -------
    dict
        Keys :data:`COLUMNS` without ``replication``; numbers as Python floats and ints.
    """
    return {"estimator": estimator, "estimand": estimand, "estimate": float(estimate),
            "se": float(se), "truth": float(truth), "nominal": float(nominal),
            "notes": int(notes), "failed": failed}


def failure(exc: BaseException) -> str:
    """An estimator's failure as the table records it: the exception's class and the first
    line of its message (at most 160 characters).

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
    """
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def _task(batch: list[tuple[int, np.random.SeedSequence]], replicate: Replicate,
          options: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each replication counts its own warnings in ``notes``
        for index, seq in batch:
            rows += [{"replication": index, **r} for r in replicate(seq, **options)]
    return rows


def simulate(replicate: Replicate, replications: int, seed: int = seeding.DEFAULT_SEED, *,
             n_jobs: int | None = 1, batch_size: int | None = None, first: int = 0,
             **options: Any) -> pd.DataFrame:
    """Run replications ``first .. replications - 1`` of ``replicate`` from ``seed``: one table.

    Parameters
    ----------
    replicate : callable
        ``replicate(seq, **options)`` -> rows of one replication (:data:`Replicate`); a
        top-level function, so that process back ends can pickle it. ``seq`` is the
        replication's child of ``seed``; every random draw of the replication must come from
        it (e.g. from :func:`clusterpolicy.core.seeding.words`).
    replications : int
        Number of replications (at least 1).
    seed : int, default :data:`clusterpolicy.core.seeding.DEFAULT_SEED`
        Root seed: replication ``r`` uses ``SeedSequence(seed).spawn(replications)[r]``.
    n_jobs : int or None, default 1
        Workers (joblib's semantics; ``1`` runs in this process, ``-1`` on every core). The
        backend is joblib's default (loky processes) unless set by
        :func:`clusterpolicy.core.parallel.backend`.
    batch_size : int, optional
        Replications per task (default :func:`clusterpolicy.core.parallel.default_batch_size`).
        The table does not depend on it.
    first : int, default 0
        The first replication to run: a stored run of ``first`` replications is extended by
        the next ones, each with the child it would have had in one run.
    **options
        Passed to every call of ``replicate``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, the rows of replication 0 first, each replication's rows in
        the order ``replicate`` returned them; index ``0..n-1``.

    Raises
    ------
    ValueError
        ``replications`` or ``batch_size`` below 1.
    """
    if int(replications) < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not 0 <= int(first) < int(replications):
        raise ValueError(f"first must be in [0, {replications}), got {first}")
    children = seeding.spawn(int(seed), int(replications))
    todo = list(range(int(first), len(children)))
    size = int(batch_size) if batch_size else parallel.default_batch_size(len(todo), n_jobs)
    tasks = [[(todo[i], children[todo[i]]) for i in batch]
             for batch in parallel.batches(len(todo), size)]
    parts = parallel.run_tasks(_task, tasks, n_jobs, replicate, dict(options))
    table = pd.DataFrame([r for part in parts for r in part], columns=COLUMNS)
    return table.sort_values(["replication"], kind="stable").reset_index(drop=True)


def summarise(draws: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per estimator and estimand: truth, mean, bias, RMSE, SD, mean SE, coverage.

    ``truth`` is the mean over replications of the true value; ``bias`` the mean of
    ``estimate - truth`` (replication by replication), ``rmse`` the root mean squared error,
    ``sd`` the standard deviation of the estimates (ddof=1), ``mean_se`` the mean standard
    error, ``coverage`` the share of replications whose interval ``estimate ± z se`` (normal
    critical value of ``level``) contains the truth, with its Monte Carlo standard error
    ``sqrt(p (1 - p) / R)``; ``bias_mcse`` is ``sd / sqrt(R)``. Failed replications (NaN
    estimate) are left out and counted in ``failed``; coverage is NaN without standard errors.

    Parameters
    ----------
    draws : pandas.DataFrame
        The table of :func:`simulate`.
    level : float, default 0.95
        Confidence level of the intervals whose coverage is counted.

    Returns
    -------
    pandas.DataFrame
        Index ``(estimator, estimand)`` in the order of first appearance; columns
        ``replications, failed, truth, nominal, mean, bias, bias_mcse, rmse, sd, mean_se,
        coverage, coverage_mcse, notes``.
    """
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for (estimator, estimand), g in draws.groupby(["estimator", "estimand"], sort=False):
        ok = g.loc[np.isfinite(g["estimate"].to_numpy(dtype=float))
                   & np.isfinite(g["truth"].to_numpy(dtype=float))]
        r = len(ok)
        err = ok["estimate"] - ok["truth"]
        has_se = np.isfinite(ok["se"].to_numpy(dtype=float))
        if r and has_se.all():
            covered = (err.abs() <= z * ok["se"]).to_numpy()
            coverage = float(covered.mean())
            cov_mcse = math.sqrt(coverage * (1 - coverage) / r)
            mean_se = float(ok["se"].mean())
        else:
            coverage = cov_mcse = mean_se = math.nan
        sd = float(ok["estimate"].std(ddof=1)) if r > 1 else math.nan
        rows.append({
            "estimator": estimator, "estimand": estimand, "replications": r,
            "failed": int(len(g) - r), "truth": float(ok["truth"].mean()) if r else math.nan,
            "nominal": float(ok["nominal"].mean()) if r else math.nan,
            "mean": float(ok["estimate"].mean()) if r else math.nan,
            "bias": float(err.mean()) if r else math.nan,
            "bias_mcse": sd / math.sqrt(r) if r > 1 else math.nan,
            "rmse": float(np.sqrt((err**2).mean())) if r else math.nan,
            "sd": sd, "mean_se": mean_se, "coverage": coverage, "coverage_mcse": cov_mcse,
            "notes": int(g["notes"].sum()),
        })
    return pd.DataFrame(rows).set_index(["estimator", "estimand"])
