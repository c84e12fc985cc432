"""Regression-based DiD: two-way fixed effects, the TWFE event study and Sun & Abraham.

The regressions run in pyfixest (which reproduces R fixest to about 1e-14), read through its
public API (the private module ``_fixest``), with the fixest default inference: standard errors
clustered by unit, small-sample correction ``(G/(G-1)) * ((N-1)/(N-K))`` where K leaves out the
fixed effects nested in the cluster (R ``ssc(adj=TRUE, fixef.K="nested", cluster.adj=TRUE)``;
pyfixest ``k_fixef="nonnested"``), and intervals and p-values from the t distribution with
G - 1 degrees of freedom (fixest's ``t.df="min"``; ``inference["distribution"]`` and
``inference["df"]``). :func:`~clusterpolicy.estimators.did.did2s` computes its own GMM standard
errors, as R did2s, and uses the normal distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._common import DiDResults, as_list, prepare_panel, series
from ._fixest import FeolsFit, feols
from .staggered import AggregateResults

__all__ = ["SunAbrahamResults", "did2s", "sun_abraham", "twfe", "twfe_event_study"]

_SSC_TEXT = (
    "CR1 as R fixest's default: G/(G-1) * (N-1)/(N-K), K without the fixed effects nested in the cluster"
)


def _fit_twoway(panel: pd.DataFrame, regressors: list[str], notes: list[str]) -> FeolsFit:
    """``_y`` on ``regressors`` with unit and period effects, clustered by unit (adds ``_cl``)."""
    panel["_cl"] = pd.factorize(panel["_unit"])[0]
    panel["_fe_unit"] = panel["_cl"]
    return feols(panel, "_y", regressors, fixef=["_fe_unit", "_time"], cluster="_cl", notes=notes)


def _t_inference(fit: FeolsFit) -> dict[str, Any]:
    """fixest's reference distribution for a clustered regression: t with G - 1 df."""
    return {"distribution": "t", "df": fit.clusters - 1}


def twfe(
    data: pd.DataFrame,
    y: str,
    unit: str,
    time: str,
    treated: str | None = None,
    *,
    cohort: str | None = None,
    covariates: Sequence[str] | str | None = None,
    covariates_by_time: Sequence[str] | str | None = None,
) -> DiDResults:
    """Two-way fixed effects DiD: ``y ~ D + X | unit + time``, unit-clustered SEs.

    Parameters
    ----------
    data : DataFrame
        Long panel.
    y, unit, time : str
        Outcome, unit and period columns.
    treated : str, optional
        0/1 column: 1 when the unit is treated in that period (``D_it``).
    cohort : str, optional
        Alternatively, the first treatment period (0/NaN never): ``D_it = 1{t >= cohort}``.
        Give exactly one of ``treated`` and ``cohort``.
    covariates : list of str, optional
        Time-varying controls entered linearly.
    covariates_by_time : list of str, optional
        Time-invariant covariates interacted with period dummies (R fixest
        ``i(year, x)``); the last period is the omitted category (it is collinear with the
        unit effects), terms are named ``"{time}::{t}:{x}"`` as in fixest.

    Returns
    -------
    DiDResults
        ``params``/``std_errors`` of the treatment term (named after ``treated``, or
        ``"post"`` with ``cohort``) and of the covariates.
    """
    if (treated is None) == (cohort is None):
        raise ValueError("give exactly one of treated= (0/1 column) and cohort= (first treatment period)")
    covariates = as_list(covariates)
    by_time = as_list(covariates_by_time)
    panel, info = prepare_panel(
        data, y=y, unit=unit, time=time, cohort=cohort, treated=treated, covariates=covariates + by_time
    )
    for k, col in enumerate(covariates + by_time):
        if not pd.api.types.is_numeric_dtype(panel[f"_x{k}"]):
            raise ValueError(f"covariate column {col!r} must be numeric")
    if panel["_d"].nunique() < 2:
        raise ValueError(f"the treatment indicator ({treated or cohort!r}) does not vary")
    notes: list[str] = []
    regressors = ["_d"] + [f"_x{k}" for k in range(len(covariates))]
    names = [treated or "post", *covariates]
    for j, col in enumerate(by_time):
        source = f"_x{len(covariates) + j}"
        for t in info.times[:-1]:
            name = f"_xt{j}_{t}"
            panel[name] = panel[source] * (panel["_time"] == t)
            regressors.append(name)
            names.append(f"{time}::{t}:{col}")
    fit = _fit_twoway(panel, regressors, notes)
    rename = dict(zip(regressors, names, strict=True))
    dropped = [rename[r] for r in regressors if r not in fit.names]
    if dropped:
        notes.append(f"dropped as collinear with the fixed effects: {', '.join(dropped)}")
    params = series(fit.params, [rename[n] for n in fit.names])
    return DiDResults(
        params=params,
        std_errors=series(fit.std_errors, params.index),
        nobs=fit.nobs,
        model="twfe",
        inference={
            "fixed effects": f"{unit} + {time}",
            "standard errors": f"clustered by {unit} ({info.n_units} clusters)",
            "small-sample correction": _SSC_TEXT,
            **_t_inference(fit),
        },
        extra={"n_units": info.n_units},
        notes=notes,
        cov=fit.cov,
    )


