"""Stored cells of the Monte Carlo grid (:mod:`.grid`): results computed once, kept with the key
of what determines them, reused by every build whose key matches, extended by replications.

A cell's **key** is a checksum of everything its numbers depend on: the study, the scenario, the
root seed, the settings that matter for the study (:meth:`.grid.GridSettings.of`), the code of
every package module the grid's code can run (:func:`code_digest` over
:func:`clusterpolicy.core.provenance.module_closure` of :mod:`clusterpolicy.checks.grid`: their
syntax trees without docstrings, so a comment, a docstring or a line break changes no key) and
the versions of Python and of the numerical packages (:data:`NUMERICAL`; the book's own version
and its publishing tools are left out, so a release or a new Sphinx does not make hours of
simulation stale). The number of replications is not part
of it: replication ``r`` is the same whatever their number, so a cell of ``R`` replications
serves any request up to ``R`` and is extended, not recomputed, for more.

On disk a store is a folder with one Parquet file per cell (``<study>-<scenario>.parquet``, the
harness's table) and ``index.json``, which records per cell its key, replications, file
checksum, compute time and settings. :func:`ensure` returns the cells a page asks for: from the
store where the key matches, otherwise computed (all replications when the key changed or
``recompute`` is set, only the missing ones when the cell is too short) and written back.

A code change that moves no number (a refactor, a new function the grid does not call) still
changes every key. :func:`carry_over` then spares hours of recomputation honestly: it
recomputes a sample of each stale cell's replications with the current code and packages
(:func:`verification_sample`: the first, the last, the last that runs every estimator, and
some that failed or raised notes) and re-keys the cell only when every recomputed row is the
stored one: labels, notes and failures identical, values within :data:`CARRY_RTOL` (relative;
floating-point summation order). The check is recorded in the cell's index entry
(``carried``: the old key, the replications, the largest difference, when). A cell with any
difference stays stale and is recomputed.
"""

from __future__ import annotations

import ast
import datetime as dt
import fcntl
import functools
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpolicy import synthetic
from clusterpolicy.checks import grid, harness
from clusterpolicy.core import parallel, provenance, seeding

__all__ = ["CARRY_RTOL", "INDEX", "NUMERICAL", "STORE_FORMAT", "VERIFY_AT_MOST", "Cell", "carry_over",
           "cell_key", "cli_montecarlo", "code_digest", "ensure", "for_page", "grid_cells",
           "normalized_code", "read_index", "stored_table", "verification_sample"]

#: Version of the store's layout and of the key's recipe.
STORE_FORMAT = 2
#: The distributions whose versions enter a cell's key (those that compute its numbers).
NUMERICAL = ("python", "numpy", "pandas", "scipy", "statsmodels", "linearmodels", "pyfixest",
             "moderndid")
#: The index file of a store.
INDEX = "index.json"
#: The module whose code closure keys every cell.
CODE_MODULE = "clusterpolicy.checks.grid"
#: Most replications of a cell that :func:`carry_over` recomputes.
VERIFY_AT_MOST = 8
#: Largest relative difference :func:`carry_over` accepts between a stored and a recomputed
#: value. Not zero: the fixed-effects estimators (pyfixest) sum in an order that depends on
#: the threads of the process, so the same replication in a fresh worker and in a used one
#: differs by about 1e-15; a change of code that moves a result moves it by far more.
CARRY_RTOL = 1e-12
#: The numeric columns of a harness table compared with :data:`CARRY_RTOL`; the others exactly.
_VALUES = ("estimate", "se", "truth", "nominal")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Cell:
    """One cell's table as :func:`ensure` returns it.

    Attributes
    ----------
    study, scenario : str
        What it is.
    table : DataFrame
        The harness's table of replications ``0 .. replications - 1``.
    source : str
        ``"stored"`` (read as it was), ``"extended"`` (stored replications plus new ones) or
        ``"computed"`` (no stored cell with this key, or ``recompute``); :func:`for_page` adds
        ``"cached"`` (computed by an earlier build into its own store).
    seconds : float
        Compute time of this call (0 when stored).
    """

    study: str
    scenario: str
    table: pd.DataFrame
    source: str
    seconds: float


