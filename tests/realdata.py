"""Inputs that look like a researcher's own data: no truth file, CSV, and the awkward shapes
real data take (one cohort, no never-treated firms, a tiny industry, no exporters, a region
with only one kind of tech firm), and a raw extract that ``prepare`` turns into the inputs.

Each *scenario* starts from a generated economy (``synth``), writes its files as CSV into a
folder of their own with no ``*.truth.json`` beside them, applies its changes, and writes a
parameters file ``run.yml`` that ``build --params`` takes as it is. The generated files, truth
included, are deleted: nothing the book reads can tell these data are synthetic. The
``prepared`` scenario instead writes a raw extract of the default synthetic data
(:func:`raw_extract`, which tests/test_prepare.py uses too) and runs ``prepare`` on it; its
``run.yml`` is the one ``prepare`` writes.

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
    # a raw extract of ``firms`` firms of the default synthetic data, turned into the inputs by
    # `prepare` (shape, seed and changes do not apply)
    prepared: bool = False


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
        # a researcher's raw extract (names, euro, current prices, VAT numbers, dates, a member
        # list naming firms the accounts lack), through `prepare` and nothing else
        Scenario("prepared", firms=3000, prepared=True),
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
    "inputs through prepare: the data page shows its report":
        ("prepared", "chapters/02_data", "The input files were written by python -m clusterpolicy "
         "prepare from a raw extract, as the recipe recipe.yml says."),
    "inputs through prepare and unchanged since":
        ("prepared", "chapters/02_data", "The files of this run that prepare wrote are "
         "unchanged since: their checksums match the report's."),
    "inputs not through prepare: used as given":
        ("other-programme", "chapters/02_data", "did not come through prepare (no preparation "
         "report lies beside the panel file): they were used as given."),
}

SCENARIO_SETTINGS = {"bootstrap_reps": 5, "montecarlo_replications": 10,
                     "cs_bootstrap_iters": 99,
                     # The suite runs two builds at a time on two cores, so worker pools would
                     # only add their start-up; a two-point Mbar grid is a third of the
                     # HonestDiD work, and the page words its verdict for any grid.
                     "n_jobs": 1, "honest_mbar": [0.0, 1.0]}
# A shared parameter set once on the command line reaches every chapter that names it: the
# one-cohort-no-exporters scenario measures TFP with a cubic first stage everywhere. The
# prepared scenario's run.yml is prepare's own, so its quick settings are given here instead
# (they change no data parameter).
EXTRA_ARGS = {"one-cohort-no-exporters": ("-p", "degree", "3"),
              "prepared": tuple(arg for name, value in SCENARIO_SETTINGS.items()
                                for arg in ("-p", name, json.dumps(value)))}
# Members of the prepared scenario's raw list that are not in its accounts: dropped (the recipe
# says so) and reported.
UNKNOWN_MEMBERS = [{"btw_nummer": f"BE 0999.999.99{i}", "cluster": "SIM",
                    "lid_sinds": "2017-01-01", "lid_tot": ""} for i in range(3)]


def write_scenario(name: str, out: Path) -> Path:
    """Write scenario ``name`` into ``out``; returns its parameters file ``out/run.yml`` (for
    the prepared scenario, ``out/prepared/run.yml`` as ``prepare`` wrote it)."""
    scenario = SCENARIOS[name]
    if scenario.prepared:
        return write_prepared(scenario, out)
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


# ----------------------------------------------------------------------------------------------
# A raw extract: the default synthetic data as a researcher receives them, for `prepare`
# ----------------------------------------------------------------------------------------------
SYNTHETIC = ROOT / "data" / "synthetic"
BASE_YEAR = 2015
MONEY = ("value_added", "capital", "materials", "wage_bill", "investment", "exports")
SERIES = {"value_added": "p_va", "materials": "p_int", "capital": "p_inv", "investment": "p_inv",
          "wage_bill": "p_va", "exports": "p_va"}
PANEL_RAW = {"firm_id": "ondernemingsnummer", "year": "boekjaar", "nace2": "nace",
             "value_added": "toegevoegde_waarde", "employment": "vte",
             "capital": "materiele_vaste_activa", "materials": "handelsgoederen",
             "wage_bill": "personeelskosten", "investment": "investeringen",
             "founding_year": "oprichtingsdatum", "exports": "uitvoer", "patents": "octrooien"}
MEMBER_RAW = {"firm_id": "btw_nummer", "cluster": "cluster", "join": "lid_sinds",
              "exit": "lid_tot"}
# the tech firms' other columns keep their names
TECH_RAW = {"firm_id": "bedrijf", "employees": "werknemers"}
DATES = ("oprichtingsdatum", "lid_sinds", "lid_tot")


def enterprise_number(firm: str) -> int:
    """The enterprise number a synthetic firm gets: 0123xxxxxx (a leading zero to lose)."""
    return 123_000_000 + int(firm[1:])


def canonical_sample(firms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The default panel and membership restricted to ``firms`` firms, half of them members,
    with the enterprise numbers that a raw extract holds as identifiers."""
    panel = pd.read_parquet(SYNTHETIC / "panel.parquet")
    members = pd.read_csv(SYNTHETIC / "membership.csv", dtype={"firm_id": str})
    # The first firms that are members and the first that are not: both kinds in a small panel.
    in_clusters = sorted(set(members["firm_id"]))[: firms // 2]
    others = sorted(set(panel["firm_id"]) - set(members["firm_id"]))[: firms // 2]
    keep = set(in_clusters) | set(others)
    panel = panel[panel["firm_id"].isin(keep)].reset_index(drop=True)
    members = members[members["firm_id"].isin(keep)].reset_index(drop=True)
    for frame in (panel, members):
        frame["firm_id"] = frame["firm_id"].map(lambda f: f"{enterprise_number(f):010d}")
    return panel, members


def price_index(panel: pd.DataFrame) -> pd.DataFrame:
    """A made-up index per industry and year, not 1 in the base year (so rescaling matters)."""
    rows = []
    for nace in sorted(panel["nace2"].unique()):
        for year in range(2010, 2023):
            k = int(nace) % 7
            rows.append({"nace2": int(nace), "year": year,
                         "p_va": 80 * (1 + 0.02 * k) * 1.03 ** (year - 2010),
                         "p_int": 95 + 2.5 * (year - 2010) + k,
                         "p_inv": 110 * 1.01 ** (year - 2010) - k})
    return pd.DataFrame(rows)


def as_raw(panel: pd.DataFrame, members: pd.DataFrame, index: pd.DataFrame
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The canonical data as a raw extract: euro, current prices, Dutch-like names, ids as a
    number (panel) and as VAT text (members), dates."""
    raw = panel.copy()
    idx = index.assign(nace2=index["nace2"].map(lambda n: f"{n:02d}")).set_index(["nace2", "year"])
    base = idx.xs(BASE_YEAR, level="year")
    for money in MONEY:
        col = SERIES[money]
        level = idx[col].reindex(pd.MultiIndex.from_frame(raw[["nace2", "year"]])).to_numpy()
        raw[money] = raw[money] * 1000 * level / base[col].reindex(raw["nace2"]).to_numpy()
    raw["firm_id"] = raw["firm_id"].astype("int64")  # the leading zero is lost
    raw["nace2"] = raw["nace2"].astype("int64")
    raw["founding_year"] = pd.to_datetime(
        {"year": raw["founding_year"], "month": 6, "day": 15}).dt.strftime("%d/%m/%Y")
    raw["gemeente"] = "Liège"  # a non-ASCII extra column: the encoding matters
    raw = raw.rename(columns=PANEL_RAW)
    mem = pd.DataFrame({
        "btw_nummer": members["firm_id"].map(lambda s: f"BE {s[:4]}.{s[4:7]}.{s[7:]}"),
        "cluster": members["cluster"],
        "lid_sinds": members["join_year"].map(lambda y: f"{int(y)}-03-01"),
        "lid_tot": members["exit_year"].map(lambda y: "" if pd.isna(y) else f"{int(y)}-01-01"),
    })
    return raw, mem


def write_raw(frame: pd.DataFrame, path: Path, fmt: str, sheet: str | None = None) -> dict:
    """Write a raw file; returns the recipe's format options for it (``csv``, ``sheet``).

    ``sheet`` (xlsx only) names the data's sheet and puts a sheet of notes before it, as
    exports often have, so that reading the first sheet instead would fail.
    """
    if fmt in {"csv", "csv.gz"}:
        frame.to_csv(path, sep=";", decimal=",", encoding="latin-1", index=False)
        return {"csv": {"delimiter": ";", "decimal": ",", "encoding": "latin-1"}}
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
        return {}
    out = frame.copy()
    for col in DATES:
        if col in out:  # Stata and Excel hold dates as dates
            out[col] = pd.to_datetime(out[col].replace("", None), dayfirst=True, format="mixed")
    if fmt == "xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as book:
            if sheet is not None:
                pd.DataFrame({"note": ["annual accounts, euro, current prices"]}).to_excel(
                    book, sheet_name="about", index=False)
            out.to_excel(book, sheet_name=sheet or "Sheet1", index=False)
        return {} if sheet is None else {"sheet": sheet}
    out.to_stata(path, write_index=False, version=118,
                 convert_dates={c: "td" for c in DATES if c in out})
    return {}


def raw_extract(folder: Path, canonical: tuple[pd.DataFrame, pd.DataFrame], fmt: str = "csv",
                *, techfirms: bool = False, **changes: object) -> Path:
    """Write a raw extract of ``canonical`` (panel, membership) and its recipe to ``folder``.

    ``techfirms`` adds the default tech firms (renamed, identifiers without their letter) and
    the recipe's ``techfirms`` section. ``changes`` edit the recipe: a dotted key
    (``"panel.money_scale"``) is set to its value, or removed when the value is ``None``.
    Returns the recipe's path.
    """
    panel, members = canonical
    folder.mkdir(parents=True, exist_ok=True)
    index = price_index(panel)
    raw_panel, raw_members = as_raw(panel, members, index)
    index.to_csv(folder / "deflators.csv", index=False)
    # The panel's sheet is named (after a sheet of notes), the members' is the first.
    opts_p = write_raw(raw_panel, folder / f"accounts.{fmt}", fmt, sheet="accounts")
    opts_m = write_raw(raw_members, folder / f"members.{fmt}", fmt)
    recipe: dict = {
        "panel": {"path": f"accounts.{fmt}", **opts_p, "columns": dict(PANEL_RAW),
                  "money_scale": 0.001,
                  "deflators": {"path": "deflators.csv", "base_year": BASE_YEAR,
                                "series": dict(SERIES)}},
        "firm_ids": {"digits_only": True, "zero_pad": 10},
        "membership": {"path": f"members.{fmt}", **opts_m, "columns": dict(MEMBER_RAW)},
        "clusters": ["Catalisti", "SIM", "VIL", "Flux50", "Flanders' FOOD", "De Blauwe Cluster",
                     "MEDVIA"],
    }
    if techfirms:
        tech = pd.read_csv(SYNTHETIC / "techfirms.csv", dtype={"firm_id": str})
        raw_tech = tech.rename(columns=TECH_RAW)
        raw_tech["bedrijf"] = raw_tech["bedrijf"].str.replace(r"\D", "", regex=True)
        opts_t = write_raw(raw_tech, folder / f"tech.{fmt}", fmt)
        recipe["techfirms"] = {"path": f"tech.{fmt}", **opts_t,
                               "columns": {c: TECH_RAW.get(c, c) for c in tech.columns}}
    for key, value in changes.items():
        node = recipe
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    path = folder / "recipe.yml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


def write_prepared(scenario: Scenario, out: Path) -> Path:
    """A raw extract in ``out/raw`` (CSV with ``;``, decimal commas, latin-1; tech firms
    included; three unknown members that the recipe drops), prepared by the command line into
    ``out/prepared``; returns the ``run.yml`` that ``prepare`` wrote."""
    assert scenario.firms is not None
    raw = out / "raw"
    recipe = raw_extract(raw, canonical_sample(scenario.firms), techfirms=True,
                         **{"membership.unknown_firms": "drop"})
    add_members(raw, UNKNOWN_MEMBERS)
    prepared = out / "prepared"
    result = subprocess.run([sys.executable, "-m", "clusterpolicy", "prepare", str(recipe),
                             "--out", str(prepared)], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"prepare failed for scenario {scenario.name}:\n{result.stderr}")
    return prepared / "run.yml"


def add_members(folder: Path, rows: list[dict]) -> None:
    """Append rows (raw column names) to the CSV member list of a raw extract in ``folder``."""
    path = folder / "members.csv"
    members = pd.read_csv(path, sep=";", encoding="latin-1", dtype=str, keep_default_na=False)
    members = pd.concat([members, pd.DataFrame(rows)], ignore_index=True)
    members.to_csv(path, sep=";", encoding="latin-1", index=False)