def _relative_dummies(
    panel: pd.DataFrame, cells: list[tuple[int, int]] | list[int], by_cohort: bool
) -> list[str]:
    rel = panel["_time"] - panel["_cohort"]
    treated = panel["_cohort"] > 0
    names = []
    for k, cell in enumerate(cells):
        name = f"_r{k}"
        if by_cohort:
            g, e = cell  # type: ignore[misc]
            panel[name] = ((panel["_cohort"] == g) & (rel == e)).astype(float)
        else:
            panel[name] = (treated & (rel == cell)).astype(float)
        names.append(name)
    return names


def twfe_event_study(
    data: pd.DataFrame,
    y: str,
    unit: str,
    time: str,
    cohort: str,
    *,
    ref: int = -1,
) -> DiDResults:
    """Dynamic TWFE: ``y ~ sum_e 1{t - cohort = e} | unit + time``, reference ``e = ref``.

    Never-treated units have no event-time dummy (R fixest
    ``i(time_til, ref = c(-1, -1000))``). Under heterogeneous effects across cohorts the
    coefficients mix cohorts with possibly negative weights (Sun & Abraham 2021): compare
    with :func:`sun_abraham` and ``callaway_santanna(...).aggregate("dynamic")``.

    Parameters
    ----------
    data : DataFrame
        Long panel.
    y, unit, time, cohort : str
        Outcome, unit, period and first-treatment-period (0/NaN never) columns.
    ref : int, default -1
        Reference (omitted) event time.

    Returns
    -------
    DiDResults
        ``params`` indexed ``e=<event time>``, unit-clustered CR1 covariance, t intervals with
        G - 1 degrees of freedom.
    """
    panel, info = prepare_panel(data, y=y, unit=unit, time=time, cohort=cohort)
    treated = panel["_cohort"] > 0
    rel = (panel["_time"] - panel["_cohort"])[treated]
    events = sorted(int(e) for e in np.unique(rel) if e != ref)
    notes: list[str] = []
    regressors = _relative_dummies(panel, events, by_cohort=False)
    fit = _fit_twoway(panel, regressors, notes)
    rename = {r: f"e={e}" for r, e in zip(regressors, events, strict=True)}
    params = series(fit.params, [rename[n] for n in fit.names])
    return DiDResults(
        params=params,
        std_errors=series(fit.std_errors, params.index),
        nobs=fit.nobs,
        model="twfe_event_study",
        inference={
            "fixed effects": f"{unit} + {time}",
            "reference event time": ref,
            "standard errors": f"clustered by {unit} ({info.n_units} clusters)",
            "small-sample correction": _SSC_TEXT,
            **_t_inference(fit),
        },
        notes=notes,
        cov=fit.cov,
    )


def _sa_weights(cells: pd.DataFrame, kind: str) -> tuple[list[str], np.ndarray, str | None, list[int]]:
    """Weights of the cohort x event-time cells in each aggregate: names, matrix, key, values.

    The first row is the overall ATT (all post-treatment cells); ``dynamic`` adds one row per
    event time, ``group`` one per cohort (its post-treatment cells). Weights are cell sizes.
    """
    n = cells["n_obs"].to_numpy(float)
    post = (cells["event_time"] >= 0).to_numpy()
    w = np.where(post, n, 0.0)
    names, rows, values = ["ATT"], [w / w.sum()], []
    key = None
    if kind in ("dynamic", "group"):
        key = "event_time" if kind == "dynamic" else "cohort"
        prefix = "e" if kind == "dynamic" else "g"
        for value in sorted(cells[key].unique()):
            sel = (cells[key] == value).to_numpy() & (post if kind == "group" else True)
            weights = np.where(sel, n, 0.0)
            rows.append(weights / weights.sum())
            names.append(f"{prefix}={int(value)}")
            values.append(int(value))
    elif kind != "simple":
        raise ValueError(f"kind must be 'simple', 'dynamic' or 'group', got {kind!r}")
    return names, np.vstack(rows), key, values


