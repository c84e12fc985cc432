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
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.checks import grid, harness, serial_montecarlo, store
from clusterpolicy.core import seeding

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COVERAGE_BAND", "NOISE", "GridReport", "TFPAdvice", "advice_table", "coverage_figure",
           "diagnose", "estimator_summary", "grid_report", "label", "rule_rates", "serial_results",
           "tfp_advice", "tfp_figure", "world_of"]

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
        Per estimator: the mean absolute bias of the two elasticities over the scenarios, the
        scenario where it is largest and that bias, and the mean RMSE; sorted by mean absolute
        bias.
    best : str
        The estimator with the smallest mean absolute bias.
    runner_up : str
        The next one.
    scenarios : tuple of str
        The scenarios the ranking rests on.
    best_worst_scenario : str
        Where the best estimator does worst.
    per_scenario : Series
        Scenario -> the least biased estimator there.
    proxy_identified : tuple of str
        The scenarios where materials do not move one for one with value added, the only ones in
        which Levinsohn–Petrin and Wooldridge are identified
        (``PanelParams.materials_labour`` below 1).
    """

    table: pd.DataFrame
    best: str
    runner_up: str
    scenarios: tuple[str, ...]
    best_worst_scenario: str
    per_scenario: pd.Series
    proxy_identified: tuple[str, ...]

    def per_scenario_text(self) -> str:
        """The least biased estimator world by world, grouped: "ACF in baseline, exit;
        Levinsohn–Petrin in proxy-noise"."""
        groups: dict[str, list[str]] = {}
        for scenario, estimator in self.per_scenario.items():
            groups.setdefault(str(estimator), []).append(str(scenario))
        return "; ".join(f"{label(e)} in {', '.join(worlds)}" for e, worlds in groups.items())


def tfp_advice(summary: pd.DataFrame) -> TFPAdvice:
    """Rank the production-function estimators by their bias across the grid's scenarios.

    The criterion is the absolute bias of the labour and capital elasticities, averaged over
    the two and over the scenarios: TFP is the residual of the production function, so a biased
    elasticity moves every firm's TFP with its input mix, and the effect estimated on it with
    any change of input mix that membership brings; more replications remove variance but not
    bias. (Coverage cannot rank them: three of the six have no analytic standard error.)

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
    tfp = _panel_rows(summary, "tfp")
    if tfp.empty:
        raise ValueError("the summary holds no production-function estimates (study-1 cells)")
    frame = tfp.reset_index()
    by_cell = frame.groupby(["estimator", "scenario"]).agg(
        abs_bias=("bias", lambda b: float(np.mean(np.abs(b)))), rmse=("rmse", "mean"))
    table = by_cell.groupby("estimator").agg(mean_abs_bias=("abs_bias", "mean"))
    table["worst scenario"] = by_cell["abs_bias"].groupby("estimator").idxmax().map(
        lambda k: k[1])
    table["worst absolute bias"] = by_cell["abs_bias"].groupby("estimator").max()
    table["mean_rmse"] = by_cell["rmse"].groupby("estimator").mean()
    table = table.sort_values("mean_abs_bias", kind="stable")
    scenarios = tuple(dict.fromkeys(frame["scenario"]))
    per_scenario = by_cell["abs_bias"].groupby("scenario").idxmin().map(lambda k: k[0])
    proxy = tuple(s for s in scenarios if s in synthetic.PANEL_SCENARIOS
                  and synthetic.panel_params(s).materials_labour < 1)
    return TFPAdvice(table=table, best=str(table.index[0]), runner_up=str(table.index[1]),
                     scenarios=scenarios, best_worst_scenario=str(table["worst scenario"].iloc[0]),
                     per_scenario=per_scenario.reindex(list(scenarios)), proxy_identified=proxy)


# -- the Monte Carlo page ---------------------------------------------------------------------
#: Coverage of nominal 95% intervals outside this band is diagnosed on the page.
COVERAGE_BAND = (0.93, 0.97)
#: SE/SD outside this band counts as standard errors that are too small or too large.
SE_SD_BAND = (0.9, 1.1)
#: The diagnosis of a coverage rate outside the band by less than two Monte Carlo s.e.
NOISE = "within two Monte Carlo s.e. of the band: not distinguishable from nominal"
#: The study-2 quantities the verdict rules rest on (model, estimand).
RULE_QUANTITIES = ("z2", "AME serial", "AME non-serial", "AME serial − non-serial")


def _panel_rows(summary: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The study-1 rows of :func:`estimator_summary` whose estimator is of ``kind``
    (``"tfp"`` or ``"effect"``), index ``(scenario, estimator, estimand)``."""
    if "panel" not in summary.index.get_level_values("study"):
        return summary.iloc[0:0].droplevel("study")
    panel = summary.xs("panel", level="study")
    return panel[panel.index.get_level_values("estimator").str.startswith(f"{kind}:")]


