"""The study-2 models on synthetic tech-firm draws: coverage of their intervals and power of the
verdict rules (chapter 05), one use of the Monte Carlo harness (:mod:`.harness`).

One replication (:func:`replicate_margins`) draws a tech-firm sample with
:func:`clusterpolicy.synthetic.generate_techfirms` from word 0 of its child seed, fits the
probit initiation and fractional-logit intensity models, and returns, in the harness's rows,
the estimate, standard error and truth of the clustering terms and controls and of the AMEs of
clustering by group, then the three
verdicts of :func:`clusterpolicy.studies.serial_innovators.check_findings` as indicators
(estimator :data:`VERDICT`, estimate 1 when the finding is reproduced). The truth of an AME is
the sample's structural AME the generator reports (``truth["structural"]``,
:func:`clusterpolicy.synthetic.structural_effects`: the average derivative of the true response,
holding each firm's latent terms fixed), in every scenario of
``clusterpolicy.synthetic.TECH_SCENARIOS``; in the baseline it equals the AME at the true
parameters on the same firms. The truth of a coefficient is the generator's (the structural
coefficient, holding the latent terms fixed, when an export potential or regional shocks are
left out of the model), and NaN when the response is not the estimating models' (``form`` other
than ``"quadratic"``: no true parameter exists); its rows then have no coverage. A study-2
cell of the Monte Carlo grid runs the same replication
(:func:`clusterpolicy.checks.grid.replicate_tech`), so the grid's cell of a world *is* this
study for that world (:func:`results_from_table` reads it back).

:func:`monte_carlo` runs it with :func:`.harness.simulate` and returns
:class:`MonteCarloResults`: the harness's table and the views chapter 05 reads (draws with
coverage indicators, the verdicts per replication, the settings).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.checks import harness
from clusterpolicy.core import seeding
from clusterpolicy.data.innovators import CONTROLS, prepare
from clusterpolicy.estimators.margins import average_marginal_effects, initiation, intensity
from clusterpolicy.studies.serial_innovators import (
    FINDINGS,
    NOT_REPRODUCED,
    REPRODUCED,
    check_findings,
    true_params,
    verdicts,
)

__all__ = ["MC_TERMS", "VERDICT", "MonteCarloResults", "monte_carlo", "replicate_margins",
           "results_from_table"]

#: The coefficients each replication records (besides the AMEs by group).
MC_TERMS = ("z", "z2", "serial", "serial_z", "serial_z2", *CONTROLS)
#: Estimator of the verdict rows (estimand the finding's glue name, estimate 1 or 0).
VERDICT = "verdict"
#: Columns of :attr:`MonteCarloResults.draws`.
DRAW_COLUMNS = ["rep", "seed", "margin", "quantity", "estimate", "std_error", "truth", "covered"]


def replicate_margins(seq: np.random.SeedSequence, n_pairs: int = 400,
                      truth: Mapping[str, Any] | None = None, level: float = 0.95
                      ) -> list[dict[str, Any]]:
    """One replication of the study-2 models on a fresh tech-firm sample.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The replication's child seed; the sample is drawn with its word 0
        (:func:`clusterpolicy.core.seeding.words`).
    n_pairs : int, default 400
        Matched pairs of the sample.
    truth : mapping, optional
        Parameters of the generator (default: :func:`clusterpolicy.synthetic.default_tech_truth`;
        a scenario's: :func:`clusterpolicy.synthetic.tech_truth`).
    level : float, default 0.95
        Confidence level of the AMEs (``1 - level`` the significance of the verdicts).

    Returns
    -------
    list of dict
        Rows of :data:`clusterpolicy.checks.harness.COLUMNS` without ``replication``: per
        margin (estimator ``"initiation"``, ``"intensity"``) the terms of :data:`MC_TERMS`
        (truth NaN when the response form is not the models') and ``"AME <group>"`` (truth: the
        generator's structural AME; ``nominal`` = ``truth``), then one :data:`VERDICT` row per
        finding;
        ``notes`` the warnings the two estimations recorded. When an estimation fails (rank
        deficient design): one row with ``failed`` set and empty names.
    """
    data, true = synthetic.generate_techfirms(seed=seeding.words(seq, 1)[0], n_pairs=int(n_pairs),
                                              truth=truth)
    df = prepare(data)
    try:
        fits = {"initiation": initiation(df), "intensity": intensity(df)}
    except (ValueError, np.linalg.LinAlgError) as exc:
        return [harness.row("", "", math.nan, math.nan, math.nan, math.nan, 0, harness.failure(exc))]
    notes = sum(len(r.notes) for r in fits.values())
    specified = true.get("form", "quadratic") == "quadratic"
    rows = []
    for margin, res in fits.items():
        tp = true_params(true, res) if specified else pd.Series(math.nan, index=res.params.index)
        for term in MC_TERMS:
            rows.append(harness.row(margin, term, res.params[term], res.std_errors[term], tp[term],
                                    tp[term], notes))
        ame = average_marginal_effects(res, df, level=level)
        true_ame = true["structural"][margin]["ame"]
        for label in ame.index:
            rows.append(harness.row(margin, f"AME {label}", ame.loc[label, "ame"], ame.loc[label, "se"],
                                    true_ame[label], true_ame[label], notes))
    found = verdicts(check_findings(fits, df, alpha=1 - level))
    for glue, verdict in found.items():
        rows.append(harness.row(VERDICT, glue, float(verdict == REPRODUCED), math.nan, math.nan,
                                math.nan, notes))
    return rows


@dataclass
class MonteCarloResults:
    """Draws and summaries of :func:`monte_carlo`.

    Attributes
    ----------
    draws : DataFrame
        One row per replication and quantity: ``rep, seed, margin, quantity, estimate,
        std_error, truth, covered`` (failed replications left out; ``covered`` NaN where the
        truth is, i.e. the coefficients of a misspecified form).
    verdict_draws : DataFrame
        One row per replication (index ``rep``): the three glue verdicts.
    settings : dict
        ``n_reps, seed, n_pairs, level, n_jobs, failed, seeds, replications_with_notes``
        (``seeds``: the seeds of the data; ``failed``: ``{"rep", "seed", "error"}`` per failed
        replication).
    table : DataFrame, optional
        The harness's table the views were made from
        (:data:`clusterpolicy.checks.harness.COLUMNS`).
    """

    draws: pd.DataFrame
    verdict_draws: pd.DataFrame
    settings: dict[str, Any]
    table: pd.DataFrame | None = None

    def coverage(self) -> pd.DataFrame:
        """Per margin and quantity: mean truth, mean estimate, bias, sd of the estimates, mean
        standard error, coverage of the intervals and its Monte Carlo standard error (bias and
        coverage NaN for a quantity without a true value).

        Returns
        -------
        pandas.DataFrame
            Index ``(margin, quantity)``; columns ``truth, mean_estimate, bias, sd_estimate,
            mean_se, coverage, reps, coverage_mcse``.
        """
        g = self.draws.groupby(["margin", "quantity"], sort=False)
        out = pd.DataFrame({
            "truth": g["truth"].mean(),
            "mean_estimate": g["estimate"].mean(),
            "bias": g.apply(lambda d: (d["estimate"] - d["truth"]).mean(), include_groups=False),
            "sd_estimate": g["estimate"].std(ddof=1),
            "mean_se": g["std_error"].mean(),
            "coverage": g["covered"].mean(),
            "reps": g.size(),
        })
        out["coverage_mcse"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["reps"])
        return out

    def verdict_rates(self) -> pd.Series:
        """Share of replications in which each finding is ``reproduced``.

        Returns
        -------
        pandas.Series
            Named ``share reproduced``, one value per finding.
        """
        return (self.verdict_draws == REPRODUCED).mean().rename("share reproduced")


def _draws(table: pd.DataFrame, seeds: list[int], level: float) -> pd.DataFrame:
    quantities = table.loc[table["estimator"] != VERDICT]
    estimate, se, truth = (quantities[c].to_numpy(dtype=float) for c in ("estimate", "se", "truth"))
    crit = stats.norm.ppf(0.5 + level / 2)
    covered = np.abs(estimate - truth) <= crit * se
    if not np.isfinite(truth).all():  # no true value (a misspecified form): no coverage
        covered = np.where(np.isfinite(truth), covered, np.nan)
    reps = quantities["replication"].to_numpy()
    draws = pd.DataFrame({
        "rep": reps, "seed": np.asarray(seeds, dtype=np.int64)[reps],
        "margin": quantities["estimator"].to_numpy(), "quantity": quantities["estimand"].to_numpy(),
        "estimate": estimate, "std_error": se, "truth": truth,
        "covered": covered,
    }, columns=DRAW_COLUMNS)
    return draws.reset_index(drop=True)


def _verdict_draws(table: pd.DataFrame) -> pd.DataFrame:
    rows = table.loc[table["estimator"] == VERDICT]
    vrows = [{"rep": int(rep), **{r.estimand: REPRODUCED if r.estimate == 1 else NOT_REPRODUCED
                                  for r in g.itertuples()}}
             for rep, g in rows.groupby("replication", sort=True)]
    return pd.DataFrame(vrows, columns=["rep", *[m["glue"] for m in FINDINGS.values()]]).set_index("rep")


def monte_carlo(n_reps: int = 50, seed: int = seeding.DEFAULT_SEED, n_jobs: int = 1,
                n_pairs: int = 400, truth: Mapping[str, Any] | None = None, level: float = 0.95,
                batch_size: int | None = None) -> MonteCarloResults:
    """Coverage of the confidence intervals and power of the verdict rules over draws of the
    synthetic generator (:func:`replicate_margins`, run by :func:`.harness.simulate`).

    Replication ``r`` uses ``numpy.random.SeedSequence(seed).spawn(n_reps)[r]``; the results do
    not depend on ``n_jobs``, the batching or the joblib backend (e.g. inside
    :func:`clusterpolicy.core.parallel.backend`).

    Parameters
    ----------
    n_reps : int
        Number of replications.
    seed : int
        Root seed.
    n_jobs : int
        Parallel jobs (joblib semantics; ``-1`` = all cores).
    n_pairs : int
        Pairs per synthetic data set.
    truth : mapping, optional
        Parameters of the generator (default: :func:`clusterpolicy.synthetic.default_tech_truth`).
    level : float
        Confidence level of the intervals (and ``1 - level`` the significance of the verdicts).
    batch_size : int, optional
        Replications per task (default: about four tasks per worker).

    Returns
    -------
    MonteCarloResults
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    truth_plain = json.loads(json.dumps(dict(truth))) if truth is not None else None
    table = harness.simulate(replicate_margins, int(n_reps), int(seed), n_jobs=n_jobs,
                             batch_size=batch_size, n_pairs=int(n_pairs), truth=truth_plain,
                             level=level)
    return results_from_table(table, int(n_reps), int(seed), n_pairs=int(n_pairs), level=level,
                              n_jobs=n_jobs)


def results_from_table(table: pd.DataFrame, n_reps: int, seed: int, *, n_pairs: int,
                       level: float, n_jobs: int | None = None) -> MonteCarloResults:
    """The views of :class:`MonteCarloResults` made from a harness table of
    :func:`replicate_margins` (one computed by :func:`monte_carlo`, or a stored cell of the grid,
    :func:`clusterpolicy.checks.grid_summary.serial_results`).

    Parameters
    ----------
    table : DataFrame
        The harness's table (:data:`clusterpolicy.checks.harness.COLUMNS`), replications
        ``0 .. n_reps - 1``.
    n_reps, seed : int
        Its number of replications and root seed (the seeds of the data are derived from them).
    n_pairs : int
        Pairs per data set.
    level : float
        Confidence level of the intervals.
    n_jobs : int, optional
        The workers that computed it (recorded in ``settings`` only).

    Returns
    -------
    MonteCarloResults
        A replication with a failed row is left out of the draws and listed in
        ``settings["failed"]``.
    """
    seeds = [seeding.words(child, 1)[0] for child in seeding.spawn(int(seed), int(n_reps))]
    failed_rows = table.loc[table["failed"] != ""].drop_duplicates("replication")
    failed = [{"rep": int(r.replication), "seed": seeds[int(r.replication)], "error": r.failed}
              for r in failed_rows.itertuples()]
    ok = table.loc[~table["replication"].isin(failed_rows["replication"])]
    with_notes = table.groupby("replication")["notes"].max()
    settings = {"n_reps": int(n_reps), "seed": int(seed), "n_pairs": int(n_pairs),
                "level": level, "n_jobs": n_jobs, "failed": failed, "seeds": seeds,
                "replications_with_notes": int((with_notes > 0).sum())}
    return MonteCarloResults(draws=_draws(ok, seeds, level), verdict_draws=_verdict_draws(ok),
                             settings=settings, table=table)