@dataclass(repr=False)
class SunAbrahamResults(DiDResults):
    """Sun & Abraham (2021) interaction-weighted event study.

    ``params`` are the event-time effects ``e=<k>`` (cohort-share-weighted averages of the
    cohort x event-time coefficients, R fixest ``sunab``), ``cov`` their covariance (delta
    method), intervals and p-values from the t distribution with G - 1 degrees of freedom.

    Attributes
    ----------
    cells : pandas.DataFrame
        The cohort x event-time coefficients: ``cohort, event_time, estimate, std_error,
        n_obs, weight``.
    vcov_cells : numpy.ndarray
        Their covariance matrix.
    """

    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    vcov_cells: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)

    def aggregate(self, kind: Literal["simple", "dynamic", "group"] = "simple") -> AggregateResults:
        """Aggregate the cohort x event-time coefficients, weights = cell sizes.

        Parameters
        ----------
        kind : {"simple", "dynamic", "group"}, default "simple"
            ``simple``: all post-treatment cells (fixest ``agg = "ATT"``); ``dynamic``: by
            event time (the ``params``); ``group``: post-treatment cells of each cohort (fixest
            ``agg = "cohort"``).

        Returns
        -------
        AggregateResults
            ``params`` ``ATT`` then ``e=<k>`` or ``g=<cohort>``, their delta-method ``cov``;
            ``table`` (dynamic, group): the key column, ``att, se, conf_low, conf_high`` (95%,
            t distribution with the results' degrees of freedom).
        """
        names, weights, key, values = _sa_weights(self.cells, kind)
        est = weights @ self.cells["estimate"].to_numpy()
        cov = weights @ self.vcov_cells @ weights.T
        se = np.sqrt(np.diag(cov))
        table = pd.DataFrame()
        if key is not None:
            q = self._critical_value(0.95)
            table = pd.DataFrame({key: values, "att": est[1:], "se": se[1:]})
            table["conf_low"] = table["att"] - q * table["se"]
            table["conf_high"] = table["att"] + q * table["se"]
        return AggregateResults(
            params=series(est, names),
            std_errors=series(se, names),
            nobs=self.nobs,
            model=f"sun_abraham[{kind}]",
            inference=dict(self.inference),
            notes=list(self.notes),
            cov=cov,
            kind=kind,
            table=table,
        )


