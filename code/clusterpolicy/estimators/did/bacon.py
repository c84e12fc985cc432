"""What the TWFE coefficient averages: Goodman-Bacon decomposition and cell weights.

Written here because no maintained Python package does it (R: bacondecomp 0.1.1, whose
numbers on mpdta the tests reproduce). Both pieces need a balanced panel with staggered,
absorbing treatment and no covariates.

* Goodman-Bacon (2021, Theorem 1): the TWFE coefficient is a weighted average of all 2x2
  DiDs between timing groups (treated vs never treated, earlier vs later treated before
  the later group's treatment, later vs earlier treated after the earlier group's
  treatment). The weights grow with group sizes and with the variance of treatment in
  each comparison.
* de Chaisemartin & D'Haultfoeuille (2020): the same coefficient is a weighted sum of the
  treatment effects of the treated (cohort, period) cells, weights proportional to the
  residual of the treatment indicator on unit and period fixed effects. Long-treated cells
  of early cohorts can get negative weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._common import DiDResults, prepare_panel, series

__all__ = ["BaconResults", "bacon", "twfe_weights"]

TYPES = (
    "Treated vs Untreated",
    "Earlier vs Later Treated",
    "Later vs Earlier Treated",
    "Later vs Always Treated",
)


@dataclass(repr=False)
class BaconResults(DiDResults):
    """Goodman-Bacon decomposition of the TWFE coefficient.

    ``params`` holds the weight-averaged 2x2 estimate of each comparison type and ``TWFE``
    (their weighted sum, equal to the TWFE coefficient); there are no standard errors
    (NaN, and a NaN ``cov``).

    Attributes
    ----------
    by_type : pandas.DataFrame
        ``type, weight, avg_est``.
    two_by_two : pandas.DataFrame
        One row per pair of timing groups: ``treated, control`` (cohort; 0 = never treated),
        ``type, estimate, weight``.
    twfe_weights : pandas.DataFrame
        The weight of each treated (cohort, time) cell in the TWFE coefficient (see
        :func:`twfe_weights`).
    """

    by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    two_by_two: pd.DataFrame = field(default_factory=pd.DataFrame)
    twfe_weights: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def twfe_estimate(self) -> float:
        """Weighted sum of the 2x2 estimates (= the TWFE coefficient)."""
        return float(self.params["TWFE"])


def _unit_groups(panel: pd.DataFrame, times: tuple[int, ...]) -> pd.Series:
    """Timing group of each unit: its cohort, 0 for never treated (incl. after the panel)."""
    g = panel.groupby("_unit", sort=False)["_cohort"].first()
    g = g.where(g <= times[-1], 0)
    return g.where((g == 0) | (g > times[0]), times[0])  # always treated: first period


def _group_means(panel: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Mean outcome by timing group (rows) and period (columns)."""
    frame = panel.assign(_group=panel["_unit"].map(groups))
    return frame.pivot_table(index="_group", columns="_time", values="_y", aggfunc="mean")


