"""Our estimators beside the R reference results on public datasets (the Validation appendix).

The reference results are kept in the project, in ``data/reference`` (see its README for each
file's source, version and licence): the ``chilean`` plant panel of R prodest with prodest
1.0.1's estimates, and the ``mpdta`` county panel of R did with the results of did 2.5.1, fixest
0.14.2, bacondecomp 0.1.1, did2s and didimputation. Every file is read through
:func:`clusterpolicy.core.provenance.track_input`, so a build records its checksum.

:func:`tfp_comparison` and :func:`did_comparison` run every estimator on those data and return
one row per reference number: ours, the reference, their absolute difference, the tolerance and
whether the difference is within it (computed, never typed). A number that is deliberately not
compared (random bootstrap standard errors of another package, an R run that stopped short of the
optimum, a quantity the package does not compute) has a row too, with the tolerance
``"not compared"`` and the reason in ``note``. :func:`reference_numbers` lists every number the
JSON files hold (their identifiers, inputs and run metadata aside), so a test can check that no
reference number is silently skipped.

Tolerances (columns ``tolerance`` and ``check``):

* production functions: point estimates 1e-4 (OP, LP, Wooldridge, OLS/FE, and R runs that stopped
  near, not at, the ACF root), the ACF root 1e-6 where R stored it, analytic standard errors and
  deterministic checkpoints 1e-6 (criterion values relative to their size, as in the tests);
* difference-in-differences: every ATT(g,t), standard error, aggregation and pre-test 1e-6 (the
  pre-test p-value after rounding to 5 decimals, as R did stores it); TWFE, Sun-Abraham, Bacon
  and did2s 1e-6;
* bootstrap standard errors are random: only their ratio to R's, which must lie in [0.2, 5].
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpolicy.core import provenance
from clusterpolicy.core.notes import warnings_to_notes
from clusterpolicy.estimators.did import (
    bacon,
    callaway_santanna,
    did2s,
    sun_abraham,
    twfe,
    twfe_event_study,
)
from clusterpolicy.estimators.production import estimate
from clusterpolicy.estimators.production._data import prepare_panel
from clusterpolicy.estimators.production._estimators import build_acf, build_oplp

__all__ = [
    "COLUMNS",
    "DID_FILES",
    "TFP_FILES",
    "ReferenceNotFound",
    "by_setting",
    "detail",
    "did_comparison",
    "outside",
    "reference_numbers",
    "reference_status",
    "summary",
    "tfp_comparison",
]

TFP_FILES = ("tfp/prodest_chilean.csv", "tfp/reference_chilean.json")
DID_FILES = ("did/mpdta.csv", "did/reference_mpdta.json", "did/reference_mpdta_twfe_sunab_bacon.json")

COLUMNS = ["family", "software", "estimator", "setting", "group", "quantity", "ours", "reference", "abs_diff",
           "tolerance", "check", "within", "note", "ref_key"]

TOL_POINT = 1e-4        # production-function point estimates (the tolerance)
TOL_EXACT = 1e-6        # deterministic numbers: checkpoints, analytic SEs, every DiD number
RATIO = (0.2, 5.0)      # bootstrap SEs: random, compared by their ratio only
ACF_ROOT = 1e-15        # an R ACF run whose criterion is below this stopped at the root ...
ACF_NEAR_ROOT = 1e-10   # ... below this, near it (compared at TOL_POINT); above, not at a root

# JSON keys that configure a run or describe it rather than report a result: inputs (the
# arguments, the seed, the number of replications, the points at which a criterion is evaluated)
# and run metadata (timings, optimizer iteration counts). Their whole subtree is left out.
NOT_RESULTS = frozenset({
    "args", "call", "label", "method", "optimizer", "software", "variables", "dataset", "data_csv",
    "note", "note_seeds", "description", "key_format", "se_type", "formula", "cluster", "weights",
    "vcov", "first_stage", "second_stage", "treatment", "cluster_var", "egt_label",
    "seed_set_before_call", "elapsed_sec", "boot_reps", "reps", "theta0_used", "counts",
    "convergence", "outer_iter", "iter", "theta", "horizon", "pretrends",
})
# Keys whose scalar values identify a row of a results table (cohort, period, term, the
# parameter value of a checkpoint), left out when they hold a number or a text, not a table.
IDENTIFIERS = frozenset({"egt", "group", "time", "term", "treated", "untreated", "type", "bk"})

FREE = ["fX1", "fX2"]
_TFP_ARGS = {"y": "Y", "free": FREE, "state": "sX", "unit": "idvar", "time": "timevar"}
_DID_ARGS = {"y": "lemp", "unit": "countyreal", "time": "year"}
_AGGREGATIONS = {
    "simple": ("simple", {}),
    "dynamic": ("dynamic", {}),
    "group": ("group", {}),
    "calendar": ("calendar", {}),
    "dynamic_balance_e1": ("dynamic", {"balance_e": 1}),
    "dynamic_min_e-2_max_e2": ("dynamic", {"min_e": -2, "max_e": 2}),
}


class ReferenceNotFound(FileNotFoundError):
    """The reference directory (or one of its files) is not where the caller says."""


# ------------------------------------------------------------------------------------------------
# Reading the references
# ------------------------------------------------------------------------------------------------


def reference_status(reference_dir: str | Path) -> dict[str, Any]:
    """Whether the reference results are available (reads nothing).

    Parameters
    ----------
    reference_dir : str or path-like
        The reference directory (``data/reference``).

    Returns
    -------
    dict
        ``{"status": "present" | "absent" | "incomplete", "directory": resolved path,
        "missing": [relative paths]}``.
    """
    directory = Path(reference_dir).expanduser().resolve()
    if not directory.is_dir():
        return {"status": "absent", "directory": directory, "missing": [*TFP_FILES, *DID_FILES]}
    missing = [name for name in (*TFP_FILES, *DID_FILES) if not (directory / name).is_file()]
    return {"status": "incomplete" if missing else "present", "directory": directory,
            "missing": missing}


def _locate(reference_dir: str | Path, names: tuple[str, ...]) -> list[Path]:
    directory = Path(reference_dir).expanduser().resolve()
    if not directory.is_dir():
        raise ReferenceNotFound(
            f"reference directory not found: {reference_dir} (resolved to {directory}); the R "
            "the project keeps its reference results in data/reference")
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise ReferenceNotFound(f"reference file(s) missing in {directory}: {', '.join(missing)}")
    return [provenance.track_input(directory / name) for name in names]


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def reference_numbers(reference_dir: str | Path) -> pd.DataFrame:
    """Every reference number in the JSON files.

    Parameters
    ----------
    reference_dir : str or path-like
        The reference directory.

    Returns
    -------
    pandas.DataFrame
        ``ref_key`` (``file:path/in/json``) and ``value``: numeric leaves, except inputs and
        metadata (:data:`NOT_RESULTS`) and row identifiers (:data:`IDENTIFIERS`).

    Raises
    ------
    ReferenceNotFound
        The directory or a file is missing.
    """
    names = [name for name in (*TFP_FILES, *DID_FILES) if name.endswith(".json")]
    rows = []
    for name, path in zip(names, _locate(reference_dir, tuple(names)), strict=True):
        for key, value in _leaves(_read_json(path), ()):
            rows.append({"ref_key": f"{Path(name).name}:{'/'.join(key)}", "value": value})
    return pd.DataFrame(rows, columns=["ref_key", "value"])


def _leaves(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], float]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NOT_RESULTS or (key in IDENTIFIERS and not isinstance(value, (dict, list))):
                continue
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, str(i)))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, float(node)
    elif node is None and path and path[-1] in ("se", "att"):  # R's NA in a results table
        yield path, math.nan


# ------------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-")


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


class _Rows:
    """Collects comparison rows; every verdict is computed here from the tolerance."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rows: list[dict[str, Any]] = []
        self.context: dict[str, str] = {}

    def at(self, family: str, software: str, estimator: str, setting: str) -> _Rows:
        self.context = {"family": family, "software": software, "estimator": estimator,
                        "setting": setting}
        return self

    def _add(self, key: str, group: str, quantity: str, ours: Any, ref: Any, tolerance: str,
             check: str, within: Any, note: str = "") -> None:
        ours, ref = _num(ours), _num(ref)
        self.rows.append({**self.context, "group": group, "quantity": quantity, "ours": ours,
                          "reference": ref, "abs_diff": abs(ours - ref), "tolerance": tolerance,
                          "check": check, "within": within, "note": note,
                          "ref_key": f"{self.file}:{key}"})

    def close(self, key: str, group: str, quantity: str, ours: Any, ref: Any, *, atol: float = TOL_EXACT,
              rtol: float = 0.0, note: str = "") -> None:
        """|ours - ref| <= atol + rtol * |ref|; two NaN (R's NA where we have none) agree."""
        o, r = _num(ours), _num(ref)
        if math.isnan(o) and math.isnan(r):
            within = True
            note = note or "both not available (NA in R, NaN here)"
        else:
            within = bool(abs(o - r) <= atol + rtol * abs(r))
        if rtol == 0:
            text = _fmt(atol)
        elif atol == 0:
            text = f"{_fmt(rtol)} × |ref|"
        else:
            text = f"{_fmt(atol)} + {_fmt(rtol)} × |ref|"
        self._add(key, group, quantity, o, r, text, "tight", within, note)

    def exact(self, key: str, group: str, quantity: str, ours: Any, ref: Any, note: str = "") -> None:
        self._add(key, group, quantity, ours, ref, "exact", "tight", bool(_num(ours) == _num(ref)), note)

    def ratio(self, key: str, group: str, quantity: str, ours: Any, ref: Any, note: str = "") -> None:
        o, r = _num(ours), _num(ref)
        within = bool(r > 0 and RATIO[0] <= o / r <= RATIO[1])
        note = (f"random: ratio {o / r:.2f}; " if r > 0 else "") + note
        self._add(key, group, quantity, o, r, f"ratio in [{RATIO[0]:g}, {RATIO[1]:g}]", "loose", within,
                  note.strip("; "))

    def skip(self, key: str, group: str, quantity: str, ref: Any, reason: str, ours: Any = None) -> None:
        self._add(key, group, quantity, ours, ref, "not compared", "none", pd.NA, reason)

    def frame(self) -> pd.DataFrame:
        table = pd.DataFrame(self.rows, columns=COLUMNS)
        table["within"] = table["within"].astype("boolean")
        return table