def normalized_code(source: str) -> str:
    """A module's code as its syntax tree without docstrings: what it computes, not how it is
    written down or documented.

    Parameters
    ----------
    source : str
        Python source.

    Returns
    -------
    str
        ``ast.dump`` of the tree (no line numbers), docstrings of the module, classes and
        functions removed.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_digest(module: str = CODE_MODULE) -> str:
    """SHA-256 over the code of ``module`` and every package module it imports
    (:func:`normalized_code` of each file of
    :func:`clusterpolicy.core.provenance.module_closure`, with its path).

    Computed once per state of the package's files: a page that reads fifteen cells parses
    the closure once, and an edited module is parsed again.

    Parameters
    ----------
    module : str
        A module of the package.

    Returns
    -------
    str
        64 hex characters.
    """
    return _code_digest(module, _package_state())


def _package_state() -> tuple[tuple[str, int, int], ...]:
    """Path, modification time and size of every module of the package."""
    return tuple((str(file), stat.st_mtime_ns, stat.st_size)
                 for file in sorted(provenance.PACKAGE_ROOT.rglob("*.py"))
                 for stat in [file.stat()])


@functools.lru_cache(maxsize=16)
def _code_digest(module: str, state: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for file in provenance.module_closure(module):
        digest.update(file.relative_to(provenance.PACKAGE_ROOT).as_posix().encode() + b"\0")
        digest.update(normalized_code(file.read_text(encoding="utf-8")).encode() + b"\0")
    return digest.hexdigest()


def cell_key(study: grid.Study, scenario: str, seed: int, settings: grid.GridSettings) -> str:
    """The key of a cell: a checksum of everything its numbers depend on.

    Parameters
    ----------
    study : {"panel", "tech"}
    scenario : str
    seed : int
        Root seed of the cell.
    settings : ~clusterpolicy.checks.grid.GridSettings

    Returns
    -------
    str
        64 hex characters.
    """
    payload = {"format": STORE_FORMAT, "study": study, "scenario": scenario, "seed": int(seed),
               "settings": settings.of(study), "code": code_digest(CODE_MODULE),
               "versions": {name: version for name, version in provenance.package_versions().items()
                            if name in NUMERICAL}}
    return provenance.sha256_text(json.dumps(payload, sort_keys=True))


def _name(study: str, scenario: str) -> str:
    return f"{study}/{scenario}"


def read_index(store: str | os.PathLike[str]) -> dict[str, Any]:
    """The index of a store (an empty one when the folder or its index does not exist).

    Parameters
    ----------
    store : path-like

    Returns
    -------
    dict
        ``{"format": ..., "cells": {"<study>/<scenario>": entry}}``.

    Raises
    ------
    ValueError
        When the index is not valid JSON or has another format, naming the file.
    """
    path = Path(store) / INDEX
    if not path.is_file():
        return {"format": STORE_FORMAT, "cells": {}}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if index.get("format") != STORE_FORMAT:
        raise ValueError(f"{path}: store format {index.get('format')!r}, this package reads "
                         f"{STORE_FORMAT}")
    return index


def stored_table(store: str | os.PathLike[str], study: str, scenario: str) -> pd.DataFrame:
    """The table of a stored cell, checked against the checksum in the index.

    Raises
    ------
    KeyError
        When the store has no such cell.
    ValueError
        When the file's checksum differs from the index's.
    """
    entry = read_index(store)["cells"][_name(study, scenario)]
    path = Path(store) / entry["file"]
    if provenance.sha256_file(path) != entry["sha256"]:
        raise ValueError(f"{path}: checksum differs from {Path(store) / INDEX}: the file was "
                         "changed after it was stored")
    return pd.read_parquet(path)


def _write_table(path: Path, table: pd.DataFrame) -> None:
    """Parquet written deterministically (no pandas metadata), atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table.reset_index(drop=True), preserve_index=False)
    arrow = arrow.replace_schema_metadata(None)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        tmp = Path(handle.name)
    pq.write_table(arrow, tmp, compression="zstd", compression_level=9, version="2.6")
    tmp.replace(path)


