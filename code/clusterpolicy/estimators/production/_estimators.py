"""The numerical core of the production-function estimators.

Every estimator takes a :class:`~clusterpolicy.estimators.production._data.Panel` and a vector of row
weights. Weights are frequency weights: the firm-block bootstrap gives every row of a firm the
number of times that firm was drawn, which is exactly the same estimator as stacking the drawn
firms as distinct panels (a firm's lags stay inside the firm), without copying the data.

Definitions follow R prodest 1.0.1 (see ``_reference notes`` in each function):

* OP / LP: first stage ``y ~ 1 + free + poly_d(state, proxy)``; free elasticities are read off
  it; the state elasticities minimise the sum of squared residuals
  ``xi = y - free*b_f - state*b_s - g(omega_{t-1})`` with ``omega = phi - state*b_s`` and
  ``g`` the cubic fitted by least squares of ``omega_t`` on ``omega_{t-1}`` (prodest's
  ``gOPLP``).
* ACF: first stage ``y ~ poly_d(free, state, proxy)``; the moments ``Z' xi`` with
  ``Z = (free_{t-1}, state_t)`` and ``xi`` the residual of ``omega_t`` on a cubic in
  ``omega_{t-1}``; criterion ``m' (Z'Z)^{-1} m / N`` (prodest's ``gACF``). The model is exactly
  identified, so a solution is a root ``m = 0``, found with Levenberg-Marquardt on
  ``L' m`` (``L L' = (Z'Z)^{-1} / N``) with an analytic Jacobian.
* Wooldridge: prodest's system GMM (``prodestWRDG_GMM``), Stata prodest's stacked IV,
  prodest's single-equation IV (``prodestROB``), and prodest's two-step "IV version"
  (``prodestWRDG``: OLS on first-stage fitted values, with that OLS's standard errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special

from ._data import Panel
from ._polynomial import LawOfMotionBasis, monomial_exponents, polynomial_design

__all__ = [
    "ACFProblem",
    "Fit",
    "build_acf",
    "build_oplp",
    "default_acf_starts",
    "fit_fe",
    "fit_ols",
    "fit_oplp",
    "fit_wooldridge",
]


@dataclass
class Fit:
    """Output of one estimation on one (possibly reweighted) sample."""

    params: np.ndarray
    nobs: int
    cov: np.ndarray | None = None
    omega: np.ndarray | None = None  # phi - inputs @ params on the panel rows (NaN elsewhere)
    extra: dict[str, Any] = field(default_factory=dict)
    converged: bool = True


# ----------------------------------------------------------------------------------------------
# Linear algebra helpers
# ----------------------------------------------------------------------------------------------


def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Weighted least squares by an orthogonal factorisation of the column-scaled design.

    Parameters
    ----------
    X : numpy.ndarray
        Design (n x k).
    y : numpy.ndarray
        Outcome (n) or outcomes (n x m).
    w : numpy.ndarray, optional
        Weights (n).

    Returns
    -------
    numpy.ndarray
        Coefficients (k, or k x m); minimum-norm for a rank-deficient design.
    """
    if w is not None:
        sw = np.sqrt(w)
        X = X * sw[:, None]
        y = y * sw if y.ndim == 1 else y * sw[:, None]
    scale = np.sqrt(np.einsum("ij,ij->j", X, X))
    scale[scale == 0] = 1.0
    coef = linalg.lstsq(X / scale, y, lapack_driver="gelsd", check_finite=False)[0]
    return coef / scale if coef.ndim == 1 else coef / scale[:, None]


def _rank(X: np.ndarray) -> int:
    """Numerical rank of the column-scaled ``X`` (cheap: QR with column pivoting)."""
    scale = np.sqrt(np.einsum("ij,ij->j", X, X))
    scale[scale == 0] = 1.0
    r = linalg.qr(X / scale, mode="r", pivoting=True, check_finite=False)[0]
    d = np.abs(np.diag(r))
    return int(np.sum(d > d.max() * max(X.shape) * np.finfo(float).eps))


