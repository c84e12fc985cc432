"""Study 2 (Libaers & Meyer 2011): serial innovators, industrial clustering and the two margins of
internationalization, on a cross-section of small technology firms (serial innovators and
matched non-serial innovators).

Only the qualitative pattern of the study is public; the matched design checks, the published
findings and the explicit rules that decide each (:func:`check_findings`) are choices of this
report. The models are :mod:`clusterpolicy.estimators.margins`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from clusterpolicy.data.innovators import DIFFERENCE, GROUPS, _require_prepared
from clusterpolicy.estimators.margins import (
    MarginResults,
    _Evaluator,
    average_marginal_effects,
    turning_point,
)

Combine = Literal["all", "any"]


REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"


#: The published findings, their glue names and the rule that decides each on one margin.
FINDINGS: dict[str, dict[str, str]] = {
    "both_gain": {
        "glue": "verdict_both_gain",
        "claim": "both serial and non-serial innovators gain from rising clustering",
        "rule": "the average marginal effect of clustering is positive and significant at the "
                "5% level (two-sided) in each group",
    },
    "nonserial_decreasing": {
        "glue": "verdict_nonserial_decreasing",
        "claim": "non-serial innovators show decreasing returns to clustering",
        "rule": "the non-serial curvature coefficient (of z²) is negative and significant at "
                "the 5% level, and the turning point −b_z/(2 b_z2) lies inside the range of z "
                "observed for non-serial innovators",
    },
    "serial_gain_more": {
        "glue": "verdict_serial_gain_more",
        "claim": "serial innovators gain more from clustering than non-serial innovators",
        "rule": "the difference of average marginal effects, serial − non-serial, is positive "
                "and significant at the 5% level",
    },
}


# --------------------------------------------------------------------------------------------
# The matched design
# --------------------------------------------------------------------------------------------
_BALANCE_VARIABLES = {
    "log_employees": "employees (log)",
    "log_age": "age in years (log)",
    "log1p_patents": "patents (log 1 + count)",
    "z": "clustering z (standardised log LQ)",
}


def balance_table(df: pd.DataFrame, matched_on: Sequence[str] = ("industry", "log_employees"),
                  threshold: float = 0.1, variance_ratio: tuple[float, float] = (0.5, 2.0)
                  ) -> pd.DataFrame:
    """Covariate balance between serial innovators and their matched non-serial innovators.

    Standardised mean difference ``(mean_serial - mean_nonserial) / sqrt((s2_s + s2_n) / 2)``
    and variance ratio ``s2_s / s2_n`` (as :mod:`clusterpolicy.matching`). A variable the
    matching used (``matched_on``) is **unbalanced** when ``|SMD| > threshold`` or, for a
    continuous variable, the variance ratio lies outside ``variance_ratio``. Variables the
    matching did not use may differ by design (serial innovators are older and patent more);
    the models control for them.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`prepare`.
    matched_on : sequence of str
        Variables of the matching; ``"industry"`` stands for all industry indicators.
    threshold : float
        Largest acceptable absolute standardised difference (Austin's 0.1).
    variance_ratio : (float, float)
        Acceptable range of the variance ratio for continuous matching variables.

    Returns
    -------
    DataFrame
        Index ``covariate``; columns ``mean_serial, mean_nonserial, smd, var_ratio,
        matched_on, unbalanced, status``.
    """
    _require_prepared(df)
    s = df["S"].to_numpy() == 1
    columns = {label: df[var].to_numpy(dtype=float) for var, label in _BALANCE_VARIABLES.items()}
    var_of = {label: var for var, label in _BALANCE_VARIABLES.items()}
    for level in sorted(df["industry"].unique()):
        label = f"industry: {level}"
        columns[label] = (df["industry"] == level).to_numpy(dtype=float)
        var_of[label] = "industry"
    rows = {}
    for label, x in columns.items():
        xs, xn = x[s], x[~s]
        vs, vn = xs.var(ddof=1), xn.var(ddof=1)
        scale = math.sqrt((vs + vn) / 2)
        smd = (xs.mean() - xn.mean()) / scale if scale > 0 else 0.0
        ratio = vs / vn if vn > 0 else np.nan
        matched = var_of[label] in matched_on
        continuous = var_of[label] != "industry"
        bad_ratio = continuous and not (variance_ratio[0] <= ratio <= variance_ratio[1])
        unbalanced = bool(matched and (abs(smd) > threshold or bad_ratio))
        if unbalanced:
            status = "unbalanced"
        elif matched:
            status = "balanced"
        else:
            status = "differs (not matched on)" if abs(smd) > threshold else "similar"
        rows[label] = {"mean_serial": xs.mean(), "mean_nonserial": xn.mean(), "smd": smd,
                       "var_ratio": ratio if continuous else np.nan, "matched_on": matched,
                       "unbalanced": unbalanced, "status": status}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "covariate"
    return table


def pair_checks(df: pd.DataFrame, max_size_ratio: float = 2.0) -> pd.DataFrame:
    """Checks of the match structure: serial innovators and their matched non-serial ones.

    A match group (``match_id``) should hold one serial innovator and one non-serial innovator
    (1:1) or several (1:k); a group without both kinds contributes nothing to the comparison.
    Within groups with one serial innovator, each matched non-serial innovator should share
    its industry and have a similar size (employment within ``max_size_ratio``:1).

    Parameters
    ----------
    df : DataFrame
        Output of :func:`prepare`.
    max_size_ratio : float
        Largest employment ratio counted as similar size.

    Returns
    -------
    DataFrame
        Index ``check``; columns ``value`` (a count or share) and ``flag`` (True when the
        check deserves the reader's attention).
    """
    _require_prepared(df)
    groups = df.groupby("match_id", sort=True)
    n_s = groups["S"].sum()
    size = groups.size()
    n_n = size - n_s
    has_both = (n_s >= 1) & (n_n >= 1)
    one_to_one = (n_s == 1) & (n_n == 1)
    one_serial = df["match_id"].map(n_s == 1).to_numpy(dtype=bool)
    ser = df[one_serial & (df["S"] == 1).to_numpy()].set_index("match_id")
    non = df[one_serial & (df["S"] == 0).to_numpy()]
    partner = ser.reindex(non["match_id"])
    if len(non):
        same_ind = float((non["industry"].to_numpy() == partner["industry"].to_numpy()).mean())
        ratio = np.exp(np.abs(non["log_employees"].to_numpy() - partner["log_employees"].to_numpy()))
        within = float((ratio <= max_size_ratio).mean())
    else:
        same_ind = within = np.nan
    n_incomplete = int((~has_both).sum())
    rows = [
        ("firms", float(len(df)), False),
        ("serial innovators", float(df["S"].sum()), False),
        ("non-serial innovators", float((df["S"] == 0).sum()), False),
        ("match groups (match_id)", float(len(size)), False),
        ("1:1 pairs (one serial, one non-serial)", float(one_to_one.sum()), False),
        ("groups with several firms of a kind (1:k)", float((has_both & ~one_to_one).sum()),
         False),
        ("groups without both a serial and a non-serial firm", float(n_incomplete),
         n_incomplete > 0),
        ("share of matches in the serial innovator's industry", same_ind,
         bool(not same_ind >= 1)),
        (f"share of matches with employment within {max_size_ratio:g}:1", within,
         bool(not within >= 0.9)),
    ]
    return pd.DataFrame(rows, columns=["check", "value", "flag"]).set_index("check")


@dataclass
class MatchedDesign:
    """The matched design in one object: balance table, pair checks and notes for the reader."""

    balance: pd.DataFrame
    pairs: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """True when no matching variable is unbalanced and the pair structure is regular."""
        return not self.notes


def matched_design(df: pd.DataFrame, matched_on: Sequence[str] = ("industry", "log_employees"),
                   threshold: float = 0.1) -> MatchedDesign:
    """Balance table, pair checks, and a sentence for each problem found.

    An unbalanced matching does not stop the analysis (the models control for size, age,
    patents and industry, and inference is clustered by ``match_id`` whatever the group
    sizes), but every problem becomes a note the chapter shows in a warning box.
    """
    balance = balance_table(df, matched_on=matched_on, threshold=threshold)
    pairs = pair_checks(df)
    notes = []
    bad = balance[balance["unbalanced"]]
    if len(bad):
        items = ", ".join(f"{name} (SMD {row.smd:+.2f}"
                          + (f", variance ratio {row.var_ratio:.2f})" if np.isfinite(row.var_ratio)
                             else ")") for name, row in bad.iterrows())
        notes.append(f"Matching variables out of balance (|SMD| > {threshold:g} or variance ratio "
                     f"outside [0.5, 2]): {items}. Serial and non-serial innovators then differ "
                     "in ways the matching was meant to remove; the regressions control for "
                     "these variables, but comparisons of raw group means are not like for like.")
    incomplete = int(pairs.loc["groups without both a serial and a non-serial firm", "value"])
    if incomplete:
        notes.append(f"{incomplete} match group(s) lack a serial or a non-serial innovator; their "
                     "firms stay in the estimation (standard errors are clustered by match_id) "
                     "but have no match to be compared with.")
    same = pairs.loc["share of matches in the serial innovator's industry", "value"]
    if not same >= 1:
        notes.append(f"Only {same:.1%} of the matched non-serial innovators share their serial "
                     "innovator's industry; the study matched within industries.")
    size_key = next(k for k in pairs.index if k.startswith("share of matches with employment"))
    if pairs.loc[size_key, "flag"]:
        notes.append(f"Only {pairs.loc[size_key, 'value']:.1%} of the matches have similar size "
                     f"({size_key.removeprefix('share of matches with ')}).")
    return MatchedDesign(balance=balance, pairs=pairs, notes=notes)


# --------------------------------------------------------------------------------------------
# The published findings
# --------------------------------------------------------------------------------------------
def check_findings(results: Mapping[str, MarginResults], df: pd.DataFrame, alpha: float = 0.05,
                   combine: Combine = "all") -> pd.DataFrame:
    """Check the three published findings, margin by margin, with explicit rules.

    Rules, on each margin (see :data:`FINDINGS`), with ``alpha`` the two-sided level:

    * ``both_gain``: AME(serial) > 0 with p < alpha, and AME(non-serial) > 0 with p < alpha;
    * ``nonserial_decreasing``: non-serial curvature ``b_z2 < 0`` with p < alpha, and the
      turning point ``-b_z / (2 b_z2)`` inside ``[min z, max z]`` of the non-serial firms of
      the margin's sample;
    * ``serial_gain_more``: AME(serial) − AME(non-serial) > 0 with p < alpha.

    A finding is ``reproduced`` when its rule holds on every margin (``combine="all"``,
    default: the study claims the pattern for initiating and intensifying) or on at least one
    (``"any"``); otherwise ``not reproduced``.

    Parameters
    ----------
    results : mapping of str to MarginResults
        Margin label -> single-equation result, e.g. ``{"initiation": probit, "intensity":
        fractional_logit}``.
    df : DataFrame
        The prepared data the results were estimated on.
    alpha : float
        Significance level.
    combine : {"all", "any"}

    Returns
    -------
    DataFrame
        One row per statistic: ``finding, margin, statistic, value, se, lower, upper,
        p_value, condition, holds, verdict`` (``verdict`` is the finding's, repeated).
    """
    if combine not in ("all", "any"):
        raise ValueError(f"combine must be 'all' or 'any', got {combine!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not results:
        raise ValueError("check_findings needs at least one margin")
    level = 1 - alpha
    rows: list[dict[str, Any]] = []
    for margin, res in results.items():
        if res.spec.get("margin") == "two_part":
            raise ValueError("check_findings: pass the two parts separately, not the two-part "
                             "combination")
        ame = average_marginal_effects(res, df, level=level)
        for g in GROUPS:
            r = ame.loc[g]
            rows.append({"finding": "both_gain", "margin": margin,
                         "statistic": f"AME of z, {g}", "value": r.ame, "se": r.se,
                         "lower": r.lower, "upper": r.upper, "p_value": r.p_value,
                         "condition": f"> 0 and p < {alpha:g}",
                         "holds": bool(r.ame > 0 and r.p_value < alpha)})
        tp = turning_point(res, "non-serial", level=level)
        ev = _Evaluator(res, df)
        z_non = ev.z[ev.s == 0]
        lo, hi = float(z_non.min()), float(z_non.max())
        rows.append({"finding": "nonserial_decreasing", "margin": margin,
                     "statistic": "curvature b_z2, non-serial", "value": tp["curvature"],
                     "se": tp["curvature_se"],
                     "lower": tp["curvature"] - stats.norm.ppf(1 - alpha / 2) * tp["curvature_se"],
                     "upper": tp["curvature"] + stats.norm.ppf(1 - alpha / 2) * tp["curvature_se"],
                     "p_value": tp["curvature_p"], "condition": f"< 0 and p < {alpha:g}",
                     "holds": bool(tp["curvature"] < 0 and tp["curvature_p"] < alpha)})
        inside = bool(np.isfinite(tp["turning_point"]) and lo <= tp["turning_point"] <= hi)
        rows.append({"finding": "nonserial_decreasing", "margin": margin,
                     "statistic": "turning point in z, non-serial", "value": tp["turning_point"],
                     "se": tp["se"], "lower": tp["lower"], "upper": tp["upper"],
                     "p_value": np.nan, "condition": f"inside observed z range [{lo:.2f}, {hi:.2f}]",
                     "holds": inside})
        r = ame.loc[DIFFERENCE]
        rows.append({"finding": "serial_gain_more", "margin": margin,
                     "statistic": "AME of z, serial − non-serial", "value": r.ame, "se": r.se,
                     "lower": r.lower, "upper": r.upper, "p_value": r.p_value,
                     "condition": f"> 0 and p < {alpha:g}",
                     "holds": bool(r.ame > 0 and r.p_value < alpha)})
    table = pd.DataFrame(rows)
    per_margin = table.groupby(["finding", "margin"], sort=False)["holds"].all()
    combined = per_margin.groupby(level="finding", sort=False).agg("all" if combine == "all" else "any")
    table["verdict"] = table["finding"].map(lambda f: REPRODUCED if combined[f] else NOT_REPRODUCED)
    table.attrs["combine"] = combine
    table.attrs["alpha"] = alpha
    return table


def verdicts(findings: pd.DataFrame) -> dict[str, str]:
    """``{"verdict_both_gain": "reproduced" | "not reproduced", ...}`` from :func:`check_findings`."""
    out = {}
    for key, meta in FINDINGS.items():
        values = findings.loc[findings["finding"] == key, "verdict"].unique()
        if len(values) != 1:
            raise ValueError(f"findings table has no single verdict for {key!r}")
        out[meta["glue"]] = str(values[0])
    return out


# --------------------------------------------------------------------------------------------
# Truth (synthetic data)
# --------------------------------------------------------------------------------------------
def true_params(truth: Mapping[str, Any], result: MarginResults) -> pd.Series:
    """The generator's true parameters in the parameterisation of ``result``.

    Defined for the probit initiation model and the fractional-logit intensity model (both
    correctly specified for the synthetic DGP). Industry effects are re-expressed relative to
    the result's reference industry: ``const + effect(reference)`` and
    ``effect(level) - effect(reference)``.
    """
    key = {"probit": "initiation", "fractional_logit": "intensity"}.get(result.model)
    if key is None or result.spec.get("margin") == "two_part":
        raise ValueError(f"true parameters are defined for the probit initiation and the "
                         f"fractional-logit intensity models, not {result.model!r}")
    eq = truth[key]
    effects = eq.get("industry", {})
    ref = result.spec["industry_reference"]
    out = {}
    for name in result.params.index:
        if name == "const":
            out[name] = eq["const"] + effects.get(ref, 0.0)
        elif name.startswith("industry["):
            level = name[len("industry["):-1]
            out[name] = effects.get(level, 0.0) - effects.get(ref, 0.0)
        else:
            out[name] = eq[name]
    return pd.Series(out, name="truth", dtype=float)


def compare_truth(result: MarginResults, truth: Mapping[str, Any], level: float = 0.95
                  ) -> pd.DataFrame:
    """True parameters beside the estimates: ``truth, estimate, std_error, lower, upper,
    covered`` (index ``term``)."""
    true = true_params(truth, result)
    ci = result.conf_int(level)
    out = pd.DataFrame({"truth": true, "estimate": result.params, "std_error": result.std_errors,
                        "lower": ci["lower"], "upper": ci["upper"]})
    out["covered"] = (out["lower"] <= out["truth"]) & (out["truth"] <= out["upper"])
    out.index.name = "term"
    return out