class _Notes:
    """Warnings raised while estimating, kept as notes for the reader (none reach stderr)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def run(self, label: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)``, its warnings recorded as ``"<label>: <Category>: <message>"``."""
        with warnings_to_notes(self.items, label):
            return func(*args, **kwargs)


# ------------------------------------------------------------------------------------------------
# Production functions: R prodest 1.0.1 on the chilean panel
# ------------------------------------------------------------------------------------------------

_PRODEST = {"OP": "op", "LP": "lp", "ACF": "acf", "WRDG": "wooldridge", "WRDG.GMM": "wooldridge",
            "ROB-IV": "wooldridge"}
_FAMILY = {"op": "Olley–Pakes", "lp": "Levinsohn–Petrin", "acf": "Ackerberg–Caves–Frazer",
           "wooldridge": "Wooldridge"}


def _coef(values: dict[str, float], name: str) -> float:
    return values[name] if name in values else values[f"{name}1"]


def _coef_key(values: dict[str, float], name: str) -> str:
    return name if name in values else f"{name}1"


def _run_spec(entry: dict[str, Any]) -> tuple[str, str, dict[str, Any], str]:
    """(method, proxy, options, label) of our run matching a prodest call."""
    method = _PRODEST[entry["method"]]
    call = entry["call"]
    proxy = "inv" if method == "op" or re.search(r"pX\s*=\s*inv", call) else "pX"
    options: dict[str, Any] = {}
    if re.search(r"exit\s*=\s*TRUE", call):
        options["exit"] = True
    if method == "wooldridge":
        options["variant"] = {"WRDG": "iv", "WRDG.GMM": "gmm", "ROB-IV": "rob"}[entry["method"]]
    label = {"op": "OP", "lp": "LP", "acf": "ACF"}.get(method) or f"Wooldridge {options['variant'].upper()}"
    if options.get("exit"):
        label += ", exit"
    if method == "wooldridge" and proxy == "inv":
        label += ", proxy inv"
    return method, proxy, options, label


