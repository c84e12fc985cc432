"""Estimation samples built from validated inputs: first joins, membership status, the
sample construction that counts every dropped row by reason, descriptive statistics and the
pre-period comparison of members and non-members.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


# ----------------------------------------------------------------------------------------------
# Treatment status and the estimation sample
# ----------------------------------------------------------------------------------------------
def first_join(membership: pd.DataFrame) -> pd.DataFrame:
    """One row per member firm: first join year (the cohort), number of clusters, clusters.

    A firm in several clusters is treated from its first join.
    """
    m = membership.assign(cluster=membership["cluster"].astype(str))
    g = m.sort_values(["join_year", "cluster"]).groupby("firm_id", sort=True)
    return pd.DataFrame({
        "first_join": g["join_year"].min().astype("int64"),
        "n_clusters": g["cluster"].nunique().astype("int64"),
        "clusters": g["cluster"].agg(lambda s: "; ".join(s)),
    }).rename_axis("firm_id").reset_index()


def membership_status(panel: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame:
    """Per panel row: ``cohort`` (first join year, 0 for never-members, as in the DiD
    literature) and ``member`` (1 from the first join until the end of the last membership)."""
    cohort = first_join(membership).set_index("firm_id")["first_join"]
    out = pd.DataFrame(index=panel.index)
    out["cohort"] = panel["firm_id"].map(cohort).fillna(0).astype("int64")
    m = membership[["firm_id", "join_year", "exit_year"]].merge(
        panel[["firm_id", "year"]].reset_index(), on="firm_id")
    ex = m["exit_year"].astype("Float64").fillna(np.inf).to_numpy(dtype=float)
    active = (m["year"].to_numpy() >= m["join_year"].to_numpy()) & (m["year"].to_numpy() < ex)
    on = pd.Index(m.loc[active, "index"].unique())
    out["member"] = np.isin(out.index, on).astype("int64")
    return out


LOG_COLUMNS = {"value_added": "log_value_added", "employment": "log_employment",
               "capital": "log_capital", "materials": "log_materials"}


def sample_construction(panel: pd.DataFrame, *, require_lag: bool = False
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The estimation sample and the table that accounts for every row.

    Rows are dropped, in this order, when a variable taken in logs is not positive
    (value added, employment, capital, materials) and, with ``require_lag``, when the firm has
    no usable observation in the previous year (first year, entry or a gap). Returns the kept
    rows with log columns (``log_value_added``, ``log_employment``, ``log_capital``,
    ``log_materials``) and ``has_lag``, and a table with one line per step: rows dropped,
    rows remaining and firms remaining.
    """
    df = panel.copy()
    steps: list[tuple[str, int, int, int]] = [
        ("rows read", 0, len(df), int(df["firm_id"].nunique()))]
    for column in ("value_added", "employment", "capital", "materials"):
        bad = ~(df[column] > 0).fillna(False).to_numpy(dtype=bool)
        df = df[~bad]
        steps.append((f"dropped: {column} not positive (log undefined)", int(bad.sum()),
                      len(df), int(df["firm_id"].nunique())))
    for column, logname in LOG_COLUMNS.items():
        df[logname] = np.log(df[column].to_numpy(dtype="float64"))
    prev = pd.MultiIndex.from_arrays([df["firm_id"], df["year"] - 1])
    keys = pd.MultiIndex.from_arrays([df["firm_id"], df["year"]])
    df["has_lag"] = prev.isin(keys)
    if require_lag:
        bad = ~df["has_lag"].to_numpy()
        df = df[~bad]
        steps.append(("dropped: no usable observation in the previous year (first year, entry "
                      "or gap)", int(bad.sum()), len(df), int(df["firm_id"].nunique())))
    steps.append(("used", 0, len(df), int(df["firm_id"].nunique())))
    table = pd.DataFrame(steps, columns=["step", "rows dropped", "rows remaining",
                                         "firms remaining"]).set_index("step")
    return df.reset_index(drop=True), table


def descriptive_statistics(sample: pd.DataFrame,
                           columns: Sequence[str] = ("value_added", "employment", "capital",
                                                     "materials", "wage_bill", "investment",
                                                     "exports", "patents")) -> pd.DataFrame:
    """Count, mean, standard deviation and percentiles of the panel's variables."""
    rows = {}
    for c in columns:
        s = sample[c].astype("float64").dropna()
        rows[c] = {"observations": int(s.size), "mean": s.mean(), "sd": s.std(),
                   "p10": s.quantile(0.10), "median": s.median(), "p90": s.quantile(0.90),
                   "share zero": float((s == 0).mean())}
    s = (sample["year"] - sample["founding_year"]).astype("float64")
    rows["age"] = {"observations": int(s.size), "mean": s.mean(), "sd": s.std(),
                   "p10": s.quantile(0.10), "median": s.median(), "p90": s.quantile(0.90),
                   "share zero": float((s == 0).mean())}
    return pd.DataFrame(rows).T.rename_axis("variable")


def pre_period_comparison(sample: pd.DataFrame, membership: pd.DataFrame, *,
                          before: int) -> pd.DataFrame:
    """Members (firms that ever join) against non-members in the years before ``before``.

    Firm-level means over the pre-period of log employment (size), age and log capital per FTE
    (capital intensity), with Welch's t-test and the Mann–Whitney test of the difference. With
    fewer than two firms on either side there is nothing to test: statistics and p-values are
    NaN (and no warning is raised).
    """
    pre = sample[sample["year"] < before]
    members = set(membership["firm_id"].astype(str))
    firm = pre.assign(
        size=np.log(pre["employment"]), age=pre["year"] - pre["founding_year"],
        capint=np.log(pre["capital"] / pre["employment"]),
        va=np.log(pre["value_added"]),
    ).groupby("firm_id")[["size", "age", "capint", "va"]].mean()
    is_member = firm.index.astype(str).isin(members)
    labels = {"size": "size: log employment (FTE)", "age": "age (years)",
              "capint": "capital intensity: log capital per FTE",
              "va": "log value added"}
    rows = []
    for var, label in labels.items():
        a, b = firm.loc[is_member, var], firm.loc[~is_member, var]
        t, p_t, p_u = np.nan, np.nan, np.nan
        if min(a.size, b.size) >= 2:
            welch = stats.ttest_ind(a, b, equal_var=False)
            t, p_t = welch.statistic, welch.pvalue
            p_u = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
        pooled = np.sqrt((a.var() + b.var()) / 2)
        rows.append({"variable": label, "members": a.mean(), "non-members": b.mean(),
                     "difference": a.mean() - b.mean(),
                     "standardised difference": (a.mean() - b.mean()) / pooled,
                     "t (Welch)": t, "p (Welch)": p_t,
                     "p (Mann-Whitney)": p_u, "firms (members)": int(a.size),
                     "firms (non-members)": int(b.size)})
    return pd.DataFrame(rows).set_index("variable")