def label(estimator: str) -> str:
    """How pages name an estimator of the grid (``"tfp:acf"`` -> ``"ACF"``)."""
    return grid.LABELS.get(estimator, estimator)


def world_of(study: grid.Study, truth: Mapping[str, Any] | None) -> str:
    """The grid's world that data come from: the scenario their truth file names, or the
    baseline (real data, or a truth file of an older generator that names none).

    Parameters
    ----------
    study : {"panel", "tech"}
    truth : mapping or None
        The data's truth file.

    Returns
    -------
    str
    """
    worlds = synthetic.PANEL_SCENARIOS if study == "panel" else synthetic.TECH_SCENARIOS
    name = (truth or {}).get("scenario", synthetic.BASELINE)
    return name if name in worlds else synthetic.BASELINE


def advice_table(advice: TFPAdvice) -> pd.DataFrame:
    """:class:`TFPAdvice`'s table as pages show it: estimators by name, columns in words."""
    table = advice.table.rename(index=label).rename(columns={
        "mean_abs_bias": "mean absolute bias", "mean_rmse": "mean RMSE"})
    table.index.name = "estimator"
    return table


def _title(study: str, scenario: str) -> str:
    table = synthetic.PANEL_SCENARIOS if study == "panel" else synthetic.TECH_SCENARIOS
    return table[scenario].title


def diagnose(row: Mapping[str, float], band: tuple[float, float] = COVERAGE_BAND) -> str:
    """Why an interval's coverage falls outside ``band``, from the row's own numbers.

    Parameters
    ----------
    row : mapping
        A row of :func:`estimator_summary` (``coverage``, ``bias``, ``sd``, ``se_sd``).
    band : tuple of float
        The coverage rates taken as nominal.

    Returns
    -------
    str
        Empty when coverage is inside the band or not computed; :data:`NOISE` when it is outside
        by less than two Monte Carlo standard errors (``coverage_mcse``, when the row has it);
        otherwise the reason: a bias that decentres the intervals (no standard error can repair
        it), standard errors too small, or too large (conservative intervals).
    """
    coverage, bias, sd, ratio = (float(row[k]) for k in ("coverage", "bias", "sd", "se_sd"))
    if not math.isfinite(coverage) or band[0] <= coverage <= band[1]:
        return ""
    mcse = float(row.get("coverage_mcse", math.nan))
    gap = band[0] - coverage if coverage < band[0] else coverage - band[1]
    if math.isfinite(mcse) and gap < 2 * mcse:
        return NOISE
    # What coverage would be with honest standard errors and the observed bias, and with
    # centred estimates and the observed SE/SD: whichever falls short of the band explains it.
    z = stats.norm.ppf(0.975)
    shift = bias / sd if math.isfinite(sd) and sd > 0 else 0.0
    if_honest = float(stats.norm.cdf(z - shift) - stats.norm.cdf(-z - shift))
    if_centred = float(2 * stats.norm.cdf(z * ratio) - 1) if math.isfinite(ratio) else math.nan
    parts = []
    if coverage < band[0]:
        if if_honest < band[0]:
            parts.append(f"biased: the bias is {abs(shift):.1f} SD, so even honest standard "
                         f"errors would cover {if_honest:.2f}; no standard error repairs "
                         "intervals centred off the target")
        if if_centred < band[0]:
            parts.append(f"standard errors too small (SE/SD {ratio:.2f}; centred estimates "
                         f"would be covered {if_centred:.2f})")
        if not parts:
            parts.append("neither the bias nor SE/SD explains it: the estimates are not normal "
                         "(heavy tails, or standard errors that move with the estimate)")
    else:
        parts.append(f"conservative: standard errors exceed the spread (SE/SD {ratio:.2f})"
                     if if_centred > band[1] else
                     "overcovers although SE/SD is near 1: the estimates are not normal")
    return "; ".join(parts)


