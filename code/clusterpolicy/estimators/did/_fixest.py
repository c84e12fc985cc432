"""Fixed-effects regressions in pyfixest, read through its public API only.

pyfixest (which reproduces R fixest to about 1e-14) fits the regression; its public methods
give the coefficients (``coef()``), the standard errors (``se()``) and the estimation sample
(``resid()``). pyfixest 0.60 has no public accessor for the coefficient covariance matrix,
which the Sun-Abraham aggregation and the results' ``cov`` need, so it is rebuilt here from
public pieces: the design demeaned by the fixed effects with pyfixest's public
:func:`pyfixest.estimation.demean` (on the sample left after pyfixest's public
:func:`pyfixest.estimation.detect_singletons`), the cluster-robust sandwich of that design,
and the small-sample factor read off pyfixest's own standard errors, which must be the same
for every coefficient (else :class:`RuntimeError`). The diagonal of the rebuilt matrix is
exactly the square of pyfixest's standard errors.

Inference follows R fixest's defaults for a clustered regression: CR1 standard errors with
``(G/(G-1)) * ((N-1)/(N-K))``, K without the fixed effects nested in the cluster (R
``ssc(adj=TRUE, fixef.K="nested", cluster.adj=TRUE)``, pyfixest ``k_fixef="nonnested"``), and
t-based intervals and p-values with G - 1 degrees of freedom (R ``t.df="min"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterpolicy.core.notes import warnings_to_notes

__all__ = ["FeolsFit", "feols"]

#: Relative spread of the small-sample factor over the coefficients beyond which the rebuilt
#: covariance is not pyfixest's (a structural mismatch, not rounding: pyfixest demeans to 1e-6).
_FACTOR_RTOL = 1e-3


@dataclass(frozen=True)
class FeolsFit:
    """What a clustered pyfixest regression reports.

    Attributes
    ----------
    names : list of str
        Estimated terms (regressors dropped as collinear are left out).
    params, std_errors : numpy.ndarray
        Coefficients and CR1 standard errors, in the order of ``names``.
    cov : numpy.ndarray or None
        Full covariance matrix (``None`` when not asked for).
    nobs : int
        Observations of the estimation sample (after pyfixest removes singletons).
    clusters : int
        Clusters in the estimation sample (G; the t distribution has G - 1 degrees of freedom).
    """

    names: list[str]
    params: np.ndarray
    std_errors: np.ndarray
    cov: np.ndarray | None
    nobs: int
    clusters: int


def feols(
    frame: pd.DataFrame,
    y: str,
    regressors: Sequence[str],
    *,
    fixef: Sequence[str] = (),
    cluster: str,
    notes: list[str],
    source: str = "pyfixest",
    weights: str | None = None,
    full_cov: bool = True,
) -> FeolsFit:
    """Regress ``y`` on ``regressors`` and fixed effects, standard errors clustered by ``cluster``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data, with simple column names (they enter a formula).
    y : str
        Outcome column.
    regressors : sequence of str
        Regressor columns (none: a constant).
    fixef : sequence of str, optional
        Fixed-effect columns.
    cluster : str
        Cluster column.
    notes : list of str
        Receives pyfixest's warnings as notes (prefixed with ``source``).
    source : str, default "pyfixest"
        Name of the step in the notes.
    weights : str, optional
        Weight column (pyfixest's analytic weights).
    full_cov : bool, default True
        Rebuild the full covariance matrix (needs fixed effects and no weights; otherwise
        ``cov`` is ``None``).

    Returns
    -------
    FeolsFit

    Raises
    ------
    RuntimeError
        The rebuilt covariance does not reproduce pyfixest's standard errors.
    """
    import pyfixest as pf

    formula = f"{y} ~ {' + '.join(regressors) if regressors else '1'}"
    if fixef:
        formula += " | " + " + ".join(fixef)
    with warnings_to_notes(notes, source):
        fit = pf.feols(
            formula,
            data=frame,
            vcov={"CRV1": cluster},
            weights=weights,
            ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True),
            fixef_rm="singleton",
        )
        coef = fit.coef()
        se = fit.se()
        nobs = len(fit.resid())
        sample = np.ones(len(frame), dtype=bool)
        if fixef:
            codes = np.column_stack([pd.factorize(frame[c])[0] for c in fixef]).astype(np.uint64)
            kept = ~np.asarray(pf.estimation.detect_singletons(codes), dtype=bool)
            if int(kept.sum()) == nobs:
                sample = kept
    names = [str(n) for n in coef.index]
    params = coef.to_numpy(dtype=float)
    std_errors = se.to_numpy(dtype=float)
    clusters = int(frame.loc[sample, cluster].nunique())
    cov = None
    if full_cov and fixef and weights is None:
        cov = _covariance(frame.loc[sample], y, names, list(fixef), cluster, params, std_errors)
    return FeolsFit(names, params, std_errors, cov, nobs, clusters)


def _covariance(
    frame: pd.DataFrame,
    y: str,
    names: list[str],
    fixef: list[str],
    cluster: str,
    params: np.ndarray,
    std_errors: np.ndarray,
) -> np.ndarray:
    """The CR1 covariance whose diagonal is ``std_errors ** 2`` (see the module docstring)."""
    import pyfixest as pf

    k = len(names)
    if k == 0:
        return np.zeros((0, 0))
    codes = np.column_stack([pd.factorize(frame[c])[0] for c in fixef]).astype(np.uint64)
    values = frame[[y, *names]].to_numpy(dtype=float)
    demeaned, converged = pf.estimation.demean(values, codes, np.ones(len(frame)), tol=1e-10, maxiter=100_000)
    if not converged:
        raise RuntimeError("demeaning by the fixed effects did not converge: no covariance matrix")
    yd, xd = demeaned[:, 0], demeaned[:, 1:]
    resid = yd - xd @ params
    bread = np.linalg.inv(xd.T @ xd)
    groups = pd.factorize(frame[cluster])[0]
    sums = np.zeros((int(groups.max()) + 1, k))
    np.add.at(sums, groups, xd * resid[:, None])
    sandwich = bread @ (sums.T @ sums) @ bread
    factor = std_errors**2 / np.diag(sandwich)
    if not np.all(np.isfinite(factor)) or np.ptp(factor) > _FACTOR_RTOL * np.mean(factor):
        raise RuntimeError(
            "the covariance rebuilt from pyfixest's demeaned design does not reproduce its standard "
            f"errors (small-sample factors {np.round(factor, 6).tolist()})"
        )
    scale = np.sqrt(factor)
    return sandwich * np.outer(scale, scale)