def bacon(data: pd.DataFrame, y: str, unit: str, time: str, cohort: str) -> BaconResults:
    """Goodman-Bacon (2021) decomposition of the TWFE DiD coefficient.

    Parameters
    ----------
    data : DataFrame
        Balanced long panel.
    y, unit, time : str
        Outcome, unit and period columns.
    cohort : str
        First treatment period (0 or NaN: never treated; after the last period: never
        treated within the panel; at or before the first period: always treated).

    Returns
    -------
    BaconResults
    """
    panel, info = prepare_panel(data, y=y, unit=unit, time=time, cohort=cohort, balanced=True)
    times = info.times
    groups = _unit_groups(panel, times)
    means = _group_means(panel, groups)
    shares = groups.value_counts(normalize=True)
    t_arr = np.asarray(times)
    treated_share = {g: (float(np.mean(t_arr >= g)) if g > 0 else 0.0) for g in shares.index}
    timing = sorted(g for g in shares.index if g > 0)
    if not timing:
        raise ValueError(f"cohort column {cohort!r} has no treated units")

    def did(treat: int, ctrl: int, pre: np.ndarray, post: np.ndarray) -> float:
        row_t, row_c = means.loc[treat], means.loc[ctrl]
        return float((row_t[post].mean() - row_t[pre].mean()) - (row_c[post].mean() - row_c[pre].mean()))

    rows = []
    if 0 in shares.index:
        n_u = shares[0]
        for k in timing:
            n_k, d_k = shares[k], treated_share[k]
            n_ku = n_k / (n_k + n_u)
            weight = (n_k + n_u) ** 2 * n_ku * (1 - n_ku) * d_k * (1 - d_k)
            if weight > 0:
                est = did(k, 0, t_arr[t_arr < k], t_arr[t_arr >= k])
                rows.append((k, 0, "Treated vs Untreated", est, weight))
    for i, k in enumerate(timing):
        for l_ in timing[i + 1 :]:
            n_k, n_l = shares[k], shares[l_]
            d_k, d_l = treated_share[k], treated_share[l_]
            n_kl = n_k / (n_k + n_l)
            # earlier k treated, later l as control, before l is treated
            if d_k < 1:
                weight = (
                    ((n_k + n_l) * (1 - d_l)) ** 2
                    * n_kl
                    * (1 - n_kl)
                    * (d_k - d_l)
                    / (1 - d_l)
                    * (1 - d_k)
                    / (1 - d_l)
                )
                window = t_arr[t_arr < l_]
                est = did(k, l_, window[window < k], window[window >= k])
                rows.append((k, l_, "Earlier vs Later Treated", est, weight))
            # later l treated, earlier k (already treated) as control, after k is treated
            weight = ((n_k + n_l) * d_k) ** 2 * n_kl * (1 - n_kl) * (d_l / d_k) * (d_k - d_l) / d_k
            window = t_arr[t_arr >= k]
            est = did(l_, k, window[window < l_], window[window >= l_])
            kind = "Later vs Always Treated" if d_k == 1 else "Later vs Earlier Treated"
            rows.append((l_, k, kind, est, weight))
    two = pd.DataFrame(rows, columns=["treated", "control", "type", "estimate", "weight"])
    two["weight"] = two["weight"] / two["weight"].sum()
    by_type = (
        two.assign(_we=two["weight"] * two["estimate"])
        .groupby("type", sort=True)
        .agg(weight=("weight", "sum"), _we=("_we", "sum"))
    )
    by_type["avg_est"] = by_type["_we"] / by_type["weight"]
    by_type = by_type.drop(columns="_we").reset_index()
    total = float((two["weight"] * two["estimate"]).sum())
    weights = twfe_weights(data, y=y, unit=unit, time=time, cohort=cohort)
    notes = []
    negative = weights["weight"] < 0
    if negative.any():
        notes.append(
            f"{int(negative.sum())} treated (cohort, time) cell(s) get negative weight in the TWFE "
            f"coefficient (sum of negative weights {weights.loc[negative, 'weight'].sum():.3f}): "
            "with effects that change over time TWFE can have the wrong sign"
        )
    names = [*list(by_type["type"]), "TWFE"]
    return BaconResults(
        params=series([*list(by_type["avg_est"]), total], names),
        std_errors=series([np.nan] * len(names), names),
        nobs=len(panel),
        model="bacon",
        inference={"standard errors": "none (a decomposition of the point estimate)"},
        extra={"weight_by_type": dict(zip(by_type["type"], by_type["weight"], strict=True))},
        notes=notes,
        by_type=by_type,
        two_by_two=two,
        twfe_weights=weights,
    )


def twfe_weights(data: pd.DataFrame, y: str, unit: str, time: str, cohort: str) -> pd.DataFrame:
    """Weights of the treated (cohort, time) cells in the TWFE coefficient.

    With ``e_it`` the residual of the treatment indicator ``D_it`` on unit and period
    fixed effects (balanced panel: ``D_it - mean_i D - mean_t D + mean D``), the TWFE
    coefficient is ``sum_{D_it=1} w_it Y_it``-type weighted sum of cell effects with
    ``w_it = e_it / sum_{D=1} e`` (de Chaisemartin & D'Haultfoeuille 2020, Theorem 1).

    Parameters
    ----------
    data : DataFrame
        Balanced long panel.
    y, unit, time, cohort : str
        Outcome, unit, period and first-treatment-period (0/NaN never) columns.

    Returns
    -------
    DataFrame
        ``cohort, time, event_time, n_units, weight`` (cell weights sum to 1; negative
        weights are the cells TWFE subtracts).
    """
    panel, _info = prepare_panel(data, y=y, unit=unit, time=time, cohort=cohort, balanced=True)
    d = panel["_d"]
    resid = (
        d
        - d.groupby(panel["_unit"]).transform("mean")
        - d.groupby(panel["_time"]).transform("mean")
        + d.mean()
    )
    treated = d == 1
    frame = pd.DataFrame(
        {"cohort": panel.loc[treated, "_cohort"], "time": panel.loc[treated, "_time"], "w": resid[treated]}
    )
    cells = frame.groupby(["cohort", "time"]).agg(n_units=("w", "size"), weight=("w", "sum")).reset_index()
    cells["weight"] = cells["weight"] / resid[treated].sum()
    cells.insert(2, "event_time", cells["time"] - cells["cohort"])
    return cells
