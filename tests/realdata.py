"""Inputs that look like a researcher's own data: no truth file, CSV, and the awkward shapes
real data take (one cohort, no never-treated firms, a tiny industry, no exporters, a region
with only one kind of tech firm).

Each *scenario* starts from a generated economy (``synth``), writes its files as CSV into a
folder of their own with no ``*.truth.json`` beside them, applies its changes, and writes a
parameters file ``run.yml`` that ``build --params`` takes as it is. The generated files, truth
included, are deleted: nothing the book reads can tell these data are synthetic.

The scenarios exist to render every branch of every page that depends on what the data hold;
``BRANCHES`` says which scenario exercises which branch, and the tests check each.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from clusterpolicy.data import programme

ROOT = Path(__file__).resolve().parents[1]

Frames = dict[str, pd.DataFrame]


def single_cohort(frames: Frames, truth: dict) -> None:
    """Only the first cluster keeps members, and all of them join in its start year."""
    first = min(truth["shape"]["clusters"], key=lambda c: c["start_year"])
    panel, members = frames["panel"], frames["membership"]
    alive = set(panel.loc[panel["year"] == first["start_year"], "firm_id"])
    keep = members[(members["cluster"] == first["name"]) & members["firm_id"].isin(alive)].copy()
    keep["join_year"] = first["start_year"]
    keep["exit_year"] = pd.NA
    frames["membership"] = keep


def tiny_industry(frames: Frames, truth: dict, firms: int = 12) -> None:
    """The smallest industry keeps ``firms`` firms: far below the minimum cell size."""
    panel = frames["panel"]
    smallest = panel.groupby("nace2")["firm_id"].nunique().idxmin()
    ids = panel.loc[panel["nace2"] == smallest, "firm_id"].drop_duplicates()
    drop = set(ids.iloc[firms:])
    frames["panel"] = panel[~panel["firm_id"].isin(drop)]
    frames["membership"] = frames["membership"][~frames["membership"]["firm_id"].isin(drop)]


def region_without_pairs(frames: Frames, truth: dict) -> None:
    """The region with the most serial innovators loses every matched pair whose serial firm is
    there: it keeps only non-serial innovators (of other pairs)."""
    tech = frames["techfirms"]
    serial = tech[tech["serial"].astype(str).str.lower().isin({"true", "1"})]
    region = serial["region"].value_counts().idxmax()
    lost = set(serial.loc[serial["region"] == region, "match_id"])
    frames["techfirms"] = tech[~tech["match_id"].isin(lost)]


def everyone_joins(frames: Frames, truth: dict) -> None:
    """Every firm of the panel is a member: no never-treated firms. Firms that never joined
    join a cluster in a year they are observed, from the second start year on."""
    panel, members = frames["panel"], frames["membership"]
    clusters = sorted(truth["shape"]["clusters"], key=lambda c: c["start_year"])
    later = clusters[1:] or clusters
    span = panel.groupby("firm_id")["year"].agg(["min", "max"])
    outsiders = span.index.difference(members["firm_id"].unique())
    rng = np.random.default_rng(0)
    rows = []
    for firm in outsiders:
        first, last = span.loc[firm]
        cluster = later[int(rng.integers(len(later)))]
        year = max(int(first), cluster["start_year"])
        if year > last:  # a firm that left before any later cluster started joins the first one
            cluster, year = clusters[0], max(int(first), clusters[0]["start_year"])
        if year > last:
            continue
        rows.append({"firm_id": firm, "cluster": cluster["name"], "join_year": year,
                     "exit_year": pd.NA})
    frames["membership"] = pd.concat([members, pd.DataFrame(rows)], ignore_index=True)
    # firms observed only before every cluster started cannot be members: they leave the data
    frames["panel"] = panel[panel["firm_id"].isin(frames["membership"]["firm_id"])]


def no_exporters(frames: Frames, truth: dict) -> None:
    """Nobody exports: the panel's exports are zero, and no tech firm is international."""
    frames["panel"] = frames["panel"].assign(exports=0.0)
    frames["techfirms"] = frames["techfirms"].assign(international=0, foreign_share=0.0)


@dataclass(frozen=True)
class Scenario:
    """A real-looking dataset: a generated economy, then changes; no truth file."""

    name: str
    shape: str = "other"
    seed: int | None = None
    firms: int | None = None
    changes: tuple[Callable[[Frames, dict], None], ...] = field(default=())


SCENARIOS = {
    s.name: s for s in (
        # another programme's data, as a researcher would bring them, with a region that has
        # serial innovators only on one side of the matched design
        Scenario("other-programme", firms=3000, changes=(region_without_pairs,)),
        # another draw and shape: one cohort, an industry below the minimum cell size, and
        # nobody exporting (each condition stops or changes a different page, so one economy
        # holds them all: a build per condition would cost the suite two more minutes)
        Scenario("one-cohort-no-exporters", shape="flanders", seed=7, firms=3000,
                 changes=(single_cohort, tiny_industry, no_exporters)),
        # every firm joins: no never-treated controls
        Scenario("all-members", seed=11, firms=3000, changes=(everyone_joins,)),
    )
}

