"""The book's computational pipeline on one dataset, step by step (used by benchmarks/run.py).

    .venv/bin/python benchmarks/pipeline.py PANEL MEMBERSHIP [--clusters NAME ...]

Validation and loading (column selection, compact dtypes), the estimation sample, per-industry
ACF production functions with membership in the law of motion (industries in parallel), and
Callaway-Sant'Anna on the balanced TFP panel. Prints one JSON line per step with its seconds.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from clusterpolicy.data import read
from clusterpolicy.estimators import did, production
from clusterpolicy.studies import productivity as tfp


def step(name: str, start: float, **extra: object) -> float:
    """Print one JSON line for a finished step.

    Parameters
    ----------
    name : str
        The step.
    start : float
        ``time.perf_counter()`` when it started.
    **extra
        Other values to report.

    Returns
    -------
    float
        Now (the start of the next step).
    """
    now = time.perf_counter()
    print(json.dumps({"step": name, "seconds": round(now - start, 2), **extra}), flush=True)
    return now


def main() -> None:
    """Command line: ``PANEL MEMBERSHIP [--clusters NAME ...] [--n-jobs N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("panel")
    parser.add_argument("membership")
    parser.add_argument("--clusters", nargs="+", default=None)
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args()

    t = time.perf_counter()
    panel = read.load_panel(args.panel, columns=False)
    membership = read.load_membership(args.membership, clusters=args.clusters, panel=panel)
    t = step("load and validate", t, rows=len(panel), firms=int(panel["firm_id"].nunique()))

    sample, _ = tfp.tfp_sample(panel, membership)
    del panel
    t = step("estimation sample", t, rows=len(sample))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = production.estimate_by(
            sample, "acf", by="nace2", min_obs=300, y=tfp.Y, free=tfp.FREE, state=tfp.STATE,
            proxy=tfp.PROXY, unit="firm_id", time="year", n_jobs=args.n_jobs,
            law_of_motion_controls=["member"])
    sample["log_tfp"] = fit.productivity().to_numpy()
    t = step("ACF by industry (membership in the law of motion)", t,
             industries=len(fit.table))

    years = sample["year"].nunique()
    counts = sample.dropna(subset=["log_tfp"]).groupby("firm_id")["year"].transform("size")
    balanced = sample.loc[counts.index[counts == years], ["firm_id", "year", "log_tfp", "cohort"]]
    balanced = balanced[(balanced["cohort"] == 0) | (balanced["cohort"] > balanced["year"].min())]
    t = step("balanced panel", t, rows=len(balanced), firms=int(balanced["firm_id"].nunique()))

    cs = did.callaway_santanna(balanced, "log_tfp", "firm_id", "year", "cohort")
    simple = cs.aggregate("simple")
    step("Callaway-Sant'Anna (never treated) and its simple aggregate", t,
         att=round(float(simple.att), 4), se=round(float(simple.se), 4))


if __name__ == "__main__":
    main()
