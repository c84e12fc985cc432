"""Serial innovators, industrial clustering and the two margins of internationalization.

Study 2 of the book (Libaers & Meyer 2011) on a cross-section of small technology firms:
serial innovators and matched non-serial innovators (``match_id``), whether they
internationalize (*initiation*) and how far (*intensity*: foreign share of sales), against the
level of industrial clustering of their industry in their region.

Only the qualitative pattern of the study is public; every modelling decision below is a
**choice** of this report:

* **Clustering** enters as ``z``, the standardised log location quotient
  ``z = (log(clustering) - mean) / sd`` with the mean and the standard deviation (``ddof=0``)
  over all firms of the sample (as :func:`clusterpolicy.synthetic.generate_techfirms` defines
  it), its square, and both interacted with the serial indicator ``S``::

      index = const + b_z z + b_z2 z^2 + b_s S + b_sz S z + b_sz2 S z^2
              + controls (log age, log employees, log(1 + patents)) + industry effects

  so the non-serial curvature is ``b_z2`` and the serial one ``b_z2 + b_sz2``.
* **Initiation**: probit of ``international`` (logit as robustness).
* **Intensity**: fractional logit, the Bernoulli quasi-likelihood with a logit mean of
  Papke & Wooldridge (1996), of ``foreign_share`` among internationalized firms; combined with
  the initiation model in a **two-part** model for the unconditional expected share
  ``E[share] = P(international) E[share | international]``. A two-limit Tobit (censored at
  0 and 1) on all firms is the robustness check.
* **Inference**: standard errors robust to correlation within matched pairs (clustered by
  ``match_id``, CRV1 with the statsmodels small-sample factor ``G/(G-1) (N-1)/(N-K)``); normal
  critical values. The two parts of the two-part model get a joint cluster-robust covariance.
* **Marginal effects** of ``z`` (one standard deviation of log clustering) on the expected
  outcome, averaged over the firms of a group: at each firm's observed ``z`` (the *average
  marginal effect*, AME) or with every firm of the group set to a grid value of ``z`` (the
  AME *curve*). Standard errors by the delta method (numerical Jacobian) or a pairs bootstrap.

The three published findings are checked by explicit rules (:func:`check_findings`).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from clusterpolicy.results import EstimationResults, caught_warnings

__all__ = [
    "CLUSTERING_TERMS",
    "CONTROLS",
    "FINDINGS",
    "REQUIRED_COLUMNS",
    "MarginResults",
    "MatchedDesign",
    "MonteCarloResults",
    "adjusted_predictions",
    "average_marginal_effects",
    "balance_table",
    "check_findings",
    "compare_truth",
    "initiation",
    "intensity",
    "load",
    "marginal_effects",
    "matched_design",
    "monte_carlo",
    "pair_checks",
    "predict",
    "prepare",
    "true_params",
    "turning_point",
    "two_part",
    "validate",
    "verdicts",
]

Link = Literal["probit", "logit"]
IntensityModel = Literal["fractional_logit", "tobit"]
Method = Literal["delta", "bootstrap"]
Group = Literal["serial", "non-serial"]
Combine = Literal["all", "any"]

REQUIRED_COLUMNS = ("firm_id", "serial", "match_id", "industry", "clustering", "international",
                    "foreign_share", "employees", "age", "patents")
CONTROLS = ("log_age", "log_employees", "log1p_patents")
CLUSTERING_TERMS = ("z", "z2", "serial", "serial_z", "serial_z2")
GROUPS: tuple[Group, Group] = ("serial", "non-serial")
DIFFERENCE = "serial − non-serial"
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

_MODEL_LABEL = {"probit": "probit", "logit": "logit", "fractional_logit": "fractional logit",
                "tobit": "two-limit Tobit", "two_part": "two-part model"}


# --------------------------------------------------------------------------------------------
# Input: validation, loading, preparation
# --------------------------------------------------------------------------------------------
def _offenders(df: pd.DataFrame, mask: np.ndarray, column: str, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = []
    for pos in rows[:limit]:
        label = df.index[pos]
        firm = df["firm_id"].iloc[pos] if "firm_id" in df else None
        value = df[column].iloc[pos]
        value = value.item() if isinstance(value, np.generic) else value
        who = f"row {label}" + (f" (firm_id {firm})" if firm is not None and column != "firm_id" else "")
        shown.append(f"{who}: {value!r}")
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    return f"{rows.size} offending row(s): " + "; ".join(shown) + more


def _numeric(df: pd.DataFrame, column: str, source: str) -> np.ndarray:
    try:
        return pd.to_numeric(df[column]).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: column {column!r}: rule 'must be numeric' failed "
                         f"({exc})") from exc


def validate(techfirms: pd.DataFrame, source: str = "techfirms") -> None:
    """Check the tech-firm cross-section; raise ``ValueError`` naming column, rule and rows.

    Rules: the columns of :data:`REQUIRED_COLUMNS` exist and have no missing values;
    ``firm_id`` is unique; ``serial`` and ``international`` are 0/1 (or boolean);
    ``foreign_share`` lies in [0, 1], is 0 for firms with ``international = 0`` and positive for
    firms with ``international = 1``; ``clustering``, ``employees`` and ``age`` are positive
    (they enter in logs); ``patents`` is non-negative; both groups are present.

    Parameters
    ----------
    techfirms : DataFrame
        One row per firm.
    source : str
        Name of the data (file path) used in the messages.
    """
    if not isinstance(techfirms, pd.DataFrame):
        raise TypeError(f"{source}: expected a pandas DataFrame, got {type(techfirms).__name__}")
    df = techfirms
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing required column(s): {', '.join(map(repr, missing))} "
                         f"(required: {', '.join(REQUIRED_COLUMNS)})")
    for column in REQUIRED_COLUMNS:
        mask = df[column].isna().to_numpy()
        if mask.any():
            raise ValueError(f"{source}: column {column!r}: rule 'no missing values' failed; "
                             + _offenders(df, mask, column))
    dup = df["firm_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise ValueError(f"{source}: column 'firm_id': rule 'unique firm identifier' failed; "
                         + _offenders(df, dup, "firm_id"))
    for column in ("serial", "international"):
        values = _numeric(df, column, source)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"{source}: column {column!r}: rule 'must be 0/1 (or true/false)' "
                             "failed; " + _offenders(df, bad, column))
    share = _numeric(df, "foreign_share", source)
    intl = _numeric(df, "international", source)
    checks: list[tuple[str, np.ndarray, str]] = [
        ("foreign_share", ~((share >= 0) & (share <= 1)), "must lie in [0, 1]"),
        ("foreign_share", (intl == 0) & (share != 0),
         "must be 0 when international = 0 (no foreign sales without internationalization)"),
        ("foreign_share", (intl == 1) & (share <= 0),
         "must be positive when international = 1"),
    ]
    for column, rule in (("clustering", "must be positive (enters in logs)"),
                         ("employees", "must be positive (enters in logs)"),
                         ("age", "must be positive (enters in logs)")):
        values = _numeric(df, column, source)
        checks.append((column, ~(np.isfinite(values) & (values > 0)), rule))
    patents = _numeric(df, "patents", source)
    checks.append(("patents", ~(np.isfinite(patents) & (patents >= 0)), "must be non-negative"))
    for column, bad, rule in checks:
        if bad.any():
            raise ValueError(f"{source}: column {column!r}: rule {rule!r} failed; "
                             + _offenders(df, bad, column))
    serial = _numeric(df, "serial", source)
    if serial.min() == serial.max():
        raise ValueError(f"{source}: column 'serial': rule 'both serial (1) and non-serial (0) "
                         "innovators present' failed")


def load(path: str | Path) -> pd.DataFrame:
    """Read and validate the tech-firm file (CSV or Parquet), recording it as a chapter input.

    Uses ``clusterpolicy.schemas.load_techfirms`` when that loader exists (it validates and
    tracks the file); otherwise reads the file through
    :func:`clusterpolicy.provenance.track_input`. Either way :func:`validate` checks the rules
    the models rely on, naming the file in any error.
    """
    from clusterpolicy import provenance

    loader = None
    try:
        from clusterpolicy import schemas
    except ImportError:
        schemas = None
    if schemas is not None:
        loader = getattr(schemas, "load_techfirms", None)
    if loader is not None:
        df = loader(path)
    else:
        resolved = provenance.track_input(path)
        if resolved.suffix == ".parquet":
            df = pd.read_parquet(resolved)
        else:
            df = pd.read_csv(resolved, dtype={"firm_id": "str", "match_id": "str",
                                              "industry": "str", "region": "str"})
    validate(df, source=str(path))
    return df


def prepare(techfirms: pd.DataFrame, source: str = "techfirms") -> pd.DataFrame:
    """Validated data with the model's variables added.

    Adds ``S`` (serial as 0/1), ``log_clustering``, ``z`` (standardised over all rows,
    ``ddof=0``, exactly as the synthetic generator), ``z2``, ``serial_z``, ``serial_z2``,
    ``log_age``, ``log_employees``, ``log1p_patents`` and ``group`` (``"serial"`` /
    ``"non-serial"``). The mean and standard deviation of log clustering are kept in
    ``attrs["z_mean"]`` and ``attrs["z_sd"]``.

    Parameters
    ----------
    techfirms : DataFrame
        One row per firm with the columns of :data:`REQUIRED_COLUMNS`.
    source : str
        Name of the data used in error messages.

    Returns
    -------
    DataFrame
    """
    validate(techfirms, source)
    df = techfirms.copy()
    df["S"] = pd.to_numeric(df["serial"]).astype(float)
    df["international"] = pd.to_numeric(df["international"]).astype("int64")
    df["foreign_share"] = pd.to_numeric(df["foreign_share"]).astype(float)
    logc = np.log(pd.to_numeric(df["clustering"]).to_numpy(dtype=float))
    mean, sd = float(logc.mean()), float(logc.std())
    if not sd > 0:
        raise ValueError(f"{source}: column 'clustering': rule 'must vary across firms' failed "
                         "(z cannot be standardised)")
    df["log_clustering"] = logc
    df["z"] = (logc - mean) / sd
    df["z2"] = df["z"] ** 2
    df["serial_z"] = df["S"] * df["z"]
    df["serial_z2"] = df["S"] * df["z2"]
    df["log_age"] = np.log(pd.to_numeric(df["age"]).to_numpy(dtype=float))
    df["log_employees"] = np.log(pd.to_numeric(df["employees"]).to_numpy(dtype=float))
    df["log1p_patents"] = np.log1p(pd.to_numeric(df["patents"]).to_numpy(dtype=float))
    df["group"] = np.where(df["S"] == 1, GROUPS[0], GROUPS[1])
    df["industry"] = df["industry"].astype(str)
    df["match_id"] = df["match_id"].astype(str)
    df.attrs["z_mean"], df.attrs["z_sd"] = mean, sd
    return df


def _require_prepared(df: pd.DataFrame) -> None:
    needed = ("S", "z", "z2", "serial_z", "serial_z2", *CONTROLS, "group", "log_clustering")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"data are not prepared (missing {', '.join(missing)}): pass the output "
                         "of internationalization.prepare()")


def _z_scale(df: pd.DataFrame) -> tuple[float, float]:
    if "z_mean" in df.attrs and "z_sd" in df.attrs:
        return float(df.attrs["z_mean"]), float(df.attrs["z_sd"])
    logc, z = df["log_clustering"].to_numpy(), df["z"].to_numpy()
    sd = float(logc.std() / z.std())
    return float(logc.mean() - sd * z.mean()), sd


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
# Results
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class MarginResults(EstimationResults):
    """Estimates of one margin of internationalization (or of the two-part combination).

    Everything of :class:`~clusterpolicy.results.EstimationResults`, plus

    Attributes
    ----------
    cov : DataFrame
        Covariance matrix of ``params`` (cluster-robust by ``match_id``).
    notes : list of str
        What the estimation had to tell the reader (library warnings, convergence).
    spec : dict
        The specification, enough to predict and to re-estimate: ``margin``, ``model``,
        ``controls``, ``industry_reference``, ``industry_levels``, ``sample`` (``"all"`` or
        ``"international"``), ``outcome``.
    """

    cov: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    _scores: np.ndarray | None = field(default=None, repr=False)
    _hess_inv: np.ndarray | None = field(default=None, repr=False)
    _rows: np.ndarray | None = field(default=None, repr=False)  # positions in the prepared data
    _groups: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"<MarginResults {self.model}: {len(self.params)} terms, {self.nobs} obs>"

    @property
    def summary(self) -> str:
        text = super().summary
        if self.notes:
            text += "\nNotes:\n" + "\n".join(f"  - {note}" for note in self.notes)
        return text

    def _repr_html_(self) -> str:
        html = super()._repr_html_()
        if self.notes:
            items = "".join(f"<li>{escape(note)}</li>" for note in self.notes)
            html += f"<p><small>Notes:</small></p><ul><small>{items}</small></ul>"
        return html


@contextmanager
def _capture(notes: list[str], source: str) -> Iterator[None]:
    """Record every warning raised inside the block as a note instead of emitting it."""
    with caught_warnings() as messages:
        yield
    notes.extend(note for note in (f"{source}: {m}" for m in messages) if note not in notes)


def _industry_levels(df: pd.DataFrame) -> tuple[str, list[str]]:
    levels = sorted(df["industry"].unique())
    return levels[0], levels[1:]


def _design(df: pd.DataFrame, controls: Sequence[str], levels: Sequence[str]) -> pd.DataFrame:
    """Regressors in the order const, clustering terms, controls, industry indicators."""
    industry = df["industry"].to_numpy()
    columns = [np.ones(len(df)), *(df["S" if t == "serial" else t].to_numpy(dtype=float)
                                   for t in CLUSTERING_TERMS),
               *(df[c].to_numpy(dtype=float) for c in controls),
               *((industry == level).astype(float) for level in levels)]
    names = ["const", *CLUSTERING_TERMS, *controls, *(f"industry[{lv}]" for lv in levels)]
    return pd.DataFrame(np.column_stack(columns), index=df.index, columns=names)


def _check_design(X: pd.DataFrame, what: str) -> None:
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < X.shape[1]:
        const = [c for c in X.columns if c != "const" and X[c].std() == 0]
        hint = f" (constant columns: {', '.join(const)})" if const else ""
        raise ValueError(f"{what}: the design matrix has rank {rank} < {X.shape[1]} columns; "
                         f"some regressors are collinear{hint}")
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"{what}: {X.shape[0]} observations for {X.shape[1]} parameters")


def _groups_of(df: pd.DataFrame) -> np.ndarray:
    return pd.factorize(df["match_id"], sort=True)[0]


def _cluster_sandwich(scores: np.ndarray, hess_inv: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``H^-1 (sum_g s_g s_g') H^-1`` times ``G/(G-1) (N-1)/(N-K)`` (statsmodels' CRV1)."""
    n, k = scores.shape
    n_groups = int(groups.max()) + 1
    sums = np.zeros((n_groups, k))
    np.add.at(sums, groups, scores)
    sums = sums[np.bincount(groups, minlength=n_groups) > 0]
    g = sums.shape[0]
    meat = sums.T @ sums
    return hess_inv @ meat @ hess_inv * (g / (g - 1) * (n - 1) / (n - k))


