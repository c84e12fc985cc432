"""The Monte Carlo grid of the book's estimators: every estimator in every world of
:mod:`clusterpolicy.synthetic.scenarios`, one use of the harness (:mod:`.harness`).

The Monte Carlo appendix shows it, from results stored in the repository and keyed by the code
that computes them (:mod:`.store`).

A **cell** of the grid is a study and a scenario. One replication of a study-1 cell
(:func:`replicate_panel`) draws a firm panel from the scenario's world and runs, on that one
panel (common random numbers):

* the six production-function estimators of chapter 03 (OLS, FE, OP, LP, ACF, Wooldridge) in
  one industry, the largest of the shape, as chapter 03 fits each industry; estimands: the
  labour and capital elasticities (estimators ``"tfp:<method>"``);
* the pipeline behind the headline, **end to end**: log TFP by ACF industry by industry with
  chapter 03's settings (small industries pooled), then on its balanced panel the effect
  estimators of chapter 04 — the conditional DiD (matching on chapter 04's covariates),
  Callaway–Sant'Anna (never members, simple aggregation), TWFE and Sun–Abraham (simple
  aggregation) — estimators ``"effect:<name>"``;
* for comparison only, the conditional DiD and Callaway–Sant'Anna on the **true** log TFP of
  the same firms (``"effect:<name> (true TFP)"``): what the effect step does without the noise
  of the first step.

Replications below ``full`` run all of these; the later ones only the **headline estimators**
(:data:`HEADLINE`: ACF, and the conditional DiD and Callaway–Sant'Anna on estimated TFP), whose
cells hold many more replications for the same cost.

One replication of a study-2 cell (:func:`replicate_tech`) is chapter 05's own
(:func:`clusterpolicy.checks.serial_montecarlo.replicate_margins`) on a tech-firm sample of the
scenario's world: the clustering coefficients and average marginal effects of both models and
one row per verdict rule (estimate 1 when it fires).

Truths. An elasticity's truth is the generator's elasticity of the industry. An effect's truth
is the **sample intention-to-treat ATT** of the estimator: the mean of the true effect
``theta_it`` over the treated firm-years it averages — the post-join firm-years of the balanced
panel for Callaway–Sant'Anna, TWFE and Sun–Abraham, and each matched member's mean effect after
joining, averaged over the matched members, for the conditional DiD. The generator's ``theta``
is kept as ``nominal``. Anticipation effects before joining are not part of any target: they are
a bias of the estimators that assume none.

Seeds (:mod:`clusterpolicy.core.seeding`): replication ``r`` of a cell uses
``SeedSequence(seed).spawn(R)[r]``, the same child whatever ``R``, so a cell grows by
replications without changing those it holds; word 0 of the child seeds the data, word 1 the
matching's ties.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from clusterpolicy import synthetic
from clusterpolicy.checks import harness, serial_montecarlo
from clusterpolicy.core import seeding
from clusterpolicy.core.notes import caught_warnings
from clusterpolicy.estimators import did, production
from clusterpolicy.studies import cluster_effects as ce
from clusterpolicy.studies import productivity as tfp

__all__ = [
    "DEFAULT_SETTINGS",
    "EFFECT_ESTIMATORS",
    "HEADLINE",
    "LABELS",
    "TFP_METHODS",
    "GridSettings",
    "Study",
    "replicate_panel",
    "replicate_tech",
    "run_cell",
]

Study = Literal["panel", "tech"]

#: The production-function estimators of chapter 03, as the grid runs them.
TFP_METHODS = ("ols", "fe", "op", "lp", "acf", "wooldridge")
#: The effect estimators of chapter 04, as the grid runs them on estimated TFP.
EFFECT_ESTIMATORS = ("conditional_did", "cs", "twfe", "sun_abraham")
#: The effect estimators also run on the true TFP (the comparison).
TRUE_TFP_ESTIMATORS = ("conditional_did", "cs")
#: The estimators every replication runs; the others run in the replications below ``full``.
HEADLINE = ("tfp:acf", "effect:conditional_did", "effect:cs")
#: How the page names the estimators.
LABELS = {
    "tfp:ols": "OLS", "tfp:fe": "fixed effects", "tfp:op": "Olley–Pakes",
    "tfp:lp": "Levinsohn–Petrin", "tfp:acf": "ACF", "tfp:wooldridge": "Wooldridge",
    "effect:conditional_did": "conditional DiD", "effect:cs": "Callaway–Sant'Anna",
    "effect:twfe": "TWFE", "effect:sun_abraham": "Sun–Abraham",
    "effect:conditional_did (true TFP)": "conditional DiD on true TFP",
    "effect:cs (true TFP)": "Callaway–Sant'Anna on true TFP",
    "initiation": "initiation (probit)", "intensity": "intensity (fractional logit)",
    serial_montecarlo.VERDICT: "verdict rule",
}
_FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError, KeyError)
#: Words of a replication's child seed (:func:`clusterpolicy.core.seeding.words`).
_DATA, _MATCHING = 0, 1


@dataclass(frozen=True)
class GridSettings:
    """What, besides the scenario and the seed, determines a cell's results.

    Attributes
    ----------
    firms : int
        Firms of each synthetic panel (study 1; member counts scaled to it).
    shape : str
        The panel's shape.
    full : int
        Replications below this run every estimator; later ones the :data:`HEADLINE` only.
    caliper : float
        Matching caliper of the conditional DiD (standard deviations of the logit score).
    n_pairs : int
        Matched pairs of each tech-firm sample (study 2).
    level : float
        Confidence level of the study-2 AMEs (``1 - level``: the verdicts' significance).
    """

    firms: int = 1000
    shape: str = "flanders"
    full: int = 200
    caliper: float = 0.2
    n_pairs: int = 400
    level: float = 0.95

    def of(self, study: Study) -> dict[str, Any]:
        """The settings that matter for ``study`` (a cell's key holds only these)."""
        names = (("firms", "shape", "full", "caliper") if study == "panel"
                 else ("n_pairs", "level"))
        return {name: getattr(self, name) for name in names}


#: The grid's settings unless a caller says otherwise.
DEFAULT_SETTINGS = GridSettings()


# --------------------------------------------------------------------------------------------
# The synthetic panel of a replication
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _panel(data_seed: int, firms: int, shape_name: str, scenario: str) -> dict[str, Any]:
    shape = synthetic.scaled_shape(shape_name, firms)
    generated = synthetic.generate_panel(data_seed, firms=firms, shape=shape,
                                         params=synthetic.panel_params(scenario))
    sample, _ = tfp.tfp_sample(generated.panel, generated.membership)
    sample = sample.merge(generated.latent[["firm_id", "year", "omega", "theta_it"]],
                          on=["firm_id", "year"], how="left", validate="one_to_one")
    return {"sample": sample, "truth": generated.truth, "shape": shape}


# --------------------------------------------------------------------------------------------
# Study 1: one replication
# --------------------------------------------------------------------------------------------
def _tfp_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The six production-function estimators in the shape's largest industry."""
    industry = max(data["shape"].industries, key=lambda i: i.weight).nace2
    true = data["truth"]["production"]["industries"][industry]
    sub = data["sample"].loc[data["sample"]["nace2"] == industry]
    names = {"beta_l": tfp.FREE[0], "beta_k": tfp.STATE[0]}
    rows = []
    for method in TFP_METHODS:
        options = tfp.production_options(tfp.TFP_SETTINGS, method)
        for key in ("by", "min_obs", "method"):
            options.pop(key)
        with caught_warnings() as caught:
            try:
                fit = production.estimate(sub, method, **options, n_jobs=1)
                failed = ("" if fit.extra.get("root_found", True)
                          else "no root of the moment conditions")
                est = {k: float(fit.params[v]) for k, v in names.items()}
                se = {k: float(fit.std_errors[v]) for k, v in names.items()}
            except _FAILURES as exc:
                failed, est, se = harness.failure(exc), {}, {}
        rows += [harness.row(f"tfp:{method}", f"{k} (NACE {industry})",
                             math.nan if failed else est[k], math.nan if failed else se[k],
                             true[k], true[k], len(caught), failed) for k in names]
    return rows


def _itt(panel: pd.DataFrame) -> float:
    """Mean true effect over the post-join firm-years of ``panel``'s members."""
    post = panel.loc[(panel["cohort"] > 0) & (panel["year"] >= panel["cohort"])]
    return float(post["theta_it"].mean()) if len(post) else math.nan


def _effect_rows(balanced: pd.DataFrame, outcome: str, estimators: Sequence[str], suffix: str,
                 theta: float, seq: np.random.SeedSequence, caliper: float
                 ) -> list[dict[str, Any]]:
    """The effect estimators on ``outcome`` of the balanced panel."""
    target = _itt(balanced)
    rows = []
    for name in estimators:
        truth = target
        with caught_warnings() as caught:
            try:
                if name == "conditional_did":
                    panel, _ = ce.add_firm_covariates(balanced, [outcome])
                    covariates = [c.replace("log_tfp", outcome) for c in ce.COVARIATES]
                    fit = did.conditional_did(panel, outcome, "firm_id", "year", "cohort",
                                              covariates, caliper=caliper,
                                              seed=seeding.words(seq)[_MATCHING] % (2**31 - 1))
                    est, se = float(fit.params["ATT"]), float(fit.std_errors["ATT"])
                    matched = fit.matched.drop_duplicates("treated")["treated"].to_numpy()
                    post = panel.loc[panel["year"] >= panel["cohort"]]
                    truth = float(post.groupby("firm_id")["theta_it"].mean().reindex(matched).mean())
                elif name == "cs":
                    agg = did.callaway_santanna(balanced, outcome, "firm_id", "year", "cohort",
                                                control="never").aggregate("simple")
                    est, se = float(agg.att), float(agg.se)
                elif name == "twfe":
                    fit = did.twfe(balanced, outcome, "firm_id", "year", cohort="cohort")
                    est, se = float(fit.params.iloc[0]), float(fit.std_errors.iloc[0])
                else:
                    agg = did.sun_abraham(balanced, outcome, "firm_id", "year",
                                          "cohort").aggregate("simple")
                    est, se = float(agg.att), float(agg.se)
                failed = ""
            except _FAILURES as exc:
                est, se, failed = math.nan, math.nan, harness.failure(exc)
        rows.append(harness.row(f"effect:{name}{suffix}", "ATT", est, se, truth, theta,
                                len(caught), failed))
    return rows


def replicate_panel(seq: np.random.SeedSequence, *, scenario: str = synthetic.BASELINE,
                    settings: GridSettings = DEFAULT_SETTINGS, full: bool = True
                    ) -> list[dict[str, Any]]:
    """One replication of a study-1 cell: a panel of the scenario's world and the estimators.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's child seed (word 0: the data; word 1: the matching's ties).
    scenario : str, default "baseline"
        A key of ``clusterpolicy.synthetic.PANEL_SCENARIOS``.
    settings : GridSettings
        Panel size, shape and matching caliper.
    full : bool, default True
        Every estimator, or the :data:`HEADLINE` only.

    Returns
    -------
    list of dict
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``.
    """
    try:
        data = _panel(seeding.words(seq)[_DATA], int(settings.firms), str(settings.shape),
                      str(scenario))
        rows = [r for r in _tfp_rows(data) if full or r["estimator"] in HEADLINE]
        theta = float(data["truth"]["treatment"]["theta"])
        sample = data["sample"]
        with caught_warnings() as caught:
            try:
                fit = production.estimate_by(
                    sample, **tfp.production_options(tfp.TFP_SETTINGS), n_jobs=1)
                failed = ""
            except _FAILURES as exc:
                failed = harness.failure(exc)
        effects = [e for e in EFFECT_ESTIMATORS if full or f"effect:{e}" in HEADLINE]
        if failed:
            rows += [harness.row(f"effect:{e}", "ATT", math.nan, math.nan, math.nan, theta,
                                 len(caught), failed) for e in effects]
        else:
            estimated = sample.assign(log_tfp=fit.productivity().to_numpy()).dropna(
                subset=["log_tfp"])
            balanced, _ = ce.balanced_panel(estimated)
            rows += _effect_rows(balanced, "log_tfp", effects, "", theta, seq, settings.caliper)
        if full:
            true_balanced, _ = ce.balanced_panel(sample)
            rows += _effect_rows(true_balanced, "omega", TRUE_TFP_ESTIMATORS, " (true TFP)",
                                 theta, seq, settings.caliper)
    finally:
        _panel.cache_clear()
    return rows


# --------------------------------------------------------------------------------------------
# Study 2: one replication
# --------------------------------------------------------------------------------------------
def replicate_tech(seq: np.random.SeedSequence, *, scenario: str = synthetic.BASELINE,
                   settings: GridSettings = DEFAULT_SETTINGS) -> list[dict[str, Any]]:
    """One replication of a study-2 cell: chapter 05's models and verdict rules on a tech-firm
    sample of the scenario's world
    (:func:`clusterpolicy.checks.serial_montecarlo.replicate_margins`).

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's child seed.
    scenario : str, default "baseline"
        A key of ``clusterpolicy.synthetic.TECH_SCENARIOS``.
    settings : GridSettings
        Pairs per sample and the confidence level.

    Returns
    -------
    list of dict
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``.
    """
    return serial_montecarlo.replicate_margins(seq, int(settings.n_pairs),
                                               synthetic.tech_truth(scenario),
                                               float(settings.level))


# --------------------------------------------------------------------------------------------
# A cell
# --------------------------------------------------------------------------------------------
def run_cell(study: Study, scenario: str, replications: int, seed: int = seeding.DEFAULT_SEED,
             *, settings: GridSettings = DEFAULT_SETTINGS, first: int = 0,
             n_jobs: int | None = -1) -> pd.DataFrame:
    """Replications ``first .. replications - 1`` of one cell of the grid.

    Parameters
    ----------
    study : {"panel", "tech"}
        Study 1 (firm panel) or study 2 (tech firms).
    scenario : str
        A scenario of that study (:mod:`clusterpolicy.synthetic.scenarios`).
    replications : int
        The cell's replications once this run is done.
    seed : int
        Root seed of the cell.
    settings : GridSettings
        Sizes and options.
    first : int, default 0
        Replications already computed (they are not run again).
    n_jobs : int or None, default -1
        Workers (joblib; the backend of :func:`clusterpolicy.core.parallel.backend`).

    Returns
    -------
    DataFrame
        The harness's table (:data:`clusterpolicy.checks.harness.COLUMNS`) of those
        replications.
    """
    if study == "panel":
        synthetic.panel_params(scenario)  # an unknown name fails here, not in the workers
        parts = []
        full_end = min(int(replications), int(settings.full))
        if first < full_end:
            parts.append(harness.simulate(replicate_panel, full_end, seed, n_jobs=n_jobs,
                                          first=first, scenario=scenario, settings=settings,
                                          full=True))
        if replications > max(first, full_end):
            parts.append(harness.simulate(replicate_panel, replications, seed, n_jobs=n_jobs,
                                          first=max(first, full_end), scenario=scenario,
                                          settings=settings, full=False))
        return pd.concat(parts, ignore_index=True)
    if study == "tech":
        synthetic.tech_truth(scenario)
        return harness.simulate(replicate_tech, replications, seed, n_jobs=n_jobs, first=first,
                                scenario=scenario, settings=settings)
    raise ValueError(f"study must be 'panel' or 'tech', got {study!r}")