def _rate(p: float, mcse: float) -> str:
    return "–" if not math.isfinite(p) else f"{p:.3f} ± {mcse:.3f}"


@dataclass(frozen=True)
class GridReport:
    """The Monte Carlo grid as the appendix shows it.

    Attributes
    ----------
    numbers, texts, flags : dict
        Values the page glues (names without prefix; the page adds ``mc_``).
    tables : dict of str to DataFrame
        ``worlds_panel``, ``worlds_tech`` (what each world changes), ``tfp`` (production
        function), ``effects`` (effect estimators, with the diagnosis of coverage outside
        :data:`COVERAGE_BAND`), ``tech`` (study-2 quantities the rules rest on), ``rules``
        (power and size of the verdict rules), ``advice`` (:class:`TFPAdvice`'s table) and
        ``cells`` (per cell: replications, where it came from, compute time).
    summary : DataFrame
        :func:`estimator_summary` of all cells.
    rules : DataFrame
        :func:`rule_rates`.
    advice : TFPAdvice
    """

    numbers: dict[str, float]
    texts: dict[str, str]
    flags: dict[str, bool]
    tables: dict[str, pd.DataFrame]
    summary: pd.DataFrame
    rules: pd.DataFrame
    advice: TFPAdvice


def _worlds(study: str) -> pd.DataFrame:
    table = synthetic.PANEL_SCENARIOS if study == "panel" else synthetic.TECH_SCENARIOS
    return pd.DataFrame({"world": [s.name for s in table.values()],
                         "in short": [s.title for s in table.values()],
                         "what it changes": [s.description for s in table.values()]}
                        ).set_index("world")


def _tfp_table(summary: pd.DataFrame) -> pd.DataFrame:
    tfp = _panel_rows(summary, "tfp").reset_index()
    tfp["input"] = np.where(tfp["estimand"].str.startswith("beta_l"), "labour", "capital")
    rows = []
    for (scenario, estimator), g in tfp.groupby(["scenario", "estimator"], sort=False):
        lab, cap = (g.loc[g["input"] == k].iloc[0] for k in ("labour", "capital"))
        rows.append({"world": scenario, "estimator": label(estimator),
                     "replications": int(lab["replications"]),
                     "labour: bias": lab["bias"], "labour: RMSE": lab["rmse"],
                     "capital: bias": cap["bias"], "capital: RMSE": cap["rmse"],
                     "labour: coverage": _rate(lab["coverage"], lab["coverage_mcse"]),
                     "labour: SE/SD": lab["se_sd"]})
    return pd.DataFrame(rows).set_index(["world", "estimator"])


def _effects_table(summary: pd.DataFrame) -> pd.DataFrame:
    eff = _panel_rows(summary, "effect").reset_index()
    rows = []
    for r in eff.to_dict("records"):
        rows.append({"world": r["scenario"], "estimator": label(r["estimator"]),
                     "replications": int(r["replications"]), "target": r["truth"],
                     "bias": r["bias"], "bias MC s.e.": r["bias_mcse"], "RMSE": r["rmse"],
                     "SD": r["sd"], "mean SE": r["mean_se"], "SE/SD": r["se_sd"],
                     "coverage": _rate(r["coverage"], r["coverage_mcse"]),
                     "diagnosis": diagnose(r) or "–"})
    return pd.DataFrame(rows).set_index(["world", "estimator"])


def _quantity(estimand: str) -> str:
    return "curvature (z², non-serial)" if estimand == "z2" else estimand


def _tech_table(summary: pd.DataFrame) -> pd.DataFrame:
    tech = summary.xs("tech", level="study").reset_index()
    tech = tech.loc[tech["estimand"].isin(RULE_QUANTITIES)]
    rows = []
    for r in tech.to_dict("records"):
        has_truth = r["replications"] > 0
        quantity = _quantity(r["estimand"])
        rows.append({"world": r["scenario"], "model": label(r["estimator"]),
                     "quantity": quantity,
                     "truth": r["truth"] if has_truth else math.nan,
                     "bias": r["bias"] if has_truth else math.nan,
                     "RMSE": r["rmse"] if has_truth else math.nan,
                     "SE/SD": r["se_sd"] if has_truth else math.nan,
                     "coverage": _rate(r["coverage"], r["coverage_mcse"]) if has_truth
                     else "no true parameter",
                     "diagnosis": (diagnose(r) or "–") if has_truth else "–"})
    return pd.DataFrame(rows).set_index(["world", "model", "quantity"])