def _inference_dict(n_clusters: int, extra: str = "") -> dict[str, Any]:
    out = {"covariance": "cluster-robust by match_id (CRV1, small-sample factor "
                         "G/(G-1)·(N-1)/(N-K))" + extra,
           "clusters": n_clusters, "critical values": "normal"}
    return out


def _fit_index(df: pd.DataFrame, model: str, controls: Sequence[str], *, margin: str,
               sample: str, outcome: str, robust: bool = True) -> MarginResults:
    """Fit a probit, logit or fractional logit on ``df`` (already the estimation sample)."""
    import statsmodels.api as sm

    reference, levels = _industry_levels(df)
    X = _design(df, controls, levels)
    what = f"{margin} ({_MODEL_LABEL[model]})"
    _check_design(X, what)
    groups = _groups_of(df)
    notes: list[str] = []
    kwargs: dict[str, Any] = ({"cov_type": "cluster", "cov_kwds": {"groups": groups}} if robust
                              else {})
    with _capture(notes, f"{what}, statsmodels"):
        if model == "fractional_logit":
            y = df["foreign_share"].to_numpy(dtype=float)
            mod = sm.GLM(y, X, family=sm.families.Binomial())
            fit = mod.fit(**kwargs)
            converged = bool(fit.converged)
        else:
            y = df["international"].to_numpy(dtype=float)
            mod = (sm.Probit if model == "probit" else sm.Logit)(y, X)
            fit = mod.fit(disp=0, method="newton", maxiter=100, **kwargs)
            converged = bool(fit.mle_retvals.get("converged", True))
    if not converged:
        notes.append(f"{what}: the optimiser did not converge; estimates are unreliable")
    params = pd.Series(np.asarray(fit.params, dtype=float), index=X.columns)
    if robust:
        cov = pd.DataFrame(np.asarray(fit.cov_params(), dtype=float), index=X.columns,
                           columns=X.columns)
        scores = np.asarray(mod.score_obs(params.to_numpy()), dtype=float)
        hess_inv = np.linalg.inv(np.asarray(mod.hessian(params.to_numpy()), dtype=float))
    else:
        cov = pd.DataFrame(np.nan, index=X.columns, columns=X.columns)
        scores = hess_inv = None
    spec = {"margin": margin, "model": model, "controls": tuple(controls),
            "industry_reference": reference, "industry_levels": list(levels), "sample": sample,
            "outcome": outcome}
    inference = _inference_dict(len(np.unique(groups)))
    if model == "fractional_logit":
        inference["estimator"] = ("Bernoulli quasi-likelihood, logit mean (Papke–Wooldridge); "
                                  "sandwich covariance")
    return MarginResults(params=params, std_errors=pd.Series(np.sqrt(np.diag(cov)), index=X.columns),
                         nobs=len(df),
                         model=model, inference=inference,
                         extra={"converged": converged, "reference_industry": reference},
                         cov=cov, notes=notes, spec=spec, _scores=scores, _hess_inv=hess_inv,
                         _groups=groups)