def _record(store: Path, name: str, entry: Mapping[str, Any]) -> None:
    """Add a cell's entry to the index: read, changed and replaced under a lock, so that two
    runs filling one store at the same time keep each other's cells."""
    with (store / f"{INDEX}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = read_index(store)
        index["cells"][name] = dict(entry)
        tmp = store / f"{INDEX}.tmp"
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(store / INDEX)


def ensure(store: str | os.PathLike[str], cells: Iterable[tuple[grid.Study, str]],
           replications: Mapping[str, int] | int, seed: int = seeding.DEFAULT_SEED, *,
           settings: grid.GridSettings = grid.DEFAULT_SETTINGS, recompute: bool = False,
           n_jobs: int | None = -1, progress: Progress = lambda line: None
           ) -> dict[tuple[str, str], Cell]:
    """The tables of ``cells`` with ``replications`` each: stored, extended or computed.

    Parameters
    ----------
    store : path-like
        The store's folder (created when missing); computed cells are written to it.
    cells : iterable of tuple
        The cells wanted, as (study, scenario) pairs.
    replications : int or mapping
        Replications per cell, or per study (``{"panel": 500, "tech": 500}``).
    seed : int
        Root seed of every cell.
    settings : ~clusterpolicy.checks.grid.GridSettings
        Sizes and options.
    recompute : bool, default False
        Compute every cell anew, whatever the store holds.
    n_jobs : int or None, default -1
        Workers for the replications (joblib).
    progress : callable, optional
        Called with one line per cell (what was done, how long it took).

    Returns
    -------
    dict
        ``(study, scenario)`` -> :class:`Cell`.
    """
    folder = Path(store)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, str], Cell] = {}
    for study, scenario in cells:
        wanted = int(replications[study] if isinstance(replications, Mapping) else replications)
        if wanted < 1:
            raise ValueError(f"replications must be at least 1, got {wanted}")
        key = cell_key(study, scenario, seed, settings)
        entry = read_index(folder)["cells"].get(_name(study, scenario))
        held = pd.DataFrame(columns=harness.COLUMNS)
        if entry is not None and entry["key"] == key and not recompute:
            held = stored_table(folder, study, scenario)
        have = int(held["replication"].max()) + 1 if len(held) else 0
        start = time.perf_counter()
        if have < wanted:
            new = grid.run_cell(study, scenario, wanted, seed, settings=settings, first=have,
                                n_jobs=n_jobs)
            table = pd.concat([held, new], ignore_index=True) if have else new
            seconds = time.perf_counter() - start
            source = "extended" if have else "computed"
            file = f"{study}-{scenario}.parquet"
            _write_table(folder / file, table)
            _record(folder, _name(study, scenario), {
                "key": key, "replications": wanted, "file": file,
                "sha256": provenance.sha256_file(folder / file),
                "seconds": round(seconds + (entry or {}).get("seconds", 0.0) * (have > 0), 1),
                "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "seed": int(seed), "settings": settings.of(study),
                # replications carried over from older code stay so when the cell is extended
                **({"carried": entry["carried"]} if have and entry and "carried" in entry else {})})
            progress(f"{_name(study, scenario):<32} {source:<8} replications {have}..{wanted - 1}"
                     f" in {seconds:7.1f} s")
        else:
            table, source, seconds = held, "stored", 0.0
            progress(f"{_name(study, scenario):<32} stored   {have} replications")
        table = table.loc[table["replication"] < wanted].reset_index(drop=True)
        out[(study, scenario)] = Cell(study, scenario, table, source, seconds)
    return out


