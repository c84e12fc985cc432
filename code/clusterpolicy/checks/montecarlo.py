"""Monte Carlo study of the book's main estimators on the synthetic generators.

Each replication draws a fresh synthetic data set from its own seed and runs one estimator on
it; over many replications the estimates are compared with the truth of the generator: bias,
root mean squared error, the standard deviation of the estimates against the mean standard
error, and the coverage of the 95% confidence intervals.

Estimators (``run(estimators=...)``):

``"acf"`` (:func:`replicate_acf`)
    Ackerberg–Caves–Frazer value-added production function, as chapter 03 fits it
    (:func:`clusterpolicy.estimators.production.estimate`, labour free, capital state, materials the proxy,
    membership in the law of motion), in **one industry**: by default the industry with the
    largest weight in the panel's shape. Estimands: the labour and capital elasticities; truth:
    the generator's elasticities of that industry. Standard errors only with a firm bootstrap
    (``acf_bootstrap`` replications per Monte Carlo replication); with ``acf_bootstrap=0`` (the
    default) ACF gets bias and RMSE but no coverage.
``"cs"`` (:func:`replicate_cs`)
    Callaway–Sant'Anna, never members as controls, no covariates, doubly robust, simple
    aggregation, analytic standard errors.
``"conditional_did"`` (:func:`replicate_conditional_did`)
    The study's design: propensity-score matching on pre-period size, age, capital intensity,
    industry and pre-period TFP (mean and last year), then DiD (chapter 04's specification).
``"internationalization"`` (:func:`replicate_internationalization`)
    Probit initiation and fractional-logit intensity models of study 2 with their average
    marginal effects of clustering; one replication is
    ``clusterpolicy.checks.serial_montecarlo._mc_replication`` (the function behind that module's
    own ``monte_carlo``), so both Monte Carlo studies draw the same data from the same seed.

The DiD estimators are applied to the firms' **true** log TFP (the generator's latent
``omega``) on the balanced panel, so that they are judged on their own, without the noise of a
first-stage TFP estimate (choice). Their target is the **intention-to-treat ATT of the
sample**: treatment is absorbing from a firm's first join year, but the generator lets a few
memberships end before the panel does, after which the firm's true effect is 0. The target is
therefore the mean of the true effect ``theta_it`` over the treated firm-years the estimator
averages: all post-join firm-years of the balanced panel for Callaway–Sant'Anna (its simple
aggregation weights every post-treatment firm-year equally on a balanced panel), and for the
conditional DiD the mean over matched members of their post-join mean of ``theta_it``. The
generator's ``theta`` itself is kept in the column ``nominal``.

Seeds: replication ``r`` uses ``numpy.random.SeedSequence(seed).spawn(R)[r]``; everything it
draws (the panel, the tech-firm sample, matching ties, bootstrap draws) comes from words of
that sequence. Replications run as :class:`joblib.Parallel` tasks, so the results are the same
with one worker, several local processes or a Dask cluster (``clusterpolicy.core.parallel.backend``).
The panel of a replication is generated once and shared by the panel estimators (common random
numbers: ACF, Callaway–Sant'Anna and the conditional DiD see the same firms).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.checks import serial_montecarlo
from clusterpolicy.core import parallel
from clusterpolicy.data import samples
from clusterpolicy.estimators import did, production
from clusterpolicy.studies import cluster_effects as ce
from clusterpolicy.studies import productivity as tfp

__all__ = [
    "ESTIMATORS",
    "LABELS",
    "replicate",
    "replicate_acf",
    "replicate_conditional_did",
    "replicate_cs",
    "replicate_internationalization",
    "run",
    "scaled_shape",
    "summarise",
]

#: Columns of the table returned by :func:`run` (one row per replication and estimand).
COLUMNS = ["replication", "estimator", "estimand", "estimate", "se", "truth", "nominal", "notes",
           "failed"]
#: Display names of the estimators.
LABELS = {
    "acf": "ACF production function",
    "cs": "Callaway–Sant'Anna",
    "conditional_did": "conditional DiD (matching)",
    "internationalization": "internationalization",
}
#: Study-2 quantities kept by default: the AMEs of clustering and the non-serial curvature.
INTERNATIONALIZATION_QUANTITIES = ("AME serial", "AME non-serial", "AME serial − non-serial", "z2")
#: Matching covariates of the conditional DiD (chapter 04's, with true TFP as the outcome).
CDID_COVARIATES = ["log_employment", "age", "capital_intensity", "nace2", "omega", "last_pre_omega"]
_FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError, KeyError)


# --------------------------------------------------------------------------------------------
# Seeds and the shared synthetic panel
# --------------------------------------------------------------------------------------------
def _words(seq: np.random.SeedSequence, n: int = 4) -> list[int]:
    """``n`` 32-bit integers drawn deterministically from ``seq`` (word 0: the data set)."""
    return [int(v) for v in seq.generate_state(n, dtype=np.uint32)]


def scaled_shape(shape: Any, firms: int) -> Any:
    """The panel shape with every cluster's member count scaled to ``firms`` firms.

    The shapes fix the number of members for their full number of firms; a smaller panel
    keeps the share of members.

    Parameters
    ----------
    shape : str or PanelShape
        A shape or its name (:func:`clusterpolicy.synthetic.get_shape`).
    firms : int
        Firms of the panel.

    Returns
    -------
    PanelShape
        The shape with each cluster's ``members`` scaled (at least 1).
    """

    shape = synthetic.get_shape(shape)
    factor = firms / shape.n_firms
    return dataclasses.replace(shape, clusters=tuple(
        dataclasses.replace(c, members=max(1, round(c.members * factor))) for c in shape.clusters))


@lru_cache(maxsize=2)
def _panel_cached(data_seed: int, firms: int, shape_name: str) -> dict[str, Any]:

    shape = scaled_shape(shape_name, firms)
    generated = synthetic.generate_panel(data_seed, firms=firms, shape=shape)
    sample, _ = samples.sample_construction(generated.panel)
    status = samples.membership_status(sample, generated.membership)
    sample = sample.assign(cohort=status["cohort"].to_numpy(), member=status["member"].to_numpy())
    sample = sample.merge(generated.latent[["firm_id", "year", "omega", "theta_it"]],
                          on=["firm_id", "year"], how="left", validate="one_to_one")
    balanced, _ = ce.balanced_panel(sample)
    return {"sample": sample, "balanced": balanced, "truth": generated.truth, "shape": shape}


def _panel(seq: np.random.SeedSequence, firms: int, shape: str) -> dict[str, Any]:
    """The synthetic panel of a replication (generated once per worker and replication)."""
    return _panel_cached(_words(seq)[0], int(firms), str(shape))


def _row(estimator: str, estimand: str, estimate: float, se: float, truth: float,
         nominal: float, notes: int = 0, failed: str = "") -> dict[str, Any]:
    return {"estimator": estimator, "estimand": estimand, "estimate": float(estimate),
            "se": float(se), "truth": float(truth), "nominal": float(nominal),
            "notes": int(notes), "failed": failed}


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


# --------------------------------------------------------------------------------------------
# One replication of each estimator
# --------------------------------------------------------------------------------------------
def replicate_acf(seq: np.random.SeedSequence, firms: int = 2000, *, shape: str = "flanders",
                  industry: str | None = None, bootstrap: int = 0) -> list[dict[str, Any]]:
    """ACF in one industry of a fresh synthetic panel: labour and capital elasticities.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's seed (its words seed the data set and every random choice).
    firms : int, default 2000
        Firms of the synthetic panel (member counts scaled to it).
    shape : str, default "flanders"
        The panel's shape.
    industry : str, optional
        NACE code (default: the industry with the largest weight in the shape, the first one
        on ties).
    bootstrap : int, default 0
        Firm-bootstrap replications for the standard errors (0: no standard error, NaN).

    Returns
    -------
    list of dict
        Rows of :data:`COLUMNS` without ``replication``. One row per elasticity (``beta_l``, ``beta_k``).
    """

    data = _panel(seq, firms, shape)
    inds = data["shape"].industries
    code = industry or max(inds, key=lambda i: i.weight).nace2
    true = data["truth"]["production"]["industries"][code]
    names = {"beta_l": tfp.FREE[0], "beta_k": tfp.STATE[0]}
    sub = data["sample"].loc[data["sample"]["nace2"] == code]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = production.estimate(
                sub, "acf", y=tfp.Y, free=tfp.FREE, state=tfp.STATE, proxy=tfp.PROXY,
                unit="firm_id", time="year", degree=2, law_of_motion_controls=["member"],
                bootstrap=int(bootstrap),
                seed=np.random.SeedSequence(_words(seq)[2]) if bootstrap else None, n_jobs=1)
            failed = "" if fit.extra.get("root_found", True) else "no root of the moment conditions"
            est = {k: float(fit.params[v]) for k, v in names.items()}
            se = {k: float(fit.std_errors[v]) if bootstrap else math.nan for k, v in names.items()}
        except _FAILURES as exc:
            failed = _failure(exc)
            est = dict.fromkeys(names, math.nan)
            se = dict.fromkeys(names, math.nan)
    if failed:
        est = dict.fromkeys(names, math.nan)
    estimands = {"beta_l": f"labour elasticity (NACE {code})",
                 "beta_k": f"capital elasticity (NACE {code})"}
    return [_row("acf", estimands[k], est[k], se[k], true[k], true[k], len(caught), failed)
            for k in names]


def _theta(truth: Mapping[str, Any]) -> float:
    return float(truth["treatment"]["theta"])


def replicate_cs(seq: np.random.SeedSequence, firms: int = 2000, *,
                 shape: str = "flanders") -> list[dict[str, Any]]:
    """Callaway–Sant'Anna simple ATT on the true log TFP of a fresh balanced panel.

    Truth: the mean of ``theta_it`` over the post-join firm-years of the members of the
    balanced panel (the sample's intention-to-treat ATT).

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's seed (its words seed the data set and every random choice).
    firms : int, default 2000
        Firms of the synthetic panel (member counts scaled to it).
    shape : str, default "flanders"
        The panel's shape.

    Returns
    -------
    list of dict
        Rows of :data:`COLUMNS` without ``replication``.
    """

    data = _panel(seq, firms, shape)
    bal = data["balanced"]
    post = bal.loc[(bal["cohort"] > 0) & (bal["year"] >= bal["cohort"])]
    target = float(post["theta_it"].mean()) if len(post) else math.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            agg = did.callaway_santanna(bal, "omega", "firm_id", "year", "cohort",
                                        control="never").aggregate("simple")
            att, se, failed = agg.att, agg.se, ""
        except _FAILURES as exc:
            att, se, failed = math.nan, math.nan, _failure(exc)
    return [_row("cs", "ATT (simple)", att, se, target, _theta(data["truth"]), len(caught), failed)]


def replicate_conditional_did(seq: np.random.SeedSequence, firms: int = 2000, *,
                              shape: str = "flanders", caliper: float | None = 0.2
                              ) -> list[dict[str, Any]]:
    """Matched (conditional) DiD on the true log TFP of a fresh balanced panel.

    Truth: the mean over the matched members of their mean ``theta_it`` after joining (the
    estimator's own intention-to-treat ATT).

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's seed (its words seed the data set and every random choice).
    firms : int, default 2000
        Firms of the synthetic panel (member counts scaled to it).
    shape : str, default "flanders"
        The panel's shape.
    caliper : float or None, default 0.2
        Matching caliper (standard deviations of the logit score).

    Returns
    -------
    list of dict
        Rows of :data:`COLUMNS` without ``replication``.
    """

    data = _panel(seq, firms, shape)
    theta = _theta(data["truth"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            panel, _ = ce.add_firm_covariates(data["balanced"], ["omega"])
            res = did.conditional_did(panel, "omega", "firm_id", "year", "cohort", CDID_COVARIATES,
                                      caliper=caliper, seed=_words(seq)[1] % (2**31 - 1))
            att, se, failed = float(res.params["ATT"]), float(res.std_errors["ATT"]), ""
            treated = res.matched.drop_duplicates("treated")[["treated", "cohort"]]
            post = panel.loc[panel["year"] >= panel["cohort"]]
            per_firm = post.groupby("firm_id")["theta_it"].mean()
            target = float(per_firm.reindex(treated["treated"].to_numpy()).mean())
        except _FAILURES as exc:
            att, se, target, failed = math.nan, math.nan, math.nan, _failure(exc)
    return [_row("conditional_did", "ATT (matched)", att, se, target, theta, len(caught), failed)]


def replicate_internationalization(seq: np.random.SeedSequence, n_pairs: int = 400, *,
                                   quantities: Sequence[str] = INTERNATIONALIZATION_QUANTITIES,
                                   level: float = 0.95) -> list[dict[str, Any]]:
    """Study 2's initiation (probit) and intensity (fractional logit) models on a fresh
    tech-firm sample: the coefficients and average marginal effects named in ``quantities``.

    Truth: the generator's coefficient, or the AME at the true parameters on the same firms.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's seed (its words seed the data set and every random choice).
    n_pairs : int, default 400
        Matched pairs of the tech-firm sample.
    quantities : sequence of str
        Which coefficients and AMEs to keep.
    level : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    list of dict
        Rows of :data:`COLUMNS` without ``replication``.
    """

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = serial_montecarlo._mc_replication(_words(seq)[0], int(n_pairs), None, level)
    out = []
    if rep["failed"]:
        for margin in ("initiation", "intensity"):
            for q in quantities:
                out.append(_row(f"internationalization: {margin}", q, math.nan, math.nan,
                                math.nan, math.nan, len(caught), rep["failed"]))
        return out
    for r in rep["rows"]:
        if r["quantity"] in quantities:
            out.append(_row(f"internationalization: {r['margin']}", r["quantity"], r["estimate"],
                            r["std_error"], r["truth"], r["truth"], rep["notes"] + len(caught)))
    return out


ESTIMATORS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "acf": replicate_acf,
    "cs": replicate_cs,
    "conditional_did": replicate_conditional_did,
    "internationalization": replicate_internationalization,
}


def replicate(seq: np.random.SeedSequence, estimators: Sequence[str], *, firms: int = 2000,
              n_pairs: int = 400, shape: str = "flanders", acf_bootstrap: int = 0,
              acf_industry: str | None = None) -> list[dict[str, Any]]:
    """All requested estimators on the data of one replication (one task).

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's seed (its words seed the data set and every random choice).
    estimators : sequence of str
        Keys of :data:`ESTIMATORS`.
    firms, n_pairs, shape, acf_bootstrap, acf_industry
        See :func:`run`.

    Returns
    -------
    list of dict
        Rows of :data:`COLUMNS` without ``replication``.
    """
    rows: list[dict[str, Any]] = []
    for name in estimators:
        if name == "acf":
            rows += replicate_acf(seq, firms, shape=shape, industry=acf_industry,
                                  bootstrap=acf_bootstrap)
        elif name == "internationalization":
            rows += replicate_internationalization(seq, n_pairs)
        else:
            rows += ESTIMATORS[name](seq, firms, shape=shape)
    return rows


def _task(seqs: list[tuple[int, np.random.SeedSequence]], estimators: Sequence[str],
          options: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each replicate counts its own warnings in ``notes``
        for index, seq in seqs:
            rows += [{"replication": index, **r} for r in replicate(seq, estimators, **options)]
    _panel_cached.cache_clear()
    return rows


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------
def run(estimators: Sequence[str] = tuple(ESTIMATORS), replications: int = 40,
        seed: int = 20240624, *, firms: int = 2000, n_pairs: int = 400, shape: str = "flanders",
        n_jobs: int | None = -1, batch_size: int = 1, acf_bootstrap: int = 0,
        acf_industry: str | None = None) -> pd.DataFrame:
    """Run the Monte Carlo study: one row per replication and estimand.

    Parameters
    ----------
    estimators
        Keys of :data:`ESTIMATORS` (``"acf"``, ``"cs"``, ``"conditional_did"``,
        ``"internationalization"``).
    replications
        Number of Monte Carlo replications.
    seed
        Root seed; replication ``r`` uses ``SeedSequence(seed).spawn(replications)[r]``, so a
        replication's data do not depend on the number of replications run after it.
    firms, n_pairs, shape
        Size of each synthetic panel (member counts scaled to it, :func:`scaled_shape`), pairs
        of each tech-firm sample, and the panel's shape.
    n_jobs
        Workers (joblib semantics; ``1`` runs in this process). The backend is joblib's
        default (loky processes) unless set by :func:`clusterpolicy.core.parallel.backend`.
    batch_size
        Replications per task.
    acf_bootstrap, acf_industry
        Firm-bootstrap replications for the ACF standard errors (0: none) and the industry of
        the ACF estimand (default: the largest industry of the shape).

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`: ``estimate``, ``se`` (NaN: not available), ``truth`` (the
        estimand's true value in that replication's data), ``nominal`` (the generator
        parameter: theta for the DiD estimators), ``notes`` (warnings raised), ``failed``
        (empty, or why the estimator failed; the estimate is then NaN).
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; known: {', '.join(ESTIMATORS)}")
    if int(replications) < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    seqs = parallel.spawn_seeds(int(seed), int(replications))
    tasks = [[(i, seqs[i]) for i in batch] for batch in parallel.batches(len(seqs), int(batch_size))]
    options = {"firms": int(firms), "n_pairs": int(n_pairs), "shape": str(shape),
               "acf_bootstrap": int(acf_bootstrap), "acf_industry": acf_industry}
    names = list(estimators)
    if n_jobs == 1:
        parts = [_task(t, names, options) for t in tasks]
    else:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=n_jobs)(delayed(_task)(t, names, options) for t in tasks)
    rows = [r for part in parts for r in part]
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.sort_values(["replication"], kind="stable").reset_index(drop=True)


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
        The table of :func:`run`.
    level : float, default 0.95
        Confidence level of the intervals whose coverage is counted.

    Returns
    -------
    pandas.DataFrame
        Index ``(estimator, estimand)``; columns ``replications, failed, truth, nominal,
        mean, bias, bias_mcse, rmse, sd, mean_se, coverage, coverage_mcse, notes``.
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