def sun_abraham(
    data: pd.DataFrame,
    y: str,
    unit: str,
    time: str,
    cohort: str,
    *,
    ref: int = -1,
    control: Literal["never", "last"] = "never",
    covariates: Sequence[str] | str | None = None,
) -> SunAbrahamResults:
    """Sun & Abraham (2021) interaction-weighted event study (R fixest ``sunab``).

    Saturated regression ``y ~ sum_{g,e != ref} 1{cohort = g, t - g = e} + X | unit + time``
    with unit-clustered SEs, then each event-time effect is the average of the cohort
    coefficients weighted by cohort size in that event time.

    Parameters
    ----------
    data : DataFrame
        Long panel.
    y, unit, time, cohort : str
        Outcome, unit, period and first-treatment-period (0/NaN never) columns.
    ref : int
        Reference (omitted) event time.
    control : {"never", "last"}
        Comparison cohort: the never treated (units first treated after the last period
        count as never treated), or the last-treated cohort (then the periods from its
        treatment on are dropped).
    covariates : list of str, optional
        Time-varying controls entered linearly.

    Returns
    -------
    SunAbrahamResults
    """
    covariates = as_list(covariates)
    panel, info = prepare_panel(data, y=y, unit=unit, time=time, cohort=cohort, covariates=covariates)
    notes: list[str] = []
    last_period = info.times[-1]
    beyond = panel["_cohort"] > last_period
    if beyond.any():
        notes.append(
            f"{panel.loc[beyond, '_unit'].nunique()} unit(s) first treated after the last period "
            f"{last_period} are used as never treated"
        )
        panel.loc[beyond, "_cohort"] = 0
    if control == "last":
        last = max(g for g in info.cohorts if g <= last_period)
        panel = panel.loc[panel["_time"] < last].copy()
        panel.loc[panel["_cohort"] == last, "_cohort"] = 0
        notes.append(f"control cohort: last treated ({last}); periods from {last} on dropped")
    elif control != "never":
        raise ValueError(f"control must be 'never' or 'last', got {control!r}")
    if not (panel["_cohort"] == 0).any():
        raise ValueError(
            f"sun_abraham with control='never' needs never-treated units (cohort 0 or NaN in {cohort!r}); "
            "there are none: use control='last'"
        )
    always = (panel["_cohort"] > 0) & (panel["_cohort"] <= info.times[0])
    if always.any():
        notes.append(f"{panel.loc[always, '_unit'].nunique()} unit(s) treated in the first period dropped")
        panel = panel.loc[~always].copy()
    treated = panel["_cohort"] > 0
    pairs = panel.loc[treated, ["_cohort", "_time"]]
    cells = sorted({(int(g), int(t - g)) for g, t in pairs.itertuples(index=False) if t - g != ref})
    regressors = _relative_dummies(panel, cells, by_cohort=True)
    controls = [f"_x{k}" for k in range(len(covariates))]
    fit = _fit_twoway(panel, regressors + controls, notes)
    beta, vcov = fit.params, fit.cov
    assert vcov is not None
    index = {name: i for i, name in enumerate(fit.names)}
    keep = [k for k, r in enumerate(regressors) if r in index]
    if len(keep) < len(regressors):
        notes.append(f"{len(regressors) - len(keep)} cohort x event-time cell(s) dropped as collinear")
    pos = [index[regressors[k]] for k in keep]
    counts = [int(panel[regressors[k]].sum()) for k in keep]
    table = pd.DataFrame(
        {
            "cohort": [cells[k][0] for k in keep],
            "event_time": [cells[k][1] for k in keep],
            "estimate": beta[pos],
            "std_error": np.sqrt(np.diag(vcov)[pos]),
            "n_obs": counts,
        }
    )
    table["weight"] = table["n_obs"] / table.groupby("event_time")["n_obs"].transform("sum")
    vcov_cells = vcov[np.ix_(pos, pos)]
    names, weights, _, _ = _sa_weights(table, "dynamic")
    events = weights[1:]  # the event-time rows (the first row is the overall ATT)
    extra: dict[str, Any] = {}
    if controls:
        ctrl_pos = [index[c] for c in controls if c in index]
        ctrl_names = [covariates[k] for k, c in enumerate(controls) if c in index]
        extra["covariates"] = pd.DataFrame(
            {"estimate": beta[ctrl_pos], "std_error": np.sqrt(np.diag(vcov)[ctrl_pos])}, index=ctrl_names
        )
    cov = events @ vcov_cells @ events.T
    return SunAbrahamResults(
        params=series(events @ table["estimate"].to_numpy(), names[1:]),
        std_errors=series(np.sqrt(np.diag(cov)), names[1:]),
        nobs=fit.nobs,
        model="sun_abraham",
        inference={
            "fixed effects": f"{unit} + {time}",
            "reference event time": ref,
            "weights": "cohort shares of each event time (observations per cell)",
            "standard errors": f"clustered by {unit} ({panel['_cl'].nunique()} clusters), delta method",
            "small-sample correction": _SSC_TEXT,
            **_t_inference(fit),
        },
        extra=extra,
        notes=notes,
        cov=cov,
        cells=table,
        vcov_cells=vcov_cells,
    )


