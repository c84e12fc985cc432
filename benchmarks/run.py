"""Benchmarks of the book on the machine it runs on (quote the output in notes; not a test).

    make bench                                   # everything
    .venv/bin/python benchmarks/run.py --only acf cs
    .venv/bin/python benchmarks/run.py --big-firms 40000   # a smaller "whole economy" run

Reports: the cold build of the whole book on the default data and a rebuild with nothing
changed (into a temporary build directory, so the repository's cache is untouched); the ACF
point estimate and seconds per bootstrap replicate on 10,000 firms x 8 years; Callaway-Sant'Anna
on 10,000 firms x 8 years; and the whole pipeline (validation, sample, per-industry ACF,
Callaway-Sant'Anna) on 400,000 firms x 8 years with its peak memory (all processes of the run,
sampled every 0.2 s); and the seconds per replication of the Monte Carlo grid's cells, with what
the whole grid at 500 replications per cell costs. Goals on the 2-core, 24 GiB machine: book
cold < 5 min, no-change rebuild < 15 s, ACF point < 1 s, < 0.3 s per replicate,
3.2-million-row pipeline < 20 min and < 8 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def run_measured(command: list[str], cwd: Path = ROOT) -> tuple[float, float, str]:
    """Run a command and measure it.

    Parameters
    ----------
    command : list of str
        The command and its arguments.
    cwd : pathlib.Path, default the repository
        Working directory.

    Returns
    -------
    seconds : float
        Wall-clock time.
    peak_gib : float
        Peak resident memory of its whole process tree, sampled every 0.2 s, in GiB.
    output : str
        Its standard output and error.

    Raises
    ------
    SystemExit
        The command failed (its output in the message).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(command)}\n{output}")
    return time.perf_counter() - start, peak / 2**30, output


def bench_book() -> None:
    """Cold build of the book on the default data, then a rebuild with nothing changed."""
    with tempfile.TemporaryDirectory(prefix="bench-book-") as out:
        cold, mem, log = run_measured([PYTHON, "-m", "clusterpolicy", "build", "--out", out])
        rendered = re.search(r"book rendered in ([\d.]+) s", log)
        print(f"book, cold build on the default data: {cold:.1f} s (peak {mem:.2f} GiB; "
              f"Sphinx render {rendered.group(1) if rendered else '?'} s)")
        warm, _, log = run_measured([PYTHON, "-m", "clusterpolicy", "build", "--out", out])
        executed = log.count(" executed ")
        render = "not rendered again" if "site unchanged" in log else "rendered again"
        print(f"book, rebuild with nothing changed: {warm:.1f} s ({executed} chapters executed, "
              f"site {render})")