def initiation(df: pd.DataFrame, link: Link = "probit",
               controls: Sequence[str] = CONTROLS, *, robust: bool = True) -> MarginResults:
    """Initiation margin: binary choice model of ``international`` on all firms.

    ``P(international = 1) = F(index)`` with ``F`` the normal (``link="probit"``) or logistic
    (``"logit"``) distribution function and the index of the module docstring.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`prepare`.
    link : {"probit", "logit"}
        Link function; probit is the main specification.
    controls : sequence of str
        Control variables (columns of ``df``); industry effects are always included (the
        alphabetically first industry is the reference).
    robust : bool
        Cluster-robust covariance by ``match_id`` (default). ``False`` skips the covariance
        (point estimates only, as the bootstrap needs).

    Returns
    -------
    MarginResults
    """
    if link not in ("probit", "logit"):
        raise ValueError(f"link must be 'probit' or 'logit', got {link!r}")
    _require_prepared(df)
    res = _fit_index(df, link, controls, margin="initiation", sample="all",
                     outcome="P(international = 1)", robust=robust)
    res._rows = np.arange(len(df))
    return res


def intensity(df: pd.DataFrame, model: IntensityModel = "fractional_logit",
              controls: Sequence[str] = CONTROLS, *, robust: bool = True) -> MarginResults:
    """Intensity margin: the foreign share of sales.

    ``model="fractional_logit"``: ``E[share | international = 1] = logistic(index)``,
    estimated by Bernoulli quasi-likelihood (Papke & Wooldridge 1996) among internationalized
    firms; consistent whenever the conditional mean is right, whatever the distribution of the
    share. ``model="tobit"``: a two-limit Tobit (latent index censored at 0 and 1) on **all**
    firms, whose expected value is the unconditional share; a one-part alternative to
    :func:`two_part`.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`prepare` (all firms; the function selects the sample).
    model : {"fractional_logit", "tobit"}
    controls : sequence of str
    robust : bool
        See :func:`initiation`.

    Returns
    -------
    MarginResults
    """
    if model not in ("fractional_logit", "tobit"):
        raise ValueError(f"model must be 'fractional_logit' or 'tobit', got {model!r}")
    _require_prepared(df)
    if model == "tobit":
        return _tobit(df, controls, robust=robust)
    mask = df["international"].to_numpy() == 1
    if mask.sum() == 0:
        raise ValueError("intensity: no internationalized firm (international = 1) in the data")
    sub = df[mask]
    res = _fit_index(sub, "fractional_logit", controls, margin="intensity",
                     sample="international", outcome="E[foreign_share | international = 1]",
                     robust=robust)
    res._rows = np.flatnonzero(mask)
    res.extra["n_international"] = int(mask.sum())
    return res