def verification_sample(table: pd.DataFrame, study: str, settings: grid.GridSettings
                        ) -> list[int]:
    """The replications of a stored cell that :func:`carry_over` recomputes.

    The first and the last replication; for study 1 the last that runs every estimator
    (``settings.full - 1``) and the first that runs only the headline ones; then up to two
    replications with a failed estimator and two with notes (the paths that ordinary
    replications do not take); then every tenth of the cell, until :data:`VERIFY_AT_MOST`.

    Parameters
    ----------
    table : DataFrame
        The cell's table.
    study : {"panel", "tech"}
    settings : ~clusterpolicy.checks.grid.GridSettings

    Returns
    -------
    list of int
        Sorted replication numbers, at most :data:`VERIFY_AT_MOST`.
    """
    last = int(table["replication"].max())
    picks = [0, last]
    if study == "panel":
        picks += [settings.full - 1, settings.full]
    failed = table.loc[table["failed"] != "", "replication"].drop_duplicates()
    noted = table.loc[table["notes"] > 0, "replication"].drop_duplicates()
    picks += [*failed.head(2), *noted.head(2)]
    picks += [round(last * k / 10) for k in range(1, 10)]
    chosen: list[int] = []
    for r in picks:
        if 0 <= int(r) <= last and int(r) not in chosen and len(chosen) < VERIFY_AT_MOST:
            chosen.append(int(r))
    return sorted(chosen)


def _replication(r: int, study: grid.Study, scenario: str, seed: int,
                 settings: grid.GridSettings) -> pd.DataFrame:
    return grid.run_cell(study, scenario, r + 1, seed, settings=settings, first=r, n_jobs=1)


def _difference(stored: pd.DataFrame, new: pd.DataFrame) -> float:
    """The largest relative difference between two tables of one replication: infinite when
    their rows, labels, notes or failures differ, or a value is missing in one only."""
    stored, new = stored.reset_index(drop=True), new.reset_index(drop=True)
    if list(stored.columns) != list(new.columns) or len(stored) != len(new):
        return math.inf
    exact = [c for c in stored.columns if c not in _VALUES]
    if not stored[exact].astype(str).equals(new[exact].astype(str)):
        return math.inf
    a = stored[list(_VALUES)].to_numpy(dtype=float)
    b = new[list(_VALUES)].to_numpy(dtype=float)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return math.inf
    both = ~np.isnan(a)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.finfo(float).tiny)
    return float(np.max(np.abs(a - b)[both] / scale[both], initial=0.0))


def carry_over(store: str | os.PathLike[str], cells: Iterable[tuple[grid.Study, str]],
               seed: int = seeding.DEFAULT_SEED, *,
               settings: grid.GridSettings = grid.DEFAULT_SETTINGS, n_jobs: int | None = -1,
               progress: Progress = lambda line: None) -> dict[tuple[str, str], bool]:
    """Re-key the stale cells whose sampled replications the current code reproduces exactly.

    A stored cell whose key differs from the current one only through the code or the package
    versions (same seed, same settings) has the replications of :func:`verification_sample`
    recomputed; when every row is the stored one (labels, notes and failures identical, values
    within :data:`CARRY_RTOL`), its index entry gets the current key and a record of the check
    under ``carried`` (a list: one item per carry-over, with the key it had, the replications
    recomputed, the largest relative difference and when). Its table and checksum are
    untouched. Any larger difference leaves the cell stale, for :func:`ensure` to recompute.

    Parameters
    ----------
    store : path-like
        The store.
    cells : iterable of tuple
        The cells to consider, as (study, scenario) pairs; current or absent ones are skipped.
    seed : int
        Root seed of the cells.
    settings : ~clusterpolicy.checks.grid.GridSettings
        Their settings.
    n_jobs : int or None, default -1
        Workers for the recomputed replications (joblib).
    progress : callable, optional
        Called with one line per cell considered.

    Returns
    -------
    dict
        ``(study, scenario)`` -> whether the cell was carried over, for every stale cell of
        the same seed and settings.
    """
    folder = Path(store)
    todo: list[tuple[grid.Study, str, dict[str, Any], str, pd.DataFrame, list[int]]] = []
    for study, scenario in cells:
        entry = read_index(folder)["cells"].get(_name(study, scenario))
        key = cell_key(study, scenario, seed, settings)
        if entry is None or entry["key"] == key:
            continue
        if entry.get("seed") != int(seed) or entry.get("settings") != settings.of(study):
            progress(f"{_name(study, scenario):<32} stale    other seed or settings: recompute")
            continue
        table = stored_table(folder, study, scenario)
        todo.append((study, scenario, entry, key, table, verification_sample(table, study, settings)))
    tasks = [(i, r) for i, item in enumerate(todo) for r in item[5]]
    start = time.perf_counter()
    tables = parallel.run_tasks(_carry_task, tasks, n_jobs,
                                [(study, scenario) for study, scenario, *_ in todo], seed, settings)
    seconds = time.perf_counter() - start
    out: dict[tuple[str, str], bool] = {}
    for i, (study, scenario, entry, key, table, sample) in enumerate(todo):
        new = {r: t for (j, r), t in zip(tasks, tables, strict=True) if j == i}
        gaps = {r: _difference(table.loc[table["replication"] == r], new[r]) for r in sample}
        differ = [r for r, gap in gaps.items() if not gap <= CARRY_RTOL]
        out[(study, scenario)] = not differ
        if differ:
            progress(f"{_name(study, scenario):<32} stale    replication {differ[0]} differs "
                     f"(relative {gaps[differ[0]]:.1e}): recompute")
            continue
        carried = [*entry.get("carried", []), {
            "from_key": entry["key"], "replications": sample,
            "max_relative_difference": max(gaps.values()),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}]
        _record(folder, _name(study, scenario), {**entry, "key": key, "carried": carried})
        progress(f"{_name(study, scenario):<32} carried  replications {sample} identical up "
                 f"to {max(gaps.values()):.1e}")
    if todo:
        progress(f"carry-over checks: {len(tasks)} replications in {seconds:.1f} s")
    return out


