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

The Validation appendix makes one call per result: :func:`availability` (whether the reference
files are there, and if not why the page stops), :func:`compare` (both tables, a
:class:`Comparison`), then :func:`overview`, :func:`tfp_findings` and :func:`did_findings`
(the numbers, flags and tables each section glues).

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

import dataclasses
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
    "OTHER_DID",
    "TFP_FILES",
    "Comparison",
    "DidFindings",
    "Overview",
    "ReferenceNotFound",
    "TfpFindings",
    "availability",
    "by_setting",
    "compare",
    "cs_setting_label",
    "detail",
    "did_comparison",
    "did_findings",
    "outside",
    "overview",
    "reference_numbers",
    "reference_status",
    "summary",
    "tfp_comparison",
    "tfp_findings",
]

TFP_FILES = ("tfp/prodest_chilean.csv", "tfp/reference_chilean.json")
DID_FILES = ("did/mpdta.csv", "did/reference_mpdta.json", "did/reference_mpdta_twfe_sunab_bacon.json")

#: The columns of the comparison tables (one row per reference number).
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
        metadata (``NOT_RESULTS``) and row identifiers (``IDENTIFIERS``).

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
        # prodestWRDG ("IV version") is its own two-step design, reproduced by "prodest_iv"
        options["variant"] = {"WRDG": "prodest_iv", "WRDG.GMM": "gmm", "ROB-IV": "rob"}[entry["method"]]
    label = ({"op": "OP", "lp": "LP", "acf": "ACF"}.get(method)
             or "Wooldridge " + {"prodest_iv": "IV", "gmm": "GMM", "rob": "ROB"}[options["variant"]])
    if options.get("exit"):
        label += ", exit"
    if method == "wooldridge" and proxy == "inv":
        label += ", proxy inv"
    return method, proxy, options, label


class _TfpRun:
    """One comparison with prodest: the chilean panel, the reference, the rows and notes, and
    every estimate computed once (OP, LP and ACF bootstrapped when ``bootstrap`` > 0)."""

    def __init__(self, data: pd.DataFrame, ref: dict[str, Any], rows: _Rows, *, bootstrap: int,
                 seed: int, n_jobs: int) -> None:
        self.data, self.ref, self.rows = data, ref, rows
        self.notes = _Notes()
        self.bootstrap = bootstrap
        self.boot = {"bootstrap": bootstrap, "seed": seed, "n_jobs": n_jobs} if bootstrap else {}
        self.prodest = f"R prodest {ref['software']['prodest']}"
        self._runs: dict[tuple[str, str, tuple], Any] = {}
        panels = {proxy: prepare_panel(data, y="Y", free=FREE, state=["sX"], proxy=proxy,
                                       unit="idvar", time="timevar") for proxy in ("pX", "inv")}
        ones = {proxy: np.ones(panel.n) for proxy, panel in panels.items()}
        self.acf_problem = build_acf(panels["pX"], ones["pX"], degree=2, lom_degree=3,
                                     first_stage_controls=True).problem
        self.oplp_problem = {
            ("lp", False): build_oplp(panels["pX"], ones["pX"]).problem,
            ("op", False): build_oplp(panels["inv"], ones["inv"]).problem,
            ("op", True): build_oplp(panels["inv"], ones["inv"], exit=True).problem,
        }

    def fit(self, method: str, proxy: str | None, label: str, **options: Any) -> Any:
        """A fresh estimate on the panel, its warnings kept as notes under ``label``."""
        return self.notes.run(label, estimate, self.data, method, proxy=proxy, **_TFP_ARGS, **options)

    def run_for(self, method: str, proxy: str, options: dict[str, Any], label: str) -> Any:
        """The estimate of a prodest run, computed the first time it is asked for."""
        key = (method, proxy, tuple(sorted(options.items())))
        if key not in self._runs:
            extra = self.boot if method in ("op", "lp", "acf") else {}
            self._runs[key] = self.fit(method, proxy, label, **options, **extra)
        return self._runs[key]


def _data_rows(run: _TfpRun, acf: Any) -> None:
    ref, data, rows = run.ref, run.data, run.rows
    rows.at("Data", run.prodest, "the chilean panel", "data")
    rows.exact("N_obs", "sample", "observations", len(data), ref["N_obs"])
    rows.exact("N_firms", "sample", "plants", acf.extra["n_firms"], ref["N_firms"])
    rows.exact("years/0", "sample", "first year", data["timevar"].min(), ref["years"][0])
    rows.exact("years/1", "sample", "last year", data["timevar"].max(), ref["years"][1])
    rows.exact("N_obs_with_lag", "sample", "observations with a calendar lag", acf.nobs,
               ref["N_obs_with_lag"])


