"""What the Monte Carlo grid shows: per scenario and estimator the bias, RMSE, spread, standard
errors and coverage; per study-2 scenario how often each verdict rule fires, as power where the
truth has the pattern and as size where it does not; and which production-function estimator
the grid supports, derived from the numbers rather than typed.

It reads the cells of :func:`clusterpolicy.checks.store.ensure` and computes nothing that a
cell's key would have to cover: changing how results are summarised does not make stored cells
stale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterpolicy import synthetic
from clusterpolicy.checks import grid, harness, serial_montecarlo, store
from clusterpolicy.core import seeding

__all__ = ["TFPAdvice", "estimator_summary", "rule_rates", "tfp_advice"]

Cells = Mapping[tuple[str, str], store.Cell]


def estimator_summary(cells: Cells, level: float = 0.95) -> pd.DataFrame:
    """Bias, RMSE, spread, standard errors and coverage per cell, estimator and estimand.

    Parameters
    ----------
    cells : mapping
        ``(study, scenario)`` -> :class:`~clusterpolicy.checks.store.Cell`.
    level : float, default 0.95
        Confidence level of the intervals whose coverage is counted.

    Returns
    -------
    DataFrame
        Index ``(study, scenario, estimator, estimand)``; the columns of
        :func:`clusterpolicy.checks.harness.summarise` and ``se_sd`` (mean standard error over
        the standard deviation of the estimates). Verdict rows are left out (see
        :func:`rule_rates`).
    """
    parts = []
    for (study, scenario), cell in cells.items():
        table = cell.table.loc[cell.table["estimator"] != serial_montecarlo.VERDICT]
        part = harness.summarise(table, level=level).reset_index()
        part.insert(0, "scenario", scenario)
        part.insert(0, "study", study)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["se_sd"] = out["mean_se"] / out["sd"]
    return out.set_index(["study", "scenario", "estimator", "estimand"])


def _true_findings(scenario: str, seed: int, n_pairs: int) -> dict[str, bool]:
    """Whether each published finding holds in the truth of the scenario's first replication."""
    child = seeding.spawn(seed, 1)[0]
    _, truth = synthetic.generate_techfirms(seed=seeding.words(child, 1)[0], n_pairs=n_pairs,
                                            truth=synthetic.tech_truth(scenario))
    return {f"verdict_{k}": bool(v) for k, v in truth["structural"]["findings"].items()}


def rule_rates(cells: Cells, seed: int = seeding.DEFAULT_SEED,
               settings: grid.GridSettings = grid.DEFAULT_SETTINGS) -> pd.DataFrame:
    """How often each study-2 verdict rule fires in each scenario, and all three together.

    A rate is **power** where the truth of the scenario has the finding and **size** (a false
    positive rate) where it does not; the truth is read from the structural effects of the
    scenario's first replication (:func:`clusterpolicy.synthetic.generate_techfirms`).

    Parameters
    ----------
    cells : mapping
        ``(study, scenario)`` -> :class:`~clusterpolicy.checks.store.Cell`; study-1 cells are
        ignored.
    seed : int
        The cells' root seed.
    settings : ~clusterpolicy.checks.grid.GridSettings
        Their settings (pairs per sample).

    Returns
    -------
    DataFrame
        Index ``(scenario, rule)`` (the rules' glue names, then ``"all three"``); columns
        ``replications, fires, mcse, truth`` (whether the truth has the finding; for all three,
        whether it has every one) and ``kind`` (``"power"`` or ``"size"``).
    """
    rows = []
    for (study, scenario), cell in cells.items():
        if study != "tech":
            continue
        verdicts = cell.table.loc[cell.table["estimator"] == serial_montecarlo.VERDICT]
        wide = verdicts.pivot(index="replication", columns="estimand", values="estimate")
        truth = _true_findings(scenario, seed, settings.n_pairs)
        for rule in [*truth, "all three"]:
            fired = (wide[list(truth)].min(axis=1) if rule == "all three" else wide[rule])
            fired = fired.dropna()
            share = float(fired.mean()) if len(fired) else math.nan
            has = all(truth.values()) if rule == "all three" else truth[rule]
            rows.append({"scenario": scenario, "rule": rule, "replications": len(fired),
                         "fires": share,
                         "mcse": math.sqrt(share * (1 - share) / len(fired)) if len(fired) else math.nan,
                         "truth": has, "kind": "power" if has else "size"})
    return pd.DataFrame(rows).set_index(["scenario", "rule"])


@dataclass(frozen=True)
class TFPAdvice:
    """Which production-function estimator the grid supports, and on what.

    Attributes
    ----------
    table : DataFrame
        Per estimator: mean absolute bias and mean RMSE of the two elasticities over the
        scenarios, the worst scenario (largest RMSE) and its RMSE; sorted by mean RMSE.
    best : str
        The estimator with the smallest mean RMSE.
    runner_up : str
        The next one.
    scenarios : tuple of str
        The scenarios the ranking rests on.
    best_worst_scenario : str
        Where the best estimator does worst.
    """

    table: pd.DataFrame
    best: str
    runner_up: str
    scenarios: tuple[str, ...]
    best_worst_scenario: str


def tfp_advice(summary: pd.DataFrame) -> TFPAdvice:
    """Rank the production-function estimators by their error across the grid's scenarios.

    Parameters
    ----------
    summary : DataFrame
        :func:`estimator_summary` of cells that include study-1 cells.

    Returns
    -------
    TFPAdvice

    Raises
    ------
    ValueError
        When the summary holds no production-function estimates.
    """
    panel = summary.xs("panel", level="study") if "panel" in summary.index.get_level_values(0) \
        else pd.DataFrame()
    tfp = panel[panel.index.get_level_values("estimator").str.startswith("tfp:")] \
        if len(panel) else panel
    if tfp.empty:
        raise ValueError("the summary holds no production-function estimates (study-1 cells)")
    frame = tfp.reset_index()
    by_cell = frame.groupby(["estimator", "scenario"]).agg(
        abs_bias=("bias", lambda b: float(np.mean(np.abs(b)))), rmse=("rmse", "mean"))
    table = by_cell.groupby("estimator").agg(mean_abs_bias=("abs_bias", "mean"),
                                             mean_rmse=("rmse", "mean"))
    worst = by_cell["rmse"].groupby("estimator").idxmax().map(lambda k: k[1])
    table["worst scenario"] = worst
    table["worst RMSE"] = by_cell["rmse"].groupby("estimator").max()
    table = table.sort_values("mean_rmse")
    scenarios = tuple(dict.fromkeys(frame["scenario"]))
    return TFPAdvice(table=table, best=str(table.index[0]), runner_up=str(table.index[1]),
                     scenarios=scenarios, best_worst_scenario=str(table["worst scenario"].iloc[0]))