# The audit: every branch of a page that depends on what the data hold, the scenario that
# renders it, and what the page says there (page, text). A branch with no page text is one no
# page takes yet; the scenario still renders every page on such data.
BRANCHES: dict[str, tuple[str, str | None, str | None]] = {
    "no truth file: production-function recovery":
        ("other-programme", "chapters/03_productivity",
         "The data of this run are not synthetic: the true elasticities and productivity are unknown"),
    "no truth file: selection demonstration":
        ("other-programme", "chapters/04_cluster_effects",
         "This demonstration needs synthetic data with a known truth; on real data it is not run."),
    "no truth file: study-2 estimates against the truth":
        ("other-programme", "chapters/05_serial_innovators",
         "No truth file was found beside the data"),
    "no truth file: the scorecard's caveat":
        ("other-programme", "chapters/appendix_scorecard",
         "This run used the data files named in the run's parameters"),
    "one cohort: no test of equal effects across clusters":
        ("one-cohort-no-exporters", "chapters/04_cluster_effects",
         "With fewer than two clusters estimated, the effects cannot be compared across clusters"),
    "one cohort: a single cohort in the cohort table":
        ("one-cohort-no-exporters", "chapters/04_cluster_effects", "in cohorts 2017 ("),
    "an industry below the minimum cell size":
        ("one-cohort-no-exporters", "chapters/03_productivity",
         "usable rows < min_obs=300; pooled with the next industry code"),
    "no never-treated firms: chapter 4 stops with the reason":
        ("all-members", "chapters/04_cluster_effects",
         "What these data cannot show Every one of the"),
    "no never-treated firms: the landing page quotes the reason":
        ("all-members", "intro", "Chapter 4 could not estimate the effect of membership on these "
         "data: Every one of the"),
    "no never-treated firms: the scorecard cannot test study 1":
        ("all-members", "chapters/appendix_scorecard", "04_cluster_effects stopped early on these data"),
    "no exporters: chapter 5 stops with the reason":
        ("one-cohort-no-exporters", "chapters/05_serial_innovators",
         "firms in the tech-firm file of this run, none is internationalized"),
    "no exporters: chapter 6 keeps its TFP results and stops at exporting":
        ("one-cohort-no-exporters", "chapters/06_synthesis", "The panel of this run has no variation in "
         "exporting: none of its"),
    "no exporters: the landing page quotes the reasons":
        ("one-cohort-no-exporters", "intro", "Chapter 5 could not test the published findings on these data"),
    # chapter 5 does not use regions yet (clustering is a firm-level regressor); the scenario
    # renders every page on such data all the same
    "a region without a serial/non-serial pair": ("other-programme", None, None),
}

SCENARIO_SETTINGS = {"bootstrap_reps": 5, "montecarlo_replications": 10,
                     "cs_bootstrap_iters": 99,
                     # The suite runs two builds at a time on two cores, so worker pools would
                     # only add their start-up; a two-point Mbar grid is a third of the
                     # HonestDiD work, and the page words its verdict for any grid.
                     "n_jobs": 1, "honest_mbar": [0.0, 1.0]}
# A shared parameter set once on the command line reaches every chapter that names it: the
# one-cohort-no-exporters scenario measures TFP with a cubic first stage everywhere.
EXTRA_ARGS = {"one-cohort-no-exporters": ("-p", "degree", "3")}


def write_scenario(name: str, out: Path) -> Path:
    """Write scenario ``name`` into ``out``; returns its parameters file ``out/run.yml``."""
    scenario = SCENARIOS[name]
    generated = out / "generated"
    command = [sys.executable, "-m", "clusterpolicy", "synth", "--out", str(generated),
               "--shape", scenario.shape]
    if scenario.seed is not None:
        command += ["--seed", str(scenario.seed)]
    if scenario.firms is not None:
        command += ["--firms", str(scenario.firms)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"synth failed for scenario {name}:\n{result.stderr}")
    truth = json.loads((generated / "panel.truth.json").read_text(encoding="utf-8"))
    frames = {"panel": pd.read_parquet(generated / "panel.parquet"),
              "membership": pd.read_csv(generated / "membership.csv", dtype={"firm_id": str}),
              "techfirms": pd.read_csv(generated / "techfirms.csv", dtype={"firm_id": str})}
    for change in scenario.changes:
        change(frames, truth)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for kind, frame in frames.items():
        frame.to_csv(data / f"{kind}.csv", index=False)
    (out / "programme.yml").write_text(yaml.safe_dump(programme.describe_generated(truth)),
                                       encoding="utf-8")
    clusters = sorted(c["name"] for c in truth["shape"]["clusters"])
    shutil.rmtree(generated)
    params = out / "run.yml"
    params.write_text(yaml.safe_dump({
        "panel_path": "data/panel.csv", "membership_path": "data/membership.csv",
        "techfirms_path": "data/techfirms.csv", "programme_path": "programme.yml",
        "clusters": clusters,
        # What these builds test is which pages render and what they say, not the precision of
        # their standard errors: fewer bootstrap and Monte Carlo replications keep them quick.
        **SCENARIO_SETTINGS}), encoding="utf-8")
    return params