def _acf_coefficient_rule(value: float, acf_crit: float) -> tuple[dict[str, str], float, str]:
    """How an R ACF run's coefficients are compared, from the criterion where R stopped:
    not at all away from a root, exactly at the root, to TOL_POINT near it."""
    if value > ACF_NEAR_ROOT:
        reason = (f"prodest's optimizer stopped at criterion {value:.2g}, which is not a root "
                  f"(ours: {acf_crit:.0e} at the root); the criterion there is compared below")
        return dict.fromkeys(["fX1", "fX2", "sX"], reason), TOL_POINT, ""
    if value < ACF_ROOT:
        return {}, TOL_EXACT, "R's run reached the root"
    return {}, TOL_POINT, f"R's optimizer stopped near the root (criterion {value:.1e})"


def _coefficient_rule(run: _TfpRun, method: str, entry: dict[str, Any], acf_crit: float
                      ) -> tuple[dict[str, str], float, str]:
    """(coefficients not compared with the reason, tolerance, note) of one prodest run."""
    value = entry.get("opt_outcome", {}).get("value")
    if method == "acf":
        return _acf_coefficient_rule(value, acf_crit)
    if method in ("op", "lp") and entry.get("optimizer") == "solnp":
        one_d = run.ref["checkpoints"][f"{method.upper()}_bk_optimize_1d"]["objective"]
        return {"sX": (f"prodest with opt='solnp' stops before the minimum: its criterion "
                       f"{value:.9g} is above the minimum {one_d:.9g} (R's optimize())")}, TOL_POINT, ""
    return {}, TOL_POINT, ""


def _coefficient_rows(run: _TfpRun, base: str, entry: dict[str, Any], res: Any,
                      rule: tuple[dict[str, str], float, str]) -> None:
    skip_coef, coef_tol, coef_note = rule
    coefs = entry["coefficients"]
    for var in ("fX1", "fX2", "sX"):
        key = f"{base}/coefficients/{_coef_key(coefs, var)}"
        if var in skip_coef:
            run.rows.skip(key, "coefficient", var, _coef(coefs, var), skip_coef[var], ours=res.params[var])
        else:
            run.rows.close(key, "coefficient", var, res.params[var], _coef(coefs, var), atol=coef_tol,
                           note=coef_note)


def _se_reason(run: _TfpRun, method: str, reps: int, off_root: bool) -> str | None:
    """Why prodest's bootstrap standard errors of a run are not compared (None: compared)."""
    if off_root and method == "acf":
        return "bootstrap around a point that is not a root"
    if reps < 10:
        return f"{reps} bootstrap replications do not estimate a standard error"
    if not run.bootstrap:
        return "no bootstrap run (bootstrap=0)"
    return None


def _se_rows(run: _TfpRun, base: str, entry: dict[str, Any], res: Any, method: str,
             options: dict[str, Any], off_root: bool) -> None:
    ses, reps = entry["se"], entry.get("boot_reps")
    for var in ("fX1", "fX2", "sX"):
        key, quantity, theirs = f"{base}/se/{_coef_key(ses, var)}", f"SE {var}", _coef(ses, var)
        if reps is None:  # analytic (Wooldridge): prodest's formula, reproduced in extra
            note = ("prodest's formula, √2 too large; the book reports firm-clustered SEs"
                    if options.get("variant") == "gmm" else "prodest's formula")
            run.rows.close(key, "standard error", quantity, res.extra["software_std_errors"][var], theirs,
                           note=note)
            continue
        reason = _se_reason(run, method, reps, off_root)
        if reason is not None:
            run.rows.skip(key, "standard error", quantity, theirs, reason)
        else:
            run.rows.ratio(key, "standard error", quantity, res.std_errors[var], theirs,
                           note=f"ours {run.bootstrap} replications, R's {reps}")


def _first_stage_rows(run: _TfpRun, base: str, entry: dict[str, Any], res: Any) -> None:
    reported = entry.get("first_stage_coefs_reported")
    if not isinstance(reported, list):
        return
    ours = res.extra["first_stage_coef"].to_numpy()
    for i, r in enumerate(reported):
        run.rows.close(f"{base}/first_stage_coefs_reported/{i}", "first stage",
                       f"first-stage coef {res.extra['first_stage_coef'].index[i]}", ours[i], r)


def _criterion_row(run: _TfpRun, base: str, entry: dict[str, Any], method: str,
                   options: dict[str, Any]) -> None:
    value = entry.get("opt_outcome", {}).get("value")
    if value is None:
        return
    key = f"{base}/opt_outcome/value"
    point = np.array([_coef(entry["coefficients"], v) for v in ("fX1", "fX2", "sX")])
    if method == "acf":
        run.rows.close(key, "criterion", "criterion at R's estimate", run.acf_problem.criterion(point),
                       value, atol=1e-9, rtol=TOL_EXACT)
    else:
        problem = run.oplp_problem[(method, bool(options.get("exit")))]
        run.rows.close(key, "criterion", "criterion at R's estimate", problem.ssr(point[2:]), value,
                       atol=0.0, rtol=1e-8)