def tfp_comparison(reference_dir: str | Path, *, bootstrap: int = 20, seed: int = 1,
                   n_jobs: int = 1) -> pd.DataFrame:
    """The production-function estimators against R prodest 1.0.1 on its ``chilean`` panel.

    One row per reference number of ``tfp/reference_chilean.json`` (see the module docstring for
    the columns and tolerances), from :func:`clusterpolicy.estimators.production.estimate`. OP,
    LP and ACF are also bootstrapped so that prodest's bootstrap standard errors can be
    compared by their ratio.

    Parameters
    ----------
    reference_dir : str or path-like
        The reference directory.
    bootstrap : int, default 20
        Firm-block replications of OP, LP and ACF; 0: those rows are not compared.
    seed : int, default 1
        Seed of the bootstrap.
    n_jobs : int, default 1
        Workers of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; the estimators' warnings are in ``table.attrs["notes"]``.

    Raises
    ------
    ReferenceNotFound
        ``reference_dir`` or one of its files does not exist.
    """

    csv_path, json_path = _locate(reference_dir, TFP_FILES)
    data = pd.read_csv(csv_path)
    ref = _read_json(json_path)
    notes = _Notes()
    rows = _Rows(json_path.name)

    def fit(method: str, proxy: str | None, label: str, **options: Any) -> Any:
        return notes.run(label, estimate, data, method, proxy=proxy, **_TFP_ARGS, **options)

    boot = {"bootstrap": bootstrap, "seed": seed, "n_jobs": n_jobs} if bootstrap else {}
    runs: dict[tuple[str, str, tuple], Any] = {}

    def run_for(method: str, proxy: str, options: dict[str, Any], label: str) -> Any:
        key = (method, proxy, tuple(sorted(options.items())))
        if key not in runs:
            extra = boot if method in ("op", "lp", "acf") else {}
            runs[key] = fit(method, proxy, label, **options, **extra)
        return runs[key]

    panels = {proxy: prepare_panel(data, y="Y", free=FREE, state=["sX"], proxy=proxy, unit="idvar",
                                   time="timevar") for proxy in ("pX", "inv")}
    ones = {proxy: np.ones(panel.n) for proxy, panel in panels.items()}
    acf_problem = build_acf(panels["pX"], ones["pX"], degree=2, lom_degree=3,
                            first_stage_controls=True).problem
    oplp_problem = {
        ("lp", False): build_oplp(panels["pX"], ones["pX"]).problem,
        ("op", False): build_oplp(panels["inv"], ones["inv"]).problem,
        ("op", True): build_oplp(panels["inv"], ones["inv"], exit=True).problem,
    }
    acf = run_for("acf", "pX", {}, "ACF")
    acf_crit = float(acf.extra["criterion"])

    # -- the data ------------------------------------------------------------------------------
    prodest = f"R prodest {ref['software']['prodest']}"
    rows.at("Data", prodest, "the chilean panel", "data")
    rows.exact("N_obs", "sample", "observations", len(data), ref["N_obs"])
    rows.exact("N_firms", "sample", "plants", acf.extra["n_firms"], ref["N_firms"])
    rows.exact("years/0", "sample", "first year", data["timevar"].min(), ref["years"][0])
    rows.exact("years/1", "sample", "last year", data["timevar"].max(), ref["years"][1])
    rows.exact("N_obs_with_lag", "sample", "observations with a calendar lag", acf.nobs,
               ref["N_obs_with_lag"])

    # -- prodest's estimates ---------------------------------------------------------------------
    for name, entry in ref["estimates"].items():
        method, proxy, options, label = _run_spec(entry)
        res = run_for(method, proxy, options, label)
        rows.at(_FAMILY[method], prodest, label, name)
        base = f"estimates/{name}"
        coefs, ses = entry["coefficients"], entry["se"]
        value = entry.get("opt_outcome", {}).get("value")
        skip_coef: dict[str, str] = {}
        coef_tol, coef_note = TOL_POINT, ""
        if method == "acf":
            if value > ACF_NEAR_ROOT:
                reason = (f"prodest's optimizer stopped at criterion {value:.2g}, which is not a root "
                          f"(ours: {acf_crit:.0e} at the root); the criterion there is compared "
                          "below")
                skip_coef = dict.fromkeys(["fX1", "fX2", "sX"], reason)
            elif value < ACF_ROOT:
                coef_tol, coef_note = TOL_EXACT, "R's run reached the root"
            else:
                coef_note = f"R's optimizer stopped near the root (criterion {value:.1e})"
        elif method in ("op", "lp") and entry.get("optimizer") == "solnp":
            one_d = ref["checkpoints"][f"{method.upper()}_bk_optimize_1d"]["objective"]
            skip_coef["sX"] = (f"prodest with opt='solnp' stops before the minimum: its criterion "
                               f"{value:.9g} is above the minimum {one_d:.9g} (R's optimize())")
        for var in ("fX1", "fX2", "sX"):
            key = f"{base}/coefficients/{_coef_key(coefs, var)}"
            if var in skip_coef:
                rows.skip(key, "coefficient", var, _coef(coefs, var), skip_coef[var], ours=res.params[var])
            else:
                rows.close(key, "coefficient", var, res.params[var], _coef(coefs, var), atol=coef_tol,
                           note=coef_note)
        for var in ("fX1", "fX2", "sX"):
            key = f"{base}/se/{_coef_key(ses, var)}"
            quantity = f"SE {var}"
            reps = entry.get("boot_reps")
            if reps is None:  # analytic (Wooldridge): prodest's formula, reproduced in extra
                ours = res.extra["software_std_errors"][var]
                note = ("prodest's formula, √2 too large; the book reports firm-clustered SEs"
                        if options.get("variant") == "gmm" else "prodest's formula")
                rows.close(key, "standard error", quantity, ours, _coef(ses, var), note=note)
            elif skip_coef and method == "acf":
                rows.skip(key, "standard error", quantity, _coef(ses, var),
                          "bootstrap around a point that is not a root")
            elif reps < 10:
                rows.skip(key, "standard error", quantity, _coef(ses, var),
                          f"{reps} bootstrap replications do not estimate a standard error")
            elif not bootstrap:
                rows.skip(key, "standard error", quantity, _coef(ses, var), "no bootstrap run (bootstrap=0)")
            else:
                rows.ratio(key, "standard error", quantity, res.std_errors[var], _coef(ses, var),
                           note=f"ours {bootstrap} replications, R's {reps}")
        reported = entry.get("first_stage_coefs_reported")
        if isinstance(reported, list):
            ours = res.extra["first_stage_coef"].to_numpy()
            for i, r in enumerate(reported):
                rows.close(f"{base}/first_stage_coefs_reported/{i}", "first stage",
                           f"first-stage coef {res.extra['first_stage_coef'].index[i]}", ours[i], r)
        if value is not None:
            key = f"{base}/opt_outcome/value"
            point = np.array([_coef(coefs, v) for v in ("fX1", "fX2", "sX")])
            if method == "acf":
                rows.close(key, "criterion", "criterion at R's estimate", acf_problem.criterion(point),
                           value, atol=1e-9, rtol=TOL_EXACT)
            else:
                problem = oplp_problem[(method, bool(options.get("exit")))]
                rows.close(key, "criterion", "criterion at R's estimate", problem.ssr(point[2:]), value,
                           atol=0.0, rtol=1e-8)
        if entry["method"] == "WRDG.GMM":
            rows.exact(f"{base}/N_input", "sample", "observations", res.nobs, entry["N_input"],
                       note="prodestWRDG_GMM reports the observations with a lag")
        else:
            rows.exact(f"{base}/N_input", "sample", "observations given",
                       res.nobs + int(res.dropped["rows"].sum()), entry["N_input"])

    # -- OLS / FE baselines ----------------------------------------------------------------------
    r_version = "R " + ref["software"]["R"].split()[2]
    baseline_runs = {"OLS_full": ("ols", False), "OLS_full_yeardummies": ("ols", True),
                     "FE_firm": ("fe", False), "FE_twoway": ("fe", True)}
    for name, entry in ref["baselines"].items():
        method, te = baseline_runs[name]
        res = fit(method, None, name, time_effects=te)
        rows.at("OLS / FE", r_version, f"{method.upper()}{' + year effects' if te else ''}", name)
        base = f"baselines/{name}"
        rows.exact(f"{base}/N", "sample", "observations", res.nobs, entry["N"])
        for var, value in entry["coef"].items():
            ours = res.extra["intercept"] if var == "(Intercept)" else res.params[var]
            rows.close(f"{base}/coef/{var}", "coefficient", var, ours, value, atol=TOL_POINT)
        for var, value in entry["se_cluster_firm_HC1"].items():
            key = f"{base}/se_cluster_firm_HC1/{var}"
            if var == "(Intercept)":
                rows.skip(key, "standard error", f"SE {var} (clustered)", value,
                          "the package does not report the intercept's standard error")
            else:
                rows.close(key, "standard error", f"SE {var} (clustered)", res.std_errors[var], value)
        for var, value in entry["se_iid"].items():
            rows.skip(f"{base}/se_iid/{var}", "standard error", f"SE {var} (iid)", value,
                      "the package reports firm-clustered standard errors only")
        if "r2" in entry:
            rows.skip(f"{base}/r2", "fit", "R²", entry["r2"], "the package does not report R²")

    # -- deterministic checkpoints -----------------------------------------------------------------
    cp = ref["checkpoints"]
    rows.at("Ackerberg–Caves–Frazer", prodest, "ACF first stage", "ACF_first_stage")
    fs = cp["ACF_first_stage"]
    coef = acf.extra["first_stage_coef"]
    rows.exact("checkpoints/ACF_first_stage/n_regressors_excl_const", "first stage",
               "regressors (no constant)", len(coef) - 1, fs["n_regressors_excl_const"])
    for i, value in enumerate(fs["coef_first4"]):
        rows.close(f"checkpoints/ACF_first_stage/coef_first4/{i}", "first stage",
                   f"first-stage coef {coef.index[i]}", coef.iloc[i], value)
    rows.close("checkpoints/ACF_first_stage/r2", "first stage", "first-stage R²",
               acf.extra["first_stage_r2"], fs["r2"])
    rows.close("checkpoints/ACF_first_stage/sigma", "first stage", "first-stage σ",
               acf.extra["first_stage_sigma"], fs["sigma"])
    rows.exact("checkpoints/ACF_first_stage/N_second_stage", "sample", "second-stage observations",
               acf.nobs, fs["N_second_stage"])
    rows.at("Ackerberg–Caves–Frazer", prodest, "ACF criterion", "ACF_criterion")
    for label, point in cp["ACF_criterion"].items():
        theta = ", ".join(f"{t:.4g}" for t in point["theta"])
        rows.close(f"checkpoints/ACF_criterion/{label}/gACF", "criterion", f"criterion at ({theta}), {label}",
                   acf_problem.criterion(np.array(point["theta"])), point["gACF"], atol=1e-9,
                   rtol=TOL_EXACT)
    rows.at("Ackerberg–Caves–Frazer", prodest, "ACF root", "ACF_global_min_over_grid")
    grid = cp["ACF_global_min_over_grid"]
    for i, var in enumerate(("fX1", "fX2", "sX")):
        rows.close(f"checkpoints/ACF_global_min_over_grid/par/{i}", "coefficient", f"{var} (best start)",
                   acf.params[var], grid["par"][i], atol=TOL_POINT,
                   note="R's best of its BFGS starts, before polishing")
        rows.close(f"checkpoints/ACF_global_min_over_grid/nm_polished_par/{i}", "coefficient",
                   f"{var} (the root)", acf.params[var], grid["nm_polished_par"][i],
                   note="R's best start polished by Nelder–Mead")
    rows.close("checkpoints/ACF_global_min_over_grid/crit", "criterion", "criterion at the best start",
               acf_crit, grid["crit"], atol=1e-9, note="both ≈ 0")
    rows.close("checkpoints/ACF_global_min_over_grid/nm_polished_crit", "criterion",
               "criterion at the root", acf_crit, grid["nm_polished_crit"], atol=1e-9, note="both ≈ 0")
    for field in ("n_starts", "n_failed", "n_within_0.001_of_best"):
        rows.skip(f"checkpoints/ACF_global_min_over_grid/{field}", "search", field.replace("_", " "),
                  grid[field], "bookkeeping of R's multistart search; ours uses other starts "
                  f"({acf.extra['n_starts']}) and finds {len(acf.extra['roots'])} root(s)")
    rows.at("Ackerberg–Caves–Frazer", prodest, "ACF root", "ACF_multistart_summary")
    rows.skip("checkpoints/ACF_multistart_summary", "search", "multistart log", None,
              f"a text, not a number: {cp['ACF_multistart_summary']}")
    for method, proxy in (("lp", "pX"), ("op", "inv")):
        key = method.upper()
        res = run_for(method, proxy, {}, key)
        problem = oplp_problem[(method, False)]
        rows.at(_FAMILY[method], prodest, f"{key} first stage", f"{key}_first_stage_free")
        for i, value in enumerate(cp[f"{key}_first_stage_free"]):
            rows.close(f"checkpoints/{key}_first_stage_free/{i}", "first stage", FREE[i],
                       res.params[FREE[i]], value)
        rows.at(_FAMILY[method], prodest, f"{key} criterion", f"{key}_criterion")
        for i, point in enumerate(cp[f"{key}_criterion"]):
            rows.close(f"checkpoints/{key}_criterion/{i}/gOPLP", "criterion",
                       f"criterion at sX = {point['bk']:g}", problem.ssr(np.array([point["bk"]])),
                       point["gOPLP"], atol=0.0, rtol=1e-8)
        rows.at(_FAMILY[method], prodest, f"{key} minimum", f"{key}_bk_optimize_1d")
        one_d = cp[f"{key}_bk_optimize_1d"]
        rows.close(f"checkpoints/{key}_bk_optimize_1d/minimum", "coefficient", "sX (1-D minimum)",
                   res.params["sX"], one_d["minimum"], atol=TOL_POINT,
                   note="R's optimize() stops within its tolerance 1.2e-4")
        rows.close(f"checkpoints/{key}_bk_optimize_1d/objective", "criterion", "criterion at the minimum",
                   res.extra["criterion"], one_d["objective"], atol=0.0, rtol=1e-8,
                   note="ours ≤ R's" if res.extra["criterion"] <= problem.ssr(np.array([one_d["minimum"]]))
                   else "ours > R's")

    # -- another R package on the same data ------------------------------------------------------
    other = ref["estprod_runs_on_chilean"]
    for name, entry in other["estimates"].items():
        rows.at("estprod (another package)", f"R estprod {other['software']['estprod']}",
                name.split("_")[2], name)
        reason = f"a different design: {other['note']}"
        for field in ("coef", "se", "se_boot"):
            for var, value in entry.get(field, {}).items():
                group = "coefficient" if field == "coef" else "standard error"
                rows.skip(f"estprod_runs_on_chilean/estimates/{name}/{field}/{var}", group,
                          var if field == "coef" else f"SE {var}", value, reason)

    table = rows.frame()
    table.attrs["notes"] = notes.items
    return table


