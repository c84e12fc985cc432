"""Monte Carlo study of the book's main estimators on the synthetic generators (the Monte Carlo
appendix), one use of the Monte Carlo harness (:mod:`.harness`).

Each replication draws a fresh synthetic data set from its own seed and runs one estimator on
it; over many replications the estimates are compared with the truth of the generator: bias,
root mean squared error, the standard deviation of the estimates against the mean standard
error, and the coverage of the 95% confidence intervals (:func:`.harness.summarise`).

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
    :func:`clusterpolicy.checks.serial_montecarlo.replicate_margins` (the replication of
    chapter 05's own Monte Carlo study), so both studies draw the same data from the same seed.

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

Seeds (:mod:`clusterpolicy.core.seeding`): replication ``r`` uses
``numpy.random.SeedSequence(seed).spawn(R)[r]``; everything it draws comes from the words of
that child (:func:`clusterpolicy.core.seeding.words`): word 0 the data set (the panel and the
tech-firm sample), word 1 the matching's ties, word 2 the ACF bootstrap. The panel of a
replication is generated once and shared by the panel estimators (common random numbers: ACF,
Callaway–Sant'Anna and the conditional DiD see the same firms).

:func:`study` is the appendix's call: the run, its summary and everything the page shows
(:class:`MonteCarloStudy`); :func:`distributions_figure` draws the estimates' distributions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clusterpolicy import synthetic
from clusterpolicy.checks import harness, serial_montecarlo
from clusterpolicy.core import parallel, seeding
from clusterpolicy.core.notes import caught_warnings
from clusterpolicy.data import samples
from clusterpolicy.estimators import did, production
from clusterpolicy.studies import cluster_effects as ce
from clusterpolicy.studies import productivity as tfp

__all__ = [
    "ESTIMATORS",
    "LABELS",
    "MonteCarloStudy",
    "display_labels",
    "distributions_figure",
    "replicate",
    "replicate_acf",
    "replicate_conditional_did",
    "replicate_cs",
    "replicate_internationalization",
    "run",
    "scaled_shape",
    "study",
]

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
#: Words of a replication's child seed (:func:`clusterpolicy.core.seeding.words`).
_DATA, _MATCHING, _BOOTSTRAP = 0, 1, 2


# --------------------------------------------------------------------------------------------
# The shared synthetic panel
# --------------------------------------------------------------------------------------------
def scaled_shape(shape: Any, firms: int) -> Any:
    """The panel shape with every cluster's member count scaled to ``firms`` firms.

    The shapes fix the number of members for their full number of firms; a smaller panel
    keeps the share of members.

    Parameters
    ----------
    shape : str or ~clusterpolicy.synthetic.PanelShape
        A shape or its name (:func:`clusterpolicy.synthetic.get_shape`).
    firms : int
        Firms of the panel.

    Returns
    -------
    ~clusterpolicy.synthetic.PanelShape
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
    return _panel_cached(seeding.words(seq)[_DATA], int(firms), str(shape))


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
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``. One row
        per elasticity (``beta_l``, ``beta_k``).
    """

    data = _panel(seq, firms, shape)
    inds = data["shape"].industries
    code = industry or max(inds, key=lambda i: i.weight).nace2
    true = data["truth"]["production"]["industries"][code]
    names = {"beta_l": tfp.FREE[0], "beta_k": tfp.STATE[0]}
    sub = data["sample"].loc[data["sample"]["nace2"] == code]
    with caught_warnings() as caught:
        try:
            fit = production.estimate(
                sub, "acf", y=tfp.Y, free=tfp.FREE, state=tfp.STATE, proxy=tfp.PROXY,
                unit="firm_id", time="year", degree=2, law_of_motion_controls=["member"],
                bootstrap=int(bootstrap),
                seed=seeding.sequence(seeding.words(seq)[_BOOTSTRAP]) if bootstrap else None,
                n_jobs=1)
            failed = "" if fit.extra.get("root_found", True) else "no root of the moment conditions"
            est = {k: float(fit.params[v]) for k, v in names.items()}
            se = {k: float(fit.std_errors[v]) if bootstrap else math.nan for k, v in names.items()}
        except _FAILURES as exc:
            failed = harness.failure(exc)
            est = dict.fromkeys(names, math.nan)
            se = dict.fromkeys(names, math.nan)
    if failed:
        est = dict.fromkeys(names, math.nan)
    estimands = {"beta_l": f"labour elasticity (NACE {code})",
                 "beta_k": f"capital elasticity (NACE {code})"}
    return [harness.row("acf", estimands[k], est[k], se[k], true[k], true[k], len(caught), failed)
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
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``.
    """

    data = _panel(seq, firms, shape)
    bal = data["balanced"]
    post = bal.loc[(bal["cohort"] > 0) & (bal["year"] >= bal["cohort"])]
    target = float(post["theta_it"].mean()) if len(post) else math.nan
    with caught_warnings() as caught:
        try:
            agg = did.callaway_santanna(bal, "omega", "firm_id", "year", "cohort",
                                        control="never").aggregate("simple")
            att, se, failed = agg.att, agg.se, ""
        except _FAILURES as exc:
            att, se, failed = math.nan, math.nan, harness.failure(exc)
    return [harness.row("cs", "ATT (simple)", att, se, target, _theta(data["truth"]), len(caught),
                        failed)]


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
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``.
    """

    data = _panel(seq, firms, shape)
    theta = _theta(data["truth"])
    with caught_warnings() as caught:
        try:
            panel, _ = ce.add_firm_covariates(data["balanced"], ["omega"])
            res = did.conditional_did(panel, "omega", "firm_id", "year", "cohort", CDID_COVARIATES,
                                      caliper=caliper,
                                      seed=seeding.words(seq)[_MATCHING] % (2**31 - 1))
            att, se, failed = float(res.params["ATT"]), float(res.std_errors["ATT"]), ""
            treated = res.matched.drop_duplicates("treated")[["treated", "cohort"]]
            post = panel.loc[panel["year"] >= panel["cohort"]]
            per_firm = post.groupby("firm_id")["theta_it"].mean()
            target = float(per_firm.reindex(treated["treated"].to_numpy()).mean())
        except _FAILURES as exc:
            att, se, target, failed = math.nan, math.nan, math.nan, harness.failure(exc)
    return [harness.row("conditional_did", "ATT (matched)", att, se, target, theta, len(caught),
                        failed)]


def replicate_internationalization(seq: np.random.SeedSequence, n_pairs: int = 400, *,
                                   quantities: Sequence[str] = INTERNATIONALIZATION_QUANTITIES,
                                   level: float = 0.95) -> list[dict[str, Any]]:
    """Study 2's initiation (probit) and intensity (fractional logit) models on a fresh
    tech-firm sample: the coefficients and average marginal effects named in ``quantities``.

    The rows of :func:`clusterpolicy.checks.serial_montecarlo.replicate_margins` on the same
    seed (its verdicts left out), the estimator prefixed with ``"internationalization: "``.
    Truth: the generator's coefficient, or its structural AME on the same firms (in the
    baseline world, the AME at the true parameters).

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
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``; when the
        estimation fails, one row per margin and quantity with the failure.
    """

    with caught_warnings() as caught:
        rows = serial_montecarlo.replicate_margins(seq, int(n_pairs), None, level)
    failed = next((r["failed"] for r in rows if r["failed"]), "")
    if failed:
        return [harness.row(f"internationalization: {margin}", q, math.nan, math.nan, math.nan,
                            math.nan, len(caught), failed)
                for margin in ("initiation", "intensity") for q in quantities]
    return [{**r, "estimator": f"internationalization: {r['estimator']}",
             "notes": r["notes"] + len(caught)}
            for r in rows
            if r["estimator"] != serial_montecarlo.VERDICT and r["estimand"] in quantities]


#: The replication function of each estimator of the study, by key.
ESTIMATORS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "acf": replicate_acf,
    "cs": replicate_cs,
    "conditional_did": replicate_conditional_did,
    "internationalization": replicate_internationalization,
}


def replicate(seq: np.random.SeedSequence, estimators: Sequence[str], *, firms: int = 2000,
              n_pairs: int = 400, shape: str = "flanders", acf_bootstrap: int = 0,
              acf_industry: str | None = None) -> list[dict[str, Any]]:
    """All requested estimators on the data of one replication (the harness's replication).

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
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``.
    """
    rows: list[dict[str, Any]] = []
    try:
        for name in estimators:
            if name == "acf":
                rows += replicate_acf(seq, firms, shape=shape, industry=acf_industry,
                                      bootstrap=acf_bootstrap)
            elif name == "internationalization":
                rows += replicate_internationalization(seq, n_pairs)
            else:
                rows += ESTIMATORS[name](seq, firms, shape=shape)
    finally:
        _panel_cached.cache_clear()
    return rows


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------
def run(estimators: Sequence[str] = tuple(ESTIMATORS), replications: int = 40,
        seed: int = seeding.DEFAULT_SEED, *, firms: int = 2000, n_pairs: int = 400,
        shape: str = "flanders", n_jobs: int | None = -1, batch_size: int | None = None,
        acf_bootstrap: int = 0, acf_industry: str | None = None) -> pd.DataFrame:
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
        Replications per task (default: about four tasks per worker); the table does not
        depend on it.
    acf_bootstrap, acf_industry
        Firm-bootstrap replications for the ACF standard errors (0: none) and the industry of
        the ACF estimand (default: the largest industry of the shape).

    Returns
    -------
    DataFrame
        The table of :func:`clusterpolicy.checks.harness.simulate`: ``estimate``, ``se`` (NaN:
        not available), ``truth`` (the estimand's true value in that replication's data),
        ``nominal`` (the generator parameter: theta for the DiD estimators), ``notes``
        (warnings raised), ``failed`` (empty, or why the estimator failed; the estimate is then
        NaN).
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; known: {', '.join(ESTIMATORS)}")
    return harness.simulate(replicate, int(replications), int(seed), n_jobs=n_jobs,
                            batch_size=batch_size, estimators=list(estimators), firms=int(firms),
                            n_pairs=int(n_pairs), shape=str(shape),
                            acf_bootstrap=int(acf_bootstrap), acf_industry=acf_industry)


# --------------------------------------------------------------------------------------------
# The appendix page
# --------------------------------------------------------------------------------------------
_SHORT_NAMES = {"cs": "Callaway–Sant'Anna", "conditional_did": "conditional DiD",
                "internationalization: initiation": "initiation",
                "internationalization: intensity": "intensity"}
_SHORT_ESTIMANDS = {"z2": "curvature z² (non-serial)", "AME serial − non-serial": "AME difference"}
#: The two DiD estimands the page describes one by one: key of their glue names -> estimand.
DID_ESTIMANDS = {"cs": "ATT (simple)", "conditional_did": "ATT (matched)"}


def display_labels(index: Iterable[tuple[str, str]], acf_industry: str
                   ) -> dict[tuple[str, str], tuple[str, str]]:
    """How the page names each (estimator, estimand) of a run.

    Parameters
    ----------
    index : iterable of tuple of str
        Pairs (estimator, estimand) of the table of :func:`run`.
    acf_industry : str
        NACE code of the ACF estimands: ``"ACF (NACE <code>)"``, the estimand without its
        ``" (NACE <code>)"``.

    Returns
    -------
    dict
        (estimator, estimand) -> (shown estimator, shown estimand); names not listed are
        shown as they are.
    """
    suffix = f" (NACE {acf_industry})"
    names = {**_SHORT_NAMES, "acf": f"ACF (NACE {acf_industry})"}
    return {(e, q): (names.get(e, e),
                     _SHORT_ESTIMANDS.get(q, q.replace(suffix, "") if q.endswith(suffix) else q))
            for e, q in index}


@dataclass(frozen=True)
class MonteCarloStudy:
    """A Monte Carlo run of the book's estimators as the appendix shows it.

    Attributes
    ----------
    draws : DataFrame
        The table of :func:`run`.
    summary : DataFrame
        :func:`clusterpolicy.checks.harness.summarise` of it.
    table : DataFrame
        The page's summary table: index ``(estimator, estimand)`` as shown; columns ``truth,
        bias, RMSE, SD, mean SE, coverage, MC s.e.``.
    labels : dict
        (estimator, estimand) -> the names shown (:func:`display_labels`).
    numbers : dict of str to number
        The page's numbers by glue name (``mc_reps``, ``mc_cov_min``, ``mc_cs_bias``, ...).
    texts : dict of str to str
        ``mc_where`` (where the replications ran), ``mc_acf_industry``, ``mc_shape``,
        ``mc_{cs,conditional_did}_se_verdict`` (the mean standard error "close to" (within
        20%), "smaller than" or "larger than" the SD), ``mc_cov_low_names`` and
        ``mc_biased_names`` (the estimands flagged, empty when none).
    flags : dict of str to bool
        ``mc_any_cov_low`` (an estimand's coverage more than two Monte Carlo standard errors
        below 0.95), ``mc_any_biased`` (a bias beyond two of its Monte Carlo standard errors),
        ``mc_has_run_notes``.
    run_notes : tuple of str
        Warnings raised outside the estimators during the run.
    """

    draws: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    labels: Mapping[tuple[str, str], tuple[str, str]] = field(repr=False)
    numbers: Mapping[str, int | float]
    texts: Mapping[str, str]
    flags: Mapping[str, bool]
    run_notes: tuple[str, ...]

    @property
    def run_notes_markdown(self) -> str:
        """The run's warnings as a Markdown bullet list (empty without warnings)."""
        return "\n".join(f"* {note}" for note in self.run_notes)


def _se_verdict(ratio: float) -> str:
    return "close to" if abs(ratio - 1) <= 0.2 else "smaller than" if ratio < 1 else "larger than"


def _did_numbers(summary: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    numbers, texts = {}, {}
    for key, estimand in DID_ESTIMANDS.items():
        row = summary.loc[(key, estimand)]
        ratio = row["mean_se"] / row["sd"]
        numbers.update({
            f"mc_{key}_bias": float(row["bias"]), f"mc_{key}_rmse": float(row["rmse"]),
            f"mc_{key}_sd": float(row["sd"]), f"mc_{key}_se": float(row["mean_se"]),
            f"mc_{key}_cov": float(row["coverage"]), f"mc_{key}_cov_mcse": float(row["coverage_mcse"]),
            f"mc_{key}_target_gap": float(row["truth"] - row["nominal"]),
            f"mc_{key}_rmse_share": float(row["rmse"] / row["nominal"]),
            f"mc_{key}_se_ratio": float(ratio)})
        texts[f"mc_{key}_se_verdict"] = _se_verdict(ratio)
    return numbers, texts


def _summary_table(summary: pd.DataFrame, labels: Mapping[tuple[str, str], tuple[str, str]]) -> pd.DataFrame:
    table = pd.DataFrame({
        "truth": summary["truth"],
        "bias": summary["bias"],
        "RMSE": summary["rmse"],
        "SD": summary["sd"],
        "mean SE": summary["mean_se"],
        "coverage": summary["coverage"],
        "MC s.e.": summary["coverage_mcse"],
    })
    table.index = pd.MultiIndex.from_tuples([labels[k] for k in summary.index],
                                            names=["estimator", "estimand"])
    return table


def describe(draws: pd.DataFrame, *, replications: int, firms: int, n_pairs: int,
             acf_bootstrap: int, shape: str = "flanders", where: str = "",
             run_notes: Sequence[str] = ()) -> MonteCarloStudy:
    """What the appendix shows of a run of :func:`run` with every estimator.

    Parameters
    ----------
    draws : DataFrame
        The table of :func:`run`.
    replications, firms, n_pairs, acf_bootstrap, shape
        The run's settings.
    where : str, optional
        Where the replications ran (:func:`clusterpolicy.core.parallel.backend`).
    run_notes : sequence of str, optional
        Warnings raised outside the estimators.

    Returns
    -------
    MonteCarloStudy
    """
    summary = harness.summarise(draws)
    panel_shape = synthetic.get_shape(shape)
    acf_industry = max(panel_shape.industries, key=lambda i: i.weight)
    labels = display_labels(summary.index, acf_industry.nace2)
    mcse = math.sqrt(0.95 * 0.05 / replications)
    with_se = summary[np.isfinite(summary["coverage"])]
    low = with_se[with_se["coverage"] < 0.95 - 2 * math.sqrt(0.95 * 0.05 / replications)]
    biased = summary[summary["bias"].abs() > 2 * summary["bias_mcse"]]
    acf_rows = summary.loc["acf"]
    did_numbers, did_texts = _did_numbers(summary)
    numbers = {
        "mc_reps": int(replications), "mc_firms": int(firms), "mc_pairs": int(n_pairs),
        "mc_acf_bootstrap": int(acf_bootstrap),
        "mc_theta": float(summary.loc[("cs", "ATT (simple)"), "nominal"]),
        "mc_mcse_95": mcse, "mc_failed": int(summary["failed"].sum()),
        "mc_warnings": int(summary["notes"].sum()),
        "mc_n_with_se": len(with_se), "mc_n_estimands": len(summary),
        "mc_cov_min": float(with_se["coverage"].min()), "mc_cov_max": float(with_se["coverage"].max()),
        **did_numbers,
        "mc_default_firms": int(panel_shape.n_firms),
        "mc_cov_band_low": 0.95 - 2 * mcse, "mc_cov_band_high": min(1.0, 0.95 + 2 * mcse),
        "mc_acf_l_bias": float(acf_rows.iloc[0]["bias"]), "mc_acf_l_rmse": float(acf_rows.iloc[0]["rmse"]),
        "mc_acf_k_bias": float(acf_rows.iloc[1]["bias"]), "mc_acf_k_rmse": float(acf_rows.iloc[1]["rmse"]),
    }
    texts = {
        "mc_where": where,
        "mc_acf_industry": f"{acf_industry.nace2} ({acf_industry.label.lower()})",
        "mc_shape": panel_shape.region,
        **did_texts,
        "mc_cov_low_names": ", ".join(" ".join(labels[k]) for k in low.index),
        "mc_biased_names": ", ".join(f"{' '.join(labels[k])} ({b:+.4f})" for k, b in biased["bias"].items()),
    }
    flags = {"mc_any_cov_low": not low.empty, "mc_any_biased": not biased.empty,
             "mc_has_run_notes": bool(run_notes)}
    return MonteCarloStudy(draws=draws, summary=summary, table=_summary_table(summary, labels),
                           labels=labels, numbers=numbers, texts=texts, flags=flags,
                           run_notes=tuple(run_notes))


def study(replications: int = 30, seed: int = seeding.DEFAULT_SEED, *, firms: int = 2000,
          n_pairs: int = 400, acf_bootstrap: int = 0, n_jobs: int | None = -1,
          dask_scheduler: str | None = None, shape: str = "flanders") -> MonteCarloStudy:
    """The Monte Carlo appendix: every estimator of :data:`ESTIMATORS`, run and described.

    Runs :func:`run` inside :func:`clusterpolicy.core.parallel.backend` (``dask_scheduler``)
    and keeps the warnings raised outside the estimators as the run's notes (those raised
    inside the replications are counted in the table's ``notes``).

    Parameters
    ----------
    replications, seed, firms, n_pairs, acf_bootstrap, n_jobs, shape
        See :func:`run`.
    dask_scheduler : str, optional
        Where the replications run (see :func:`clusterpolicy.core.parallel.backend`).

    Returns
    -------
    MonteCarloStudy
    """
    with caught_warnings() as run_notes, parallel.backend(dask_scheduler) as where:
        draws = run(list(ESTIMATORS), replications, seed, firms=firms, n_pairs=n_pairs,
                    n_jobs=n_jobs, acf_bootstrap=acf_bootstrap, shape=shape)
    return describe(draws, replications=replications, firms=firms, n_pairs=n_pairs,
                    acf_bootstrap=acf_bootstrap, shape=shape, where=where, run_notes=run_notes)


def distributions_figure(mc: MonteCarloStudy) -> Figure:
    """Histograms of the estimates of every estimand over the replications, with the truth
    (mean over replications, solid black) and the mean estimate (dashed).

    Parameters
    ----------
    mc : MonteCarloStudy

    Returns
    -------
    matplotlib.figure.Figure
        Four panels a row, one per estimator and estimand, a legend below.
    """
    draws, groups = mc.draws, list(mc.summary.index)
    ncols = 4
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(10, 2.5 * nrows), squeeze=False)
    for ax, (est, quantity) in zip(axes.flat, groups, strict=False):
        rows = draws[(draws["estimator"] == est) & (draws["estimand"] == quantity)]
        values = rows["estimate"].dropna().to_numpy()
        ax.hist(values, bins=min(15, max(5, len(values) // 3)), color="C0", alpha=0.75)
        ax.axvline(float(rows["truth"].mean()), color="black", lw=2, label="truth")
        ax.axvline(float(values.mean()) if len(values) else np.nan, color="C3", ls="--", lw=1.5,
                   label="mean estimate")
        ax.set_title("\n".join(mc.labels[(est, quantity)]), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