def _observations_row(run: _TfpRun, base: str, entry: dict[str, Any], res: Any) -> None:
    if entry["method"] == "WRDG.GMM":
        run.rows.exact(f"{base}/N_input", "sample", "observations", res.nobs, entry["N_input"],
                       note="prodestWRDG_GMM reports the observations with a lag")
    else:
        run.rows.exact(f"{base}/N_input", "sample", "observations given",
                       res.nobs + int(res.dropped["rows"].sum()), entry["N_input"])


def _estimate_rows(run: _TfpRun, name: str, entry: dict[str, Any], acf_crit: float) -> None:
    """Every number of one prodest run: coefficients, standard errors, first stage, the
    criterion at R's estimate and the observations."""
    method, proxy, options, label = _run_spec(entry)
    res = run.run_for(method, proxy, options, label)
    run.rows.at(_FAMILY[method], run.prodest, label, name)
    base = f"estimates/{name}"
    rule = _coefficient_rule(run, method, entry, acf_crit)
    _coefficient_rows(run, base, entry, res, rule)
    _se_rows(run, base, entry, res, method, options, off_root=bool(rule[0]))
    _first_stage_rows(run, base, entry, res)
    _criterion_row(run, base, entry, method, options)
    _observations_row(run, base, entry, res)


_BASELINE_RUNS = {"OLS_full": ("ols", False), "OLS_full_yeardummies": ("ols", True),
                  "FE_firm": ("fe", False), "FE_twoway": ("fe", True)}


def _baseline_rows(run: _TfpRun) -> None:
    """R's OLS and fixed-effects regressions: coefficients, clustered SEs (iid SEs and R²,
    which the package does not report, not compared)."""
    rows = run.rows
    r_version = "R " + run.ref["software"]["R"].split()[2]
    for name, entry in run.ref["baselines"].items():
        method, te = _BASELINE_RUNS[name]
        res = run.fit(method, None, name, time_effects=te)
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


def _acf_first_stage_rows(run: _TfpRun, acf: Any) -> None:
    rows, fs = run.rows, run.ref["checkpoints"]["ACF_first_stage"]
    rows.at("Ackerberg–Caves–Frazer", run.prodest, "ACF first stage", "ACF_first_stage")
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


def _acf_criterion_rows(run: _TfpRun) -> None:
    run.rows.at("Ackerberg–Caves–Frazer", run.prodest, "ACF criterion", "ACF_criterion")
    for label, point in run.ref["checkpoints"]["ACF_criterion"].items():
        theta = ", ".join(f"{t:.4g}" for t in point["theta"])
        run.rows.close(f"checkpoints/ACF_criterion/{label}/gACF", "criterion",
                       f"criterion at ({theta}), {label}",
                       run.acf_problem.criterion(np.array(point["theta"])), point["gACF"], atol=1e-9,
                       rtol=TOL_EXACT)


def _acf_root_rows(run: _TfpRun, acf: Any, acf_crit: float) -> None:
    rows, cp = run.rows, run.ref["checkpoints"]
    rows.at("Ackerberg–Caves–Frazer", run.prodest, "ACF root", "ACF_global_min_over_grid")
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
    rows.at("Ackerberg–Caves–Frazer", run.prodest, "ACF root", "ACF_multistart_summary")
    rows.skip("checkpoints/ACF_multistart_summary", "search", "multistart log", None,
              f"a text, not a number: {cp['ACF_multistart_summary']}")


def _oplp_checkpoint_rows(run: _TfpRun, method: str, proxy: str) -> None:
    """OP's or LP's deterministic checkpoints: first-stage coefficients, the criterion at
    given capital coefficients and R's one-dimensional minimum."""
    rows, cp, key = run.rows, run.ref["checkpoints"], method.upper()
    res = run.run_for(method, proxy, {}, key)
    problem = run.oplp_problem[(method, False)]
    rows.at(_FAMILY[method], run.prodest, f"{key} first stage", f"{key}_first_stage_free")
    for i, value in enumerate(cp[f"{key}_first_stage_free"]):
        rows.close(f"checkpoints/{key}_first_stage_free/{i}", "first stage", FREE[i],
                   res.params[FREE[i]], value)
    rows.at(_FAMILY[method], run.prodest, f"{key} criterion", f"{key}_criterion")
    for i, point in enumerate(cp[f"{key}_criterion"]):
        rows.close(f"checkpoints/{key}_criterion/{i}/gOPLP", "criterion",
                   f"criterion at sX = {point['bk']:g}", problem.ssr(np.array([point["bk"]])),
                   point["gOPLP"], atol=0.0, rtol=1e-8)
    rows.at(_FAMILY[method], run.prodest, f"{key} minimum", f"{key}_bk_optimize_1d")
    one_d = cp[f"{key}_bk_optimize_1d"]
    rows.close(f"checkpoints/{key}_bk_optimize_1d/minimum", "coefficient", "sX (1-D minimum)",
               res.params["sX"], one_d["minimum"], atol=TOL_POINT,
               note="R's optimize() stops within its tolerance 1.2e-4")
    below = res.extra["criterion"] <= problem.ssr(np.array([one_d["minimum"]]))
    rows.close(f"checkpoints/{key}_bk_optimize_1d/objective", "criterion", "criterion at the minimum",
               res.extra["criterion"], one_d["objective"], atol=0.0, rtol=1e-8,
               note="ours ≤ R's" if below else "ours > R's")


