"""Shared plumbing of the difference-in-differences module.

Input checks that name the offending column and rule, the results class of the module, and
what the libraries' known warnings mean for the reader (:data:`EXPLANATIONS`, used with
:func:`clusterpolicy.core.notes.warnings_to_notes`: chapters build with warnings as errors,
so nothing may reach stderr).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clusterpolicy.core.results import EstimationResults

__all__ = ["EXPLANATIONS", "DiDResults", "PanelInfo", "as_list", "prepare_panel", "series"]

#: Known library messages and what they mean for the reader (matched by substring).
EXPLANATIONS: dict[str, str] = {
    "small groups": (
        "some treatment cohorts have very few units; their ATT(g,t) and standard errors rest on little data"
    ),
    "singular covariance matrix": (
        "the pre-treatment ATT(g,t) have a singular covariance matrix, so the Wald pre-test "
        "of parallel trends is not reported"
    ),
    "Used bootstrap procedure": (
        "confidence bands are simultaneous (uniform over event times/groups), obtained from "
        "the multiplier bootstrap"
    ),
    "Overlap condition violated": (
        "some propensity scores are close to 1 for this cell: the comparison group barely "
        "overlaps the treated cohort"
    ),
    "Dropped": "the library removed observations; the counts above are after removal",
}


@dataclass(repr=False)
class DiDResults(EstimationResults):
    """Results of a difference-in-differences estimator.

    Everything of :class:`~clusterpolicy.core.results.EstimationResults`: ``params``,
    ``std_errors``, ``cov``, ``conf_int()``/``pvalues`` with the reference distribution of the
    software the estimator reproduces (``inference["distribution"]``), and ``notes``: plain
    sentences on what the estimation had to tell the reader (library warnings turned into
    data, dropped units, design choices), shown by ``summary`` and ``_repr_html_``.
    """


@dataclass(frozen=True)
class PanelInfo:
    """What was read from the data: the panel years and the treatment cohorts.

    Attributes
    ----------
    times : tuple of int
        The periods, sorted.
    cohorts : tuple of int
        The treatment cohorts (first treatment periods), sorted.
    n_units : int
        Units in the panel.
    n_never : int
        Never-treated units.
    """

    times: tuple[int, ...]
    cohorts: tuple[int, ...]
    n_units: int
    n_never: int


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar, so that messages read ``3`` and not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _require_columns(data: pd.DataFrame, columns: dict[str, str | None]) -> None:
    missing = [f"{arg}={col!r}" for arg, col in columns.items() if col is not None and col not in data]
    if missing:
        raise ValueError(f"column(s) not found in data: {', '.join(missing)}")


def _integer_like(values: pd.Series, column: str, what: str) -> np.ndarray:
    try:
        numeric = pd.to_numeric(values).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column!r} ({what}) must be numeric (years)") from exc
    finite = np.isfinite(numeric)
    if not np.all(numeric[finite] == np.round(numeric[finite])):
        raise ValueError(f"column {column!r} ({what}) must hold whole periods (e.g. years)")
    return numeric


def prepare_panel(
    data: pd.DataFrame,
    *,
    y: str,
    unit: str,
    time: str,
    cohort: str | None = None,
    treated: str | None = None,
    covariates: Sequence[str] = (),
    balanced: bool = False,
) -> tuple[pd.DataFrame, PanelInfo]:
    """Check a long panel and return it with internal column names.

    The returned frame has columns ``_unit`` (the caller's ids), ``_time`` (int),
    ``_y`` (float), ``_cohort`` (int, 0 = never treated; present when ``cohort`` is given),
    ``_d`` (0/1 treatment indicator; from ``treated`` or derived from ``cohort``) and
    ``_x0, _x1, ...`` for ``covariates`` (numeric ones as float, others kept as they are).
    Rows are sorted by unit and time.

    Parameters
    ----------
    data : DataFrame
        Long panel, one row per unit and period.
    y, unit, time : str
        Outcome, unit identifier and period (whole numbers) columns.
    cohort : str, optional
        First treatment period (0 or NaN: never treated), constant within a unit.
    treated : str, optional
        0/1 treatment indicator (overrides the one derived from ``cohort``).
    covariates : sequence of str, optional
        Covariate columns.
    balanced : bool, default False
        Require every unit to be observed in every period.

    Returns
    -------
    panel : DataFrame
        The checked panel with the internal column names above.
    info : PanelInfo
        Periods, cohorts, number of units and of never-treated units.

    Raises
    ------
    ValueError
        Naming the column and the rule: missing columns, missing values, non-numeric
        outcome, duplicate unit-time rows, a cohort that is not constant within a unit, a
        treatment indicator that is not 0/1, an unbalanced panel when ``balanced``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    covariates = list(covariates or ())
    columns = {"y": y, "unit": unit, "time": time, "cohort": cohort, "treated": treated}
    columns.update({f"covariates[{k}]": c for k, c in enumerate(covariates)})
    _require_columns(data, columns)

    out = pd.DataFrame({"_unit": data[unit].to_numpy()})
    for name, col in (("y", y), ("unit", unit), ("time", time), ("treated", treated)):
        if col is not None and data[col].isna().any():
            raise ValueError(
                f"column {col!r} ({name}) has {int(data[col].isna().sum())} missing values; "
                "drop or impute them first"
            )
    for col in covariates:
        if data[col].isna().any():
            raise ValueError(
                f"covariate column {col!r} has {int(data[col].isna().sum())} missing values; "
                "drop or impute them first"
            )
    out["_time"] = _integer_like(data[time], time, "time").astype(np.int64)
    if not pd.api.types.is_numeric_dtype(data[y]) or pd.api.types.is_bool_dtype(data[y]):
        raise ValueError(f"outcome column {y!r} must be numeric, got dtype {data[y].dtype}")
    out["_y"] = data[y].to_numpy(dtype=float)
    if not np.all(np.isfinite(out["_y"])):
        raise ValueError(f"outcome column {y!r} has infinite values")

    duplicated = out.duplicated(["_unit", "_time"])
    if duplicated.any():
        first = out.loc[duplicated].iloc[0]
        raise ValueError(
            f"unit-time pairs must be unique: {int(duplicated.sum())} duplicate rows of "
            f"({unit!r}, {time!r}), e.g. ({_plain(first['_unit'])!r}, {_plain(first['_time'])})"
        )

    if cohort is not None:
        raw = _integer_like(data[cohort], cohort, "cohort: first treatment period")
        raw = np.where(np.isnan(raw), 0.0, raw)
        if np.any(raw < 0):
            raise ValueError(f"cohort column {cohort!r} must be 0 (or NaN) for never treated, else a period")
        out["_cohort"] = raw.astype(np.int64)
        per_unit = out.groupby("_unit", sort=False)["_cohort"].nunique()
        bad = per_unit[per_unit > 1]
        if len(bad):
            example = bad.index[0]
            values = sorted(out.loc[out["_unit"] == example, "_cohort"].unique().tolist())
            raise ValueError(
                f"cohort column {cohort!r} must be constant within unit {unit!r}: {len(bad)} "
                f"unit(s) have several values, e.g. unit {_plain(example)!r} has {values}"
            )
        out["_d"] = ((out["_cohort"] > 0) & (out["_time"] >= out["_cohort"])).astype(float)
    if treated is not None:
        d = pd.to_numeric(data[treated], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isin(d, (0.0, 1.0))):
            raise ValueError(f"treatment column {treated!r} must be 0/1 (or boolean)")
        out["_d"] = d

    for k, col in enumerate(covariates):
        values = data[col]
        if pd.api.types.is_bool_dtype(values):
            out[f"_x{k}"] = values.to_numpy(dtype=float)
        elif pd.api.types.is_numeric_dtype(values):
            out[f"_x{k}"] = values.to_numpy(dtype=float)
        else:
            out[f"_x{k}"] = values.to_numpy()

    out = out.sort_values(["_unit", "_time"], kind="stable").reset_index(drop=True)
    times = tuple(int(t) for t in np.unique(out["_time"]))
    n_units = int(out["_unit"].nunique())
    if balanced:
        counts = out.groupby("_unit", sort=False).size()
        if (counts != len(times)).any():
            raise ValueError(
                f"this estimator needs a balanced panel: {int((counts != len(times)).sum())} "
                f"unit(s) of {unit!r} are not observed in all {len(times)} periods of {time!r}"
            )
    cohorts: tuple[int, ...] = ()
    n_never = 0
    if "_cohort" in out:
        unit_cohort = out.groupby("_unit", sort=False)["_cohort"].first()
        cohorts = tuple(int(g) for g in np.unique(unit_cohort[unit_cohort > 0]))
        n_never = int((unit_cohort == 0).sum())
    return out, PanelInfo(times=times, cohorts=cohorts, n_units=n_units, n_never=n_never)


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """A column argument as a list of names.

    Parameters
    ----------
    value : str, sequence of str or None
        ``None`` -> ``[]``, ``"a"`` -> ``["a"]``, a sequence -> its list.

    Returns
    -------
    list of str
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def series(values: Any, index: Sequence[str]) -> pd.Series:
    """A float Series with a string index (the results shape wants named terms).

    Parameters
    ----------
    values : array-like
        The numbers.
    index : sequence of str
        The terms.

    Returns
    -------
    pandas.Series
    """
    return pd.Series(np.asarray(values, dtype=float), index=pd.Index(list(index), dtype=object))
