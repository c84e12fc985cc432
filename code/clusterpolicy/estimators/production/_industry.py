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

__all__ = ["estimate_by", "plan_pooling"]


def plan_pooling(
    counts: pd.Series, min_obs: int, pool_map: Mapping[Any, Any] | None = None
) -> tuple[dict[Any, list[Any]], dict[Any, str]]:
    """Group industries so that every group has at least ``min_obs`` rows.

    Repeatedly, the smallest-coded industry group below ``min_obs`` is merged with the group of
    ``pool_map[industry]`` when given, else with the group holding the next industry code in
    sort order (the last group with the previous one), until no group is too small or one group
    is left.

    Returns
    -------
    groups
        Group key (its first industry) -> sorted list of member industries.
    reasons
        Industry -> why it is estimated the way it is.
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
    data: pd.DataFrame, rows: np.ndarray, args: tuple, kwargs: dict[str, Any]
) -> tuple[ProductionResults | None, list[tuple[str, type[Warning]]], str | None]:
    method, y, free, state, proxy, id_, time = args
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            use_proxy = proxy if method not in ("ols", "fe") else None
            panel = prepare_panel(
                data.iloc[rows],
                y=y,
                free=free,
                state=state,
                proxy=use_proxy,
                id=id_,
                time=time,
                controls=kwargs["law_of_motion_controls"],
                logs=kwargs["logs"],
            )
            res = _estimate_panel(panel, data.index[rows], method, **kwargs)
            error = None
        except ValueError as exc:
            res, error = None, str(exc)
    return res, [(str(w.message), w.category) for w in caught], error


def estimate_by(
    data: pd.DataFrame,
    method: str,
    y: str,
    free: list[str],
    state: list[str],
    proxy: str | None,
    id: str,
    time: str,
    *,
    by: str,
    min_obs: int,
    pool_map: Mapping[Any, Any] | None,
    **kwargs: Any,
) -> ProductionByResults:
    """Estimate per industry (see :func:`clusterpolicy.production.estimate`, ``by``)."""
    if by not in data.columns:
        raise ValueError(f"column(s) not found in data: {by!r}")
    use_proxy = proxy if method not in ("ols", "fe") else None
    # Usable rows per industry: the same checks as the estimation itself.
    panel = prepare_panel(
        data,
        y=y,
        free=free,
        state=state,
        proxy=use_proxy,
        id=id,
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
    for (key, members), seq in zip(groups.items(), seqs, strict=True):
        del key
        idx = industry.index[industry.isin(members).to_numpy()]
        rows = positions.loc[idx].to_numpy()
        jobs.append((members, rows, {**kwargs, "seed": seq, "n_jobs": 1}))
    args = (method, y, free, state, proxy, id, time)
    if n_jobs == 1 or len(jobs) == 1:
        outputs = [_run_group(data, rows, args, kw) for _, rows, kw in jobs]
    else:
        outputs = Parallel(n_jobs=n_jobs)(delayed(_run_group)(data, rows, args, kw) for _, rows, kw in jobs)
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
    return ProductionByResults(
        results=results,
        table=table,
        by=by,
        _index=data.index,
        warnings=messages,
        dropped=dropped_frame(counts_dropped, stages),
    )