def _carry_task(task: tuple[int, int], cells: list[tuple[grid.Study, str]], seed: int,
                settings: grid.GridSettings) -> pd.DataFrame:
    i, r = task
    study, scenario = cells[i]
    return _replication(r, study, scenario, seed, settings)


def _current(store: Path, study: str, scenario: str, seed: int,
             settings: grid.GridSettings) -> dict[str, Any] | None:
    """The index entry of a cell whose key is current, or None."""
    entry = read_index(store)["cells"].get(_name(study, scenario))
    if entry is None or entry["key"] != cell_key(study, scenario, seed, settings):  # type: ignore[arg-type]
        return None
    return entry


def for_page(repository: str | os.PathLike[str], cells: Iterable[tuple[grid.Study, str]],
             replications: Mapping[str, int] | int, seed: int = seeding.DEFAULT_SEED, *,
             settings: grid.GridSettings = grid.DEFAULT_SETTINGS, recompute: bool = False,
             n_jobs: int | None = -1, work: str | os.PathLike[str] | None = None,
             progress: Progress = lambda line: None) -> dict[tuple[str, str], Cell]:
    """The cells a page shows: from the repository's store where the key is current, otherwise
    computed once into the build's own store and reused from there.

    A build never writes into the repository's store (``python -m clusterpolicy montecarlo``
    does): a cell whose key changed (new code, settings, seed or numerical packages), or that
    holds fewer replications than asked for, is computed into ``work`` — starting from the
    repository's replications when only the number is short — and later builds of the same
    output folder read it from there.

    Parameters
    ----------
    repository : path-like
        The store kept with the book (``data/montecarlo``); read only.
    cells, replications, seed, settings, recompute, n_jobs, progress
        As for :func:`ensure`; ``recompute`` computes every cell anew into ``work``.
    work : path-like, optional
        The build's store. Default: ``montecarlo`` in the build's work cache
        (``CLUSTERPOLICY_WORK_CACHE``), or a temporary folder outside a build.

    Returns
    -------
    dict
        ``(study, scenario)`` -> :class:`Cell`, with source ``"stored"`` (the repository's),
        ``"cached"`` (the build's store), ``"computed"`` or ``"extended"`` (by this call).
    """
    repository = Path(repository)
    if work is None:
        base = os.environ.get(provenance.WORK_CACHE_ENV)
        work = Path(base) / "montecarlo" if base else Path(tempfile.mkdtemp(prefix="montecarlo-"))
    work = Path(work)
    out: dict[tuple[str, str], Cell] = {}
    for study, scenario in cells:
        wanted = int(replications[study] if isinstance(replications, Mapping) else replications)
        entry = None if recompute else _current(repository, study, scenario, seed, settings)
        if entry is not None and entry["replications"] >= wanted >= 1:
            # The stored cells are inputs of the page, listed with their checksums in its record.
            provenance.track_input(repository / INDEX)
            provenance.track_input(repository / entry["file"])
            table = stored_table(repository, study, scenario)
            table = table.loc[table["replication"] < wanted].reset_index(drop=True)
            progress(f"{_name(study, scenario):<32} stored   {wanted} replications (repository)")
            out[(study, scenario)] = Cell(study, scenario, table, "stored", 0.0)
            continue
        work.mkdir(parents=True, exist_ok=True)
        if entry is not None and _current(work, study, scenario, seed, settings) is None:
            # Only the number is short: extend the repository's replications, not redo them.
            _write_table(work / entry["file"], stored_table(repository, study, scenario))
            _record(work, _name(study, scenario), entry)
        cell = ensure(work, [(study, scenario)], wanted, seed, settings=settings,
                      recompute=recompute, n_jobs=n_jobs, progress=progress)[(study, scenario)]
        if cell.source == "stored":
            cell = Cell(study, scenario, cell.table, "cached", 0.0)
        out[(study, scenario)] = cell
    return out