def _estprod_rows(run: _TfpRun) -> None:
    """Another R package on the same data (a different design): listed, not compared."""
    other = run.ref["estprod_runs_on_chilean"]
    for name, entry in other["estimates"].items():
        run.rows.at("estprod (another package)", f"R estprod {other['software']['estprod']}",
                    name.split("_")[2], name)
        reason = f"a different design: {other['note']}"
        for field in ("coef", "se", "se_boot"):
            for var, value in entry.get(field, {}).items():
                group = "coefficient" if field == "coef" else "standard error"
                run.rows.skip(f"estprod_runs_on_chilean/estimates/{name}/{field}/{var}", group,
                              var if field == "coef" else f"SE {var}", value, reason)


def tfp_comparison(reference_dir: str | Path, *, bootstrap: int = 20, seed: int = 1,
                   n_jobs: int = 1) -> pd.DataFrame:
    """The production-function estimators against R prodest 1.0.1 on its ``chilean`` panel.

    One row per reference number of ``tfp/reference_chilean.json`` (see the module docstring for
    the columns and tolerances), from :func:`clusterpolicy.estimators.production.estimate`. OP,
    LP and ACF are also bootstrapped so that prodest's bootstrap standard errors can be
    compared by their ratio. Rows in this order: the data, prodest's runs, the OLS and
    fixed-effects baselines, the ACF checkpoints (first stage, criterion, root), the LP and OP
    checkpoints, and estprod's runs.

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
    run = _TfpRun(pd.read_csv(csv_path), _read_json(json_path), _Rows(json_path.name),
                  bootstrap=bootstrap, seed=seed, n_jobs=n_jobs)
    acf = run.run_for("acf", "pX", {}, "ACF")
    acf_crit = float(acf.extra["criterion"])
    _data_rows(run, acf)
    for name, entry in run.ref["estimates"].items():
        _estimate_rows(run, name, entry, acf_crit)
    _baseline_rows(run)
    _acf_first_stage_rows(run, acf)
    _acf_criterion_rows(run)
    _acf_root_rows(run, acf, acf_crit)
    for method, proxy in (("lp", "pX"), ("op", "inv")):
        _oplp_checkpoint_rows(run, method, proxy)
    _estprod_rows(run)
    table = run.rows.frame()
    table.attrs["notes"] = run.notes.items
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


_COHORT = "first.treat"


def _event(term: str) -> str:
    return f"e={term.split('::')[1]}"


def _cs_settings_rows(rows: _Rows, data: pd.DataFrame, ref_cs: dict[str, Any], notes: _Notes) -> None:
    """The 16 Callaway–Sant'Anna settings: units, ATT(g,t) with analytic SEs, the pre-test
    and six aggregations."""
    did_version = f"R did {ref_cs['software']['did']}"
    for key, entry in ref_cs["settings"].items():
        options = _cs_setting(key, entry["args"])
        fit = notes.run(key, callaway_santanna, data, cohort=_COHORT, **options, **_DID_ARGS)
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


def _cs_bootstrap_rows(rows: _Rows, data: pd.DataFrame, ref_cs: dict[str, Any], notes: _Notes, *,
                       bootstrap_iters: int, seed: int) -> None:
    """R's default inference, the multiplier bootstrap (random): point estimates tightly,
    standard errors and critical values by their ratio; none of it without a bootstrap."""
    example = ref_cs["bootstrap_example"]
    rows.at("Callaway–Sant'Anna (bootstrap)", f"R did {ref_cs['software']['did']}", "multiplier bootstrap",
            "bootstrap_example")
    base = "bootstrap_example"
    if not bootstrap_iters:
        for key, value in _leaves(example, ()):
            rows.skip(f"{base}/{'/'.join(key)}", "bootstrap", "/".join(key), value,
                      "no bootstrap run (bootstrap_iters=0)")
        return
    fit = notes.run("bootstrap", callaway_santanna, data, cohort=_COHORT, bootstrap=True,
                    biters=bootstrap_iters, seed=seed, **_DID_ARGS)
    _cs_rows(rows, base, fit, example["att_gt"], se_check="ratio")
    rows.ratio(f"{base}/att_gt_uniform_crit_val", "critical value", "uniform critical value",
               fit.extra["critical_value"], example["att_gt_uniform_crit_val"])
    agg = notes.run("bootstrap dynamic", fit.aggregate, "dynamic")
    _agg_rows(rows, f"{base}/dynamic", agg, example["dynamic"], se_check="ratio", label="dynamic")
    crit = float(np.atleast_1d(agg.raw.critical_values)[0])
    rows.ratio(f"{base}/dynamic/uniform_crit_val", "critical value", "dynamic: uniform critical value",
               crit, example["dynamic"]["uniform_crit_val"])


def _twfe_rows(rows: _Rows, data: pd.DataFrame, ref: dict[str, Any], notes: _Notes) -> None:
    """fixest's two-way fixed effects: plain, with lpop × year, and the event study."""
    fixest = f"R fixest {ref['software']['fixest']}"
    fit = notes.run("twfe", twfe, data, cohort=_COHORT, **_DID_ARGS)
    rows.at("TWFE", fixest, "TWFE", "twfe/unweighted")
    entry = ref["twfe"]["unweighted"]
    rows.exact("twfe/unweighted/nobs", "sample", "observations", fit.nobs, entry["nobs"])
    _coef_rows(rows, "twfe/unweighted/coef", fit, entry["coef"], ["post"])

    fit = notes.run("twfe lpop", twfe, data, cohort=_COHORT, covariates_by_time=["lpop"], **_DID_ARGS)
    rows.at("TWFE", fixest, "TWFE + lpop × year", "twfe/with_lpop_x_year")
    entry = ref["twfe"]["with_lpop_x_year"]
    rows.exact("twfe/with_lpop_x_year/nobs", "sample", "observations", fit.nobs, entry["nobs"])
    _coef_rows(rows, "twfe/with_lpop_x_year/coef", fit, entry["coef"], [c["term"] for c in entry["coef"]])

    fit = notes.run("event study", twfe_event_study, data, cohort=_COHORT, **_DID_ARGS)
    rows.at("TWFE", fixest, "TWFE event study", "twfe/event_study")
    entry = ref["twfe"]["event_study"]
    rows.exact("twfe/event_study/nobs", "sample", "observations", fit.nobs, entry["nobs"])
    _coef_rows(rows, "twfe/event_study/coef", fit, entry["coef"], [_event(c["term"]) for c in entry["coef"]])


