"""Models of the two margins of internationalization, and their marginal effects.

* **Clustering** enters as ``z``, the standardised log location quotient
  ``z = (log(clustering) - mean) / sd`` with the mean and the standard deviation (``ddof=0``)
  over all firms of the sample (as :func:`clusterpolicy.synthetic.generate_techfirms` defines
  it), its square, and both interacted with the serial indicator ``S``::

      index = const + b_z z + b_z2 z^2 + b_s S + b_sz S z + b_sz2 S z^2
              + controls (log age, log employees, log(1 + patents)) + industry effects

  so the non-serial curvature is ``b_z2`` and the serial one ``b_z2 + b_sz2``.
* **Initiation**: probit of ``international`` (logit as robustness).
* **Intensity**: fractional logit, the Bernoulli quasi-likelihood with a logit mean of
  Papke & Wooldridge (1996), of ``foreign_share`` among internationalized firms; combined with
  the initiation model in a **two-part** model for the unconditional expected share
  ``E[share] = P(international) E[share | international]``. A two-limit Tobit (censored at
  0 and 1) on all firms is the robustness check.
* **Inference**: standard errors robust to correlation within matched pairs (clustered by
  ``match_id``, CRV1 with the statsmodels small-sample factor ``G/(G-1) (N-1)/(N-K)``); normal
  critical values. The two parts of the two-part model get a joint cluster-robust covariance.
* **Marginal effects** of ``z`` (one standard deviation of log clustering) on the expected
  outcome, averaged over the firms of a group: at each firm's observed ``z`` (the *average
  marginal effect*, AME) or with every firm of the group set to a grid value of ``z`` (the
  AME *curve*). Standard errors by the delta method (numerical Jacobian) or a pairs bootstrap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from clusterpolicy.core import seeding
from clusterpolicy.core.notes import warnings_to_notes
from clusterpolicy.core.results import EstimationResults
from clusterpolicy.data.innovators import (
    CLUSTERING_TERMS,
    CONTROLS,
    DIFFERENCE,
    GROUPS,
    Group,
    _require_prepared,
    _z_scale,
)

Link = Literal["probit", "logit"]


IntensityModel = Literal["fractional_logit", "tobit"]


Method = Literal["delta", "bootstrap"]


_MODEL_LABEL = {"probit": "probit", "logit": "logit", "fractional_logit": "fractional logit",
                "tobit": "two-limit Tobit", "two_part": "two-part model"}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class MarginResults(EstimationResults):
    """Estimates of one margin of internationalization (or of the two-part combination).

    Everything of :class:`~clusterpolicy.core.results.EstimationResults`: ``cov`` is the
    cluster-robust covariance by ``match_id`` (NaN with ``robust=False``), intervals and
    p-values use the normal distribution (as statsmodels' maximum-likelihood models), ``notes``
    hold what the estimation had to tell the reader (library warnings, convergence). Plus

    Attributes
    ----------
    spec : dict
        The specification, enough to predict and to re-estimate: ``margin``, ``model``,
        ``controls``, ``industry_reference``, ``industry_levels``, ``sample`` (``"all"`` or
        ``"international"``), ``outcome``.
    """

    spec: dict[str, Any] = field(default_factory=dict)
    _scores: np.ndarray | None = field(default=None, repr=False)
    _hess_inv: np.ndarray | None = field(default=None, repr=False)
    _rows: np.ndarray | None = field(default=None, repr=False)  # positions in the prepared data
    _groups: np.ndarray | None = field(default=None, repr=False)


def _industry_levels(df: pd.DataFrame) -> tuple[str, list[str]]:
    levels = sorted(df["industry"].unique())
    return levels[0], levels[1:]


def _design(df: pd.DataFrame, controls: Sequence[str], levels: Sequence[str]) -> pd.DataFrame:
    """Regressors in the order const, clustering terms, controls, industry indicators."""
    industry = df["industry"].to_numpy()
    columns = [np.ones(len(df)), *(df["S" if t == "serial" else t].to_numpy(dtype=float)
                                   for t in CLUSTERING_TERMS),
               *(df[c].to_numpy(dtype=float) for c in controls),
               *((industry == level).astype(float) for level in levels)]
    names = ["const", *CLUSTERING_TERMS, *controls, *(f"industry[{lv}]" for lv in levels)]
    return pd.DataFrame(np.column_stack(columns), index=df.index, columns=names)


def _check_design(X: pd.DataFrame, what: str) -> None:
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < X.shape[1]:
        const = [c for c in X.columns if c != "const" and X[c].std() == 0]
        hint = f" (constant columns: {', '.join(const)})" if const else ""
        raise ValueError(f"{what}: the design matrix has rank {rank} < {X.shape[1]} columns; "
                         f"some regressors are collinear{hint}")
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"{what}: {X.shape[0]} observations for {X.shape[1]} parameters")


def _groups_of(df: pd.DataFrame) -> np.ndarray:
    return pd.factorize(df["match_id"], sort=True)[0]


def _cluster_sandwich(scores: np.ndarray, hess_inv: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``H^-1 (sum_g s_g s_g') H^-1`` times ``G/(G-1) (N-1)/(N-K)`` (statsmodels' CRV1)."""
    n, k = scores.shape
    n_groups = int(groups.max()) + 1
    sums = np.zeros((n_groups, k))
    np.add.at(sums, groups, scores)
    sums = sums[np.bincount(groups, minlength=n_groups) > 0]
    g = sums.shape[0]
    meat = sums.T @ sums
    return hess_inv @ meat @ hess_inv * (g / (g - 1) * (n - 1) / (n - k))


def _inference_dict(n_clusters: int, extra: str = "") -> dict[str, Any]:
    out = {"covariance": "cluster-robust by match_id (CRV1, small-sample factor "
                         "G/(G-1)·(N-1)/(N-K))" + extra,
           "clusters": n_clusters, "distribution": "normal"}
    return out


def _fit_index(df: pd.DataFrame, model: str, controls: Sequence[str], *, margin: str,
               sample: str, outcome: str, robust: bool = True) -> MarginResults:
    """Fit a probit, logit or fractional logit on ``df`` (already the estimation sample)."""
    import statsmodels.api as sm

    reference, levels = _industry_levels(df)
    X = _design(df, controls, levels)
    what = f"{margin} ({_MODEL_LABEL[model]})"
    _check_design(X, what)
    groups = _groups_of(df)
    notes: list[str] = []
    kwargs: dict[str, Any] = ({"cov_type": "cluster", "cov_kwds": {"groups": groups}} if robust
                              else {})
    with warnings_to_notes(notes, f"{what}, statsmodels"):
        if model == "fractional_logit":
            y = df["foreign_share"].to_numpy(dtype=float)
            mod = sm.GLM(y, X, family=sm.families.Binomial())
            fit = mod.fit(**kwargs)
            converged = bool(fit.converged)
        else:
            y = df["international"].to_numpy(dtype=float)
            mod = (sm.Probit if model == "probit" else sm.Logit)(y, X)
            fit = mod.fit(disp=0, method="newton", maxiter=100, **kwargs)
            converged = bool(fit.mle_retvals.get("converged", True))
    if not converged:
        notes.append(f"{what}: the optimiser did not converge; estimates are unreliable")
    params = pd.Series(np.asarray(fit.params, dtype=float), index=X.columns)
    if robust:
        cov = pd.DataFrame(np.asarray(fit.cov_params(), dtype=float), index=X.columns,
                           columns=X.columns)
        scores = np.asarray(mod.score_obs(params.to_numpy()), dtype=float)
        hess_inv = np.linalg.inv(np.asarray(mod.hessian(params.to_numpy()), dtype=float))
    else:
        cov = pd.DataFrame(np.nan, index=X.columns, columns=X.columns)
        scores = hess_inv = None
    spec = {"margin": margin, "model": model, "controls": tuple(controls),
            "industry_reference": reference, "industry_levels": list(levels), "sample": sample,
            "outcome": outcome}
    inference = _inference_dict(len(np.unique(groups)))
    if model == "fractional_logit":
        inference["estimator"] = ("Bernoulli quasi-likelihood, logit mean (Papke–Wooldridge); "
                                  "sandwich covariance")
    return MarginResults(params=params, std_errors=pd.Series(np.sqrt(np.diag(cov)), index=X.columns),
                         nobs=len(df),
                         model=model, inference=inference,
                         extra={"converged": converged, "reference_industry": reference},
                         cov=cov, notes=notes, spec=spec, _scores=scores, _hess_inv=hess_inv,
                         _groups=groups)


def initiation(df: pd.DataFrame, link: Link = "probit",
               controls: Sequence[str] = CONTROLS, *, robust: bool = True) -> MarginResults:
    """Initiation margin: binary choice model of ``international`` on all firms.

    ``P(international = 1) = F(index)`` with ``F`` the normal (``link="probit"``) or logistic
    (``"logit"``) distribution function and the index of the module docstring.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`clusterpolicy.data.innovators.prepare`.
    link : {"probit", "logit"}
        Link function; probit is the main specification.
    controls : sequence of str
        Control variables (columns of ``df``); industry effects are always included (the
        alphabetically first industry is the reference).
    robust : bool
        Cluster-robust covariance by ``match_id`` (default). ``False`` skips the covariance
        (point estimates only, as the bootstrap needs).

    Returns
    -------
    MarginResults
    """
    if link not in ("probit", "logit"):
        raise ValueError(f"link must be 'probit' or 'logit', got {link!r}")
    _require_prepared(df)
    res = _fit_index(df, link, controls, margin="initiation", sample="all",
                     outcome="P(international = 1)", robust=robust)
    res._rows = np.arange(len(df))
    return res


def intensity(df: pd.DataFrame, model: IntensityModel = "fractional_logit",
              controls: Sequence[str] = CONTROLS, *, robust: bool = True) -> MarginResults:
    """Intensity margin: the foreign share of sales.

    ``model="fractional_logit"``: ``E[share | international = 1] = logistic(index)``,
    estimated by Bernoulli quasi-likelihood (Papke & Wooldridge 1996) among internationalized
    firms; consistent whenever the conditional mean is right, whatever the distribution of the
    share. ``model="tobit"``: a two-limit Tobit (latent index censored at 0 and 1) on **all**
    firms, whose expected value is the unconditional share; a one-part alternative to
    :func:`two_part`.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`clusterpolicy.data.innovators.prepare` (all firms; the function selects the sample).
    model : {"fractional_logit", "tobit"}
    controls : sequence of str
    robust : bool
        See :func:`initiation`.

    Returns
    -------
    MarginResults
    """
    if model not in ("fractional_logit", "tobit"):
        raise ValueError(f"model must be 'fractional_logit' or 'tobit', got {model!r}")
    _require_prepared(df)
    if model == "tobit":
        return _tobit(df, controls, robust=robust)
    mask = df["international"].to_numpy() == 1
    if mask.sum() == 0:
        raise ValueError("intensity: no internationalized firm (international = 1) in the data")
    sub = df[mask]
    res = _fit_index(sub, "fractional_logit", controls, margin="intensity",
                     sample="international", outcome="E[foreign_share | international = 1]",
                     robust=robust)
    res._rows = np.flatnonzero(mask)
    res.extra["n_international"] = int(mask.sum())
    return res


# -- two-limit Tobit ---------------------------------------------------------------------------
def _tobit_obs(theta: np.ndarray, y: np.ndarray, X: np.ndarray,
               lower: float = 0.0, upper: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-observation log-likelihood and scores of the two-limit Tobit in (beta, log sigma)."""
    beta, log_sigma = theta[:-1], theta[-1]
    sigma = math.exp(log_sigma)
    mu = X @ beta
    ll = np.empty_like(y)
    d_mu = np.empty_like(y)
    d_ls = np.empty_like(y)
    left, right = y <= lower, y >= upper
    mid = ~(left | right)
    a = (lower - mu[left]) / sigma
    lam = np.exp(stats.norm.logpdf(a) - special.log_ndtr(a))
    ll[left] = special.log_ndtr(a)
    d_mu[left] = -lam / sigma
    d_ls[left] = -lam * a
    c = (mu[right] - upper) / sigma
    lam = np.exp(stats.norm.logpdf(c) - special.log_ndtr(c))
    ll[right] = special.log_ndtr(c)
    d_mu[right] = lam / sigma
    d_ls[right] = -lam * c
    r = (y[mid] - mu[mid]) / sigma
    ll[mid] = stats.norm.logpdf(r) - log_sigma
    d_mu[mid] = r / sigma
    d_ls[mid] = r**2 - 1
    scores = np.column_stack([X * d_mu[:, None], d_ls])
    return ll, scores


def _tobit(df: pd.DataFrame, controls: Sequence[str], robust: bool = True) -> MarginResults:
    reference, levels = _industry_levels(df)
    Xf = _design(df, controls, levels)
    what = "intensity (two-limit Tobit)"
    _check_design(Xf, what)
    X = Xf.to_numpy()
    y = df["foreign_share"].to_numpy(dtype=float)
    notes: list[str] = []
    start_beta = np.linalg.lstsq(X, y, rcond=None)[0]
    start = np.r_[start_beta, math.log(max(float(np.std(y - X @ start_beta)), 1e-3))]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, sc = _tobit_obs(theta, y, X)
        return -float(ll.sum()), -sc.sum(axis=0)

    with warnings_to_notes(notes, f"{what}, scipy"):
        opt = optimize.minimize(fun, start, jac=True, method="BFGS",
                                options={"gtol": 1e-8, "maxiter": 2000})
    theta = opt.x
    grad_norm = float(np.max(np.abs(fun(theta)[1])))
    converged = bool(opt.success or grad_norm < 1e-4)
    if not converged:
        notes.append(f"{what}: the optimiser did not converge ({opt.message}); estimates are "
                     "unreliable")
    names = [*Xf.columns, "sigma"]
    sigma = math.exp(theta[-1])
    params = pd.Series(np.r_[theta[:-1], sigma], index=names)
    groups = _groups_of(df)
    if robust:
        # Hessian of the log-likelihood: central differences of the analytic score.
        k = theta.size
        hess = np.empty((k, k))
        for j in range(k):
            h = 1e-5 * max(1.0, abs(theta[j]))
            up, dn = theta.copy(), theta.copy()
            up[j] += h
            dn[j] -= h
            hess[:, j] = (_tobit_obs(up, y, X)[1].sum(axis=0)
                          - _tobit_obs(dn, y, X)[1].sum(axis=0)) / (2 * h)
        hess = (hess + hess.T) / 2
        hess_inv = np.linalg.inv(hess)
        scores = _tobit_obs(theta, y, X)[1]
        cov_log = _cluster_sandwich(scores, hess_inv, groups)
        jac = np.eye(k)
        jac[-1, -1] = sigma  # d sigma / d log sigma
        cov_np = jac @ cov_log @ jac.T
        # scores and bread in the (beta, sigma) parameterisation, for joint covariances
        scores = scores / np.r_[np.ones(k - 1), sigma]
        hess_inv = jac @ hess_inv @ jac.T
    else:
        cov_np = np.full((theta.size, theta.size), np.nan)
        scores = hess_inv = None
    cov = pd.DataFrame(cov_np, index=names, columns=names)
    spec = {"margin": "intensity", "model": "tobit", "controls": tuple(controls),
            "industry_reference": reference, "industry_levels": list(levels), "sample": "all",
            "outcome": "E[foreign_share] (unconditional)"}
    inference = _inference_dict(len(np.unique(groups)), "; Hessian by differences of the "
                                "analytic score")
    inference["censoring"] = "latent index censored at 0 and 1"
    return MarginResults(params=params, std_errors=pd.Series(np.sqrt(np.diag(cov_np)), index=names),
                         nobs=len(df),
                         model="tobit", inference=inference,
                         extra={"converged": converged, "reference_industry": reference,
                                "loglik": -float(opt.fun),
                                "n_left_censored": int((y <= 0).sum()),
                                "n_right_censored": int((y >= 1).sum())},
                         cov=cov, notes=notes, spec=spec, _scores=scores, _hess_inv=hess_inv,
                         _rows=np.arange(len(df)), _groups=groups)


def two_part(init_res: MarginResults, int_res: MarginResults,
             df: pd.DataFrame | None = None) -> MarginResults:
    """Combine an initiation model and a fractional-logit intensity model.

    ``E[share] = P(international = 1) · E[share | international = 1]``. The parameters are
    those of the two parts (prefixed ``initiation:`` and ``intensity:``); their joint
    covariance is cluster-robust by ``match_id`` across both equations (the diagonal blocks
    equal the parts' own covariances; the off-diagonal block comes from the within-pair
    correlation of the two equations' scores).

    Parameters
    ----------
    init_res : MarginResults
        From :func:`initiation`.
    int_res : MarginResults
        From :func:`intensity` with ``model="fractional_logit"``.
    df : DataFrame, optional
        The prepared data both were estimated on (used to check that they match).

    Returns
    -------
    MarginResults
    """
    if init_res.spec.get("margin") != "initiation":
        raise ValueError("two_part: the first argument must come from initiation()")
    if int_res.spec.get("model") != "fractional_logit":
        raise ValueError("two_part: the second argument must come from "
                         "intensity(model='fractional_logit')")
    if df is not None and init_res.nobs != len(df):
        raise ValueError("two_part: the initiation model was not estimated on these data")
    p1 = init_res.params.rename(lambda t: f"initiation:{t}")
    p2 = int_res.params.rename(lambda t: f"intensity:{t}")
    params = pd.concat([p1, p2])
    k1, k2 = len(p1), len(p2)
    have = all(r._scores is not None for r in (init_res, int_res))
    if have:
        n = init_res.nobs
        scores = np.zeros((n, k1 + k2))
        scores[:, :k1] = init_res._scores * math.sqrt(_crv1_factor(init_res))
        scores[int_res._rows, k1:] = int_res._scores * math.sqrt(_crv1_factor(int_res))
        bread = np.zeros((k1 + k2, k1 + k2))
        bread[:k1, :k1], bread[k1:, k1:] = init_res._hess_inv, int_res._hess_inv
        groups = init_res._groups
        n_groups = int(groups.max()) + 1
        sums = np.zeros((n_groups, k1 + k2))
        np.add.at(sums, groups, scores)
        cov_np = bread @ (sums.T @ sums) @ bread
    else:
        cov_np = np.full((k1 + k2, k1 + k2), np.nan)
    cov = pd.DataFrame(cov_np, index=params.index, columns=params.index)
    spec = {"margin": "two_part", "model": "two_part", "parts": (init_res.spec, int_res.spec),
            "k_initiation": k1, "sample": "all", "controls": init_res.spec["controls"],
            "outcome": "E[foreign_share] = P(international) · E[share | international]"}
    inference = dict(init_res.inference)
    inference["covariance"] = ("joint cluster-robust by match_id across both parts (each "
                               "block with its part's CRV1 factor)")
    return MarginResults(params=params, std_errors=pd.Series(np.sqrt(np.diag(cov_np)), index=params.index),
                         nobs=init_res.nobs,
                         model="two_part", inference=inference,
                         extra={"initiation_model": init_res.model},
                         cov=cov, notes=[*init_res.notes, *int_res.notes], spec=spec,
                         _rows=np.arange(init_res.nobs), _groups=init_res._groups)


def _crv1_factor(res: MarginResults) -> float:
    n, k = res._scores.shape
    g = len(np.unique(res._groups))
    return g / (g - 1) * (n - 1) / (n - k)


# --------------------------------------------------------------------------------------------
# Predictions and marginal effects
# --------------------------------------------------------------------------------------------
@dataclass
class _Eq:
    """One equation evaluated on a data set: its index apart from the clustering terms."""

    model: str
    other: np.ndarray  # columns: const, controls, industry indicators
    idx_other: np.ndarray  # positions of those columns in the parameter vector
    idx_terms: np.ndarray  # positions of z, z2, serial, serial_z, serial_z2
    idx_sigma: int | None


def _equation(spec: Mapping[str, Any], names: Sequence[str], df: pd.DataFrame) -> _Eq:
    levels = spec["industry_levels"]
    X = _design(df, spec["controls"], levels)
    other_cols = [c for c in X.columns if c not in CLUSTERING_TERMS]
    pos = {n: i for i, n in enumerate(names)}
    return _Eq(model=spec["model"], other=X[other_cols].to_numpy(),
               idx_other=np.array([pos[c] for c in other_cols]),
               idx_terms=np.array([pos[c] for c in CLUSTERING_TERMS]),
               idx_sigma=pos.get("sigma"))


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _npdf(x: np.ndarray) -> np.ndarray:
    """Standard normal density (scipy.stats' generic machinery is slow in inner loops)."""
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _response(eq: _Eq, theta: np.ndarray, z: np.ndarray, s: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Expected outcome and its derivative with respect to z.

    ``z`` and ``s`` have one row per firm (``eq.other``'s rows); ``z`` may have a second axis
    (a grid of values for every firm), in which case ``s`` is a column.
    """
    b_z, b_z2, b_s, b_sz, b_sz2 = theta[eq.idx_terms]
    lin = eq.other @ theta[eq.idx_other]
    if z.ndim == 2:
        lin = lin[:, None]
    xb = lin + b_z * z + b_z2 * z**2 + s * (b_s + b_sz * z + b_sz2 * z**2)
    dxb = b_z + 2 * b_z2 * z + s * (b_sz + 2 * b_sz2 * z)
    if eq.model == "probit":
        m, dm = special.ndtr(xb), _npdf(xb)
    elif eq.model in ("logit", "fractional_logit"):
        m = special.expit(xb)
        dm = m * (1 - m)
    elif eq.model == "tobit":
        sigma = theta[eq.idx_sigma]
        a, b = -xb / sigma, (1 - xb) / sigma
        pa, pb = special.ndtr(a), special.ndtr(b)
        m = (1 - pb) + xb * (pb - pa) + sigma * (_npdf(a) - _npdf(b))
        dm = pb - pa
    else:  # pragma: no cover - guarded by the callers
        raise ValueError(f"unknown model {eq.model!r}")
    return m, dm * dxb


class _Evaluator:
    """Expected outcome and its derivative in z for a result on a data set, as functions of
    the parameter vector, for the firms of the result's sample (all firms, or the
    internationalized ones), optionally restricted to one group."""

    def __init__(self, result: MarginResults, df: pd.DataFrame):
        _require_prepared(df)
        spec = result.spec
        self.two_part = spec["margin"] == "two_part"
        data = df[df["international"].to_numpy() == 1] if spec["sample"] == "international" else df
        self.data = data
        self.s = data["S"].to_numpy(dtype=float)
        self.z = data["z"].to_numpy(dtype=float)
        names = list(result.params.index)
        self.k1 = spec.get("k_initiation", len(names))
        if self.two_part:
            self.eqs = [_equation(spec["parts"][0], [n.split(":", 1)[1] for n in names[:self.k1]],
                                  data),
                        _equation(spec["parts"][1], [n.split(":", 1)[1] for n in names[self.k1:]],
                                  data)]
        else:
            self.eqs = [_equation(spec, names, data)]
        self._parts: dict[str, tuple[list[_Eq], np.ndarray, np.ndarray]] = {}

    def mask(self, group: str) -> np.ndarray:
        if group == "all":
            return np.ones(self.s.size, dtype=bool)
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}")
        return self.s == (1.0 if group == "serial" else 0.0)

    def groups(self, by: Literal["serial"] | None) -> list[str]:
        if by is None:
            return ["all"]
        if by != "serial":
            raise ValueError(f"by must be 'serial' or None, got {by!r}")
        empty = [g for g in GROUPS if not self.mask(g).any()]
        if empty:
            raise ValueError(f"no {' or '.join(empty)} innovators in the sample of this margin")
        return list(GROUPS)

    def _part(self, group: str) -> tuple[list[_Eq], np.ndarray, np.ndarray]:
        if group not in self._parts:
            m = self.mask(group)
            eqs = [_Eq(e.model, e.other[m], e.idx_other, e.idx_terms, e.idx_sigma) for e in self.eqs]
            self._parts[group] = (eqs, self.s[m], self.z[m])
        return self._parts[group]

    def evaluate(self, theta: np.ndarray, group: str = "all", grid: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Expected outcome and d/dz per firm of ``group``: at the observed z, or (with
        ``grid``) an array firms x grid values with every firm set to each value."""
        eqs, s, z = self._part(group)
        if grid is not None:
            z = np.broadcast_to(np.asarray(grid, dtype=float)[None, :], (s.size, len(grid)))
            s = s[:, None]
        if not self.two_part:
            return _response(eqs[0], theta, z, s)
        p, dp = _response(eqs[0], theta[: self.k1], z, s)
        m, dm = _response(eqs[1], theta[self.k1:], z, s)
        return p * m, dp * m + p * dm

    def ames(self, theta: np.ndarray) -> np.ndarray:
        """AME serial, AME non-serial and their difference, at the observed z."""
        a = [self.evaluate(theta, g)[1].mean() for g in self.groups("serial")]
        return np.array([a[0], a[1], a[0] - a[1]])

    def curve(self, theta: np.ndarray, groups: Sequence[str], grid: np.ndarray) -> np.ndarray:
        """AME at each grid value, group after group (one flat vector)."""
        return np.concatenate([self.evaluate(theta, g, grid)[1].mean(axis=0) for g in groups])


def predict(result: MarginResults, df: pd.DataFrame) -> pd.Series:
    """Expected outcome of ``result``'s margin for each firm of its sample in ``df``.

    Parameters
    ----------
    result : MarginResults
        From :func:`initiation`, :func:`intensity` or :func:`two_part`.
    df : DataFrame
        The prepared data (all firms); the firms of the result's sample are used.

    Returns
    -------
    Series
        Named ``expected``, indexed like those firms.
    """
    ev = _Evaluator(result, df)
    m, _ = ev.evaluate(result.params.to_numpy())
    return pd.Series(m, index=ev.data.index, name="expected")


def _jacobian(fun: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    base = fun(theta)
    jac = np.empty((base.size, theta.size))
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        jac[:, j] = (fun(up) - fun(dn)) / (2 * h)
    return jac


def _delta(fun: Callable[[np.ndarray], np.ndarray], result: MarginResults
           ) -> tuple[np.ndarray, np.ndarray]:
    theta = result.params.to_numpy()
    jac = _jacobian(fun, theta)
    cov = jac @ result.cov.to_numpy() @ jac.T
    return fun(theta), np.sqrt(np.clip(np.diag(cov), 0, None))


def _grid_values(df: pd.DataFrame, grid: int | Sequence[float] | np.ndarray) -> np.ndarray:
    if isinstance(grid, int | np.integer):
        if grid < 2:
            raise ValueError(f"grid must have at least 2 points, got {grid}")
        z = df["z"].to_numpy()
        return np.linspace(z.min(), z.max(), int(grid))
    values = np.asarray(grid, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("grid must be a number of points or finite z values")
    return values


def _resample_pairs(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    codes = pd.factorize(df["match_id"], sort=True)[0]
    n_groups = codes.max() + 1
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(codes, minlength=n_groups))]
    pick = rng.integers(0, n_groups, n_groups)
    rows = np.concatenate([order[starts[g]:starts[g + 1]] for g in pick])
    new_id = np.concatenate([np.full(starts[g + 1] - starts[g], i) for i, g in enumerate(pick)])
    out = df.iloc[rows].copy()
    out["match_id"] = new_id
    out.index = pd.RangeIndex(len(out))
    out.attrs = dict(df.attrs)
    return out


def _refit(result: MarginResults, df: pd.DataFrame) -> MarginResults:
    spec = result.spec
    if spec["margin"] == "two_part":
        p_init, p_int = spec["parts"]
        a = initiation(df, link=p_init["model"], controls=p_init["controls"], robust=False)
        b = intensity(df, model="fractional_logit", controls=p_int["controls"], robust=False)
        return two_part(a, b)
    if spec["margin"] == "initiation":
        return initiation(df, link=spec["model"], controls=spec["controls"], robust=False)
    return intensity(df, model=spec["model"], controls=spec["controls"], robust=False)


def _boot_batch(result: MarginResults, df: pd.DataFrame,
                stat: Callable[[MarginResults, pd.DataFrame], np.ndarray],
                seeds: Sequence[np.random.SeedSequence]) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # estimations record their warnings as notes
        for ss in seeds:
            sample = _resample_pairs(df, seeding.generator(ss))
            try:
                refit = _refit(result, sample)
            except (ValueError, np.linalg.LinAlgError):
                out.append(None)
                continue
            out.append(None if refit.notes else stat(refit, sample))
    return out


def _bootstrap(result: MarginResults, df: pd.DataFrame,
               stat: Callable[[MarginResults, pd.DataFrame], np.ndarray], n_boot: int,
               seed: int, n_jobs: int = 1) -> tuple[np.ndarray, int, list[str]]:
    """Pairs (match_id) bootstrap of ``stat``: re-estimate and re-average on each resample.

    Replication ``b`` resamples with its own ``SeedSequence(seed).spawn(n_boot)[b]``, so the
    draws do not depend on ``n_jobs``. A replication fails when the resample's design is rank
    deficient or the estimation warns (e.g. perfect prediction); failures are dropped and
    counted.
    """
    from joblib import Parallel, delayed

    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    children = seeding.spawn(int(seed), int(n_boot))
    size = max(1, math.ceil(len(children) / (4 * _workers(n_jobs))))
    batches = [children[i:i + size] for i in range(0, len(children), size)]
    out = Parallel(n_jobs=n_jobs)(delayed(_boot_batch)(result, df, stat, b) for b in batches)
    draws = [d for batch in out for d in batch if d is not None]
    failed = int(n_boot) - len(draws)
    notes = []
    if failed:
        notes.append(f"bootstrap: {failed} of {n_boot} replications failed (rank-deficient "
                     "resample or estimation warnings) and were dropped")
    if len(draws) < 2:
        raise ValueError("bootstrap: fewer than two successful replications")
    return np.vstack(draws), failed, notes


def _workers(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        import os

        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def marginal_effects(result: MarginResults, df: pd.DataFrame,
                     grid: int | Sequence[float] | np.ndarray = 41,
                     by: Literal["serial"] | None = "serial", method: Method = "delta",
                     level: float = 0.95, n_boot: int = 199, seed: int = 0, n_jobs: int = 1
                     ) -> pd.DataFrame:
    """Average marginal effect of clustering along its observed range, by group.

    For each grid value ``z0`` and group ``g``:
    ``AME(z0, g) = mean over firms i of g of d E[y | x_i, z = z0] / dz``, the firms' other
    characteristics held at their observed values (firms of the margin's estimation sample:
    internationalized firms for the fractional logit, all firms otherwise). The effect is per
    standard deviation of log clustering.

    Parameters
    ----------
    result : MarginResults
        From :func:`initiation`, :func:`intensity` or :func:`two_part`.
    df : DataFrame
        The prepared data (all firms) the result was estimated on.
    grid : int or array of float
        Number of evenly spaced points between the smallest and largest observed ``z``
        (all firms), or the ``z`` values themselves.
    by : {"serial", None}
        Curves by group (default) or pooled.
    method : {"delta", "bootstrap"}
        Delta method with a numerical Jacobian and the result's covariance, or a pairs
        bootstrap (resampling ``match_id`` groups, re-estimating; standard error = standard
        deviation of the draws, percentile interval).
    level : float
        Confidence level of the pointwise bands.
    n_boot, seed, n_jobs : int
        Bootstrap replications, seed and parallel jobs (``method="bootstrap"`` only; the
        draws do not depend on ``n_jobs``).

    Returns
    -------
    DataFrame
        Columns ``margin, model, group, z, clustering, ame, se, lower, upper``; ``clustering``
        is the location quotient at ``z``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if method not in ("delta", "bootstrap"):
        raise ValueError(f"method must be 'delta' or 'bootstrap', got {method!r}")
    _require_prepared(df)
    z_grid = _grid_values(df, grid)

    def stat(res: MarginResults, data: pd.DataFrame) -> np.ndarray:
        ev_b = _Evaluator(res, data)
        return ev_b.curve(res.params.to_numpy(), ev_b.groups(by), z_grid)

    ev = _Evaluator(result, df)
    groups = ev.groups(by)
    crit = stats.norm.ppf(0.5 + level / 2)
    if method == "delta":
        value, se = _delta(lambda theta: ev.curve(theta, groups, z_grid), result)
        lower, upper = value - crit * se, value + crit * se
        inference = "delta method (numerical Jacobian, cluster-robust covariance)"
    else:
        value = stat(result, df)
        draws, failed, _ = _bootstrap(result, df, stat, n_boot, seed, n_jobs)
        se = draws.std(axis=0, ddof=1)
        lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        inference = (f"pairs bootstrap ({n_boot} replications, {failed} failed, seed {seed}), "
                     "percentile interval")
    mean, sd = _z_scale(df)
    zz = np.tile(z_grid, len(groups))
    out = pd.DataFrame({"margin": result.spec["margin"], "model": result.model,
                        "group": np.repeat(groups, len(z_grid)),
                        "z": zz, "clustering": np.exp(mean + sd * zz), "ame": value, "se": se,
                        "lower": lower, "upper": upper})
    out.attrs["inference"] = inference
    return out


def adjusted_predictions(result: MarginResults, df: pd.DataFrame,
                         grid: int | Sequence[float] | np.ndarray = 41,
                         by: Literal["serial"] | None = "serial", level: float = 0.95
                         ) -> pd.DataFrame:
    """Average expected outcome along clustering, by group (delta-method bands).

    ``AP(z0, g) = mean over firms i of g of E[y | x_i, z = z0]``: the level whose slope
    :func:`marginal_effects` reports. Same firms, grid and output columns as there, with
    ``prediction`` in place of ``ame``.

    Parameters
    ----------
    result : MarginResults
        From :func:`initiation`, :func:`intensity` or :func:`two_part`.
    df : DataFrame
        The prepared data (all firms) the result was estimated on.
    grid : int or array of float, default 41
        Number of evenly spaced ``z`` values over the observed range, or the values.
    by : {"serial", None}, default "serial"
        Curves by group or pooled.
    level : float, default 0.95
        Confidence level of the pointwise bands (normal critical values).

    Returns
    -------
    DataFrame
        Columns ``margin, model, group, z, clustering, prediction, se, lower, upper``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _require_prepared(df)
    z_grid = _grid_values(df, grid)
    ev = _Evaluator(result, df)
    groups = ev.groups(by)

    def fun(theta: np.ndarray) -> np.ndarray:
        return np.concatenate([ev.evaluate(theta, g, z_grid)[0].mean(axis=0) for g in groups])

    value, se = _delta(fun, result)
    crit = stats.norm.ppf(0.5 + level / 2)
    mean, sd = _z_scale(df)
    zz = np.tile(z_grid, len(groups))
    return pd.DataFrame({"margin": result.spec["margin"], "model": result.model,
                         "group": np.repeat(groups, len(z_grid)), "z": zz,
                         "clustering": np.exp(mean + sd * zz), "prediction": value, "se": se,
                         "lower": value - crit * se, "upper": value + crit * se})


def average_marginal_effects(result: MarginResults, df: pd.DataFrame,
                             method: Method = "delta", level: float = 0.95, n_boot: int = 199,
                             seed: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """Average marginal effect of clustering in each group at the firms' observed values.

    ``AME(g) = mean over firms i of g of d E[y | x_i] / dz`` (each firm at its own ``z``), and
    the difference serial − non-serial with its standard error (the covariance of the two
    is taken into account: both come from the same parameter vector).

    Parameters
    ----------
    result : MarginResults
        From :func:`initiation`, :func:`intensity` or :func:`two_part`.
    df : DataFrame
        The prepared data (all firms) the result was estimated on.
    method : {"delta", "bootstrap"}, default "delta"
        Delta method (normal intervals and p-values), or a pairs bootstrap (percentile
        intervals, normal p-values from the bootstrap standard error).
    level : float, default 0.95
        Confidence level.
    n_boot, seed, n_jobs : int
        Bootstrap replications, seed and parallel jobs (``method="bootstrap"`` only).

    Returns
    -------
    DataFrame
        Index ``group`` (``serial``, ``non-serial``, ``serial − non-serial``); columns
        ``ame, se, lower, upper, p_value, n``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if method not in ("delta", "bootstrap"):
        raise ValueError(f"method must be 'delta' or 'bootstrap', got {method!r}")

    def stat(res: MarginResults, data: pd.DataFrame) -> np.ndarray:
        return _Evaluator(res, data).ames(res.params.to_numpy())

    ev = _Evaluator(result, df)
    crit = stats.norm.ppf(0.5 + level / 2)
    if method == "delta":
        value, se = _delta(ev.ames, result)
        lower, upper = value - crit * se, value + crit * se
    else:
        value = stat(result, df)
        draws, failed, _ = _bootstrap(result, df, stat, n_boot, seed, n_jobs)
        se = draws.std(axis=0, ddof=1)
        lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(value / se))
    n_s, n_n = int(ev.mask("serial").sum()), int(ev.mask("non-serial").sum())
    n = [n_s, n_n, n_s + n_n]
    out = pd.DataFrame({"ame": value, "se": se, "lower": lower, "upper": upper, "p_value": p,
                        "n": n}, index=pd.Index([*GROUPS, DIFFERENCE], name="group"))
    out.attrs["inference"] = ("delta method (numerical Jacobian, cluster-robust covariance)"
                              if method == "delta" else
                              f"pairs bootstrap ({n_boot} replications, {failed} failed, seed "
                              f"{seed}), percentile interval")
    return out


def average_marginal_effects_at(result: MarginResults, df: pd.DataFrame,
                                params: pd.Series | np.ndarray) -> pd.Series:
    """The average marginal effects of clustering at other parameter values.

    The point estimates of :func:`average_marginal_effects` with ``params`` in place of the
    result's estimates, on the same firms: e.g. the AMEs at the true parameters of a synthetic
    draw, the truth that the estimated AMEs are compared with.

    Parameters
    ----------
    result : MarginResults
        From :func:`initiation`, :func:`intensity` or :func:`two_part` (its model, sample and
        parameter names).
    df : DataFrame
        The prepared data (all firms) the result was estimated on.
    params : Series or array
        The parameter vector: a Series is aligned with ``result.params`` by name; an array is
        taken in the order of ``result.params``.

    Returns
    -------
    Series
        Named ``ame``, index ``group`` (``serial``, ``non-serial``, ``serial − non-serial``).
    """
    if isinstance(params, pd.Series):
        theta = params.reindex(result.params.index).to_numpy()
    else:
        theta = np.asarray(params, dtype=float)
    if theta.shape != (len(result.params),):
        raise ValueError(f"params must have {len(result.params)} values, got shape {theta.shape}")
    value = _Evaluator(result, df).ames(theta)
    return pd.Series(value, index=pd.Index([*GROUPS, DIFFERENCE], name="group"), name="ame")


def turning_point(result: MarginResults, group: Group = "non-serial", level: float = 0.95
                  ) -> pd.Series:
    """Turning point ``-b1 / (2 b2)`` of a group's clustering profile, in z and in LQ units.

    Non-serial: ``b1 = b_z``, ``b2 = b_z2``; serial: ``b1 = b_z + b_sz``,
    ``b2 = b_z2 + b_sz2``. Standard error by the delta method.

    Parameters
    ----------
    result : MarginResults
        One margin (not the two-part combination).
    group : {"non-serial", "serial"}, default "non-serial"
        Whose profile.
    level : float, default 0.95
        Confidence level of the interval (normal critical values).

    Returns
    -------
    Series
        ``slope_at_mean`` (``b1``), ``curvature`` (``b2``), ``curvature_se``, ``curvature_p``,
        ``turning_point`` (in standardised log clustering ``z``), ``se``, ``lower``, ``upper``.

    Raises
    ------
    ValueError
        A two-part result, or an unknown group.
    """
    if result.spec.get("margin") == "two_part":
        raise ValueError("turning_point: use one part of the two-part model")
    if group not in GROUPS:
        raise ValueError(f"group must be 'serial' or 'non-serial', got {group!r}")
    names = list(result.params.index)
    i = {t: names.index(t) for t in CLUSTERING_TERMS}
    w1 = np.zeros(len(names))
    w2 = np.zeros(len(names))
    w1[i["z"]] = 1
    w2[i["z2"]] = 1
    if group == "serial":
        w1[i["serial_z"]] = 1
        w2[i["serial_z2"]] = 1
    theta, cov = result.params.to_numpy(), result.cov.to_numpy()
    b1, b2 = w1 @ theta, w2 @ theta
    curv_se = math.sqrt(max(w2 @ cov @ w2, 0.0))
    tp = -b1 / (2 * b2) if b2 != 0 else np.nan
    grad = -w1 / (2 * b2) + b1 * w2 / (2 * b2**2) if b2 != 0 else np.full(len(names), np.nan)
    se = math.sqrt(max(grad @ cov @ grad, 0.0)) if b2 != 0 else np.nan
    crit = stats.norm.ppf(0.5 + level / 2)
    p = 2 * stats.norm.sf(abs(b2 / curv_se)) if curv_se > 0 else np.nan
    return pd.Series({"slope_at_mean": b1, "curvature": b2, "curvature_se": curv_se,
                      "curvature_p": p, "turning_point": tp, "se": se,
                      "lower": tp - crit * se, "upper": tp + crit * se})