def tsls(
    y: np.ndarray, X: np.ndarray, Z: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted two-stage least squares.

    Parameters
    ----------
    y : numpy.ndarray
        Outcome (n).
    X : numpy.ndarray
        Regressors (n x k).
    Z : numpy.ndarray
        Instruments (n x l, l >= k).
    w : numpy.ndarray
        Weights (n).

    Returns
    -------
    coef : numpy.ndarray
        Coefficients (k).
    X_hat : numpy.ndarray
        Regressors fitted on the instruments (n x k).
    resid : numpy.ndarray
        Structural residuals ``y - X coef``.
    """
    X_hat = Z @ wls(Z, X, w)
    A = X_hat.T @ (X * w[:, None])
    b = np.linalg.solve(A, X_hat.T @ (y * w))
    return b, X_hat, y - X @ b


def cluster_meat(scores: np.ndarray, cluster: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum of outer products of the per-cluster sums of ``scores``.

    Parameters
    ----------
    scores : numpy.ndarray
        Per-row scores (n x k).
    cluster : numpy.ndarray
        Cluster label of every row.

    Returns
    -------
    meat : numpy.ndarray
        ``sum_g s_g s_g'`` (k x k).
    n_groups : int
        Number of clusters.
    """
    codes = np.unique(cluster, return_inverse=True)[1]
    n_groups = int(codes.max()) + 1 if codes.size else 0
    sums = np.zeros((n_groups, scores.shape[1]))
    np.add.at(sums, codes, scores)
    return sums.T @ sums, n_groups


# ----------------------------------------------------------------------------------------------
# OLS and fixed effects
# ----------------------------------------------------------------------------------------------


def _time_dummies(time: np.ndarray) -> np.ndarray:
    periods = np.unique(time)
    return (time[:, None] == periods[None, 1:]).astype(float)


def fit_ols(panel: Panel, w: np.ndarray, *, time_effects: bool = False, se: bool = True) -> Fit:
    """Pooled OLS of ``y`` on a constant and the inputs, standard errors clustered by firm.

    The small-sample factor is ``G/(G-1) * (N-1)/(N-K)`` (CR1; R ``sandwich::vcovCL`` type
    HC1, Stata ``regress, vce(cluster)``), K counting every regressor.

    Parameters
    ----------
    panel : Panel
        The prepared rows.
    w : numpy.ndarray
        Frequency weight of every row (0 leaves the row out; the bootstrap gives each row
        the number of times its firm was drawn).
    time_effects : bool, default False
        Add period dummies.
    se : bool, default True
        Compute the covariance (the bootstrap replicates do not need it).

    Returns
    -------
    Fit
        The input elasticities, their covariance, ``omega`` and the intercept in ``extra``.
    """
    keep = w > 0
    p = panel.subset(keep)
    w = w[keep]
    inputs = np.hstack([p.free, p.state])
    k = inputs.shape[1]
    X = np.hstack([np.ones((p.n, 1)), inputs] + ([_time_dummies(p.time)] if time_effects else []))
    coef = wls(X, p.y, w)
    resid = p.y - X @ coef
    cov = None
    if se:
        bread = np.linalg.inv(X.T @ (X * w[:, None]))
        meat, n_groups = cluster_meat(X * (w * resid)[:, None], p.firm)
        n, n_par = p.n, X.shape[1]
        factor = n_groups / (n_groups - 1) * (n - 1) / (n - n_par)
        cov = factor * bread @ meat @ bread
        cov = cov[1 : 1 + k, 1 : 1 + k]
    omega = np.full(panel.n, np.nan)
    omega[keep] = p.y - inputs @ coef[1 : 1 + k]
    extra = {"intercept": float(coef[0]), "time_effects": time_effects}
    return Fit(params=coef[1 : 1 + k], nobs=p.n, cov=cov, omega=omega, extra=extra)


def _demean(values: np.ndarray, firm: np.ndarray) -> np.ndarray:
    counts = np.bincount(firm)
    sums = np.zeros((counts.size, values.shape[1]))
    np.add.at(sums, firm, values)
    means = sums / np.maximum(counts, 1)[:, None]
    return values - means[firm]


def fit_fe(panel: Panel, w: np.ndarray, *, time_effects: bool = False, se: bool = True) -> Fit:
    """Within-firm (fixed-effects) regression, optionally with period effects.

    Weights are constant within a firm (frequency weights of the firm bootstrap), so the
    within transformation does not depend on them. Standard errors are clustered by firm with
    the factor ``N/(N-k)``, k the number of input elasticities (R ``plm`` ``vcovHC``,
    ``method="arellano"``, ``type="HC1"``): period effects and firm effects are not counted.

    Parameters
    ----------
    panel : Panel
        The prepared rows.
    w : numpy.ndarray
        Frequency weight of every row (0 leaves the row out; the bootstrap gives each row
        the number of times its firm was drawn).
    time_effects : bool, default False
        Add period effects.
    se : bool, default True
        Compute the covariance.

    Returns
    -------
    Fit
    """
    keep = w > 0
    p = panel.subset(keep)
    w = w[keep]
    inputs = np.hstack([p.free, p.state])
    k = inputs.shape[1]
    X = np.hstack([inputs] + ([_time_dummies(p.time)] if time_effects else []))
    Xd = _demean(X, p.firm)
    yd = _demean(p.y[:, None], p.firm)[:, 0]
    coef = wls(Xd, yd, w)
    resid = yd - Xd @ coef
    cov = None
    if se:
        bread = np.linalg.inv(Xd.T @ (Xd * w[:, None]))
        meat, _ = cluster_meat(Xd * (w * resid)[:, None], p.firm)
        factor = p.n / (p.n - k)
        cov = (factor * bread @ meat @ bread)[:k, :k]
    omega = np.full(panel.n, np.nan)
    omega[keep] = p.y - inputs @ coef[:k]
    return Fit(params=coef[:k], nobs=p.n, cov=cov, omega=omega, extra={"time_effects": time_effects})


# ----------------------------------------------------------------------------------------------
# The law-of-motion regression shared by OP, LP and ACF
# ----------------------------------------------------------------------------------------------


class _LawOfMotion:
    """Weighted regression of ``omega_t`` on ``g``'s basis and the derivative of its residual.

    For ``omega = a - X theta`` and ``omega_lag = a_lag - X_lag theta``, ``evaluate`` returns
    the residual ``e`` of the weighted regression of ``omega`` on ``P(omega_lag)`` and its exact
    Jacobian ``de/dtheta`` (n x k)::

        V = -X + g'(omega_lag) X_lag
        de = V - P (P'WP)^{-1} [ P'W V - (dP * w e)' X_lag ]
    """

    def __init__(
        self,
        a: np.ndarray,
        a_lag: np.ndarray,
        X: np.ndarray,
        X_lag: np.ndarray,
        w: np.ndarray,
        basis: LawOfMotionBasis,
        poly_extra: np.ndarray | None = None,
        linear_extra: np.ndarray | None = None,
    ) -> None:
        self.a, self.a_lag, self.X, self.X_lag = a, a_lag, X, X_lag
        self.w, self.sw = w, np.sqrt(w)
        self.basis, self.poly_extra, self.linear_extra = basis, poly_extra, linear_extra

    def evaluate(
        self, theta: np.ndarray, jacobian: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        omega = self.a - self.X @ theta
        omega_lag = self.a_lag - self.X_lag @ theta
        P, dP = self.basis(omega_lag, self.poly_extra, self.linear_extra)
        # omega_{t-1} is standardised inside the basis, so the Gram matrix is well conditioned
        # and a Cholesky factorisation is as accurate as a QR here, and cheaper.
        Pw = P * self.w[:, None]
        chol = linalg.cho_factor(Pw.T @ P, check_finite=False)
        gb = linalg.cho_solve(chol, Pw.T @ omega, check_finite=False)
        fitted = P @ gb
        e = omega - fitted
        if not jacobian:
            return e, None, fitted
        gprime = dP @ gb
        V = gprime[:, None] * self.X_lag - self.X
        B = Pw.T @ V - (dP * (self.w * e)[:, None]).T @ self.X_lag
        dgb = linalg.cho_solve(chol, B, check_finite=False)
        return e, V - P @ dgb, fitted


def _lom_extras(p: Panel, rows: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Law-of-motion controls ``D_t`` and ``D_{t-1}`` on the second-stage rows."""
    if p.controls.shape[1] == 0:
        return None, 0
    cur = p.controls[rows]
    lag = p.controls[p.lag[rows]]
    both = np.hstack([cur, lag])
    varying = np.ptp(both, axis=0) > 0
    both = both[:, varying]
    return (both if both.shape[1] else None), int(both.shape[1])


def _first_stage_vars(
    p: Panel, names: list[str], use_controls: bool
) -> tuple[np.ndarray, list[str], tuple[bool, ...]]:
    cols = [p.free, p.state] if "free" in names else [p.state]
    labels = (p.free_names if "free" in names else []) + p.state_names
    if p.proxy is not None:
        cols.append(p.proxy[:, None])
        labels = [*labels, p.proxy_name or "proxy"]
    binary = [False] * len(labels)
    if use_controls and p.controls.shape[1]:
        ctrl = p.controls
        varying = np.ptp(ctrl, axis=0) > 0
        cols.append(ctrl[:, varying])
        labels = labels + [n for n, v in zip(p.control_names, varying, strict=True) if v]
        binary += [bool(np.isin(ctrl[:, j], (0.0, 1.0)).all()) for j in np.flatnonzero(varying)]
    return np.hstack(cols), labels, tuple(binary)


def _monomial_names(labels: list[str], exps: list[tuple[int, ...]]) -> list[str]:
    out = []
    for e in exps:
        parts = [lab if k == 1 else f"{lab}^{k}" for lab, k in zip(labels, e, strict=True) if k]
        out.append(":".join(parts) if parts else "(Intercept)")
    return out


# ----------------------------------------------------------------------------------------------
# Olley-Pakes and Levinsohn-Petrin
# ----------------------------------------------------------------------------------------------


def _probit(y: np.ndarray, X: np.ndarray, w: np.ndarray, maxiter: int = 100) -> np.ndarray:
    """Weighted probit by iteratively reweighted least squares (as R ``glm``)."""
    mu = (w * y + 0.5) / (w + 1.0)
    eta = special.ndtri(mu)
    beta = np.zeros(X.shape[1])
    dev_old = np.inf
    for _ in range(maxiter):
        mu = np.clip(special.ndtr(eta), 1e-12, 1 - 1e-12)
        dens = np.maximum(np.exp(-0.5 * eta**2) / np.sqrt(2 * np.pi), 1e-300)
        z = eta + (y - mu) / dens
        iw = w * dens**2 / (mu * (1 - mu))
        beta = wls(X, z, iw)
        eta = X @ beta
        mu = np.clip(special.ndtr(eta), 1e-12, 1 - 1e-12)
        dev = -2 * np.sum(w * (y * np.log(mu) + (1 - y) * np.log1p(-mu)))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-12:
            break
        dev_old = dev
    return beta


class _OPLPProblem:
    """Second stage of OP/LP: least squares in the state elasticities."""

    def __init__(self, eps: np.ndarray, lom: _LawOfMotion) -> None:
        self.eps, self.lom = eps, lom

    def resid(self, beta: np.ndarray) -> np.ndarray:
        e, _, _ = self.lom.evaluate(beta, jacobian=False)
        return self.lom.sw * (self.eps + e)

    def jac(self, beta: np.ndarray) -> np.ndarray:
        _, de, _ = self.lom.evaluate(beta)
        return self.lom.sw[:, None] * de

    def ssr(self, beta: np.ndarray) -> float:
        r = self.resid(beta)
        return float(r @ r)


@dataclass
class _OPLPBuilt:
    problem: _OPLPProblem
    coef: np.ndarray
    names: list[str]
    phi: np.ndarray
    rows: np.ndarray
    p: Panel
    keep: np.ndarray
    extra: dict[str, Any]


def build_oplp(
    panel: Panel,
    w: np.ndarray,
    *,
    degree: int = 2,
    lom_degree: int = 3,
    exit: bool = False,
    first_stage_controls: bool = True,
) -> _OPLPBuilt:
    """First stage (and exit probit) of OP/LP and the second-stage least-squares problem.

    Parameters
    ----------
    panel : Panel
        The prepared rows.
    w : numpy.ndarray
        Frequency weight of every row (0 leaves the row out; the bootstrap gives each row
        the number of times its firm was drawn).
    degree, lom_degree, exit, first_stage_controls
        See :func:`~clusterpolicy.estimators.production.estimate`.

    Returns
    -------
    _OPLPBuilt
        The second-stage problem, the first-stage coefficients and fit, and the rows used.

    Raises
    ------
    ValueError
        Too few rows with a lag, or ``exit=True`` without exits.
    """
    keep = w > 0
    p = panel.subset(keep)
    w = w[keep]
    kf, ks = p.free.shape[1], p.state.shape[1]
    V, labels, binary = _first_stage_vars(p, ["state"], first_stage_controls)
    exps = monomial_exponents(V.shape[1], degree, include_constant=False, binary=binary)
    X1 = np.hstack([np.ones((p.n, 1)), p.free, polynomial_design(V, exps)])
    coef = wls(X1, p.y, w)
    fitted = X1 @ coef
    phi = fitted - p.free @ coef[1 : 1 + kf]
    eps = p.y - fitted
    rows = np.flatnonzero(p.has_lag)
    lag = p.lag[rows]
    if rows.size <= ks + 4:
        raise ValueError(f"too few observations with a lag ({rows.size}) for the second stage")
    pr_hat = None
    extra: dict[str, Any] = {}
    if exit:
        last = np.r_[p.firm[1:] != p.firm[:-1], True]
        exit_dummy = (last & (p.time < p.time.max())).astype(float)
        if exit_dummy[rows].all() or not exit_dummy[rows].any():
            raise ValueError("exit=True but no firm leaves the sample before the last period")
        pv = np.hstack([p.state, p.proxy[:, None]])
        pexps = monomial_exponents(pv.shape[1], degree, include_constant=False)
        Xp = np.hstack([np.ones((rows.size, 1)), polynomial_design(pv[lag], pexps)])
        gamma = _probit(exit_dummy[rows], Xp, w[rows])
        pr_hat = special.ndtr(Xp @ gamma)
        extra["exit_probit_coef"] = gamma
        extra["n_exits"] = int(exit_dummy.sum())
    linear_extra, n_lin = _lom_extras(p, rows)
    basis = LawOfMotionBasis(lom_degree, n_poly=1 if exit else 0, n_linear=n_lin)
    lom = _LawOfMotion(phi[rows], phi[lag], p.state[rows], p.state[lag], w[rows], basis, pr_hat, linear_extra)
    names = ["(Intercept)", *p.free_names, *_monomial_names(labels, exps)]
    return _OPLPBuilt(_OPLPProblem(eps[rows], lom), coef, names, phi, rows, p, keep, extra)


def fit_oplp(
    panel: Panel,
    w: np.ndarray,
    *,
    degree: int = 2,
    lom_degree: int = 3,
    exit: bool = False,
    starts: list[np.ndarray] | None = None,
    first_stage_controls: bool = True,
) -> Fit:
    """Olley-Pakes (investment proxy) or Levinsohn-Petrin (intermediate-input proxy).

    prodest 1.0.1 (``finalOPLP``/``gOPLP``): the first stage regresses ``y`` on a constant,
    the free inputs (linearly) and the complete polynomial of degree ``degree`` in state and
    proxy; ``phi`` is its fit net of the free inputs. The state elasticities minimise
    ``sum(xi^2)``, ``xi = y - free b_f - state b_s - g_hat``, where ``g_hat`` is the least-squares
    cubic of ``omega = phi - state b_s`` on ``omega_{t-1}`` (with ``exit``: the complete cubic in
    ``omega_{t-1}`` and the fitted exit probability, prodest's attrition correction). The
    minimum is found by Levenberg-Marquardt with an exact Jacobian from several starts.

    Parameters
    ----------
    panel : Panel
        The prepared rows.
    w : numpy.ndarray
        Frequency weight of every row (0 leaves the row out; the bootstrap gives each row
        the number of times its firm was drawn).
    degree, lom_degree, exit, first_stage_controls
        See :func:`~clusterpolicy.estimators.production.estimate`.
    starts : list of numpy.ndarray, optional
        Starting values of the state elasticities (default: the first-stage coefficients and
        0, 0.25, 0.5, 0.75).

    Returns
    -------
    Fit
        No covariance (OP/LP standard errors come from the bootstrap).

    Raises
    ------
    ValueError
        The second stage did not converge from any start.
    """
    built = build_oplp(
        panel,
        w,
        degree=degree,
        lom_degree=lom_degree,
        exit=exit,
        first_stage_controls=first_stage_controls,
    )
    p, coef, problem = built.p, built.coef, built.problem
    kf, ks = p.free.shape[1], p.state.shape[1]
    if starts is None:
        fs_state = coef[1 + kf : 1 + kf + ks]
        starts = [fs_state] + [np.full(ks, c) for c in (0.0, 0.25, 0.5, 0.75)]
    best = None
    for s in starts:
        sol = optimize.least_squares(
            problem.resid,
            np.asarray(s, float),
            jac=problem.jac,
            method="lm",
            xtol=1e-14,
            ftol=1e-14,
            gtol=1e-14,
            max_nfev=400,
        )
        if np.all(np.isfinite(sol.x)) and (best is None or sol.cost < best.cost):
            best = sol
    if best is None:
        raise ValueError("the OP/LP second stage did not converge from any start")
    beta_s = best.x
    params = np.r_[coef[1 : 1 + kf], beta_s]
    omega = np.full(panel.n, np.nan)
    omega[built.keep] = built.phi - p.state @ beta_s
    extra = dict(built.extra)
    extra.update(
        first_stage_coef=pd.Series(coef, index=built.names),
        criterion=float(2 * best.cost),
        nobs_first_stage=p.n,
        optimizer_status=int(best.status),
    )
    return Fit(params=params, nobs=built.rows.size, omega=omega, extra=extra, converged=best.status > 0)


# ----------------------------------------------------------------------------------------------
# Ackerberg-Caves-Frazer
# ----------------------------------------------------------------------------------------------


class ACFProblem:
    """ACF moments ``m(theta) = Z' W xi(theta)`` and the prodest criterion ``m' A m``.

    ``A = (Z'WZ)^{-1} / sum(w)``; with ``A = L L'`` the root finder works on ``r = L' m``, whose
    squared norm is the criterion. ``relative_criterion`` divides the criterion by the weighted
    mean of ``xi^2``: it is the (uncentred) R^2 of ``xi`` on the instruments, 0 at a root.
    """

    def __init__(self, lom: _LawOfMotion, Z: np.ndarray) -> None:
        self.lom = lom
        self.Z = Z
        self.Zw = Z * lom.w[:, None]
        self.n_w = float(lom.w.sum())
        A = np.linalg.inv(Z.T @ self.Zw) / self.n_w
        self.L = np.linalg.cholesky(A)
        self._cache: tuple[bytes, np.ndarray, np.ndarray | None] | None = None

    def _eval(self, theta: np.ndarray, jacobian: bool) -> tuple[np.ndarray, np.ndarray | None]:
        key = np.asarray(theta, float).tobytes()
        if self._cache is not None and self._cache[0] == key and (self._cache[2] is not None or not jacobian):
            return self._cache[1], self._cache[2]
        xi, dxi, _ = self.lom.evaluate(np.asarray(theta, float), jacobian)
        self._cache = (key, xi, dxi)
        return xi, dxi

    def moments(self, theta: np.ndarray) -> np.ndarray:
        """The moments ``Z' W xi(theta)``.

        Parameters
        ----------
        theta : numpy.ndarray
            Input elasticities.

        Returns
        -------
        numpy.ndarray
        """
        xi, _ = self._eval(theta, False)
        return self.Zw.T @ xi

    def resid(self, theta: np.ndarray) -> np.ndarray:
        """``L' m(theta)``, whose squared norm is the criterion (the root finder's residual).

        Parameters
        ----------
        theta : numpy.ndarray
            Input elasticities.

        Returns
        -------
        numpy.ndarray
        """
        return self.L.T @ self.moments(theta)

    def jac(self, theta: np.ndarray) -> np.ndarray:
        """Exact Jacobian of :meth:`resid`.

        Parameters
        ----------
        theta : numpy.ndarray
            Input elasticities.

        Returns
        -------
        numpy.ndarray
        """
        _, dxi = self._eval(theta, True)
        return self.L.T @ (self.Zw.T @ dxi)

    def criterion(self, theta: np.ndarray) -> float:
        """prodest's criterion ``m' (Z'WZ)^{-1} m / sum(w)``.

        Parameters
        ----------
        theta : numpy.ndarray
            Input elasticities.

        Returns
        -------
        float
        """
        r = self.resid(theta)
        return float(r @ r)

    def relative_criterion(self, theta: np.ndarray) -> float:
        """The criterion over the weighted mean of ``xi^2`` (0 at a root).

        Parameters
        ----------
        theta : numpy.ndarray
            Input elasticities.

        Returns
        -------
        float
        """
        xi, _ = self._eval(theta, False)
        return self.criterion(theta) / float(np.sum(self.lom.w * xi**2) / self.n_w)

    def innovation(self, theta: np.ndarray) -> np.ndarray:
        """The productivity innovation ``xi(theta)`` on the second-stage rows.

        Parameters
        ----------
        theta : numpy.ndarray
            Input elasticities.

        Returns
        -------
        numpy.ndarray
        """
        xi, _ = self._eval(theta, False)
        return xi


@dataclass
class _ACFBuilt:
    problem: ACFProblem
    phi: np.ndarray
    coef: np.ndarray
    names: list[str]
    rows: np.ndarray
    p: Panel
    keep: np.ndarray
    r2: float
    sigma: float


def build_acf(
    panel: Panel, w: np.ndarray, *, degree: int, lom_degree: int, first_stage_controls: bool
) -> _ACFBuilt:
    """First stage and second-stage problem of ACF on the rows with positive weight.

    Parameters
    ----------
    panel : Panel
        The prepared rows.
    w : numpy.ndarray
        Frequency weight of every row (0 leaves the row out; the bootstrap gives each row
        the number of times its firm was drawn).
    degree, lom_degree, first_stage_controls
        See :func:`~clusterpolicy.estimators.production.estimate`.

    Returns
    -------
    _ACFBuilt
        The moment problem, the first stage (coefficients, fit, R^2, sigma) and the rows used.

    Raises
    ------
    ValueError
        Too few rows with a lag.
    """
    keep = w > 0
    p = panel.subset(keep)
    w = w[keep]
    V, labels, binary = _first_stage_vars(p, ["free", "state"], first_stage_controls)
    exps = monomial_exponents(V.shape[1], degree, binary=binary)
    X1 = polynomial_design(V, exps)
    coef = wls(X1, p.y, w)
    phi = X1 @ coef
    resid = p.y - phi
    ybar = np.sum(w * p.y) / w.sum()
    r2 = 1 - np.sum(w * resid**2) / np.sum(w * (p.y - ybar) ** 2)
    sigma = float(np.sqrt(np.sum(w * resid**2) / (w.sum() - _rank(X1))))
    rows = np.flatnonzero(p.has_lag)
    k = p.free.shape[1] + p.state.shape[1]
    if rows.size <= k + 4:
        raise ValueError(f"too few observations with a lag ({rows.size}) for the ACF second stage")
    lag = p.lag[rows]
    inputs = np.hstack([p.free, p.state])
    Z = np.hstack([p.free[lag], p.state[rows]])
    linear_extra, n_lin = _lom_extras(p, rows)
    basis = LawOfMotionBasis(lom_degree, n_linear=n_lin)
    lom = _LawOfMotion(phi[rows], phi[lag], inputs[rows], inputs[lag], w[rows], basis, None, linear_extra)
    return _ACFBuilt(
        problem=ACFProblem(lom, Z),
        phi=phi,
        coef=coef,
        names=_monomial_names(labels, exps),
        rows=rows,
        p=p,
        keep=keep,
        r2=float(r2),
        sigma=sigma,
    )


def _van_der_corput(n: int, base: int) -> np.ndarray:
    out = np.zeros(n)
    for i in range(n):
        f, x, j = 1.0, 0.0, i + 1
        while j:
            f /= base
            x += f * (j % base)
            j //= base
        out[i] = x
    return out


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)


def default_acf_starts(k: int, n_starts: int, box: tuple[float, float]) -> list[np.ndarray]:
    """``n_starts`` points of a Halton sequence in ``box``^k (deterministic, space filling).

    Parameters
    ----------
    k : int
        Dimension (at most 20).
    n_starts : int
        Number of points (0 or less: none).
    box : (float, float)
        Range of every coordinate.

    Returns
    -------
    list of numpy.ndarray
    """
    if n_starts <= 0:
        return []
    if k > len(_PRIMES):
        raise ValueError(f"at most {len(_PRIMES)} parameters are supported")
    pts = np.column_stack([_van_der_corput(n_starts, _PRIMES[j]) for j in range(k)])
    return list(box[0] + (box[1] - box[0]) * pts)


def solve_acf(
    problem: ACFProblem,
    starts: list[np.ndarray],
    *,
    root_tol: float,
    max_nfev: int = 200,
    stop_at_first_root: bool = False,
) -> list[dict[str, Any]]:
    """Levenberg-Marquardt on ``L' m`` from every start; one record per start.

    Parameters
    ----------
    problem : ACFProblem
        The moment conditions.
    starts : list of numpy.ndarray
        Starting points.
    root_tol : float
        A point is a root when its relative criterion is at most this.
    max_nfev : int, default 200
        Function evaluations per start.
    stop_at_first_root : bool, default False
        Stop after the first start that ends at a root.

    Returns
    -------
    list of dict
        ``start, params, criterion, relative_criterion, is_root`` (NaN parameters and infinite
        criteria for a start that failed).
    """
    out = []
    for s in starts:
        s = np.asarray(s, dtype=float)
        try:
            sol = optimize.least_squares(
                problem.resid,
                s,
                jac=problem.jac,
                method="lm",
                xtol=1e-15,
                ftol=1e-15,
                gtol=1e-15,
                max_nfev=max_nfev,
            )
            x = sol.x
            ok = bool(np.all(np.isfinite(x)))
        except (np.linalg.LinAlgError, ValueError):
            x, ok = np.full(s.shape, np.nan), False
        if ok:
            crit = problem.criterion(x)
            rel = problem.relative_criterion(x)
        else:
            crit = rel = np.inf
        record = {
            "start": s,
            "params": x,
            "criterion": crit,
            "relative_criterion": rel,
            "is_root": bool(ok and rel <= root_tol),
        }
        out.append(record)
        if stop_at_first_root and record["is_root"]:
            break
    return out


def distinct(points: list[dict[str, Any]], tol: float = 1e-5) -> list[dict[str, Any]]:
    """Keep one record (the smallest criterion) per cluster of nearby parameter vectors.

    Parameters
    ----------
    points : list of dict
        Records of :func:`solve_acf`.
    tol : float, default 1e-5
        Relative distance below which two vectors are the same point.

    Returns
    -------
    list of dict
        The kept records by increasing criterion, each with ``n_starts`` (how many records it
        stands for); records with non-finite parameters are left out.
    """
    kept: list[dict[str, Any]] = []
    for rec in sorted(points, key=lambda r: r["criterion"]):
        x = rec["params"]
        if not np.all(np.isfinite(x)):
            continue
        for other in kept:
            if np.max(np.abs(other["params"] - x) / (1 + np.abs(x))) < tol:
                other["n_starts"] += 1
                break
        else:
            kept.append({**rec, "n_starts": 1})
    return kept


# ----------------------------------------------------------------------------------------------
# Wooldridge
# ----------------------------------------------------------------------------------------------


def _ols_on_fitted(
    y: np.ndarray, X: np.ndarray, Z: np.ndarray, w: np.ndarray, se: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """prodest's ``prodestWRDG`` two steps: OLS of ``y`` on a constant and ``X`` fitted on ``Z``.

    Parameters
    ----------
    y : numpy.ndarray
        Outcome (n).
    X : numpy.ndarray
        Regressors (n x k), without a constant.
    Z : numpy.ndarray
        Instruments (n x l, l >= k), without a constant; the first stage has none either.
    w : numpy.ndarray
        Frequency weights (n).
    se : bool
        Compute the covariance.

    Returns
    -------
    coef : numpy.ndarray
        Constant first, then the coefficients of ``X`` (1 + k).
    cov : numpy.ndarray or None
        The second step's conventional OLS covariance ``s^2 (A'WA)^{-1}``, ``A = (1, X_hat)``,
        ``s^2 = sum(w u^2) / (sum(w) - (1 + k))``, ``u = y - A coef`` (the residual on the
        fitted regressors): prodest's reported variance, not a valid 2SLS one.
    """
    X_hat = Z @ wls(Z, X, w)
    A = np.hstack([np.ones((len(y), 1)), X_hat])
    coef = wls(A, y, w)
    if not se:
        return coef, None
    u = y - A @ coef
    s2 = float(np.sum(w * u**2)) / (float(w.sum()) - A.shape[1])
    return coef, s2 * np.linalg.inv(A.T @ (A * w[:, None]))


def fit_wooldridge(
    panel: Panel,
    w: np.ndarray,
    *,
    variant: str = "gmm",
    degree: int = 2,
    se: bool = True,
) -> Fit:
    """Wooldridge (2009): both stages in one linear IV/GMM system (``g`` linear, unit slope).

    Variants (``c_t`` is the complete polynomial of degree ``degree`` in state and proxy
    without constant, its first columns the state variables):

    ``"gmm"``
        R ``prodestWRDG_GMM``: equation 1 ``y = a + free b + c_t l1`` (the state columns of
        ``c_t`` carry the state elasticities), equation 2 ``y = a + e + free b + state b_s +
        c_{t-1} l2``, instruments ``(1, free, c_t)`` and ``(1, free_{t-1}, state, c_{t-1})``
        block by block. prodest's second step has weight ``(u'u Z'Z)^{-1}``, so it is the
        system two-stage least squares computed here.
    ``"iv"``
        Stata ``prodest, method(wrdg)``'s stacked design: one coefficient vector on
        ``(1, e, free, state, c)`` with ``c = c_t`` in equation 1 and ``c_{t-1}`` in equation 2,
        free inputs instrumented by their lags in both equations.
    ``"rob"``
        R ``prodestROB``: equation 2 alone, ``y = a + free b + state b_s + c_{t-1} l``,
        instruments ``(1, free_{t-1}, state, c_{t-1})``.
    ``"prodest_iv"``
        R ``prodestWRDG`` (prodest's "IV version"), step by step: the two equations stacked,
        outcome ``(y; y)``, regressors ``X = (free, state, c_t; free, state, c_{t-1})`` and
        instruments ``Z = (free_{t-1}, state, c_t; free_{t-1}, state, c_{t-1})`` (``c``'s
        coefficients shared by the equations; the state enters alone and inside ``c``); every
        column of ``X`` is regressed on ``Z`` without a constant, and ``(y; y)`` on a constant
        and the fitted ``X_hat`` by OLS. The second step has a constant that the first does
        not, so even the point estimates are not those of 2SLS (2SLS of the same design with
        the constant among the instruments differs by up to 0.004 on prodest's chilean data).

    Standard errors are clustered by firm (both equations of a firm-year in the firm's cluster),
    factor ``G/(G-1)``, except for ``"prodest_iv"``: its covariance is prodest's, the
    conventional OLS one of the second step, ``s^2 (A'A)^{-1}`` with ``A = (1, X_hat)`` and
    ``s^2 = u'u / (2N - cols(A))``, ``u = (y; y) - A b`` the residual on the *fitted*
    regressors. That is not a valid 2SLS variance (wrong residual, no clustering of a firm's
    two equations and years); it is reported only to reproduce prodest. Valid firm-clustered
    standard errors are those of ``"gmm"`` and ``"iv"``.

    Parameters
    ----------
    panel : Panel
        The prepared rows.
    w : numpy.ndarray
        Frequency weight of every row (0 leaves the row out; the bootstrap gives each row
        the number of times its firm was drawn).
    variant : {"gmm", "iv", "rob", "prodest_iv"}, default "gmm"
        See above.
    degree : int, default 2
        Degree of ``c_t``.
    se : bool, default True
        Compute the covariance (and the reference software's standard errors, in ``extra``).

    Returns
    -------
    Fit

    Raises
    ------
    ValueError
        No proxy, or an unknown variant.
    """
    keep = w > 0
    p = panel.subset(keep)
    w = w[keep]
    if p.proxy is None:
        raise ValueError("method='wooldridge' needs a proxy")
    kf, ks = p.free.shape[1], p.state.shape[1]
    k = kf + ks
    rows = np.flatnonzero(p.has_lag)
    lag = p.lag[rows]
    n = rows.size
    sp = np.hstack([p.state, p.proxy[:, None]])
    exps = monomial_exponents(sp.shape[1], degree, include_constant=False)
    C = polynomial_design(sp, exps)
    c_t, c_l = C[rows], C[lag]
    F, Fl, S = p.free[rows], p.free[lag], p.state[rows]
    y = p.y[rows]
    one, zero = np.ones((n, 1)), np.zeros((n, 1))
    wr = w[rows]
    extra: dict[str, Any] = {"variant": variant}
    if variant == "gmm":
        n_r = 1 + k
        X1 = np.hstack([one, F, c_t])
        X2 = np.hstack([one, F, S, one, c_l])
        n_u1, n_u2 = X1.shape[1] - n_r, X2.shape[1] - n_r
        X = np.vstack(
            [
                np.hstack([X1, np.zeros((n, n_u2))]),
                np.hstack([X2[:, :n_r], np.zeros((n, n_u1)), X2[:, n_r:]]),
            ]
        )
        Z1 = np.hstack([one, F, c_t])
        Z2 = np.hstack([one, Fl, S, c_l])
        Z = linalg.block_diag(Z1, Z2)
        yy, ww = np.r_[y, y], np.r_[wr, wr]
        first = 1
        cluster = np.r_[p.firm[rows], p.firm[rows]]
    elif variant == "iv":
        X = np.vstack([np.hstack([one, zero, F, S, c_t]), np.hstack([one, one, F, S, c_l])])
        Z = np.vstack([np.hstack([one, zero, Fl, S, c_t]), np.hstack([one, one, Fl, S, c_l])])
        yy, ww = np.r_[y, y], np.r_[wr, wr]
        first = 2
        cluster = np.r_[p.firm[rows], p.firm[rows]]
    elif variant == "rob":
        X = np.hstack([one, F, S, c_l])
        Z = np.hstack([one, Fl, S, c_l])
        yy, ww = y, wr
        first = 1
        cluster = p.firm[rows]
    elif variant == "prodest_iv":
        X = np.vstack([np.hstack([F, S, c_t]), np.hstack([F, S, c_l])])
        Z = np.vstack([np.hstack([Fl, S, c_t]), np.hstack([Fl, S, c_l])])
        yy, ww = np.r_[y, y], np.r_[wr, wr]
        first = 1
    else:
        raise ValueError(f"wooldridge variant must be 'gmm', 'iv', 'rob' or 'prodest_iv', got {variant!r}")
    cov = None
    if variant == "prodest_iv":
        b, cov_all = _ols_on_fitted(yy, X, Z, ww, se)
        params = b[first : first + k]
        if cov_all is not None:
            # prodest's reported variance (OLS on the fitted regressors), not a 2SLS one
            cov = cov_all[first : first + k, first : first + k]
            extra["software_std_errors"] = np.sqrt(np.diag(cov))
    else:
        b, X_hat, u = tsls(yy, X, Z, ww)
        params = b[first : first + k]
        if se:
            bread = np.linalg.inv(X_hat.T @ (X * ww[:, None]))
            meat, n_groups = cluster_meat(X_hat * (ww * u)[:, None], cluster)
            cov = (n_groups / (n_groups - 1) * bread @ meat @ bread)[first : first + k, first : first + k]
            # The reference software's own (unclustered) variance, for comparison: prodest's GMM
            # divides u'u over both equations by one equation's N (sqrt(2) too large); Stata's
            # stacked IV divides by the stacked N; prodestROB (AER::ivreg) by N - K.
            ssr = float(np.sum(ww * u**2))
            denom = {"gmm": float(wr.sum()), "iv": float(ww.sum()), "rob": float(ww.sum()) - X.shape[1]}
            extra["software_std_errors"] = np.sqrt(np.diag(ssr / denom[variant] * bread))[first : first + k]
    inputs = np.hstack([p.free, p.state])
    omega = np.full(panel.n, np.nan)
    omega[keep] = p.y - inputs @ params
    extra["nobs_stacked"] = len(yy)
    return Fit(params=params, nobs=n, cov=cov, omega=omega, extra=extra)
