"""Per-industry estimation with pooling of small industries, in parallel through joblib."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ._bootstrap import seed_sequence
from ._data import prepare_panel
from ._fit import _estimate_panel
from ._results import ProductionByResults, ProductionResults, dropped_frame

__all__ = ["estimate_groups", "plan_pooling"]


def plan_pooling(
    counts: pd.Series, min_obs: int, pool_map: Mapping[Any, Any] | None = None
) -> tuple[dict[Any, list[Any]], dict[Any, str]]:
    """Group industries so that every group has at least ``min_obs`` rows.

    Repeatedly, the smallest-coded industry group below ``min_obs`` is merged with the group of
    ``pool_map[industry]`` when given, else with the group holding the next industry code in
    sort order (the last group with the previous one), until no group is too small or one group
    is left.

    Parameters
    ----------
    counts : pandas.Series
        Usable rows per industry code.
    min_obs : int
        Minimum rows of a group.
    pool_map : mapping, optional
        Industry -> industry it is pooled with when too small (instead of the next code).

    Returns
    -------
    groups : dict
        Group key (its first industry) -> sorted list of member industries.
    reasons : dict
        Industry -> why it is estimated the way it is.

    Raises
    ------
    ValueError
        ``pool_map`` names an industry that is not in ``counts``.
    """
    pool_map = dict(pool_map or {})
    codes = list(counts.sort_index().index)
    unknown = [k for k, v in pool_map.items() if k not in codes or v not in codes]
    if unknown:
        raise ValueError(f"pool_map refers to industries not in the data: {unknown!r}")
    group_of = {c: c for c in codes}
    members: dict[Any, list[Any]] = {c: [c] for c in codes}
    reasons = {c: "own estimate" for c in codes}

    def size(g: Any) -> int:
        return int(sum(counts[c] for c in members[g]))

    while len(members) > 1:
        small = [g for g in sorted(members, key=codes.index) if size(g) < min_obs]
        if not small:
            break
        g = small[0]
        first = members[g][0]
        target_code = None
        for c in members[g]:
            if c in pool_map and group_of[pool_map[c]] != g:
                target_code = pool_map[c]
                how = f"user pool_map: {c!r} -> {target_code!r}"
                break
        if target_code is None:
            last = max(members[g], key=codes.index)
            pos = codes.index(last)
            later = [c for c in codes[pos + 1 :] if group_of[c] != g]
            earlier = [c for c in codes[: codes.index(first)] if group_of[c] != g]
            if later:
                target_code, how = later[0], "pooled with the next industry code"
            else:
                target_code, how = earlier[-1], "pooled with the previous industry code (last code)"
        target = group_of[target_code]
        group_rows = size(g)
        for c in members[g]:
            reasons[c] = f"{group_rows} usable rows < min_obs={min_obs}; {how}"
        merged = sorted(members[g] + members[target], key=codes.index)
        del members[g], members[target]
        key = merged[0]
        members[key] = merged
        for c in merged:
            group_of[c] = key
    groups = {members[g][0]: members[g] for g in sorted(members, key=codes.index)}
    return groups, reasons


def _label(industries: list[Any]) -> str:
    return "+".join(str(i) for i in industries)


def _run_group(
    data: pd.DataFrame, rows: np.ndarray, columns: dict[str, Any], kwargs: dict[str, Any]
) -> tuple[ProductionResults | None, list[tuple[str, type[Warning]]], str | None]:
    """Estimate one group (in a worker): its results, the warnings it raised, or its error.

    The warnings travel back to the caller, which re-emits them with their category (a
    worker's warnings would otherwise be lost) and keeps their messages as notes.
    """
    method = columns["method"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            panel = prepare_panel(
                data.iloc[rows],
                y=columns["y"],
                free=columns["free"],
                state=columns["state"],
                proxy=columns["proxy"] if method not in ("ols", "fe") else None,
                unit=columns["unit"],
                time=columns["time"],
                controls=kwargs["law_of_motion_controls"],
                logs=kwargs["logs"],
            )
            res = _estimate_panel(panel, data.index[rows], method, **kwargs)
            error = None
        except ValueError as exc:
            res, error = None, str(exc)
    return res, [(str(w.message), w.category) for w in caught], error


def estimate_groups(
    data: pd.DataFrame,
    method: str,
    *,
    y: str,
    free: list[str],
    state: list[str],
    proxy: str | None,
    unit: str,
    time: str,
    by: str,
    min_obs: int,
    pool_map: Mapping[Any, Any] | None,
    **kwargs: Any,
) -> ProductionByResults:
    """Estimate per industry, pooling small industries, the groups in parallel.

    The work of :func:`clusterpolicy.estimators.production.estimate_by` after its checks:
    ``free``, ``state`` and ``law_of_motion_controls`` (in ``kwargs``) are lists, ``kwargs``
    holds every option of the one-panel estimation (``n_jobs`` is spread over the groups,
    each group running its bootstrap in one process with its own child of ``seed``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per firm and period.
    method : str
        The estimator.
    y, free, state, proxy, unit, time : str or list of str
        Columns, as :func:`~clusterpolicy.estimators.production.estimate`.
    by, min_obs, pool_map
        The industry column and the pooling rule (:func:`plan_pooling`).
    **kwargs
        The other options of :func:`~clusterpolicy.estimators.production.estimate`.

    Returns
    -------
    ProductionByResults
    """
    if by not in data.columns:
        raise ValueError(f"column(s) not found in data: {by!r}")
    columns = {"method": method, "y": y, "free": free, "state": state, "proxy": proxy, "unit": unit,
               "time": time}
    # Usable rows per industry: the same checks as the estimation itself.
    panel = prepare_panel(
        data,
        y=y,
        free=free,
        state=state,
        proxy=proxy if method not in ("ols", "fe") else None,
        unit=unit,
        time=time,
        controls=kwargs["law_of_motion_controls"],
        logs=kwargs["logs"],
        extra_required=[by],
    )
    industry = data.loc[panel.index, by]
    counts = industry.value_counts()
    if counts.empty:
        raise ValueError("no usable rows")
    groups, reasons = plan_pooling(counts, min_obs, pool_map)
    positions = pd.Series(np.arange(len(data)), index=data.index)
    seqs = seed_sequence(kwargs["seed"]).spawn(len(groups))
    n_jobs = kwargs.pop("n_jobs")
    jobs = []
    for members, seq in zip(groups.values(), seqs, strict=True):
        idx = industry.index[industry.isin(members).to_numpy()]
        rows = positions.loc[idx].to_numpy()
        jobs.append((members, rows, {**kwargs, "seed": seq, "n_jobs": 1}))
    if n_jobs == 1 or len(jobs) == 1:
        outputs = [_run_group(data, rows, columns, kw) for _, rows, kw in jobs]
    else:
        outputs = Parallel(n_jobs=n_jobs)(
            delayed(_run_group)(data, rows, columns, kw) for _, rows, kw in jobs
        )
    results: dict[str, ProductionResults] = {}
    records = []
    messages: list[str] = []
    for (members, _, _), (res, caught, error) in zip(jobs, outputs, strict=True):
        label = _label(members)
        for msg, category in caught:
            text = f"[{by}={label}] {msg}"
            messages.append(text)
            warnings.warn(text, category, stacklevel=3)
        if res is not None:
            results[label] = res
        for c in members:
            others = [m for m in members if m != c]
            records.append(
                {
                    by: c,
                    "estimated_as": label,
                    "rows": int(counts[c]),
                    "nobs": res.nobs if res is not None else 0,
                    "pooled_with": ", ".join(str(o) for o in others),
                    "reason": reasons[c] if error is None else f"{reasons[c]}; estimation failed: {error}",
                }
            )
    table = pd.DataFrame(records).set_index(by)
    counts_dropped = dict(panel.dropped)
    stages = dict.fromkeys(counts_dropped, "all stages")
    for res in results.values():
        for reason, row in res.dropped.iterrows():
            counts_dropped[reason] = counts_dropped.get(reason, 0) + int(row["rows"])
            stages.setdefault(reason, row["stage"])
    model = method if method != "wooldridge" else f"wooldridge ({kwargs['variant']})"
    return ProductionByResults.from_groups(
        results,
        table=table,
        by=by,
        model=model,
        index=data.index,
        notes=messages,
        dropped=dropped_frame(counts_dropped, stages),
    )