# -- two-limit Tobit ---------------------------------------------------------------------------
def _tobit_obs(theta: np.ndarray, y: np.ndarray, X: np.ndarray,
               lower: float = 0.0, upper: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-observation log-likelihood and scores of the two-limit Tobit in (beta, log sigma)."""
    beta, log_sigma = theta[:-1], theta[-1]
    sigma = math.exp(log_sigma)
    mu = X @ beta
    ll = np.empty_like(y)
    d_mu = np.empty_like(y)
    d_ls = np.empty_like(y)
    left, right = y <= lower, y >= upper
    mid = ~(left | right)
    a = (lower - mu[left]) / sigma
    lam = np.exp(stats.norm.logpdf(a) - special.log_ndtr(a))
    ll[left] = special.log_ndtr(a)
    d_mu[left] = -lam / sigma
    d_ls[left] = -lam * a
    c = (mu[right] - upper) / sigma
    lam = np.exp(stats.norm.logpdf(c) - special.log_ndtr(c))
    ll[right] = special.log_ndtr(c)
    d_mu[right] = lam / sigma
    d_ls[right] = -lam * c
    r = (y[mid] - mu[mid]) / sigma
    ll[mid] = stats.norm.logpdf(r) - log_sigma
    d_mu[mid] = r / sigma
    d_ls[mid] = r**2 - 1
    scores = np.column_stack([X * d_mu[:, None], d_ls])
    return ll, scores


def _tobit(df: pd.DataFrame, controls: Sequence[str], robust: bool = True) -> MarginResults:
    reference, levels = _industry_levels(df)
    Xf = _design(df, controls, levels)
    what = "intensity (two-limit Tobit)"
    _check_design(Xf, what)
    X = Xf.to_numpy()
    y = df["foreign_share"].to_numpy(dtype=float)
    notes: list[str] = []
    start_beta = np.linalg.lstsq(X, y, rcond=None)[0]
    start = np.r_[start_beta, math.log(max(float(np.std(y - X @ start_beta)), 1e-3))]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, sc = _tobit_obs(theta, y, X)
        return -float(ll.sum()), -sc.sum(axis=0)

    with _capture(notes, f"{what}, scipy"):
        opt = optimize.minimize(fun, start, jac=True, method="BFGS",
                                options={"gtol": 1e-8, "maxiter": 2000})
    theta = opt.x
    grad_norm = float(np.max(np.abs(fun(theta)[1])))
    converged = bool(opt.success or grad_norm < 1e-4)
    if not converged:
        notes.append(f"{what}: the optimiser did not converge ({opt.message}); estimates are "
                     "unreliable")
    names = [*Xf.columns, "sigma"]
    sigma = math.exp(theta[-1])
    params = pd.Series(np.r_[theta[:-1], sigma], index=names)
    groups = _groups_of(df)
    if robust:
        # Hessian of the log-likelihood: central differences of the analytic score.
        k = theta.size
        hess = np.empty((k, k))
        for j in range(k):
            h = 1e-5 * max(1.0, abs(theta[j]))
            up, dn = theta.copy(), theta.copy()
            up[j] += h
            dn[j] -= h
            hess[:, j] = (_tobit_obs(up, y, X)[1].sum(axis=0)
                          - _tobit_obs(dn, y, X)[1].sum(axis=0)) / (2 * h)
        hess = (hess + hess.T) / 2
        hess_inv = np.linalg.inv(hess)
        scores = _tobit_obs(theta, y, X)[1]
        cov_log = _cluster_sandwich(scores, hess_inv, groups)
        jac = np.eye(k)
        jac[-1, -1] = sigma  # d sigma / d log sigma
        cov_np = jac @ cov_log @ jac.T
        # scores and bread in the (beta, sigma) parameterisation, for joint covariances
        scores = scores / np.r_[np.ones(k - 1), sigma]
        hess_inv = jac @ hess_inv @ jac.T
    else:
        cov_np = np.full((theta.size, theta.size), np.nan)
        scores = hess_inv = None
    cov = pd.DataFrame(cov_np, index=names, columns=names)
    spec = {"margin": "intensity", "model": "tobit", "controls": tuple(controls),
            "industry_reference": reference, "industry_levels": list(levels), "sample": "all",
            "outcome": "E[foreign_share] (unconditional)"}
    inference = _inference_dict(len(np.unique(groups)), "; Hessian by differences of the "
                                "analytic score")
    inference["censoring"] = "latent index censored at 0 and 1"
    return MarginResults(params=params, std_errors=pd.Series(np.sqrt(np.diag(cov_np)), index=names),
                         nobs=len(df),
                         model="tobit", inference=inference,
                         extra={"converged": converged, "reference_industry": reference,
                                "loglik": -float(opt.fun),
                                "n_left_censored": int((y <= 0).sum()),
                                "n_right_censored": int((y >= 1).sum())},
                         cov=cov, notes=notes, spec=spec, _scores=scores, _hess_inv=hess_inv,
                         _rows=np.arange(len(df)), _groups=groups)


def two_part(init_res: MarginResults, int_res: MarginResults,
             df: pd.DataFrame | None = None) -> MarginResults:
    """Combine an initiation model and a fractional-logit intensity model.

    ``E[share] = P(international = 1) · E[share | international = 1]``. The parameters are
    those of the two parts (prefixed ``initiation:`` and ``intensity:``); their joint
    covariance is cluster-robust by ``match_id`` across both equations (the diagonal blocks
    equal the parts' own covariances; the off-diagonal block comes from the within-pair
    correlation of the two equations' scores).

    Parameters
    ----------
    init_res : MarginResults
        From :func:`initiation`.
    int_res : MarginResults
        From :func:`intensity` with ``model="fractional_logit"``.
    df : DataFrame, optional
        The prepared data both were estimated on (used to check that they match).

    Returns
    -------
    MarginResults
    """
    if init_res.spec.get("margin") != "initiation":
        raise ValueError("two_part: the first argument must come from initiation()")
    if int_res.spec.get("model") != "fractional_logit":
        raise ValueError("two_part: the second argument must come from "
                         "intensity(model='fractional_logit')")
    if df is not None and init_res.nobs != len(df):
        raise ValueError("two_part: the initiation model was not estimated on these data")
    p1 = init_res.params.rename(lambda t: f"initiation:{t}")
    p2 = int_res.params.rename(lambda t: f"intensity:{t}")
    params = pd.concat([p1, p2])
    k1, k2 = len(p1), len(p2)
    have = all(r._scores is not None for r in (init_res, int_res))
    if have:
        n = init_res.nobs
        scores = np.zeros((n, k1 + k2))
        scores[:, :k1] = init_res._scores * math.sqrt(_crv1_factor(init_res))
        scores[int_res._rows, k1:] = int_res._scores * math.sqrt(_crv1_factor(int_res))
        bread = np.zeros((k1 + k2, k1 + k2))
        bread[:k1, :k1], bread[k1:, k1:] = init_res._hess_inv, int_res._hess_inv
        groups = init_res._groups
        n_groups = int(groups.max()) + 1
        sums = np.zeros((n_groups, k1 + k2))
        np.add.at(sums, groups, scores)
        cov_np = bread @ (sums.T @ sums) @ bread
    else:
        cov_np = np.full((k1 + k2, k1 + k2), np.nan)
    cov = pd.DataFrame(cov_np, index=params.index, columns=params.index)
    spec = {"margin": "two_part", "model": "two_part", "parts": (init_res.spec, int_res.spec),
            "k_initiation": k1, "sample": "all", "controls": init_res.spec["controls"],
            "outcome": "E[foreign_share] = P(international) · E[share | international]"}
    inference = dict(init_res.inference)
    inference["covariance"] = ("joint cluster-robust by match_id across both parts (each "
                               "block with its part's CRV1 factor)")
    return MarginResults(params=params, std_errors=pd.Series(np.sqrt(np.diag(cov_np)), index=params.index),
                         nobs=init_res.nobs,
                         model="two_part", inference=inference,
                         extra={"initiation_model": init_res.model},
                         cov=cov, notes=[*init_res.notes, *int_res.notes], spec=spec,
                         _rows=np.arange(init_res.nobs), _groups=init_res._groups)


def _crv1_factor(res: MarginResults) -> float:
    n, k = res._scores.shape
    g = len(np.unique(res._groups))
    return g / (g - 1) * (n - 1) / (n - k)


# --------------------------------------------------------------------------------------------
# Predictions and marginal effects
# --------------------------------------------------------------------------------------------
@dataclass
class _Eq:
    """One equation evaluated on a data set: its index apart from the clustering terms."""

    model: str
    other: np.ndarray  # columns: const, controls, industry indicators
    idx_other: np.ndarray  # positions of those columns in the parameter vector
    idx_terms: np.ndarray  # positions of z, z2, serial, serial_z, serial_z2
    idx_sigma: int | None


def _equation(spec: Mapping[str, Any], names: Sequence[str], df: pd.DataFrame) -> _Eq:
    levels = spec["industry_levels"]
    X = _design(df, spec["controls"], levels)
    other_cols = [c for c in X.columns if c not in CLUSTERING_TERMS]
    pos = {n: i for i, n in enumerate(names)}
    return _Eq(model=spec["model"], other=X[other_cols].to_numpy(),
               idx_other=np.array([pos[c] for c in other_cols]),
               idx_terms=np.array([pos[c] for c in CLUSTERING_TERMS]),
               idx_sigma=pos.get("sigma"))


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _npdf(x: np.ndarray) -> np.ndarray:
    """Standard normal density (scipy.stats' generic machinery is slow in inner loops)."""
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _response(eq: _Eq, theta: np.ndarray, z: np.ndarray, s: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Expected outcome and its derivative with respect to z.

    ``z`` and ``s`` have one row per firm (``eq.other``'s rows); ``z`` may have a second axis
    (a grid of values for every firm), in which case ``s`` is a column.
    """
    b_z, b_z2, b_s, b_sz, b_sz2 = theta[eq.idx_terms]
    lin = eq.other @ theta[eq.idx_other]
    if z.ndim == 2:
        lin = lin[:, None]
    xb = lin + b_z * z + b_z2 * z**2 + s * (b_s + b_sz * z + b_sz2 * z**2)
    dxb = b_z + 2 * b_z2 * z + s * (b_sz + 2 * b_sz2 * z)
    if eq.model == "probit":
        m, dm = special.ndtr(xb), _npdf(xb)
    elif eq.model in ("logit", "fractional_logit"):
        m = special.expit(xb)
        dm = m * (1 - m)
    elif eq.model == "tobit":
        sigma = theta[eq.idx_sigma]
        a, b = -xb / sigma, (1 - xb) / sigma
        pa, pb = special.ndtr(a), special.ndtr(b)
        m = (1 - pb) + xb * (pb - pa) + sigma * (_npdf(a) - _npdf(b))
        dm = pb - pa
    else:  # pragma: no cover - guarded by the callers
        raise ValueError(f"unknown model {eq.model!r}")
    return m, dm * dxb


class _Evaluator:
    """Expected outcome and its derivative in z for a result on a data set, as functions of
    the parameter vector, for the firms of the result's sample (all firms, or the
    internationalized ones), optionally restricted to one group."""

    def __init__(self, result: MarginResults, df: pd.DataFrame):
        _require_prepared(df)
        spec = result.spec
        self.two_part = spec["margin"] == "two_part"
        data = df[df["international"].to_numpy() == 1] if spec["sample"] == "international" else df
        self.data = data
        self.s = data["S"].to_numpy(dtype=float)
        self.z = data["z"].to_numpy(dtype=float)
        names = list(result.params.index)
        self.k1 = spec.get("k_initiation", len(names))
        if self.two_part:
            self.eqs = [_equation(spec["parts"][0], [n.split(":", 1)[1] for n in names[:self.k1]],
                                  data),
                        _equation(spec["parts"][1], [n.split(":", 1)[1] for n in names[self.k1:]],
                                  data)]
        else:
            self.eqs = [_equation(spec, names, data)]
        self._parts: dict[str, tuple[list[_Eq], np.ndarray, np.ndarray]] = {}

    def mask(self, group: str) -> np.ndarray:
        if group == "all":
            return np.ones(self.s.size, dtype=bool)
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}")
        return self.s == (1.0 if group == "serial" else 0.0)

    def groups(self, by: Literal["serial"] | None) -> list[str]:
        if by is None:
            return ["all"]
        if by != "serial":
            raise ValueError(f"by must be 'serial' or None, got {by!r}")
        empty = [g for g in GROUPS if not self.mask(g).any()]
        if empty:
            raise ValueError(f"no {' or '.join(empty)} innovators in the sample of this margin")
        return list(GROUPS)

    def _part(self, group: str) -> tuple[list[_Eq], np.ndarray, np.ndarray]:
        if group not in self._parts:
            m = self.mask(group)
            eqs = [_Eq(e.model, e.other[m], e.idx_other, e.idx_terms, e.idx_sigma) for e in self.eqs]
            self._parts[group] = (eqs, self.s[m], self.z[m])
        return self._parts[group]

    def evaluate(self, theta: np.ndarray, group: str = "all", grid: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Expected outcome and d/dz per firm of ``group``: at the observed z, or (with
        ``grid``) an array firms x grid values with every firm set to each value."""
        eqs, s, z = self._part(group)
        if grid is not None:
            z = np.broadcast_to(np.asarray(grid, dtype=float)[None, :], (s.size, len(grid)))
            s = s[:, None]
        if not self.two_part:
            return _response(eqs[0], theta, z, s)
        p, dp = _response(eqs[0], theta[: self.k1], z, s)
        m, dm = _response(eqs[1], theta[self.k1:], z, s)
        return p * m, dp * m + p * dm

    def ames(self, theta: np.ndarray) -> np.ndarray:
        """AME serial, AME non-serial and their difference, at the observed z."""
        a = [self.evaluate(theta, g)[1].mean() for g in self.groups("serial")]
        return np.array([a[0], a[1], a[0] - a[1]])

    def curve(self, theta: np.ndarray, groups: Sequence[str], grid: np.ndarray) -> np.ndarray:
        """AME at each grid value, group after group (one flat vector)."""
        return np.concatenate([self.evaluate(theta, g, grid)[1].mean(axis=0) for g in groups])


def predict(result: MarginResults, df: pd.DataFrame) -> pd.Series:
    """Expected outcome of ``result``'s margin for each firm of its sample in ``df``."""
    ev = _Evaluator(result, df)
    m, _ = ev.evaluate(result.params.to_numpy())
    return pd.Series(m, index=ev.data.index, name="expected")


def _jacobian(fun: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    base = fun(theta)
    jac = np.empty((base.size, theta.size))
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        jac[:, j] = (fun(up) - fun(dn)) / (2 * h)
    return jac


def _delta(fun: Callable[[np.ndarray], np.ndarray], result: MarginResults
           ) -> tuple[np.ndarray, np.ndarray]:
    theta = result.params.to_numpy()
    jac = _jacobian(fun, theta)
    cov = jac @ result.cov.to_numpy() @ jac.T
    return fun(theta), np.sqrt(np.clip(np.diag(cov), 0, None))


def _grid_values(df: pd.DataFrame, grid: int | Sequence[float] | np.ndarray) -> np.ndarray:
    if isinstance(grid, int | np.integer):
        if grid < 2:
            raise ValueError(f"grid must have at least 2 points, got {grid}")
        z = df["z"].to_numpy()
        return np.linspace(z.min(), z.max(), int(grid))
    values = np.asarray(grid, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("grid must be a number of points or finite z values")
    return values


def _resample_pairs(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    codes = pd.factorize(df["match_id"], sort=True)[0]
    n_groups = codes.max() + 1
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(codes, minlength=n_groups))]
    pick = rng.integers(0, n_groups, n_groups)
    rows = np.concatenate([order[starts[g]:starts[g + 1]] for g in pick])
    new_id = np.concatenate([np.full(starts[g + 1] - starts[g], i) for i, g in enumerate(pick)])
    out = df.iloc[rows].copy()
    out["match_id"] = new_id
    out.index = pd.RangeIndex(len(out))
    out.attrs = dict(df.attrs)
    return out


def _refit(result: MarginResults, df: pd.DataFrame) -> MarginResults:
    spec = result.spec
    if spec["margin"] == "two_part":
        p_init, p_int = spec["parts"]
        a = initiation(df, link=p_init["model"], controls=p_init["controls"], robust=False)
        b = intensity(df, model="fractional_logit", controls=p_int["controls"], robust=False)
        return two_part(a, b)
    if spec["margin"] == "initiation":
        return initiation(df, link=spec["model"], controls=spec["controls"], robust=False)
    return intensity(df, model=spec["model"], controls=spec["controls"], robust=False)


def _boot_batch(result: MarginResults, df: pd.DataFrame,
                stat: Callable[[MarginResults, pd.DataFrame], np.ndarray],
                seeds: Sequence[np.random.SeedSequence]) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # estimations record their warnings as notes
        for ss in seeds:
            sample = _resample_pairs(df, np.random.default_rng(ss))
            try:
                refit = _refit(result, sample)
            except (ValueError, np.linalg.LinAlgError):
                out.append(None)
                continue
            out.append(None if refit.notes else stat(refit, sample))
    return out


def _bootstrap(result: MarginResults, df: pd.DataFrame,
               stat: Callable[[MarginResults, pd.DataFrame], np.ndarray], n_boot: int,
               seed: int, n_jobs: int = 1) -> tuple[np.ndarray, int, list[str]]:
    """Pairs (match_id) bootstrap of ``stat``: re-estimate and re-average on each resample.

    Replication ``b`` resamples with its own ``SeedSequence(seed).spawn(n_boot)[b]``, so the
    draws do not depend on ``n_jobs``. A replication fails when the resample's design is rank
    deficient or the estimation warns (e.g. perfect prediction); failures are dropped and
    counted.
    """
    from joblib import Parallel, delayed

    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    children = np.random.SeedSequence(int(seed)).spawn(int(n_boot))
    size = max(1, math.ceil(len(children) / (4 * _workers(n_jobs))))
    batches = [children[i:i + size] for i in range(0, len(children), size)]
    out = Parallel(n_jobs=n_jobs)(delayed(_boot_batch)(result, df, stat, b) for b in batches)
    draws = [d for batch in out for d in batch if d is not None]
    failed = int(n_boot) - len(draws)
    notes = []
    if failed:
        notes.append(f"bootstrap: {failed} of {n_boot} replications failed (rank-deficient "
                     "resample or estimation warnings) and were dropped")
    if len(draws) < 2:
        raise ValueError("bootstrap: fewer than two successful replications")
    return np.vstack(draws), failed, notes


def _workers(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        import os

        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def marginal_effects(result: MarginResults, df: pd.DataFrame,
                     grid: int | Sequence[float] | np.ndarray = 41,
                     by: Literal["serial"] | None = "serial", method: Method = "delta",
                     level: float = 0.95, n_boot: int = 199, seed: int = 0, n_jobs: int = 1
                     ) -> pd.DataFrame:
    """Average marginal effect of clustering along its observed range, by group.

    For each grid value ``z0`` and group ``g``:
    ``AME(z0, g) = mean over firms i of g of d E[y | x_i, z = z0] / dz``, the firms' other
    characteristics held at their observed values (firms of the margin's estimation sample:
    internationalized firms for the fractional logit, all firms otherwise). The effect is per
    standard deviation of log clustering.

    Parameters
    ----------
    result : MarginResults
        From :func:`initiation`, :func:`intensity` or :func:`two_part`.
    df : DataFrame
        The prepared data (all firms) the result was estimated on.
    grid : int or array of float
        Number of evenly spaced points between the smallest and largest observed ``z``
        (all firms), or the ``z`` values themselves.
    by : {"serial", None}
        Curves by group (default) or pooled.
    method : {"delta", "bootstrap"}
        Delta method with a numerical Jacobian and the result's covariance, or a pairs
        bootstrap (resampling ``match_id`` groups, re-estimating; standard error = standard
        deviation of the draws, percentile interval).
    level : float
        Confidence level of the pointwise bands.
    n_boot, seed, n_jobs : int
        Bootstrap replications, seed and parallel jobs (``method="bootstrap"`` only; the
        draws do not depend on ``n_jobs``).

    Returns
    -------
    DataFrame
        Columns ``margin, model, group, z, clustering, ame, se, lower, upper``; ``clustering``
        is the location quotient at ``z``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if method not in ("delta", "bootstrap"):
        raise ValueError(f"method must be 'delta' or 'bootstrap', got {method!r}")
    _require_prepared(df)
    z_grid = _grid_values(df, grid)

    def stat(res: MarginResults, data: pd.DataFrame) -> np.ndarray:
        ev_b = _Evaluator(res, data)
        return ev_b.curve(res.params.to_numpy(), ev_b.groups(by), z_grid)

    ev = _Evaluator(result, df)
    groups = ev.groups(by)
    crit = stats.norm.ppf(0.5 + level / 2)
    if method == "delta":
        value, se = _delta(lambda theta: ev.curve(theta, groups, z_grid), result)
        lower, upper = value - crit * se, value + crit * se
        inference = "delta method (numerical Jacobian, cluster-robust covariance)"
    else:
        value = stat(result, df)
        draws, failed, _ = _bootstrap(result, df, stat, n_boot, seed, n_jobs)
        se = draws.std(axis=0, ddof=1)
        lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        inference = (f"pairs bootstrap ({n_boot} replications, {failed} failed, seed {seed}), "
                     "percentile interval")
    mean, sd = _z_scale(df)
    zz = np.tile(z_grid, len(groups))
    out = pd.DataFrame({"margin": result.spec["margin"], "model": result.model,
                        "group": np.repeat(groups, len(z_grid)),
                        "z": zz, "clustering": np.exp(mean + sd * zz), "ame": value, "se": se,
                        "lower": lower, "upper": upper})
    out.attrs["inference"] = inference
    return out


def adjusted_predictions(result: MarginResults, df: pd.DataFrame,
                         grid: int | Sequence[float] | np.ndarray = 41,
                         by: Literal["serial"] | None = "serial", level: float = 0.95
                         ) -> pd.DataFrame:
    """Average expected outcome along clustering, by group (delta-method bands).

    ``AP(z0, g) = mean over firms i of g of E[y | x_i, z = z0]``: the level whose slope
    :func:`marginal_effects` reports. Same firms, grid and output columns as there, with
    ``prediction`` in place of ``ame``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _require_prepared(df)
    z_grid = _grid_values(df, grid)
    ev = _Evaluator(result, df)
    groups = ev.groups(by)

    def fun(theta: np.ndarray) -> np.ndarray:
        return np.concatenate([ev.evaluate(theta, g, z_grid)[0].mean(axis=0) for g in groups])

    value, se = _delta(fun, result)
    crit = stats.norm.ppf(0.5 + level / 2)
    mean, sd = _z_scale(df)
    zz = np.tile(z_grid, len(groups))
    return pd.DataFrame({"margin": result.spec["margin"], "model": result.model,
                         "group": np.repeat(groups, len(z_grid)), "z": zz,
                         "clustering": np.exp(mean + sd * zz), "prediction": value, "se": se,
                         "lower": value - crit * se, "upper": value + crit * se})


def average_marginal_effects(result: MarginResults, df: pd.DataFrame,
                             method: Method = "delta", level: float = 0.95, n_boot: int = 199,
                             seed: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """Average marginal effect of clustering in each group at the firms' observed values.

    ``AME(g) = mean over firms i of g of d E[y | x_i] / dz`` (each firm at its own ``z``), and
    the difference serial − non-serial with its standard error (the covariance of the two
    is taken into account: both come from the same parameter vector).

    Returns
    -------
    DataFrame
        Index ``group`` (``serial``, ``non-serial``, ``serial − non-serial``); columns
        ``ame, se, lower, upper, p_value, n``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if method not in ("delta", "bootstrap"):
        raise ValueError(f"method must be 'delta' or 'bootstrap', got {method!r}")

    def stat(res: MarginResults, data: pd.DataFrame) -> np.ndarray:
        return _Evaluator(res, data).ames(res.params.to_numpy())

    ev = _Evaluator(result, df)
    crit = stats.norm.ppf(0.5 + level / 2)
    if method == "delta":
        value, se = _delta(ev.ames, result)
        lower, upper = value - crit * se, value + crit * se
    else:
        value = stat(result, df)
        draws, failed, _ = _bootstrap(result, df, stat, n_boot, seed, n_jobs)
        se = draws.std(axis=0, ddof=1)
        lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(value / se))
    n_s, n_n = int(ev.mask("serial").sum()), int(ev.mask("non-serial").sum())
    n = [n_s, n_n, n_s + n_n]
    out = pd.DataFrame({"ame": value, "se": se, "lower": lower, "upper": upper, "p_value": p,
                        "n": n}, index=pd.Index([*GROUPS, DIFFERENCE], name="group"))
    out.attrs["inference"] = ("delta method (numerical Jacobian, cluster-robust covariance)"
                              if method == "delta" else
                              f"pairs bootstrap ({n_boot} replications, {failed} failed, seed "
                              f"{seed}), percentile interval")
    return out


def turning_point(result: MarginResults, group: Group = "non-serial", level: float = 0.95
                  ) -> pd.Series:
    """Turning point ``-b1 / (2 b2)`` of a group's clustering profile, in z and in LQ units.

    Non-serial: ``b1 = b_z``, ``b2 = b_z2``; serial: ``b1 = b_z + b_sz``,
    ``b2 = b_z2 + b_sz2``. Standard error by the delta method.

    Returns
    -------
    Series
        ``curvature, curvature_se, curvature_p, turning_point, se, lower, upper``.
    """
    if result.spec.get("margin") == "two_part":
        raise ValueError("turning_point: use one part of the two-part model")
    if group not in GROUPS:
        raise ValueError(f"group must be 'serial' or 'non-serial', got {group!r}")
    names = list(result.params.index)
    i = {t: names.index(t) for t in CLUSTERING_TERMS}
    w1 = np.zeros(len(names))
    w2 = np.zeros(len(names))
    w1[i["z"]] = 1
    w2[i["z2"]] = 1
    if group == "serial":
        w1[i["serial_z"]] = 1
        w2[i["serial_z2"]] = 1
    theta, cov = result.params.to_numpy(), result.cov.to_numpy()
    b1, b2 = w1 @ theta, w2 @ theta
    curv_se = math.sqrt(max(w2 @ cov @ w2, 0.0))
    tp = -b1 / (2 * b2) if b2 != 0 else np.nan
    grad = -w1 / (2 * b2) + b1 * w2 / (2 * b2**2) if b2 != 0 else np.full(len(names), np.nan)
    se = math.sqrt(max(grad @ cov @ grad, 0.0)) if b2 != 0 else np.nan
    crit = stats.norm.ppf(0.5 + level / 2)
    p = 2 * stats.norm.sf(abs(b2 / curv_se)) if curv_se > 0 else np.nan
    return pd.Series({"slope_at_mean": b1, "curvature": b2, "curvature_se": curv_se,
                      "curvature_p": p, "turning_point": tp, "se": se,
                      "lower": tp - crit * se, "upper": tp + crit * se})


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


# --------------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------------
MC_TERMS = ("z", "z2", "serial", "serial_z", "serial_z2", *CONTROLS)


def _mc_replication(seed: int, n_pairs: int, truth: Mapping[str, Any] | None, level: float
                    ) -> dict[str, Any]:
    from clusterpolicy import synthetic

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
        standard error, coverage of the intervals and its Monte Carlo standard error."""
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
        """Share of replications in which each finding is ``reproduced``."""
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