def bench_acf(reps: int) -> None:
    """ACF on a one-technology panel (the estimator's cost, not the per-industry loop).

    Parameters
    ----------
    reps : int
        Bootstrap replicates timed after the point estimate.
    """
    from clusterpolicy.estimators import production
    from clusterpolicy.synthetic.production import simulate_panel

    data = simulate_panel(10_000, 8, seed=2026)
    spec = {"y": "y", "free": "l", "state": "k", "proxy": "m", "unit": "firm", "time": "year"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", production.ProductionWarning)
        start = time.perf_counter()
        point = production.estimate(data, "acf", **spec)
        t_point = time.perf_counter() - start
        start = time.perf_counter()
        boot = production.estimate(data, "acf", **spec, bootstrap=reps, seed=1, n_jobs=-1)
        t_boot = time.perf_counter() - start - t_point
    print(f"ACF on 10,000 firms x 8 years ({len(data):,} rows; true l=0.6, k=0.3): point "
          f"estimate {t_point:.2f} s, {point.params.round(4).to_dict()}; {reps} bootstrap "
          f"replicates {t_boot / reps:.3f} s each "
          f"({boot.inference.get('failed_replications', 0)} failed)")


def bench_cs() -> None:
    """Callaway-Sant'Anna and its four aggregations on 10,000 synthetic firms x 8 years."""
    from clusterpolicy import synthetic
    from clusterpolicy.core import seeding
    from clusterpolicy.data import samples
    from clusterpolicy.estimators import did

    data = synthetic.generate_panel(seeding.DEFAULT_SEED, firms=10_000)
    latent = data.latent[["firm_id", "year", "omega"]]
    panel = data.panel[["firm_id", "year"]].merge(latent, on=["firm_id", "year"])
    panel["cohort"] = samples.membership_status(panel, data.membership)["cohort"].to_numpy()
    years = panel["year"].nunique()
    panel = panel[panel.groupby("firm_id")["year"].transform("size") == years]
    start = time.perf_counter()
    res = did.callaway_santanna(panel, "omega", "firm_id", "year", "cohort")
    agg = {kind: res.aggregate(kind).att for kind in ("simple", "dynamic", "group", "calendar")}
    seconds = time.perf_counter() - start
    print(f"Callaway-Sant'Anna on {panel['firm_id'].nunique():,} firms x {years} years "
          f"(balanced): {seconds:.2f} s with the four aggregations; simple ATT "
          f"{agg['simple']:.4f}")


def bench_grid(reps: int) -> None:
    """Seconds per replication of the Monte Carlo grid's cells (one worker), and what the whole
    grid at 500 replications per cell would cost on one core.

    Parameters
    ----------
    reps : int
        Replications timed per kind.
    """
    from clusterpolicy import synthetic
    from clusterpolicy.checks import grid
    from clusterpolicy.core import seeding

    children = seeding.spawn(seeding.DEFAULT_SEED, reps)
    timings = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, call in (
                ("study 1, every estimator", lambda c: grid.replicate_panel(c, full=True)),
                ("study 1, headline only", lambda c: grid.replicate_panel(c, full=False)),
                ("study 2", lambda c: grid.replicate_tech(c))):
            start = time.perf_counter()
            for child in children:
                call(child)
            timings[label] = (time.perf_counter() - start) / reps
    for label, seconds in timings.items():
        print(f"grid replication, {label}: {seconds:.2f} s")
    full = grid.DEFAULT_SETTINGS.full
    per_panel_cell = (full * timings["study 1, every estimator"]
                      + (500 - full) * timings["study 1, headline only"])
    total = (len(synthetic.PANEL_SCENARIOS) * per_panel_cell
             + len(synthetic.TECH_SCENARIOS) * 500 * timings["study 2"])
    print(f"whole grid at 500 replications per cell: {total / 3600:.1f} CPU-hours "
          f"({len(synthetic.PANEL_SCENARIOS)} study-1 and {len(synthetic.TECH_SCENARIOS)} "
          "study-2 scenarios)")


def bench_big(firms: int) -> None:
    """The whole pipeline (:mod:`benchmarks.pipeline`) on a generated economy.

    Parameters
    ----------
    firms : int
        Firms of the generated panel.
    """
    from clusterpolicy import synthetic

    with tempfile.TemporaryDirectory(prefix="bench-big-") as tmp:
        start = time.perf_counter()
        written = synthetic.write_defaults(tmp, firms=firms, n_pairs=10)
        print(f"whole economy: generated {firms:,} firms in {time.perf_counter() - start:.1f} s "
              f"(panel file {written['panel'].stat().st_size / 2**20:.0f} MiB)")
        seconds, peak, log = run_measured([PYTHON, str(ROOT / "benchmarks" / "pipeline.py"),
                                           str(written["panel"]), str(written["membership"])])
        for line in log.splitlines():
            if line.startswith("{"):
                step = json.loads(line)
                name, secs = step.pop("step"), step.pop("seconds")
                print(f"  {name}: {secs:.1f} s {step if step else ''}")
        print(f"whole pipeline on {firms:,} firms: {seconds / 60:.1f} min, "
              f"peak memory {peak:.2f} GiB (all processes)")


def main() -> None:
    """Command line: ``--only`` some benchmarks, ``--reps``, ``--big-firms``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=["book", "acf", "cs", "grid", "big"],
                        default=["book", "acf", "cs", "grid", "big"])
    parser.add_argument("--grid-reps", type=int, default=5,
                        help="replications timed per kind of grid replication")
    parser.add_argument("--reps", type=int, default=100, help="ACF bootstrap replicates")
    parser.add_argument("--big-firms", type=int, default=400_000)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; Python {platform.python_version()}")
    if "book" in args.only:
        bench_book()
    if "acf" in args.only:
        bench_acf(args.reps)
    if "cs" in args.only:
        bench_cs()
    if "grid" in args.only:
        bench_grid(args.grid_reps)
    if "big" in args.only:
        bench_big(args.big_firms)


if __name__ == "__main__":
    main()
