"""Helpers of the cluster-effect chapter (04): the estimation panel, subgroups and verdicts.

The estimators live in :mod:`clusterpolicy.did`; this module prepares what they need and
turns their results into the chapter's tables:

* :func:`balanced_panel` - the firms observed in every year of the panel (Callaway-Sant'Anna,
  the Goodman-Bacon decomposition and the TWFE weights need a balanced panel), with the
  dropped firms counted by reason.
* :func:`add_firm_covariates` - age, capital intensity and time-invariant pre-period
  covariates (mean before the first cohort, level in the last pre-period year).
* :func:`size_classes` - employment size classes from thresholds.
* :func:`range_verdict`, :func:`truth_verdict`, :func:`equality_test` - computed verdicts.
* :func:`record_warnings` - library warnings turned into notes for the page (a chapter may not
  write to stderr).
* :func:`selection_panel` - a small synthetic panel with selection on pre-period TFP, whose
  true TFP is the outcome (the mean-reversion demonstration).
* :func:`innovative_firms` - highly innovative firms from their pre-period patenting (chapter 06).
* :func:`export_potential_outcomes` - on synthetic data, each firm-year's exporting with and
  without the programme (the truth of chapter 06's exporting estimates).

Nothing here knows the Flemish programme: years and cohorts are read from the data.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy import synthetic
from clusterpolicy.core.results import caught_warnings
from clusterpolicy.data import samples

__all__ = [
    "add_firm_covariates",
    "balanced_panel",
    "equality_test",
    "export_potential_outcomes",
    "innovative_firms",
    "range_verdict",
    "record_warnings",
    "selection_panel",
    "size_classes",
    "truth_verdict",
]


@contextmanager
def record_warnings(notes: MutableMapping[str, list[str]], source: str) -> Iterator[None]:
    """Record the warnings raised inside the block under ``notes[source]`` instead of emitting them
    (see :func:`clusterpolicy.results.caught_warnings`)."""
    with caught_warnings() as messages:
        yield
    if messages:
        kept = notes.setdefault(source, [])
        kept.extend(m for m in messages if m not in kept)


REASONS = (
    "enters the panel after its first year",
    "leaves the panel before its last year",
    "misses a year in between (gap, or a row dropped for a non-positive input)",
)


def balanced_panel(
    data: pd.DataFrame, unit: str = "firm_id", time: str = "year"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the units observed in every period of the panel; count the others by reason.

    Each dropped unit is counted once, under the first reason that applies, in the order of
    :data:`REASONS` (late entry, early exit, gap).

    Returns
    -------
    balanced : DataFrame
        The rows of the kept units.
    table : DataFrame
        Index ``step`` (the input, one line per reason, the balanced panel); columns
        ``firms`` and ``rows``.
    """
    times = np.sort(data[time].unique())
    first, last, n_times = times[0], times[-1], len(times)
    per_unit = data.groupby(unit, sort=False)[time].agg(["min", "max", "size"])
    complete = per_unit["size"] == n_times
    late = ~complete & (per_unit["min"] > first)
    early = ~complete & ~late & (per_unit["max"] < last)
    gap = ~complete & ~late & ~early
    rows = data.groupby(unit, sort=False).size()
    table = pd.DataFrame(
        [
            ("firms in the TFP panel", len(per_unit), int(rows.sum())),
            *[
                (f"dropped: {reason}", -int(mask.sum()), -int(rows[mask[mask].index].sum()))
                for reason, mask in zip(REASONS, (late, early, gap), strict=True)
            ],
            (
                f"balanced panel ({first}-{last})",
                int(complete.sum()),
                int(rows[complete[complete].index].sum()),
            ),
        ],
        columns=["step", "firms", "rows"],
    ).set_index("step")
    keep = per_unit.index[complete]
    balanced = data.loc[data[unit].isin(keep)].reset_index(drop=True)
    return balanced, table