def _sunab_rows(rows: _Rows, data: pd.DataFrame, ref: dict[str, Any], notes: _Notes) -> None:
    """fixest's Sun–Abraham estimator: event-time effects, the ATT and the cohort ATTs."""
    fit = notes.run("sunab", sun_abraham, data, cohort=_COHORT, **_DID_ARGS)
    entry = ref["sunab"]["unweighted"]
    rows.at("Sun–Abraham", f"R fixest {ref['software']['fixest']}", "sunab", "sunab/unweighted")
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


def _bacon_rows(rows: _Rows, data: pd.DataFrame, ref: dict[str, Any], notes: _Notes) -> None:
    """bacondecomp's decomposition: every two-by-two comparison, the types, the weighted sum."""
    fit = notes.run("bacon", bacon, data, cohort=_COHORT, **_DID_ARGS)
    entry = ref["bacon"]
    rows.at("Goodman-Bacon", f"R bacondecomp {ref['software']['bacondecomp']}", "decomposition", "bacon")
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


def _imputation_rows(rows: _Rows, ref: dict[str, Any], setting: str, fit: Any) -> None:
    """didimputation's estimates (equal to did2s's after treatment); its conservative SEs,
    intervals and pre-trend coefficients are not compared."""
    se_reason = "BJS conservative SEs; the package has did2s's GMM SEs instead"
    rows.at("did2s / imputation", f"R didimputation {ref['software']['didimputation']}",
            f"imputation ({setting.replace('_', ' ')})", f"did_imputation/{setting}")
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


def _did2s_rows(rows: _Rows, data: pd.DataFrame, ref: dict[str, Any], notes: _Notes) -> None:
    """did2s's static and event-study estimates, then didimputation's on the same fits."""
    did2s_static = notes.run("did2s", did2s, data, cohort=_COHORT, **_DID_ARGS)
    did2s_es = notes.run("did2s event study", did2s, data, cohort=_COHORT, event_study=True, **_DID_ARGS)
    version = f"R did2s {ref['software']['did2s']}"
    rows.at("did2s / imputation", version, "did2s", "did2s/static")
    _coef_rows(rows, "did2s/static/coef", did2s_static, ref["did2s"]["static"]["coef"], ["post"])
    rows.at("did2s / imputation", version, "did2s event study", "did2s/event_study")
    coefs = ref["did2s"]["event_study"]["coef"]
    _coef_rows(rows, "did2s/event_study/coef", did2s_es, coefs, [_event(c["term"]) for c in coefs])
    for setting, fit in (("static", did2s_static), ("event_study", did2s_es)):
        _imputation_rows(rows, ref, setting, fit)


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
    cs_rows = _Rows(cs_path.name)
    _cs_settings_rows(cs_rows, data, ref_cs, notes)
    _cs_bootstrap_rows(cs_rows, data, ref_cs, notes, bootstrap_iters=bootstrap_iters, seed=seed)
    rows = _Rows(other_path.name)
    for part in (_twfe_rows, _sunab_rows, _bacon_rows, _did2s_rows):
        part(rows, data, ref, notes)
    table = pd.concat([cs_rows.frame(), rows.frame()], ignore_index=True)
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