# ------------------------------------------------------------------------------------------------
# Difference-in-differences: R did 2.5.1, fixest 0.14.2, bacondecomp 0.1.1, did2s, didimputation
# ------------------------------------------------------------------------------------------------


def _cs_setting(key: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "control": "never" if args["control_group"] == "nevertreated" else "notyet",
        "covariates": None if args["xformla"] == "~1" else [args["xformla"].removeprefix("~")],
        "method": args["est_method"],
        "base_period": args["base_period"],
    }


def _cs_rows(rows: _Rows, base: str, fit: Any, att_gt: list[dict[str, Any]], *, se_check: str) -> None:
    """ATT(g,t) rows of one setting; ``se_check`` 'tight' (analytic) or 'ratio' (bootstrap)."""
    ours = fit.att_gt.set_index(["cohort", "time"])
    for i, cell in enumerate(att_gt):
        g, t = cell["group"], cell["time"]
        have = (g, t) in ours.index
        att = ours.loc[(g, t), "att"] if have else math.nan
        se = ours.loc[(g, t), "se"] if have else math.nan
        rows.close(f"{base}/att_gt/{i}/att", "ATT(g,t)", f"ATT({g},{t})", att, cell["att"],
                   note="" if have else "cell missing in ours")
        if se_check == "tight":
            # R leaves out the SE of the reference cells of a universal base period (NA)
            rows.close(f"{base}/att_gt/{i}/se", "SE of ATT(g,t)", f"SE ATT({g},{t})", se, cell.get("se"))
        else:
            rows.ratio(f"{base}/att_gt/{i}/se", "SE of ATT(g,t)", f"SE ATT({g},{t})", se, cell.get("se"))