def add_firm_covariates(
    data: pd.DataFrame,
    columns: Sequence[str],
    *,
    unit: str = "firm_id",
    time: str = "year",
    cohort: str = "cohort",
) -> tuple[pd.DataFrame, list[int]]:
    """Add age, capital intensity and time-invariant pre-period versions of ``columns``.

    ``age = time - founding_year`` and ``capital_intensity = log_capital - log_employment``
    (log capital per FTE) are added when their inputs are present. For every column ``c`` of
    ``columns`` two firm-level columns are added: ``pre_c`` (mean over the pre-period) and
    ``last_pre_c`` (value in the last pre-period year; NaN when the firm is not observed
    then). The pre-period is every year before the first cohort, read from ``cohort``
    (0 = never treated).

    Returns
    -------
    data : DataFrame
        A copy with the new columns.
    pre_years : list of int
        The pre-period.
    """
    out = data.copy()
    if "founding_year" in out:
        out["age"] = (out[time] - out["founding_year"]).astype(float)
    if {"log_capital", "log_employment"} <= set(out.columns):
        out["capital_intensity"] = out["log_capital"] - out["log_employment"]
    treated = out.loc[out[cohort] > 0, cohort]
    if treated.empty:
        raise ValueError(f"column {cohort!r} has no treated firm (all 0): no pre-period to define")
    first_cohort = int(treated.min())
    pre_years = sorted(int(t) for t in out[time].unique() if t < first_cohort)
    if not pre_years:
        raise ValueError(f"no year of {time!r} lies before the first cohort {first_cohort}")
    pre = out.loc[out[time].isin(pre_years)]
    last = pre.loc[pre[time] == pre_years[-1]].set_index(unit)
    means = pre.groupby(unit)[list(columns)].mean()
    for col in columns:
        out[f"pre_{col}"] = out[unit].map(means[col])
        out[f"last_pre_{col}"] = out[unit].map(last[col])
    return out, pre_years


def size_classes(employment: pd.Series, thresholds: Sequence[float]) -> pd.Series:
    """Employment size classes: ``<t1``, ``t1-(t2-1)``, ..., ``>=tk`` (ordered categorical).

    Thresholds are in the unit of ``employment`` (FTE) and must increase; a value equal to a
    threshold belongs to the class that starts there.
    """
    cuts = [float(t) for t in thresholds]
    if not cuts or any(b <= a for a, b in itertools.pairwise(cuts)):
        raise ValueError(f"size thresholds must be a non-empty increasing list, got {list(thresholds)}")

    def fmt(v: float) -> str:
        return f"{v:g}"

    labels = [f"<{fmt(cuts[0])}"]
    labels += [f"{fmt(a)}-<{fmt(b)}" for a, b in itertools.pairwise(cuts)]
    labels += [f">={fmt(cuts[-1])}"]
    classes = pd.cut(employment, [-np.inf, *cuts, np.inf], right=False, labels=labels)
    return classes.rename("size class")


def range_verdict(estimate: float, low: float, high: float) -> str:
    """Where a point estimate lies relative to a published range [low, high]."""
    if not np.isfinite(estimate):
        return "not estimated"
    if estimate < low:
        return "below the published range"
    if estimate > high:
        return "above the published range"
    return "inside the published range"


def truth_verdict(estimate: float, se: float, truth: float | None, level: float = 0.95) -> str:
    """Whether the normal confidence interval of ``level`` covers the true value."""
    if truth is None:
        return "no truth (real data)"
    if not (np.isfinite(estimate) and np.isfinite(se)):
        return "not estimated"
    z = stats.norm.ppf(0.5 + level / 2)
    if estimate - z * se > truth:
        return "misses the truth (above)"
    if estimate + z * se < truth:
        return "misses the truth (below)"
    return "covers the truth"


def equality_test(estimates: Sequence[float], ses: Sequence[float]) -> dict[str, float]:
    """Wald test that several estimates are equal, treating them as independent.

    ``chi2 = sum((b_k - b_bar)^2 / se_k^2)`` with the inverse-variance weighted mean
    ``b_bar``; ``df = K - 1``. Estimates from subgroups that share control units are
    positively correlated, so treating them as independent makes the test conservative.
    """
    b = np.asarray(estimates, dtype=float)
    s = np.asarray(ses, dtype=float)
    ok = np.isfinite(b) & np.isfinite(s) & (s > 0)
    b, s = b[ok], s[ok]
    if b.size < 2:
        return {"chi2": float("nan"), "df": 0, "p_value": float("nan"), "pooled": float("nan")}
    w = 1.0 / s**2
    pooled = float((w * b).sum() / w.sum())
    chi2 = float((w * (b - pooled) ** 2).sum())
    df = int(b.size - 1)
    return {"chi2": chi2, "df": df, "p_value": float(stats.chi2.sf(chi2, df)), "pooled": pooled}