def _rules_table(rules: pd.DataFrame) -> pd.DataFrame:
    claims = {meta["glue"]: meta["claim"] for meta in serial_montecarlo.FINDINGS.values()}
    out = rules.reset_index()
    return pd.DataFrame({
        "world": out["scenario"],
        "rule": out["rule"].map(lambda r: claims.get(r, "all three together")),
        "the truth has it": out["truth"].map({True: "yes", False: "no"}),
        "measures": out["kind"],
        "replications": out["replications"],
        "share firing": [_rate(p, m) for p, m in zip(out["fires"], out["mcse"], strict=True)],
    }).set_index(["world", "rule"])


def _carried(entry: Mapping[str, Any]) -> str:
    """How a stored cell came to its current key: computed by this code, or carried over from
    older code after a sample of its replications was recomputed to the stored numbers."""
    carried = entry.get("carried", [])
    if not carried:
        return "no: computed by this code"
    last = carried[-1]
    return (f"{len(last['replications'])} replications recomputed, largest difference "
            f"{last.get('max_relative_difference', 0.0):.0e} ({last['at'][:10]})")


def _cells_table(cells: Cells, repository: os.PathLike[str] | str | None) -> pd.DataFrame:
    index = store.read_index(repository)["cells"] if repository is not None else {}
    where = {"stored": "the repository's store", "cached": "this output folder's store",
             "computed": "computed in this build", "extended": "extended in this build"}
    rows = []
    for (study, scenario), cell in cells.items():
        entry = index.get(f"{study}/{scenario}", {})
        rows.append({"study": "1 (firm panel)" if study == "panel" else "2 (tech firms)",
                     "world": scenario,
                     "replications": int(cell.table["replication"].max()) + 1,
                     "from": where[cell.source],
                     "compute time (s)": float(entry.get("seconds", math.nan))
                     if cell.source == "stored" else cell.seconds,
                     "carried over": _carried(entry) if cell.source == "stored" else "–",
                     "key": (entry.get("key", "")[:12] if cell.source == "stored" else "–")})
    return pd.DataFrame(rows).set_index(["study", "world"])