def did2s(
    data: pd.DataFrame,
    y: str,
    unit: str,
    time: str,
    cohort: str,
    *,
    event_study: bool = False,
    ref: int = -1,
) -> DiDResults:
    """Gardner (2021) two-stage DiD (R ``did2s``), analytic GMM-corrected SEs.

    First stage: unit and period fixed effects fitted on the untreated observations
    (never treated and not yet treated). Second stage: the outcome net of those effects
    regressed on the treatment indicator (``event_study=False``) or on event-time dummies of
    the treated units (all event times but ``ref``; never-treated units have none). The
    standard errors stack both stages as one GMM problem, clustered by unit, without a
    small-sample factor (as R ``did2s`` with ``bootstrap = FALSE``). The static estimate
    equals the imputation estimator of Borusyak, Jaravel & Spiess (2024).

    Parameters
    ----------
    data : DataFrame
        Long panel.
    y, unit, time, cohort : str
        Outcome, unit, period and first-treatment-period (0/NaN never) columns.
    event_study : bool, default False
        Event-time effects instead of one static effect.
    ref : int, default -1
        Reference (omitted) event time of the event study.

    Returns
    -------
    DiDResults
        ``params`` ``post`` (static) or ``e=<event time>``, their GMM covariance; normal
        intervals and p-values.

    Raises
    ------
    ValueError
        A period without untreated observations, or a singular first stage.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    panel, info = prepare_panel(data, y=y, unit=unit, time=time, cohort=cohort)
    notes: list[str] = []
    untreated = panel["_d"].to_numpy() == 0
    has_untreated = panel.assign(_u=untreated).groupby("_unit")["_u"].transform("any").to_numpy()
    if not has_untreated.all():
        n_drop = panel.loc[~has_untreated, "_unit"].nunique()
        notes.append(f"{n_drop} unit(s) treated in all their periods dropped (no untreated observation)")
        panel = panel.loc[has_untreated].reset_index(drop=True)
        untreated = untreated[has_untreated]
    periods_untreated = panel.loc[untreated, "_time"].unique()
    no_control = sorted(set(panel["_time"].unique()) - set(periods_untreated))
    if no_control:
        raise ValueError(
            f"did2s needs untreated observations in every period of {time!r}; none in {no_control} "
            "(drop those periods)"
        )
    n = len(panel)
    rows = np.arange(n)
    uid = pd.factorize(panel["_unit"])[0]
    tid = pd.factorize(panel["_time"], sort=True)[0]
    fe_unit = sp.csr_matrix((np.ones(n), (rows, uid)), shape=(n, uid.max() + 1))
    fe_time = sp.csr_matrix((np.ones(n), (rows, tid)), shape=(n, tid.max() + 1))[:, 1:]
    x1 = sp.hstack([fe_unit, fe_time]).tocsr()
    x10 = sp.diags(untreated.astype(float)) @ x1
    yv = panel["_y"].to_numpy()
    try:
        lu = splu((x10.T @ x10).tocsc())
    except RuntimeError as exc:  # singular first stage
        raise ValueError(f"did2s first stage is singular: {exc}") from exc
    gamma = lu.solve(np.asarray(x10.T @ yv))
    y_net = yv - x1 @ gamma
    if event_study:
        rel = (panel["_time"] - panel["_cohort"]).where(panel["_cohort"] > 0)
        events = sorted(int(e) for e in rel.dropna().unique() if e != ref)
        x2 = np.column_stack([(rel == e).to_numpy(dtype=float) for e in events])
        names = [f"e={e}" for e in events]
    else:
        x2 = panel[["_d"]].to_numpy(dtype=float)
        names = ["post"]
    xtx = x2.T @ x2
    beta = np.linalg.solve(xtx, x2.T @ y_net)
    e2 = y_net - x2 @ beta
    e1 = (yv - x1 @ gamma) * untreated
    m = lu.solve(np.asarray(x1.T @ x2))
    contrib = x2 * e2[:, None] - np.asarray(x10 @ m) * e1[:, None]
    groups = sp.csr_matrix((np.ones(n), (uid, rows)), shape=(uid.max() + 1, n))
    psi = groups @ contrib
    bread = np.linalg.inv(xtx)
    vcov = bread @ (psi.T @ psi) @ bread
    params = series(beta, names)
    return DiDResults(
        params=params,
        std_errors=series(np.sqrt(np.diag(vcov)), names),
        nobs=n,
        model="did2s",
        inference={
            "first stage": f"{unit} + {time} fixed effects on untreated observations",
            "standard errors": (
                f"clustered by {unit} ({uid.max() + 1} clusters), two-stage GMM correction, "
                "no small-sample factor (R did2s)"
            ),
            "distribution": "normal",
        },
        extra={"n_units": info.n_units},
        notes=notes,
        cov=vcov,
    )