def _agg_rows(rows: _Rows, base: str, agg: Any, ref: dict[str, Any], *, se_check: str,
              label: str) -> None:
    se_row = rows.close if se_check == "tight" else rows.ratio
    rows.close(f"{base}/overall_att", "aggregate", f"{label}: ATT", agg.att, ref["overall_att"])
    se_row(f"{base}/overall_se", "SE of aggregate", f"{label}: SE", agg.se, ref["overall_se"])
    if "table" in ref:
        key_col = agg.table.columns[0]
        ours = agg.table.set_index(key_col)
        for i, item in enumerate(ref["table"]):
            e = item["egt"]
            have = e in ours.index
            rows.close(f"{base}/table/{i}/att", "aggregate", f"{label}: ATT({e})",
                       ours.loc[e, "att"] if have else math.nan, item["att"],
                       note="" if have else f"{e} missing in ours")
            se_row(f"{base}/table/{i}/se", "SE of aggregate", f"{label}: SE({e})",
                   ours.loc[e, "se"] if have else math.nan, item.get("se"))


def _coef_rows(rows: _Rows, base: str, ours: Any, items: list[dict[str, Any]], names: list[str], *,
               se_field: str = "se") -> None:
    for i, (item, name) in enumerate(zip(items, names, strict=True)):
        have = name in ours.params.index
        rows.close(f"{base}/{i}/estimate", "coefficient", item["term"],
                   ours.params[name] if have else math.nan, item["estimate"],
                   note="" if have else f"{name} missing in ours")
        rows.close(f"{base}/{i}/{se_field}", "standard error", f"SE {item['term']}",
                   ours.std_errors[name] if have else math.nan, item[se_field])