def selection_panel(
    seed: int,
    firms: int,
    strength: float,
    truth: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, float]:
    """A synthetic panel in which firms select into membership on pre-period TFP.

    Generated in memory with :func:`clusterpolicy.synthetic.generate_panel` using the DGP of
    ``truth`` (the truth file of the default data: its shape and parameters) with
    ``select_on_pre_tfp = strength``; the clusters' member counts are scaled to ``firms`` so
    that the share of members stays that of the default data. Rows with a non-positive input
    are dropped (as in the estimation sample) and the panel is balanced.

    Returns
    -------
    data : DataFrame
        ``firm_id, year, nace2, cohort`` (first join, 0 = never), the log inputs, ``omega``
        (the true log TFP, the outcome) and ``founding_year``.
    theta : float
        The true effect of membership on log TFP.
    """

    shape = synthetic.get_shape((truth or {}).get("shape", {}).get("name", "flanders"))
    known = {f.name for f in dataclasses.fields(synthetic.PanelParams)}
    params = synthetic.PanelParams(**{k: v for k, v in (truth or {}).get("params", {}).items() if k in known})
    scale = firms / shape.n_firms
    shape = dataclasses.replace(
        shape,
        clusters=tuple(
            dataclasses.replace(c, members=max(1, round(c.members * scale))) for c in shape.clusters
        ),
    )
    generated = synthetic.generate_panel(
        seed, firms=firms, shape=shape, params=params, select_on_pre_tfp=strength
    )
    sample, _ = samples.sample_construction(generated.panel)
    status = samples.membership_status(sample, generated.membership)
    sample = sample.assign(cohort=status["cohort"].to_numpy())
    sample = sample.merge(
        generated.latent[["firm_id", "year", "omega"]],
        on=["firm_id", "year"],
        how="left",
        validate="one_to_one",
    )
    balanced, _ = balanced_panel(sample)
    return balanced, float(generated.truth["treatment"]["theta"])


INNOVATION_MEASURES = ("patents_per_fte", "patents")


def innovative_firms(
    data: pd.DataFrame,
    pre_years: Sequence[int],
    *,
    measure: str = "patents_per_fte",
    quantile: float = 0.8,
    unit: str = "firm_id",
    time: str = "year",
    patents: str = "patents",
    employment: str = "employment",
) -> tuple[pd.DataFrame, float]:
    """Classify firms as highly innovative from their patenting in the pre-period only.

    Membership may itself raise patenting, so only the years of ``pre_years`` (before the
    first cohort) are used: the classification cannot be an outcome of the treatment.

    Parameters
    ----------
    data : DataFrame
        Long panel with ``unit``, ``time``, ``patents`` (yearly patent applications, may be
        missing) and ``employment`` (FTE).
    pre_years : sequence of int
        The pre-period, e.g. from :func:`add_firm_covariates`.
    measure : {"patents_per_fte", "patents"}
        ``patents_per_fte``: mean yearly patents over mean employment in the pre-period
        years in which patents are observed (a ratio of means); ``patents``: mean yearly
        patents.
    quantile : float
        A firm is highly innovative when its measure lies strictly above this quantile of
        the measure over the classified firms *and* is positive: a firm without any patent
        is never highly innovative. When more than ``quantile`` of the firms hold no patent,
        the quantile is 0 and every firm with a patent is highly innovative (its share then
        exceeds ``1 - quantile``).
    unit, time, patents, employment : str
        Column names.

    Returns
    -------
    firms : DataFrame
        Index ``unit`` (every unit of ``data``); columns ``pre_years_observed`` (pre-period
        years with patents observed), ``pre_patents``, ``pre_employment``, ``measure`` (the
        chosen measure) and ``group``: ``"highly innovative"``, ``"other"`` or
        ``"not classified"`` (no pre-period year with patents and positive employment
        observed).
    threshold : float
        The quantile of the measure (NaN when no firm can be classified).

    Raises
    ------
    ValueError
        Unknown ``measure``, ``quantile`` outside (0, 1), missing columns or an empty
        pre-period.
    """
    if measure not in INNOVATION_MEASURES:
        raise ValueError(f"measure must be one of {', '.join(INNOVATION_MEASURES)}, got {measure!r}")
    if not 0 < float(quantile) < 1:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {quantile!r}")
    missing = [c for c in (unit, time, patents, employment) if c not in data]
    if missing:
        raise ValueError(f"innovative_firms: column(s) {', '.join(missing)} not in the data")
    pre_years = [int(y) for y in pre_years]
    if not pre_years:
        raise ValueError("innovative_firms: the pre-period is empty")
    units = pd.Index(pd.unique(data[unit]), name=unit)
    pre = data.loc[data[time].isin(pre_years) & data[patents].notna(), [unit, patents, employment]]
    agg = pre.groupby(unit).agg(
        pre_years_observed=(patents, "size"),
        pre_patents=(patents, "mean"),
        pre_employment=(employment, "mean"),
    )
    firms = agg.reindex(units)
    firms["pre_years_observed"] = firms["pre_years_observed"].fillna(0).astype(int)
    usable = (firms["pre_years_observed"] > 0) & (firms["pre_employment"] > 0)
    if measure == "patents_per_fte":
        value = firms["pre_patents"] / firms["pre_employment"]
    else:
        value = firms["pre_patents"].astype(float)
    firms["measure"] = value.where(usable)
    classified = firms["measure"].dropna()
    threshold = float(classified.quantile(float(quantile))) if len(classified) else float("nan")
    top = (firms["measure"] > threshold) & (firms["measure"] > 0)
    firms["group"] = np.where(~usable, "not classified", np.where(top, "highly innovative", "other"))
    return firms, threshold


