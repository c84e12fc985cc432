"""Monte Carlo of the study-2 margins models on synthetic tech-firm data.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.data.innovators import CONTROLS, prepare
from clusterpolicy.estimators.margins import (
    _Evaluator,
    _workers,
    average_marginal_effects,
    initiation,
    intensity,
)
from clusterpolicy.studies.serial_innovators import (
    FINDINGS,
    REPRODUCED,
    check_findings,
    true_params,
    verdicts,
)

# --------------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------------
MC_TERMS = ("z", "z2", "serial", "serial_z", "serial_z2", *CONTROLS)


def _mc_replication(seed: int, n_pairs: int, truth: Mapping[str, Any] | None, level: float
                    ) -> dict[str, Any]:

    data, true = synthetic.generate_techfirms(seed=seed, n_pairs=n_pairs, truth=truth)
    df = prepare(data)
    rows: list[dict[str, Any]] = []
    crit = stats.norm.ppf(0.5 + level / 2)
    try:
        fits = {"initiation": initiation(df), "intensity": intensity(df)}
    except (ValueError, np.linalg.LinAlgError) as exc:
        return {"seed": seed, "rows": [], "verdicts": None, "failed": f"{type(exc).__name__}: {exc}",
                "notes": 0}
    for margin, res in fits.items():
        tp = true_params(true, res)
        for term in MC_TERMS:
            est, se = float(res.params[term]), float(res.std_errors[term])
            rows.append({"margin": margin, "quantity": term, "estimate": est, "std_error": se,
                         "truth": float(tp[term])})
        # AMEs by group against the AMEs at the true parameters on the same firms
        ame = average_marginal_effects(res, df, level=level)
        ev = _Evaluator(res, df)
        theta0 = tp.reindex(res.params.index).to_numpy()
        true_ame = ev.ames(theta0)
        for label, t in zip(ame.index, true_ame, strict=True):
            rows.append({"margin": margin, "quantity": f"AME {label}",
                         "estimate": float(ame.loc[label, "ame"]),
                         "std_error": float(ame.loc[label, "se"]), "truth": float(t)})
    for row in rows:
        row["covered"] = bool(abs(row["estimate"] - row["truth"]) <= crit * row["std_error"])
    table = check_findings(fits, df, alpha=1 - level)
    return {"seed": seed, "rows": rows, "verdicts": verdicts(table), "failed": None,
            "notes": sum(len(r.notes) for r in fits.values())}


def _mc_batch(seeds: Sequence[int], n_pairs: int, truth: Mapping[str, Any] | None,
              level: float) -> list[dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every estimation already records its warnings
        return [_mc_replication(s, n_pairs, truth, level) for s in seeds]


@dataclass
class MonteCarloResults:
    """Draws and summaries of :func:`monte_carlo`.

    Attributes
    ----------
    draws : DataFrame
        One row per replication and quantity: ``rep, seed, margin, quantity, estimate,
        std_error, truth, covered``.
    verdict_draws : DataFrame
        One row per replication: the three glue verdicts.
    settings : dict
        ``n_reps, seed, n_pairs, level, n_jobs, failed, seeds`` (the seeds of the data).
    """

    draws: pd.DataFrame
    verdict_draws: pd.DataFrame
    settings: dict[str, Any]

    def coverage(self) -> pd.DataFrame:
        """Per margin and quantity: mean truth, mean estimate, bias, sd of the estimates, mean
        standard error, coverage of the intervals and its Monte Carlo standard error.

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


def monte_carlo(n_reps: int = 50, seed: int = 20240624, n_jobs: int = 1, n_pairs: int = 400,
                truth: Mapping[str, Any] | None = None, level: float = 0.95,
                batch_size: int | None = None) -> MonteCarloResults:
    """Coverage of the confidence intervals over draws of the synthetic generator.

    Each replication draws a data set with :func:`clusterpolicy.synthetic.generate_techfirms`
    from its own seed (``numpy.random.SeedSequence(seed).spawn(n_reps)``), fits the probit
    initiation and fractional-logit intensity models, and records, for the clustering terms
    and controls and for the AMEs by group, the estimate, its standard error and the truth
    (for AMEs: the AME at the true parameters on the same firms), plus the three verdicts.
    Replications run in batches with :class:`joblib.Parallel`; the results do not depend on
    ``n_jobs`` or the batching, and any joblib backend works (e.g. inside
    ``joblib.parallel_config(backend="dask")``).

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
        Parameters of the generator (default: :func:`synthetic.default_tech_truth`).
    level : float
        Confidence level of the intervals (and ``1 - level`` the significance of the verdicts).
    batch_size : int, optional
        Replications per task (default: spread over about ``4 n_jobs`` tasks).

    Returns
    -------
    MonteCarloResults
    """
    from joblib import Parallel, delayed

    if int(n_reps) < 1:
        raise ValueError(f"n_reps must be at least 1, got {n_reps}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    children = np.random.SeedSequence(int(seed)).spawn(int(n_reps))
    seeds = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
    size = batch_size or max(1, math.ceil(n_reps / (4 * _workers(n_jobs))))
    batches = [seeds[i:i + size] for i in range(0, len(seeds), size)]
    truth_plain = json.loads(json.dumps(dict(truth))) if truth is not None else None
    out = Parallel(n_jobs=n_jobs)(delayed(_mc_batch)(b, n_pairs, truth_plain, level) for b in batches)
    reps = [r for batch in out for r in batch]
    rows, vrows, failed = [], [], []
    for i, rep in enumerate(reps):
        if rep["failed"]:
            failed.append({"rep": i, "seed": rep["seed"], "error": rep["failed"]})
            continue
        for row in rep["rows"]:
            rows.append({"rep": i, "seed": rep["seed"], **row})
        vrows.append({"rep": i, **rep["verdicts"]})
    draws = pd.DataFrame(rows, columns=["rep", "seed", "margin", "quantity", "estimate",
                                        "std_error", "truth", "covered"])
    verdict_draws = pd.DataFrame(vrows, columns=["rep", *[m["glue"] for m in FINDINGS.values()]])
    verdict_draws = verdict_draws.set_index("rep")
    settings = {"n_reps": int(n_reps), "seed": int(seed), "n_pairs": int(n_pairs),
                "level": level, "n_jobs": n_jobs, "failed": failed, "seeds": seeds,
                "replications_with_notes": int(sum(1 for r in reps if r["notes"]))}
    return MonteCarloResults(draws=draws, verdict_draws=verdict_draws, settings=settings)