def _event(term: str) -> str:
    return f"e={term.split('::')[1]}"


def did_comparison(reference_dir: str | Path, *, bootstrap_iters: int = 999, seed: int = 1) -> pd.DataFrame:
    """:mod:`clusterpolicy.estimators.did` against R did 2.5.1, fixest 0.14.2, bacondecomp 0.1.1,
    did2s 1.2.1 and didimputation 0.5.0 on R did's ``mpdta`` panel.

    One row per reference number of ``did/reference_mpdta.json`` (16 Callaway-Sant'Anna settings:
    ATT(g,t), analytic SEs, pre-test, six aggregations; and R's bootstrap example) and of
    ``did/reference_mpdta_twfe_sunab_bacon.json``. R's bootstrap example is re-run with our
    multiplier bootstrap: its point estimates are compared tightly, its random SEs and critical
    values by their ratio.

    Parameters
    ----------
    reference_dir : str or path-like
        The reference directory.
    bootstrap_iters : int, default 999
        Draws of the multiplier bootstrap; 0: the bootstrap example is not compared.
    seed : int, default 1
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; the estimators' warnings are in ``table.attrs["notes"]``.

    Raises
    ------
    ReferenceNotFound
        ``reference_dir`` or one of its files does not exist.
    """

    csv_path, cs_path, other_path = _locate(reference_dir, DID_FILES)
    data = pd.read_csv(csv_path)
    ref_cs, ref = _read_json(cs_path), _read_json(other_path)
    notes = _Notes()
    cohort = "first.treat"

    # -- Callaway & Sant'Anna: 16 settings ------------------------------------------------------
    rows = _Rows(cs_path.name)
    did_version = f"R did {ref_cs['software']['did']}"
    for key, entry in ref_cs["settings"].items():
        options = _cs_setting(key, entry["args"])
        fit = notes.run(key, callaway_santanna, data, cohort=cohort, **options, **_DID_ARGS)
        rows.at("Callaway–Sant'Anna", did_version, "ATT(g,t), aggregations", key)
        base = f"settings/{key}"
        rows.exact(f"{base}/n_units", "sample", "units", fit.extra["n_units"], entry["n_units"])
        _cs_rows(rows, base, fit, entry["att_gt"], se_check="tight")
        rows.close(f"{base}/pretest_wald_stat", "pre-test", "Wald statistic", fit.pretest["wald_stat"],
                   entry["pretest_wald_stat"])
        rows.close(f"{base}/pretest_wald_pvalue", "pre-test", "p-value (rounded to 5 decimals)",
                   round(fit.pretest["p_value"], 5), entry["pretest_wald_pvalue"],
                   note="R stores round(p, 5)")
        for name, (kind, agg_options) in _AGGREGATIONS.items():
            agg = notes.run(f"{key} {name}", fit.aggregate, kind, **agg_options)
            _agg_rows(rows, f"{base}/aggte/{name}", agg, entry["aggte"][name], se_check="tight", label=name)

    # -- R's default inference: the multiplier bootstrap (random) ---------------------------------
    example = ref_cs["bootstrap_example"]
    rows.at("Callaway–Sant'Anna (bootstrap)", did_version, "multiplier bootstrap", "bootstrap_example")
    base = "bootstrap_example"
    if bootstrap_iters:
        fit = notes.run("bootstrap", callaway_santanna, data, cohort=cohort, bootstrap=True,
                        biters=bootstrap_iters, seed=seed, **_DID_ARGS)
        _cs_rows(rows, base, fit, example["att_gt"], se_check="ratio")
        rows.ratio(f"{base}/att_gt_uniform_crit_val", "critical value", "uniform critical value",
                   fit.extra["critical_value"], example["att_gt_uniform_crit_val"])
        agg = notes.run("bootstrap dynamic", fit.aggregate, "dynamic")
        _agg_rows(rows, f"{base}/dynamic", agg, example["dynamic"], se_check="ratio", label="dynamic")
        crit = float(np.atleast_1d(agg.raw.critical_values)[0])
        rows.ratio(f"{base}/dynamic/uniform_crit_val", "critical value", "dynamic: uniform critical value",
                   crit, example["dynamic"]["uniform_crit_val"])
    else:
        for key, value in _leaves(example, ()):
            rows.skip(f"{base}/{'/'.join(key)}", "bootstrap", "/".join(key), value,
                      "no bootstrap run (bootstrap_iters=0)")
    cs_table = rows.frame()

    # -- TWFE, Sun & Abraham, Bacon, did2s, imputation ---------------------------------------------
    rows = _Rows(other_path.name)
    software = ref["software"]
    fixest = f"R fixest {software['fixest']}"
    twfe_fit = notes.run("twfe", twfe, data, cohort=cohort, **_DID_ARGS)
    rows.at("TWFE", fixest, "TWFE", "twfe/unweighted")
    entry = ref["twfe"]["unweighted"]
    rows.exact("twfe/unweighted/nobs", "sample", "observations", twfe_fit.nobs, entry["nobs"])
    _coef_rows(rows, "twfe/unweighted/coef", twfe_fit, entry["coef"], ["post"])

    fit = notes.run("twfe lpop", twfe, data, cohort=cohort, covariates_by_time=["lpop"], **_DID_ARGS)
    rows.at("TWFE", fixest, "TWFE + lpop × year", "twfe/with_lpop_x_year")
    entry = ref["twfe"]["with_lpop_x_year"]
    rows.exact("twfe/with_lpop_x_year/nobs", "sample", "observations", fit.nobs, entry["nobs"])
    _coef_rows(rows, "twfe/with_lpop_x_year/coef", fit, entry["coef"], [c["term"] for c in entry["coef"]])

    fit = notes.run("event study", twfe_event_study, data, cohort=cohort, **_DID_ARGS)
    rows.at("TWFE", fixest, "TWFE event study", "twfe/event_study")
    entry = ref["twfe"]["event_study"]
    rows.exact("twfe/event_study/nobs", "sample", "observations", fit.nobs, entry["nobs"])
    _coef_rows(rows, "twfe/event_study/coef", fit, entry["coef"], [_event(c["term"]) for c in entry["coef"]])

    fit = notes.run("sunab", sun_abraham, data, cohort=cohort, **_DID_ARGS)
    entry = ref["sunab"]["unweighted"]
    rows.at("Sun–Abraham", fixest, "sunab", "sunab/unweighted")
    _coef_rows(rows, "sunab/unweighted/event_time", fit, entry["event_time"],
               [_event(c["term"]) for c in entry["event_time"]])
    overall = fit.aggregate("simple")
    item = entry["agg_ATT"][0]
    rows.close("sunab/unweighted/agg_ATT/0/estimate", "aggregate", "ATT", overall.att, item["estimate"])
    rows.close("sunab/unweighted/agg_ATT/0/se", "aggregate", "SE ATT", overall.se, item["se"])
    by_group = fit.aggregate("group").table.set_index("cohort")
    for i, item in enumerate(entry["agg_cohort"]):
        g = int(item["term"].split("::")[1])
        have = g in by_group.index
        rows.close(f"sunab/unweighted/agg_cohort/{i}/estimate", "aggregate", item["term"],
                   by_group.loc[g, "att"] if have else math.nan, item["estimate"])
        rows.close(f"sunab/unweighted/agg_cohort/{i}/se", "aggregate", f"SE {item['term']}",
                   by_group.loc[g, "se"] if have else math.nan, item["se"])

    fit = notes.run("bacon", bacon, data, cohort=cohort, **_DID_ARGS)
    entry = ref["bacon"]
    rows.at("Goodman-Bacon", f"R bacondecomp {software['bacondecomp']}", "decomposition", "bacon")
    ours = fit.two_by_two.set_index(["treated", "control"])
    for i, item in enumerate(entry["two_by_two"]):
        control = 0 if item["untreated"] == 99999 else item["untreated"]
        pair = (item["treated"], control)
        have = pair in ours.index
        label = f"{item['treated']} vs {'never treated' if control == 0 else control}"
        same_type = have and ours.loc[pair, "type"] == item["type"]
        note = "" if same_type else f"type differs: ours {ours.loc[pair, 'type'] if have else '–'}"
        for field in ("estimate", "weight"):
            value = ours.loc[pair, field] if have and same_type else math.nan
            rows.close(f"bacon/two_by_two/{i}/{field}", "2×2 comparison", f"{label}: {field}", value,
                       item[field], note=note)
    by_type = fit.by_type.set_index("type")
    for i, item in enumerate(entry["by_type"]):
        have = item["type"] in by_type.index
        for field, label in (("weight", "weight"), ("avg_est", "average estimate")):
            rows.close(f"bacon/by_type/{i}/{field}", "by type", f"{item['type']}: {label}",
                       by_type.loc[item["type"], field] if have else math.nan, item[field])
    rows.close("bacon/weighted_sum", "by type", "weighted sum (= TWFE)", fit.twfe_estimate,
               entry["weighted_sum"])

    did2s_static = notes.run("did2s", did2s, data, cohort=cohort, **_DID_ARGS)
    did2s_es = notes.run("did2s event study", did2s, data, cohort=cohort, event_study=True, **_DID_ARGS)
    rows.at("did2s / imputation", f"R did2s {software['did2s']}", "did2s", "did2s/static")
    _coef_rows(rows, "did2s/static/coef", did2s_static, ref["did2s"]["static"]["coef"], ["post"])
    rows.at("did2s / imputation", f"R did2s {software['did2s']}", "did2s event study", "did2s/event_study")
    coefs = ref["did2s"]["event_study"]["coef"]
    _coef_rows(rows, "did2s/event_study/coef", did2s_es, coefs, [_event(c["term"]) for c in coefs])

    imputation = f"R didimputation {software['didimputation']}"
    se_reason = "BJS conservative SEs; the package has did2s's GMM SEs instead"
    for setting, fit in (("static", did2s_static), ("event_study", did2s_es)):
        rows.at("did2s / imputation", imputation, f"imputation ({setting.replace('_', ' ')})",
                f"did_imputation/{setting}")
        for i, item in enumerate(ref["did_imputation"][setting]["estimates"]):
            base = f"did_imputation/{setting}/estimates/{i}"
            name = "post" if setting == "static" else f"e={item['term']}"
            horizon = setting == "static" or int(item["term"]) >= 0
            if horizon:
                rows.close(f"{base}/estimate", "coefficient", item["term"], fit.params[name],
                           item["estimate"], note="the imputation estimate equals did2s's")
                reason = se_reason
            else:
                reason = "BJS pre-trend coefficients (a regression on untreated observations) not implemented"
                rows.skip(f"{base}/estimate", "coefficient", item["term"], item["estimate"], reason)
            rows.skip(f"{base}/std.error", "standard error", f"SE {item['term']}", item["std.error"], reason)
            for bound in ("conf.low", "conf.high"):
                rows.skip(f"{base}/{bound}", "interval", f"{bound} {item['term']}", item[bound],
                          "an interval built on the BJS standard error" if horizon else reason)

    table = pd.concat([cs_table, rows.frame()], ignore_index=True)
    table["within"] = table["within"].astype("boolean")
    table.attrs["notes"] = notes.items
    return table


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per family: the reference software, its numbers, how many are compared (tightly or by
    ratio), within tolerance and not compared, and the largest absolute difference among the
    tightly compared ones (ratio-compared bootstrap SEs are random and left out of it).

    Parameters
    ----------
    table : pandas.DataFrame
        A comparison table (:data:`COLUMNS`) of :func:`tfp_comparison` and/or
        :func:`did_comparison`.

    Returns
    -------
    pandas.DataFrame
        One row per family (index ``family``).
    """
    out = []
    for family, part in table.groupby("family", sort=False):
        compared = part["check"] != "none"
        tight = part.loc[part["check"] == "tight", "abs_diff"]
        out.append({
            "family": family,
            "reference software": ", ".join(dict.fromkeys(part["software"])),
            "numbers": len(part),
            "compared": int(compared.sum()),
            "within tolerance": int(part.loc[compared, "within"].fillna(False).sum()),
            "not compared": int((~compared).sum()),
            "max abs diff": float(tight.max()) if tight.notna().any() else math.nan,
        })
    return pd.DataFrame(out).set_index("family")


def outside(table: pd.DataFrame) -> pd.DataFrame:
    """The compared rows whose difference exceeds the tolerance.

    Parameters
    ----------
    table : pandas.DataFrame
        A comparison table (:data:`COLUMNS`) of :func:`tfp_comparison` and/or
        :func:`did_comparison`.

    Returns
    -------
    pandas.DataFrame
        Those rows of ``table``.
    """
    return table[(table["check"] != "none") & ~table["within"].fillna(True).astype(bool)]


def _unique(values: pd.Series) -> str:
    return "; ".join(dict.fromkeys(v for v in values if isinstance(v, str) and v))


def by_setting(table: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (a reference run): how many numbers, how many compared are within
    tolerance, and per kind of number (``group``) the largest absolute difference (tight
    comparisons), the range of ratios (random SEs) or "not compared"; ``remark`` holds the
    notes and the reasons a number is not compared. Cells are text, ready to show.

    Parameters
    ----------
    table : pandas.DataFrame
        A comparison table (:data:`COLUMNS`) of :func:`tfp_comparison` and/or
        :func:`did_comparison`.

    Returns
    -------
    pandas.DataFrame
        One row per setting (index ``setting``).
    """
    groups = list(dict.fromkeys(table["group"]))
    out = []
    for setting, part in table.groupby("setting", sort=False):
        compared = part["check"] != "none"
        row: dict[str, Any] = {
            "setting": setting,
            "estimator": part["estimator"].iloc[0],
            "numbers": str(len(part)),
            "within tolerance": (f"{int(part.loc[compared, 'within'].fillna(False).sum())} of "
                                 f"{int(compared.sum())}" if compared.any() else "–"),
        }
        for group in groups:
            cell = part[part["group"] == group]
            parts = []
            tight = cell.loc[cell["check"] == "tight", "abs_diff"]
            if len(tight):
                parts.append("both NA" if tight.isna().all() else f"{tight.max():.1e}")
            loose = cell[cell["check"] == "loose"]
            if len(loose):
                ratio = loose["ours"] / loose["reference"]
                parts.append(f"ratio {ratio.min():.2f}–{ratio.max():.2f}")
            if (cell["check"] == "none").any():
                parts.append("not compared")
            row[group] = ", ".join(parts) if parts else "–"
        reasons = _unique(part.loc[~compared, "note"])
        row["remark"] = "; ".join(filter(None, [_unique(part.loc[part["check"] == "tight", "note"]),
                                                f"not compared: {reasons}" if reasons else ""]))
        out.append(row)
    return pd.DataFrame(out).set_index("setting")


def detail(table: pd.DataFrame) -> pd.DataFrame:
    """Every number of a comparison table, for display: ours, the reference, the absolute
    difference, the tolerance and the verdict (yes / **no** / – for not compared).

    Parameters
    ----------
    table : pandas.DataFrame
        A comparison table (:data:`COLUMNS`) of :func:`tfp_comparison` and/or
        :func:`did_comparison`.

    Returns
    -------
    pandas.DataFrame
        Numbered from 1 (index ``#``).
    """
    shown = table[["setting", "quantity", "ours", "reference", "abs_diff", "tolerance", "within",
                   "note"]].rename(columns={"abs_diff": "abs diff"})
    shown["within"] = table["within"].map(lambda v: "–" if v is pd.NA else ("yes" if v else "**no**"))
    shown.index = pd.RangeIndex(1, len(shown) + 1, name="#")
    return shown
