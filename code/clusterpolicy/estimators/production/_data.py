"""Input checks, logs, row drops by reason, and calendar lags for the production estimators.

No row is dropped silently: every exclusion is counted by reason in :class:`Panel.dropped`, which
the results carry and show in their summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["NO_LAG_REASON", "Panel", "as_list", "prepare_panel"]

NO_LAG_REASON = "no calendar lag (first year of the firm or a year gap)"


def as_list(value: str | Sequence[str] | None, name: str) -> list[str]:
    """Normalise a column argument (a name or a list of names) to a list of names.

    Parameters
    ----------
    value : str, sequence of str or None
        The argument (``None``: no columns).
    name : str
        The argument's name, for the error message.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        ``value`` is neither a name nor a sequence of names.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        out = list(value)
    except TypeError:
        raise ValueError(f"{name} must be a column name or a list of column names") from None
    if not all(isinstance(v, str) for v in out):
        raise ValueError(f"{name} must be a column name or a list of column names, got {value!r}")
    return out


@dataclass
class Panel:
    """The estimation rows, sorted by firm and time, as numpy arrays.

    Attributes
    ----------
    index
        Labels of the kept rows in the input frame (to align productivity with the input).
    y, free, state, proxy, controls
        Output, free inputs (n x kf), state inputs (n x ks), proxy (n,) or None, and the
        law-of-motion controls (n x kc, possibly 0 columns).
    firm
        Firm codes ``0 .. n_firms - 1``.
    time
        Integer periods.
    lag
        Position of the same firm's row at ``t - 1``, or -1 when that year is absent.
    dropped
        Rows dropped before estimation, reason -> count (insertion ordered).
    """

    index: pd.Index
    y: np.ndarray
    free: np.ndarray
    state: np.ndarray
    proxy: np.ndarray | None
    controls: np.ndarray
    firm: np.ndarray
    time: np.ndarray
    lag: np.ndarray
    n_firms: int
    free_names: list[str]
    state_names: list[str]
    proxy_name: str | None
    control_names: list[str]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.y)

    @property
    def has_lag(self) -> np.ndarray:
        """Whether each row has the same firm's row at ``t - 1``."""
        return self.lag >= 0

    def subset(self, mask: np.ndarray) -> Panel:
        """The rows where ``mask`` is true; lags to excluded rows become missing.

        Parameters
        ----------
        mask : numpy.ndarray
            Boolean, one value per row.

        Returns
        -------
        Panel
            ``self`` when every row is kept (``n_firms`` and the firm codes are unchanged).
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.all():
            return self
        pos = np.cumsum(mask) - 1
        lag = self.lag[mask]
        ok = lag >= 0
        ok[ok] = mask[lag[ok]]
        new_lag = np.full(lag.shape, -1, dtype=np.int64)
        new_lag[ok] = pos[lag[ok]]
        return Panel(
            index=self.index[mask],
            y=self.y[mask],
            free=self.free[mask],
            state=self.state[mask],
            proxy=None if self.proxy is None else self.proxy[mask],
            controls=self.controls[mask],
            firm=self.firm[mask],
            time=self.time[mask],
            lag=new_lag,
            n_firms=self.n_firms,
            free_names=self.free_names,
            state_names=self.state_names,
            proxy_name=self.proxy_name,
            control_names=self.control_names,
            dropped=dict(self.dropped),
        )

    def lagged(self, values: np.ndarray) -> np.ndarray:
        """Calendar lag of ``values``.

        Parameters
        ----------
        values : numpy.ndarray
            One value (or row) per panel row.

        Returns
        -------
        numpy.ndarray
            The same firm's value at ``t - 1``; NaN for rows without a lag.
        """
        values = np.asarray(values, dtype=float)
        out = np.full(values.shape, np.nan)
        ok = self.lag >= 0
        out[ok] = values[self.lag[ok]]
        return out


def _check_columns(data: pd.DataFrame, columns: dict[str, list[str]]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    wanted = [c for cols in columns.values() for c in cols]
    missing = [c for c in dict.fromkeys(wanted) if c not in data.columns]
    if missing:
        raise ValueError("column(s) not found in data: " + ", ".join(repr(c) for c in missing))
    seen: dict[str, str] = {}
    for role, cols in columns.items():
        for col in cols:
            if col in seen and seen[col] != role:
                raise ValueError(f"column {col!r} is given both as {seen[col]} and as {role}")
            if col in seen and seen[col] == role:
                raise ValueError(f"column {col!r} is given twice as {role}")
            seen[col] = role
    for role in ("y", "free", "state", "proxy", "law_of_motion_controls", "time"):
        for col in columns.get(role, []):
            series = data[col]
            if pd.api.types.is_bool_dtype(series):
                continue
            if not pd.api.types.is_numeric_dtype(series):
                raise ValueError(f"column {col!r} ({role}) must be numeric, got dtype {series.dtype}")


def prepare_panel(
    data: pd.DataFrame,
    *,
    y: str,
    free: list[str],
    state: list[str],
    proxy: str | None,
    unit: str,
    time: str,
    controls: list[str] | None = None,
    logs: bool | Sequence[str] = False,
    extra_required: Sequence[str] = (),
) -> Panel:
    """Validate the inputs, take logs where asked, drop unusable rows by reason, build lags.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per firm and period.
    y, free, state, proxy, unit, time : str or list of str
        Column names (see :func:`clusterpolicy.estimators.production.estimate`): output, free
        and state inputs (lists), proxy (or None), firm identifier and integer period.
    controls : list of str, optional
        Law-of-motion controls (e.g. a treatment dummy).
    logs : bool or list of str, default False
        ``False`` when the variables are already in logs; ``True`` to log ``y``, ``free``,
        ``state`` and ``proxy``; or a list of the columns to log. Rows with a non-positive value
        in a column to be logged are dropped (reason ``"non-positive <col> before log"``).
    extra_required : sequence of str, optional
        Other columns (e.g. an industry code) whose missing values drop the row.

    Returns
    -------
    Panel
        The usable rows sorted by firm and period, with calendar lags and the rows dropped by
        reason.

    Raises
    ------
    ValueError
        A column is missing, non-numeric, used twice, or ``(unit, time)`` does not identify
        rows.
    """
    controls = controls or []
    roles = {
        "y": [y],
        "free": free,
        "state": state,
        "proxy": [proxy] if proxy else [],
        "law_of_motion_controls": controls,
        "unit": [unit],
        "time": [time],
    }
    if not free and not state:
        raise ValueError("give at least one free or state input")
    _check_columns(data, roles)
    for col in extra_required:
        if col not in data.columns:
            raise ValueError(f"column(s) not found in data: {col!r}")

    if logs is True:
        to_log = [y, *free, *state, *([proxy] if proxy else [])]
    elif logs is False:
        to_log = []
    else:
        to_log = as_list(logs, "logs")
        unknown = [c for c in to_log if c not in {y, *free, *state, proxy}]
        if unknown:
            raise ValueError(
                "logs names column(s) that are not y, free, state or proxy: "
                + ", ".join(repr(c) for c in unknown)
            )

    dropped: dict[str, int] = {}
    keep = np.ones(len(data), dtype=bool)

    def drop(mask: np.ndarray, reason: str) -> None:
        newly = mask & keep
        count = int(newly.sum())
        if count:
            dropped[reason] = dropped.get(reason, 0) + count
            keep[newly] = False

    drop(data[unit].isna().to_numpy(), f"missing unit ({unit})")
    time_values = pd.to_numeric(data[time], errors="coerce").to_numpy(dtype=float)
    drop(~np.isfinite(time_values), f"missing time ({time})")
    finite_time = time_values[np.isfinite(time_values)]
    if np.any(finite_time != np.round(finite_time)):
        raise ValueError(f"column {time!r} (time) must hold whole periods (integers)")

    numeric: dict[str, np.ndarray] = {}
    for col in [y, *free, *state, *controls]:
        values = data[col].to_numpy(dtype=float, na_value=np.nan)
        numeric[col] = values
        drop(~np.isfinite(values), f"missing or non-finite {col}")
    if proxy:
        values = data[proxy].to_numpy(dtype=float, na_value=np.nan)
        numeric[proxy] = values
        drop(~np.isfinite(values), f"missing or non-finite proxy {proxy}")
    for col in extra_required:
        drop(data[col].isna().to_numpy(), f"missing {col}")
    for col in to_log:
        values = numeric[col]
        with np.errstate(invalid="ignore"):
            drop(~(values > 0), f"non-positive {col} before log")
    for col in to_log:
        with np.errstate(divide="ignore", invalid="ignore"):
            numeric[col] = np.log(numeric[col])

    kept = np.flatnonzero(keep)
    ids = data[unit].to_numpy()[kept]
    firm_codes, firm_labels = pd.factorize(pd.Series(ids), sort=True)
    times = time_values[kept].astype(np.int64)
    order = np.lexsort((times, firm_codes))
    rows = kept[order]
    firm = firm_codes[order].astype(np.int64)
    times = times[order]
    same_firm = np.r_[False, firm[1:] == firm[:-1]]
    dup = same_firm & np.r_[False, times[1:] == times[:-1]]
    if dup.any():
        where = int(np.flatnonzero(dup)[0])
        raise ValueError(
            f"({unit!r}, {time!r}) must identify rows: firm {firm_labels[firm[where]]!r} has "
            f"period {times[where]} more than once"
        )
    has_lag = same_firm & np.r_[False, times[1:] == times[:-1] + 1]
    lag = np.where(has_lag, np.arange(len(rows)) - 1, -1)

    def take(cols: list[str]) -> np.ndarray:
        if not cols:
            return np.empty((len(rows), 0))
        return np.column_stack([numeric[c][rows] for c in cols])

    return Panel(
        index=data.index[rows],
        y=numeric[y][rows],
        free=take(free),
        state=take(state),
        proxy=numeric[proxy][rows] if proxy else None,
        controls=take(controls),
        firm=firm,
        time=times,
        lag=lag,
        n_firms=len(firm_labels),
        free_names=list(free),
        state_names=list(state),
        proxy_name=proxy,
        control_names=list(controls),
        dropped=dropped,
    )