# ------------------------------------------------------------------------------------------------
# The Validation appendix
# ------------------------------------------------------------------------------------------------


def availability(reference_dir: str | Path) -> tuple[bool, str]:
    """Whether the reference results can be compared, and if not, why (for the page's stop).

    Parameters
    ----------
    reference_dir : str or path-like
        The reference directory, as the page's parameter ``reference_dir`` names it (relative
        to ``chapters/``).

    Returns
    -------
    tuple of bool and str
        ``(True, "")`` when every reference file is there; otherwise ``False`` and the reason
        in MyST Markdown: the directory does not exist, or which files it lacks, and how to
        restore them.
    """
    status = reference_status(reference_dir)
    if status["status"] == "present":
        return True, ""
    where = ("does not exist" if status["status"] == "absent" else
             "lacks " + ", ".join(f"`{name}`" for name in status["missing"]))
    return False, (
        "**The reference results were not found**, so nothing is compared in this run: the "
        f"directory `{reference_dir}` named by the parameter `reference_dir` (relative to "
        f"`chapters/`) {where}. The project ships them in `data/reference/` (see its README); "
        "restore that folder, or give another location with "
        "`python -m clusterpolicy build -p reference_dir /path/to/reference`.")


@dataclass(frozen=True)
class Comparison:
    """Every reference number beside ours: :func:`tfp_comparison` and :func:`did_comparison`.

    Attributes
    ----------
    tfp : DataFrame
        Production functions (:data:`COLUMNS`).
    did : DataFrame
        Difference-in-differences (:data:`COLUMNS`).
    """

    tfp: pd.DataFrame = dataclasses.field(repr=False)
    did: pd.DataFrame = dataclasses.field(repr=False)

    @property
    def both(self) -> pd.DataFrame:
        """Both tables, production functions first."""
        return pd.concat([self.tfp, self.did], ignore_index=True)

    @property
    def notes(self) -> list[str]:
        """The warnings the estimators raised, as notes (production functions first)."""
        return [*self.tfp.attrs["notes"], *self.did.attrs["notes"]]

    @property
    def notes_markdown(self) -> str:
        """:attr:`notes` as a Markdown bullet list (empty without notes)."""
        return "\n".join(f"- {note}" for note in self.notes)


def compare(reference_dir: str | Path, *, bootstrap: int = 20, bootstrap_iters: int = 999,
            seed: int = 1, n_jobs: int = 1) -> Comparison:
    """Run every comparison of the Validation appendix.

    Parameters
    ----------
    reference_dir : str or path-like
        The reference directory.
    bootstrap : int, default 20
        Firm-block replications of OP, LP and ACF (:func:`tfp_comparison`).
    bootstrap_iters : int, default 999
        Multiplier-bootstrap draws of Callaway–Sant'Anna (:func:`did_comparison`).
    seed : int, default 1
        Seed of both bootstraps.
    n_jobs : int, default 1
        Workers of the production-function bootstrap.

    Returns
    -------
    Comparison

    Raises
    ------
    ReferenceNotFound
        ``reference_dir`` or one of its files does not exist.
    """
    return Comparison(tfp=tfp_comparison(reference_dir, bootstrap=bootstrap, seed=seed, n_jobs=n_jobs),
                      did=did_comparison(reference_dir, bootstrap_iters=bootstrap_iters, seed=seed))


def _n_outside(table: pd.DataFrame, families: Any) -> int:
    """How many compared numbers of the families are outside their tolerance."""
    part = table[table["family"].isin(families) & (table["check"] != "none")]
    return len(outside(part))


def _worst(table: pd.DataFrame) -> tuple[float, str]:
    """The largest tight difference and where it is (estimator, setting, quantity)."""
    rows = table[table["check"] == "tight"]
    row = rows.loc[rows["abs_diff"].idxmax()]
    return float(row["abs_diff"]), f"{row['estimator']}, {row['setting']}, {row['quantity']}"