def grid_cells(studies: Iterable[str] | None = None, scenarios: Iterable[str] | None = None
               ) -> list[tuple[grid.Study, str]]:
    """The grid's cells: every scenario of each study, optionally only some.

    Parameters
    ----------
    studies : iterable of {"panel", "tech"}, optional
        Default: both.
    scenarios : iterable of str, optional
        Default: every scenario of the studies; a name no study has is an error.

    Returns
    -------
    list of tuple
        (study, scenario) pairs: study 1 first, each study's scenarios in their order
        (baseline first).

    Raises
    ------
    ValueError
        For an unknown study or scenario.
    """
    studies = list(studies or ("panel", "tech"))
    tables = {"panel": synthetic.PANEL_SCENARIOS, "tech": synthetic.TECH_SCENARIOS}
    unknown = [s for s in studies if s not in tables]
    if unknown:
        raise ValueError(f"unknown study {unknown[0]!r}; known: panel, tech")
    cells = [(study, name) for study in studies for name in tables[study]]
    if scenarios is not None:
        wanted = list(scenarios)
        missing = [n for n in wanted if not any(n == c[1] for c in cells)]
        if missing:
            known = ", ".join(dict.fromkeys(c[1] for c in cells))
            raise ValueError(f"unknown scenario {missing[0]!r}; known: {known}")
        cells = [c for c in cells if c[1] in wanted]
    return cells  # type: ignore[return-value]


def cli_montecarlo(store: str, *, replications: int = 500, studies: Iterable[str] | None = None,
                   scenarios: Iterable[str] | None = None, recompute: bool = False,
                   carry: bool = False, n_jobs: int | None = -1, seed: int | None = None,
                   dask_scheduler: str = "") -> int:
    """``python -m clusterpolicy montecarlo``: fill or extend a store, locally or on a Dask
    cluster (:func:`clusterpolicy.core.parallel.backend`); exit status 0, 2 on bad usage."""
    import sys

    try:
        cells = grid_cells(studies, scenarios)
        if replications < 1:
            raise ValueError(f"--replications must be at least 1, got {replications}")
        if carry and recompute:
            raise ValueError("--carry-over and --recompute exclude each other")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with parallel.backend(dask_scheduler) as where:
        print(f"replications run on {where}")
        root = seeding.DEFAULT_SEED if seed is None else seed
        if carry:
            carry_over(store, cells, root, n_jobs=n_jobs, progress=print)
        ensure(store, cells, replications, root, recompute=recompute, n_jobs=n_jobs,
               progress=print)
    print(f"done in {time.perf_counter() - start:.1f} s -> {Path(store) / INDEX}")
    return 0
