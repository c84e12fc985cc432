"""The study-2 sample: the tech-firm rules the models rely on beyond the input schema, and the
model variables (standardised log clustering ``z``, its square, interactions, controls).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from clusterpolicy.data import read

Group = Literal["serial", "non-serial"]


#: The columns of the tech-firm file that the study-2 models use.
REQUIRED_COLUMNS = ("firm_id", "serial", "match_id", "industry", "clustering", "international",
                    "foreign_share", "employees", "age", "patents")


#: The control variables of the margins models.
CONTROLS = ("log_age", "log_employees", "log1p_patents")


#: The model terms in clustering and serial innovation (``z`` is standardised log clustering).
CLUSTERING_TERMS = ("z", "z2", "serial", "serial_z", "serial_z2")


#: The two groups of innovators.
GROUPS: tuple[Group, Group] = ("serial", "non-serial")


#: The label of the difference between the groups.
DIFFERENCE = "serial − non-serial"


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

    Notes
    -----
    A file read with :func:`load` has already passed the ``techfirms`` schema
    (:mod:`clusterpolicy.data.schemas`), which enforces every rule here but two: a positive
    ``foreign_share`` when ``international = 1``, and both groups present (implied there only
    by the rule that each ``match_id`` holds a serial and a non-serial firm). The rules also
    check data that never were a file (the synthetic generator's frames, edited test data).
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
    """Read the tech-firm file with :func:`clusterpolicy.data.read.load_techfirms` (which
    validates it against its schema and records it as a chapter input), then check the rules the
    models rely on (:func:`validate`), naming the file in any error."""
    df = read.load_techfirms(path)
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


def require_prepared(df: pd.DataFrame) -> None:
    """Raise ``ValueError`` unless ``df`` holds the model variables :func:`prepare` adds.

    Parameters
    ----------
    df : DataFrame
        Data passed to a model or a table of study 2.
    """
    needed = ("S", "z", "z2", "serial_z", "serial_z2", *CONTROLS, "group", "log_clustering")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"data are not prepared (missing {', '.join(missing)}): pass the output "
                         "of clusterpolicy.data.innovators.prepare()")


# The name clusterpolicy.estimators.margins imports.
_require_prepared = require_prepared


def _z_scale(df: pd.DataFrame) -> tuple[float, float]:
    if "z_mean" in df.attrs and "z_sd" in df.attrs:
        return float(df.attrs["z_mean"]), float(df.attrs["z_sd"])
    logc, z = df["log_clustering"].to_numpy(), df["z"].to_numpy()
    sd = float(logc.std() / z.std())
    return float(logc.mean() - sd * z.mean()), sd