@dataclass(frozen=True)
class Overview:
    """The appendix's summary of a :class:`Comparison`.

    Attributes
    ----------
    numbers : dict of str to number
        By glue name: ``validation_n_numbers``, ``_n_tfp``, ``_n_did``, ``_n_compared``,
        ``_n_tight``, ``_n_loose``, ``_n_within``, ``_n_outside``, ``_n_not_compared`` and
        ``validation_max_abs_diff_{tfp,did}`` (largest tight difference).
    texts : dict of str to str
        ``validation_worst_{tfp,did}``: where that difference is.
    any_outside : bool
        A compared number is outside its tolerance.
    summary : DataFrame
        :func:`summary` of both tables.
    outside : DataFrame
        :func:`detail` of the numbers outside their tolerance (no rows when none).
    """

    numbers: Mapping[str, int | float]
    texts: Mapping[str, str]
    any_outside: bool
    summary: pd.DataFrame = dataclasses.field(repr=False)
    outside: pd.DataFrame = dataclasses.field(repr=False)


def overview(comparison: Comparison) -> Overview:
    """How many reference numbers, how many compared and within tolerance, the largest
    differences, and the numbers outside their tolerance.

    Parameters
    ----------
    comparison : Comparison

    Returns
    -------
    Overview
    """
    both = comparison.both
    compared = both["check"] != "none"
    n_within = int(both.loc[compared, "within"].fillna(False).sum())
    numbers: dict[str, int | float] = {
        "validation_n_numbers": len(both),
        "validation_n_compared": int(compared.sum()),
        "validation_n_tight": int((both["check"] == "tight").sum()),
        "validation_n_loose": int((both["check"] == "loose").sum()),
        "validation_n_within": n_within,
        "validation_n_outside": int(compared.sum()) - n_within,
        "validation_n_not_compared": int((~compared).sum()),
        "validation_n_tfp": len(comparison.tfp),
        "validation_n_did": len(comparison.did),
    }
    texts = {}
    for family, table in (("tfp", comparison.tfp), ("did", comparison.did)):
        numbers[f"validation_max_abs_diff_{family}"], texts[f"validation_worst_{family}"] = _worst(table)
    out = outside(both)
    return Overview(numbers=numbers, texts=texts, any_outside=not out.empty, summary=summary(both),
                    outside=detail(out))


@dataclass(frozen=True)
class TfpFindings:
    """What the appendix says about the production functions.

    Attributes
    ----------
    numbers : dict of str to number
        By glue name: ``validation_acf_{fx1,fx2,sx}`` (our ACF root), ``validation_acf_criterion``
        (the criterion there), ``validation_acf_n_valley`` (prodest ACF runs stopped away from a
        root), ``validation_iv_max_abs_diff``, ``validation_iv_max_abs_diff_se`` and
        ``validation_iv_n_outside`` (Wooldridge IV against prodestWRDG),
        ``validation_n_out_oplp`` (OP, LP, OLS/FE) and ``validation_n_out_checkpoints``: numbers
        outside their tolerance.
    within : bool
        OP, LP, the OLS/FE baselines and the deterministic checkpoints are all within tolerance.
    iv_within : bool
        prodestWRDG's "IV version" is reproduced (no number outside its tolerance).
    by_setting : DataFrame
        :func:`by_setting` of the production-function table.
    detail : DataFrame
        :func:`detail` of it.
    """

    numbers: Mapping[str, int | float]
    within: bool
    iv_within: bool
    by_setting: pd.DataFrame = dataclasses.field(repr=False)
    detail: pd.DataFrame = dataclasses.field(repr=False)


def tfp_findings(comparison: Comparison) -> TfpFindings:
    """The production-function results the appendix states: our ACF root, prodest's ACF runs
    that stop in a valley, Wooldridge's IV version, and the agreement of the rest.

    Parameters
    ----------
    comparison : Comparison

    Returns
    -------
    TfpFindings
    """
    tfp = comparison.tfp
    root = tfp[(tfp["setting"] == "ACF_global_min_over_grid") & tfp["quantity"].str.endswith("(the root)")]
    numbers: dict[str, int | float] = {f"validation_acf_{var}": float(value)
                                       for var, value in zip(("fx1", "fx2", "sx"), root["ours"], strict=True)}
    at_root = tfp.loc[tfp["quantity"] == "criterion at the root", "ours"]
    numbers["validation_acf_criterion"] = float(at_root.iloc[0])
    valley = tfp[(tfp["family"] == "Ackerberg–Caves–Frazer") & (tfp["group"] == "coefficient")
                 & (tfp["check"] == "none")]
    numbers["validation_acf_n_valley"] = int(valley["setting"].nunique())
    iv = tfp[tfp["estimator"].str.startswith("Wooldridge IV")]
    for suffix, group in (("", "coefficient"), ("_se", "standard error")):
        numbers[f"validation_iv_max_abs_diff{suffix}"] = float(iv.loc[iv["group"] == group, "abs_diff"].max())
    numbers["validation_iv_n_outside"] = len(outside(iv))
    numbers["validation_n_out_oplp"] = _n_outside(tfp, ["Olley–Pakes", "Levinsohn–Petrin", "OLS / FE"])
    checkpoints = tfp[tfp["setting"].str.contains("first_stage|criterion|optimize_1d|global_min")]
    numbers["validation_n_out_checkpoints"] = _n_outside(checkpoints, checkpoints["family"].unique())
    return TfpFindings(
        numbers=numbers,
        within=numbers["validation_n_out_oplp"] == 0 and numbers["validation_n_out_checkpoints"] == 0,
        iv_within=numbers["validation_iv_n_outside"] == 0, by_setting=by_setting(tfp),
        detail=detail(tfp))


