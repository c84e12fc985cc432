"""How a synthetic (or real) dataset compares with the published facts it is calibrated to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from clusterpolicy.data.published import Study1Facts
from clusterpolicy.data.samples import pre_period_comparison, sample_construction
from clusterpolicy.synthetic.shapes import PanelShape, get_shape


# --------------------------------------------------------------------------------------------
# Calibration: published facts against the data
# --------------------------------------------------------------------------------------------
def members_counted(membership: pd.DataFrame, shape: PanelShape) -> int:
    """Distinct firms of ``shape.count_clusters`` whose membership started by
    ``max(count_year, cluster start year)`` and had not ended by then."""
    if shape.count_year is None:
        return 0
    start = {c.name: c.start_year for c in shape.clusters}
    m = membership[membership["cluster"].isin(shape.count_clusters)]
    cutoff = np.maximum(shape.count_year, m["cluster"].map(start).to_numpy(dtype=float))
    ex = m["exit_year"].astype("Float64").fillna(np.inf).to_numpy(dtype=float)
    ok = (m["join_year"].to_numpy() <= cutoff) & (ex > cutoff)
    return int(m.loc[ok, "firm_id"].nunique())


def _holds(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "no")


def calibration_table(panel: pd.DataFrame, membership: pd.DataFrame,
                      techfirms: pd.DataFrame | None = None, *,
                      panel_truth: Mapping[str, Any] | None = None,
                      tech_truth: Mapping[str, Any] | None = None,
                      facts: Study1Facts,
                      shape: str | PanelShape = "flanders") -> pd.DataFrame:
    """Each published fact (or modelling choice) beside the value computed from the data.

    Works on any data satisfying the schemas: rows that need the true parameters (synthetic
    data only) show ``n/a`` on real data. Tolerances are part of the table and are asserted by
    the tests on the committed defaults.

    ``facts`` (the published facts file, :func:`clusterpolicy.data.published.load_study1`)
    gives the published panel years and sample size; ``shape`` the generator's own targets
    for the rest (its agreement with the facts file is tested).
    """

    shape = get_shape(shape)
    rows: list[dict[str, Any]] = []

    def add(quantity: str, published: str, status: str, value: str, tolerance: str,
            ok: bool | None) -> None:
        rows.append({"quantity": quantity, "published": published, "status": status,
                     "in the data": value, "tolerance": tolerance, "holds": _holds(ok)})

    sample, _ = sample_construction(panel)
    y0, y1 = int(panel["year"].min()), int(panel["year"].max())
    first, last = facts.first_year, facts.last_year
    add("panel years", f"{first}-{last}", "stated", f"{y0}-{y1}", "exact", (y0, y1) == (first, last))
    n_firms = int(sample["firm_id"].nunique())
    floor = facts.firms_more_than
    add("firms in the estimation sample", f"more than {floor:,}", "stated", f"{n_firms:,}",
        f"> {floor:,}", n_firms > floor)
    clusters_seen = [str(c) for c in pd.unique(membership["cluster"].astype(str))]
    add("number of clusters", str(len(shape.clusters)), "stated", str(len(clusters_seen)),
        "exact", len(clusters_seen) == len(shape.clusters))
    first = membership.groupby(membership["cluster"].astype(str))["join_year"].min()
    starts_ok = all(int(first.get(c.name, -1)) == c.start_year for c in shape.clusters)
    add("policy launch (first joins)", str(shape.policy_year), "stated",
        str(int(membership["join_year"].min())), "exact",
        int(membership["join_year"].min()) == shape.policy_year)
    add("cluster start years", "; ".join(f"{c.name} {c.start_year}" for c in shape.clusters),
        "stated (MEDVIA's year: choice)" if shape.name == "flanders" else "choice",
        "; ".join(f"{c.name} {int(first.get(c.name, 0)) or '—'}" for c in shape.clusters),
        "exact (first join year of each cluster)", starts_ok)
    if shape.count_target:
        counted = members_counted(membership, shape)
        lo, hi = 0.85 * shape.count_target, 1.15 * shape.count_target
        add(f"member firms in {shape.count_year} ({len(shape.count_clusters)} clusters)",
            f"{shape.count_target:,}", "stated", f"{counted:,}",
            f"± 15% ({lo:,.0f}-{hi:,.0f}); counted as firms whose membership started by "
            f"max({shape.count_year}, the cluster's start year)", lo <= counted <= hi)
    ever = int(membership["firm_id"].nunique())
    if shape.name == "flanders":
        add("member firms later, seven clusters", "about 1,700 (2021 pact)", "stated",
            f"{ever:,} by {y1}", "between 1,148 and 1,700 (the panel ends before 2021)",
            1148 <= ever <= 1700)
    all_firms = int(panel["firm_id"].nunique())
    share = ever / all_firms
    add("share of firms ever members", "5-15%", "choice", f"{100 * share:.1f}%", "5-15%",
        0.05 <= share <= 0.15)
    in_year = panel[panel["year"] == min(max(2018, y0), y1)]
    mem = in_year["firm_id"].isin(set(membership["firm_id"].astype(str)))
    emp_share = in_year.loc[mem, "employment"].sum() / in_year["employment"].sum()
    va_share = in_year.loc[mem, "value_added"].sum() / in_year["value_added"].sum()
    if shape.name == "flanders":
        add("members' share of employment / value added", "14% / 18% of the Flemish economy",
            "stated (not a target)",
            f"{100 * emp_share:.0f}% / {100 * va_share:.0f}% of the panel",
            "not comparable: population shares, while the panel over-represents members",
            None)
    cmp = pre_period_comparison(sample, membership, before=shape.policy_year)
    diff = cmp["difference"]
    pvals = cmp["p (Welch)"]
    keys = ["size: log employment (FTE)", "age (years)", "capital intensity: log capital per FTE"]
    empty = [group for group in ("members", "non-members") if cmp[f"firms ({group})"].min() < 2]
    if empty:
        add("members vs non-members before the policy", "larger, older, more capital intensive",
            "stated (direction only)",
            f"not comparable: fewer than two {' or '.join(empty)} observed before "
            f"{shape.policy_year}", "all three differences > 0 with p < 0.01", None)
    else:
        add("members vs non-members before the policy", "larger, older, more capital intensive",
            "stated (direction only)",
            "; ".join(f"{k.split(':')[0]} {diff[k]:+.2f} (p = {pvals[k]:.1g})" for k in keys),
            "all three differences > 0 with p < 0.01",
            bool(all(diff[k] > 0 and pvals[k] < 0.01 for k in keys)))
    joins = membership.assign(cluster=membership["cluster"].astype(str))
    start = {c.name: c.start_year for c in shape.clusters}
    first_year = (joins["join_year"] == joins["cluster"].map(start)).mean()
    add("members joining in their cluster's first year", "most (staggered over the years)",
        "choice", f"{100 * first_year:.0f}%", "> 50%", first_year > 0.5)
    if panel_truth is not None:
        p = panel_truth["params"]
        theta = float(p["theta"])
        add("effect of membership on log TFP", "+1% to +4.4% (headline about +3%)", "stated",
            f"{theta:.3f} (true parameter)", "0.01-0.044", 0.01 <= theta <= 0.044)
        inds = panel_truth["production"]["industries"].values()
        bl = [i["beta_l"] for i in inds]
        bk = [i["beta_k"] for i in inds]
        add("output elasticities by industry", "labour 0.6-0.7, capital 0.2-0.3", "choice",
            f"labour {min(bl):.2f}-{max(bl):.2f}, capital {min(bk):.2f}-{max(bk):.2f}",
            "inside the ranges", min(bl) >= 0.6 and max(bl) <= 0.7 and min(bk) >= 0.2
            and max(bk) <= 0.3)
        add("persistence of TFP (AR(1) coefficient)", "persistent (no value published)",
            "choice", f"{float(p['rho']):.2f}", "0.7-0.8", 0.7 <= float(p["rho"]) <= 0.8)
        add("heterogeneity of the effect by firm size", "not significant", "stated",
            "none (homogeneous effect by construction)", "exact", True)
    else:
        add("effect of membership on log TFP", "+1% to +4.4% (headline about +3%)", "stated",
            "estimated in the chapter on cluster effects", "—", None)
    if techfirms is not None:
        n_s = int(techfirms["serial"].sum())
        n_n = int((~techfirms["serial"].astype(bool)).sum())
        add("serial / matched non-serial innovators", "about 400 / 400", "choice",
            f"{n_s:,} / {n_n:,}", "300-500 each", 300 <= n_s <= 500 and 300 <= n_n <= 500)
        if tech_truth is not None:
            for margin in ("initiation", "intensity"):
                eq = tech_truth[margin]
                tp = -eq["z"] / (2 * eq["z2"])
                pattern = (eq["z"] > 0 and eq["z2"] < 0 and 0.5 <= tp <= 1.5
                           and eq["serial_z"] > 0 and abs(eq["z2"] + eq["serial_z2"]) < 1e-9)
                add(f"pattern, {margin}: both gain; non-serial decreasing returns; serial gain "
                    "more", "qualitative (findings 1-3)", "stated (coefficients: choice)",
                    f"non-serial slope {eq['z']:+.2f}, curvature {eq['z2']:+.2f} (turning point "
                    f"z = {tp:.2f}); serial slope {eq['z'] + eq['serial_z']:+.2f}, curvature "
                    f"{eq['z2'] + eq['serial_z2']:+.2f} (true parameters)",
                    "signs as published; turning point 0.5-1.5", pattern)
    return pd.DataFrame(rows).set_index("quantity")