def export_potential_outcomes(
    panel_path: str | Any,
    panel: pd.DataFrame | None = None,
    *,
    precision: float = 1e8,
) -> pd.DataFrame | None:
    """On a synthetic panel: each firm-year's exporting with and without the programme.

    The generator (:func:`clusterpolicy.synthetic.generate_panel`) draws every block of the
    data from its own named random stream, so regenerating the panel from its truth file with
    other parameters reuses the same random numbers (common random numbers). Four panels are
    regenerated:

    * the file's own parameters: must reproduce the file (rows, value added, which firm-years
      export); this checks the assumption;
    * ``theta = 0`` and ``export_membership = 0``: the world without the programme (no effect
      on TFP, hence none on employment or exporting through TFP, and no direct effect on the
      export propensity) - whether each firm-year would export;
    * both worlds with ``export_const`` so large that every firm-year exports and with
      ``export_precision`` so large that the beta-distributed export share equals its mean:
      the expected export share of turnover (value added + materials) if the firm exports.

    Parameters
    ----------
    panel_path : path
        The panel file; its ``*.truth.json`` is read with
        :func:`clusterpolicy.synthetic.read_truth`.
    panel : DataFrame, optional
        The panel as loaded by :func:`clusterpolicy.read.load_panel` (read when not given).
    precision : float
        ``export_precision`` of the expected-share worlds.

    Returns
    -------
    DataFrame or None
        ``None`` for data without a synthetic truth file (real data). Otherwise one row per
        row of ``panel`` (same index): ``firm_id``, ``year``, ``exporter_1``, ``exporter_0``
        (0/1; NaN where the file's exports are missing) and ``share_1``, ``share_0`` (expected
        export share with and without the programme). ``_1`` is the world of the file.

    Raises
    ------
    ValueError
        The truth file does not regenerate the file (another generator version, an edited
        file) or the regenerated worlds do not share the file's firm-years.
    """

    regenerated = synthetic.regenerate(panel_path, panel)
    if regenerated is None:
        return None
    panel = regenerated.panel

    def world(**overrides: Any) -> pd.DataFrame:
        generated = regenerated.world(**overrides) if overrides else regenerated.generated
        return regenerated.align(generated.panel)

    def exporter(frame: pd.DataFrame) -> np.ndarray:
        x = frame["exports"].to_numpy(dtype=float)
        return np.where(np.isnan(x), np.nan, (x > 0).astype(float))

    def share(frame: pd.DataFrame) -> np.ndarray:
        return (frame["exports"] / (frame["value_added"] + frame["materials"])).to_numpy(dtype=float)

    observed_exp = panel["exports"].to_numpy(dtype=float)
    observed = np.where(np.isnan(observed_exp), np.nan, (observed_exp > 0).astype(float))
    same = world()
    if not np.array_equal(exporter(same), observed, equal_nan=True):
        raise ValueError(f"{panel_path}: which firm-years export differs from the panel "
                         "regenerated from its truth file")
    off = {"theta": 0.0, "export_membership": 0.0}
    always = {"export_const": 50.0, "export_precision": float(precision)}
    out = pd.DataFrame({"firm_id": panel["firm_id"].to_numpy(), "year": panel["year"].to_numpy(),
                        "exporter_1": observed, "exporter_0": exporter(world(**off)),
                        "share_1": share(world(**always)), "share_0": share(world(**off, **always))},
                       index=panel.index)
    return out