def cs_setting_label(key: str) -> str:
    """A Callaway–Sant'Anna setting of R did as the page names it.

    Parameters
    ----------
    key : str
        ``"control=...|xformla=...|est_method=...|base_period=..."``; any other key (the
        bootstrap example) is returned as it is.

    Returns
    -------
    str
        ``"control · covariates · method · base period"``, e.g. ``"never treated · ~1 · dr ·
        varying"``.
    """
    if "|" not in key:
        return key
    parts = dict(item.split("=", 1) for item in key.split("|"))
    return " · ".join([parts["control"].replace("treated", " treated"), parts["xformla"],
                       parts["est_method"], parts["base_period"]])


#: The other DiD estimators the page names one by one (family -> key of
#: ``validation_n_out_<key>``).
OTHER_DID = {"TWFE": "twfe", "Sun–Abraham": "sunab", "Goodman-Bacon": "bacon", "did2s / imputation": "did2s"}


@dataclass(frozen=True)
class DidFindings:
    """What the appendix says about difference-in-differences.

    Attributes
    ----------
    numbers : dict of str to number
        By glue name: ``validation_cs_n`` (Callaway–Sant'Anna numbers compared tightly),
        ``validation_cs_max_abs_diff``, ``validation_cs_n_settings``,
        ``validation_boot_ratio_{min,max}`` (our bootstrap SEs and critical values over R's; NaN
        without a bootstrap) and ``validation_n_out_{twfe,sunab,bacon,did2s}`` (numbers outside
        their tolerance, :data:`OTHER_DID`).
    others_within : bool
        TWFE, Sun–Abraham, Goodman-Bacon and did2s are all within tolerance.
    cs_by_setting, cs_detail : DataFrame
        Callaway–Sant'Anna (and its bootstrap example) by setting, the settings named by
        :func:`cs_setting_label`, and every number.
    other_by_setting, other_detail : DataFrame
        The same for the other estimators.
    """

    numbers: Mapping[str, int | float]
    others_within: bool
    cs_by_setting: pd.DataFrame = dataclasses.field(repr=False)
    cs_detail: pd.DataFrame = dataclasses.field(repr=False)
    other_by_setting: pd.DataFrame = dataclasses.field(repr=False)
    other_detail: pd.DataFrame = dataclasses.field(repr=False)


def did_findings(comparison: Comparison) -> DidFindings:
    """The difference-in-differences results the appendix states: Callaway–Sant'Anna's
    agreement with R did, the bootstrap ratios, and the agreement of the other estimators.

    Parameters
    ----------
    comparison : Comparison

    Returns
    -------
    DidFindings
    """
    did = comparison.did
    is_cs = did["family"].str.startswith("Callaway")
    cs, other = did[is_cs], did[~is_cs]
    cs_table = by_setting(cs)
    cs_table.index = cs_table.index.map(cs_setting_label)
    cs_table.index.name = "setting (control · covariates · method · base period)"
    cs_all = detail(cs)
    cs_all["setting"] = cs_all["setting"].map(cs_setting_label)
    cs_tight = cs[(cs["check"] == "tight") & (cs["family"] == "Callaway–Sant'Anna")]
    boot = cs[cs["check"] == "loose"]
    ratio = boot["ours"] / boot["reference"]
    numbers: dict[str, int | float] = {
        "validation_cs_n": len(cs_tight),
        "validation_cs_max_abs_diff": float(cs_tight["abs_diff"].max()),
        "validation_cs_n_settings": int(cs.loc[cs["family"] == "Callaway–Sant'Anna", "setting"].nunique()),
        "validation_boot_ratio_min": float(ratio.min()) if len(ratio) else math.nan,
        "validation_boot_ratio_max": float(ratio.max()) if len(ratio) else math.nan,
        **{f"validation_n_out_{key}": _n_outside(other, [family]) for family, key in OTHER_DID.items()},
    }
    return DidFindings(
        numbers=numbers,
        others_within=all(numbers[f"validation_n_out_{key}"] == 0 for key in OTHER_DID.values()),
        cs_by_setting=cs_table.drop(columns="estimator"), cs_detail=cs_all,
        other_by_setting=by_setting(other), other_detail=detail(other))