def grid_report(cells: Cells, *, seed: int = seeding.DEFAULT_SEED,
                settings: grid.GridSettings = grid.DEFAULT_SETTINGS,
                repository: str | os.PathLike[str] | None = None) -> GridReport:
    """Everything the Monte Carlo appendix shows of the grid's cells.

    Parameters
    ----------
    cells : mapping
        ``(study, scenario)`` -> :class:`~clusterpolicy.checks.store.Cell`, every scenario of
        both studies (:func:`clusterpolicy.checks.store.for_page`).
    seed : int
        The cells' root seed.
    settings : ~clusterpolicy.checks.grid.GridSettings
        Their settings.
    repository : path-like, optional
        The repository's store, whose index gives the compute time of stored cells.

    Returns
    -------
    GridReport
    """
    summary = estimator_summary(cells, level=settings.level)
    rules = rule_rates(cells, seed=seed, settings=settings)
    advice = tfp_advice(summary)
    effects = _effects_table(summary)
    panel = summary.xs("panel", level="study")
    # Replications run per cell (a failed estimation counts as run, and is reported as failed).
    headline_reps = [int(cell.table["replication"].max()) + 1
                     for (study, _), cell in cells.items() if study == "panel"]
    headline_failed = int(sum(panel.xs(e, level="estimator")["failed"].sum()
                              for e in grid.HEADLINE))
    end_to_end = panel[panel.index.get_level_values("estimator").isin(
        [f"effect:{e}" for e in grid.EFFECT_ESTIMATORS])]
    cov = end_to_end["coverage"]
    cells_table = _cells_table(cells, repository)
    band_miss = end_to_end.loc[(cov < COVERAGE_BAND[0]) | (cov > COVERAGE_BAND[1])]
    # Outside the band beyond Monte Carlo noise: what the page explains.
    reasons = {key: reason for key, row in band_miss.iterrows()
               if (reason := diagnose(row)) != NOISE}
    outside = band_miss.loc[list(reasons)]
    biased = [k for k, r in reasons.items() if r.startswith("biased")]
    se_small = [k for k, r in reasons.items() if "standard errors too small" in r]
    tech = summary.xs("tech", level="study")
    tech = tech[tech.index.get_level_values("estimand").isin(RULE_QUANTITIES)]
    tech_reasons = ((key, diagnose(row)) for key, row in tech.iterrows())
    tech_outside = [(key, reason) for key, reason in tech_reasons if reason not in ("", NOISE)]
    base = panel.xs(synthetic.BASELINE, level="scenario")
    acf_estimand = str(base.xs("tfp:acf", level="estimator").index[0])
    numbers: dict[str, float] = {
        "reps_headline": min(headline_reps),
        "failed_headline": headline_failed,
        "reps_full": min(settings.full, min(headline_reps)),
        "reps_tech": int(summary.xs("tech", level="study")["replications"].max()),
        "firms": settings.firms, "pairs": settings.n_pairs, "full": settings.full,
        "n_panel_worlds": len(synthetic.PANEL_SCENARIOS),
        "n_tech_worlds": len(synthetic.TECH_SCENARIOS),
        "n_effect_cells": len(end_to_end), "n_outside": len(outside),
        "n_band_noise": len(band_miss) - len(outside),
        "n_outside_biased": len(biased), "n_outside_se": len(se_small),
        "n_tech_outside": len(tech_outside),
        "band_low": COVERAGE_BAND[0], "band_high": COVERAGE_BAND[1],
        "mcse_95": math.sqrt(0.95 * 0.05 / min(headline_reps)),
        "compute_hours": float(cells_table["compute time (s)"].sum()) / 3600,
        "null_size_max": float(rules.xs("null", level="scenario")["fires"].max()),
    }
    for e in ("conditional_did", "cs"):
        for suffix, name in (("", e), (" (true TFP)", f"{e}_true")):
            row = base.loc[f"effect:{e}{suffix}"].iloc[0]
            numbers |= {f"{name}_{k}": float(row[c]) for k, c in (
                ("cov", "coverage"), ("cov_mcse", "coverage_mcse"), ("bias", "bias"),
                ("se_sd", "se_sd"))}
    acf = base.loc["tfp:acf"]
    numbers |= {"acf_l_bias": float(acf.iloc[0]["bias"]), "acf_l_rmse": float(acf.iloc[0]["rmse"])}
    base_rules = rules.xs(synthetic.BASELINE, level="scenario")
    numbers |= {f"power_{rule if rule != 'all three' else 'joint'}": float(base_rules.loc[rule, "fires"])
                for rule in base_rules.index}
    texts = {
        "seed": str(seed),
        "acf_industry": acf_estimand.split("(", 1)[-1].rstrip(")"),
        "shape": settings.shape,
        "outside_names": "; ".join(f"{label(e)} in the {s} world ({c:.3f})" for (s, e, _), c
                                   in outside["coverage"].items()) or "none",
        "se_small_names": "; ".join(f"{label(e)} in the {s} world" for s, e, _ in se_small)
        or "none",
        "tech_outside_names": "; ".join(
            f"{_quantity(q)} ({label(m).split(' (')[0]}) in the {s} world: "
            f"{'bias' if r.startswith('biased') else r.split(' (')[0]}"
            for (s, m, q), r in tech_outside) or "none",
        "best": label(advice.best), "runner_up": label(advice.runner_up),
        "per_world": advice.per_scenario_text(),
        "proxy_worlds": ", ".join(advice.proxy_identified) or "none",
        "best_worst": advice.best_worst_scenario,
        "worlds": ", ".join(advice.scenarios),
    }
    flags = {"any_outside": bool(len(outside)), "any_se_small": bool(se_small),
             "any_tech_outside": bool(tech_outside),
             "all_stored": all(c.source == "stored" for c in cells.values()),
             "e2e_se_ok": all(SE_SD_BAND[0] <= numbers[f"{e}_se_sd"] <= SE_SD_BAND[1]
                              for e in ("cs", "conditional_did")),
             "cdid_true_conservative": numbers["conditional_did_true_se_sd"] > SE_SD_BAND[1]}
    tables = {"worlds_panel": _worlds("panel"), "worlds_tech": _worlds("tech"),
              "tfp": _tfp_table(summary), "effects": effects, "tech": _tech_table(summary),
              "rules": _rules_table(rules), "advice": advice_table(advice),
              "cells": cells_table}
    return GridReport(numbers=numbers, texts=texts, flags=flags, tables=tables, summary=summary,
                      rules=rules, advice=advice)


