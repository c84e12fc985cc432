"""Firm-block bootstrap: reproducible from a seed whatever the number of workers.

Replicate ``r`` draws its firms with ``numpy.random.default_rng(SeedSequence(seed).spawn(B)[r])``
(the package's seeding scheme, :mod:`clusterpolicy.core.seeding`), so the draws do not depend
on how replicates are batched or on which worker runs them. Firms
are drawn whole; a firm drawn ``c`` times enters with frequency weight ``c``, which is the same
estimator as stacking ``c`` copies of the firm as distinct panels (lags never cross firms).

Replicates run through :class:`joblib.Parallel` in batches (default 20 per task). The backend
is joblib's default (loky processes) unless the caller sets another, e.g.
``with joblib.parallel_config(backend="dask"): estimate(...)`` with a Dask client.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed

from clusterpolicy.core import seeding

__all__ = ["BootstrapOutput", "firm_bootstrap", "replicate_weights", "seed_sequence"]


def seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """``seed`` as a SeedSequence (:func:`clusterpolicy.core.seeding.sequence`).

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        ``None``: fresh OS entropy (recorded in the results through ``entropy``).

    Returns
    -------
    numpy.random.SeedSequence
    """
    return seeding.sequence(seed)


def replicate_weights(seq: np.random.SeedSequence, firm: np.ndarray, n_firms: int) -> np.ndarray:
    """Row weights of one replicate: how many times each row's firm was drawn.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replicate's seed.
    firm : numpy.ndarray
        Firm code (``0 .. n_firms - 1``) of every row.
    n_firms : int
        Number of firms; ``n_firms`` firms are drawn with replacement.

    Returns
    -------
    numpy.ndarray
        One float weight per row.
    """
    rng = seeding.generator(seq)
    counts = np.bincount(rng.integers(0, n_firms, n_firms), minlength=n_firms)
    return counts[firm].astype(float)


@dataclass
class BootstrapOutput:
    """The replicates of :func:`firm_bootstrap`.

    Attributes
    ----------
    draws : numpy.ndarray
        ``(replications, k)`` estimates, NaN rows for failed replicates.
    failed : int
        Number of failed replicates.
    failure_reasons : dict of str to int
        Why they failed (first line of the error) -> count.
    """

    draws: np.ndarray
    failed: int
    failure_reasons: dict[str, int]


def _run_batch(
    fn: Callable[[np.ndarray], np.ndarray],
    seqs: list[np.random.SeedSequence],
    firm: np.ndarray,
    n_firms: int,
    k: int,
) -> tuple[np.ndarray, list[str | None]]:
    out = np.full((len(seqs), k), np.nan)
    reasons: list[str | None] = []
    for i, seq in enumerate(seqs):
        w = replicate_weights(seq, firm, n_firms)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = np.asarray(fn(w), dtype=float)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            reasons.append(type(exc).__name__ + ": " + str(exc).split("\n")[0][:120])
            continue
        if values.shape != (k,) or not np.all(np.isfinite(values)):
            reasons.append("no solution (e.g. no root of the moment conditions)")
            continue
        out[i] = values
        reasons.append(None)
    return out, reasons


def firm_bootstrap(
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    firm: np.ndarray,
    n_firms: int,
    k: int,
    replications: int,
    seed: np.random.SeedSequence,
    n_jobs: int | None = None,
    batch_size: int = 20,
) -> BootstrapOutput:
    """Run ``fn(row_weights)`` on ``replications`` firm-block resamples.

    Parameters
    ----------
    fn : callable
        Row weights -> the parameter vector (length ``k``); NaNs or a ``ValueError``,
        ``ArithmeticError`` or ``LinAlgError`` when the replicate fails (counted, not fatal).
        Must be picklable (a top-level function or an instance of a top-level class) for
        process backends.
    firm : numpy.ndarray
        Firm code of every row.
    n_firms : int
        Number of firms.
    k : int
        Length of the parameter vector.
    replications : int
        Number of replicates.
    seed : numpy.random.SeedSequence
        Replicate ``r`` uses ``seed.spawn(replications)[r]``, whatever the batching.
    n_jobs : int, optional
        Workers of :class:`joblib.Parallel` (1 or a single batch: in this process).
    batch_size : int, default 20
        Replicates per task.

    Returns
    -------
    BootstrapOutput
    """
    seqs = seeding.spawn(seed, replications)
    batches = [seqs[i : i + batch_size] for i in range(0, replications, batch_size)]
    if n_jobs == 1 or len(batches) == 1:
        parts = [_run_batch(fn, b, firm, n_firms, k) for b in batches]
    else:
        parts = Parallel(n_jobs=n_jobs)(delayed(_run_batch)(fn, b, firm, n_firms, k) for b in batches)
    draws = np.vstack([p[0] for p in parts])
    reasons = [r for p in parts for r in p[1] if r is not None]
    summary: dict[str, int] = {}
    for r in reasons:
        summary[r] = summary.get(r, 0) + 1
    return BootstrapOutput(draws=draws, failed=len(reasons), failure_reasons=summary)