def coverage_figure(report: GridReport) -> Figure:
    """Coverage of the effect estimators' 95% intervals in each study-1 world, with two Monte
    Carlo standard errors either side and the band :data:`COVERAGE_BAND` shaded.

    Parameters
    ----------
    report : GridReport

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    eff = _panel_rows(report.summary, "effect").reset_index()
    worlds = list(dict.fromkeys(eff["scenario"]))
    estimators = list(dict.fromkeys(eff["estimator"]))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(worlds) + 1.6))
    ax.axvspan(*COVERAGE_BAND, color="0.9", zorder=0)
    ax.axvline(0.95, color="black", lw=0.8)
    height = 0.8 / len(estimators)
    markers = "osD^vP"
    for k, estimator in enumerate(estimators):
        rows = eff.loc[eff["estimator"] == estimator].set_index("scenario").reindex(worlds)
        y = np.arange(len(worlds)) - 0.4 + (k + 0.5) * height
        cov, half = rows["coverage"].to_numpy(), 2 * rows["coverage_mcse"].to_numpy()
        # A rate lies in [0, 1]: the bars are cut there.
        xerr = np.vstack([cov - np.clip(cov - half, 0, 1), np.clip(cov + half, 0, 1) - cov])
        ax.errorbar(cov, y, xerr=xerr, fmt=markers[k % 6], ms=4, lw=1, capsize=0,
                    label=label(estimator))
    ax.set_yticks(np.arange(len(worlds)), worlds)
    ax.invert_yaxis()
    ax.set_xlim(min(0.8, float(np.nanmin(eff["coverage"])) - 0.02), 1.005)
    ax.set_xlabel("coverage of nominal 95% intervals (bars: ± 2 Monte Carlo s.e.)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


def tfp_figure(report: GridReport) -> Figure:
    """Bias of the six production-function estimators' labour elasticity in each study-1
    world (largest industry), as a heat map.

    Parameters
    ----------
    report : GridReport

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    tfp = _panel_rows(report.summary, "tfp").reset_index()
    tfp = tfp.loc[tfp["estimand"].str.startswith("beta_l")]
    wide = tfp.pivot(index="scenario", columns="estimator", values="bias")
    wide = wide.reindex(index=list(dict.fromkeys(tfp["scenario"])),
                        columns=[f"tfp:{m}" for m in grid.TFP_METHODS])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(wide) + 1.8))
    bound = float(np.nanmax(np.abs(wide.to_numpy())))
    image = ax.imshow(wide.to_numpy(), cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    for (i, j), value in np.ndenumerate(wide.to_numpy()):
        ax.text(j, i, f"{value:+.2f}", ha="center", va="center", fontsize="small",
                color="white" if abs(value) > 0.6 * bound else "black")
    ax.set_xticks(range(wide.shape[1]), [label(c) for c in wide.columns], rotation=20,
                  ha="right")
    ax.set_yticks(range(len(wide)), wide.index)
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="bias of the labour elasticity")
    fig.tight_layout()
    return fig


def serial_results(cell: store.Cell, seed: int = seeding.DEFAULT_SEED,
                   settings: grid.GridSettings = grid.DEFAULT_SETTINGS
                   ) -> serial_montecarlo.MonteCarloResults:
    """A study-2 cell as chapter 05's Monte Carlo results: the same replications, the views of
    :func:`clusterpolicy.checks.serial_montecarlo.monte_carlo`.

    A study-2 replication of the grid is chapter 05's own
    (:func:`~clusterpolicy.checks.serial_montecarlo.replicate_margins`), so a cell of the grid
    *is* that chapter's Monte Carlo study for the cell's world and number of pairs; reading it
    from the store makes the chapter's coverage and the power of its rules the grid's numbers.

    Parameters
    ----------
    cell : ~clusterpolicy.checks.store.Cell
        A study-2 cell.
    seed : int
        Its root seed.
    settings : ~clusterpolicy.checks.grid.GridSettings
        Its settings (pairs, level).

    Returns
    -------
    ~clusterpolicy.checks.serial_montecarlo.MonteCarloResults
    """
    n_reps = int(cell.table["replication"].max()) + 1
    return serial_montecarlo.results_from_table(cell.table, n_reps, int(seed),
                                                n_pairs=settings.n_pairs, level=settings.level)
