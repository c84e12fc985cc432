"""From a researcher's raw extract to the book's canonical inputs: ``python -m clusterpolicy
prepare RECIPE.yml --out DIR``.

The recipe (:mod:`clusterpolicy.data.recipe`) names the raw files and how to read them; this
module carries it out, in this order, and records every step in a :class:`PrepareReport`:

1. read each raw file (CSV with its delimiter, decimal mark and encoding, gzip by the
   ``.csv.gz`` ending; Parquet; Stata ``.dta``; Excel ``.xlsx``, one sheet) and rename the
   mapped columns to their canonical names;
2. normalise the firm identifiers of every file with the one rule of the recipe;
3. turn dates into years (``founding_year``, ``join``, ``exit``): a whole number is a year; a
   date (a date value, or text such as ``2017-03-15``, ``15/03/2017`` or ``15.03.2017``) becomes
   its calendar year. Day and month order never changes the year, so it is not asked for;
4. scale every money column by ``money_scale`` and, with ``deflators``, divide it by its
   price index rescaled so that ``base_year`` is 1 in every industry:
   ``raw × money_scale / (index(nace2, year) / index(nace2, base_year))``;
5. reconcile the membership list with the panel (unknown firms, firms listed twice for one
   cluster) by the recipe's policy, which stops by default;
6. write the files to a temporary folder beside ``DIR``, check them against the canonical
   schemas (:func:`clusterpolicy.data.read.check_file`), and only then move the folder to
   ``DIR``: a failed step leaves ``DIR`` as it was.

A recipe without a ``techfirms`` section prepares no tech firms: the build then takes the
book's default, which is synthetic, and :data:`NO_TECHFIRMS` says so in ``run.yml``, in the
report and on the command line.

Every problem a user can fix raises :class:`~clusterpolicy.data.recipe.PrepareError`, naming
the file, the column or key, the rule and the first offending rows (exit status 2).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from clusterpolicy.core.provenance import sha256_file, track_optional
from clusterpolicy.data.read import MAX_EXAMPLES, Failure, check_file
from clusterpolicy.data.recipe import (
    FORMATS,
    MEMBERSHIP_KEYS,
    Deflators,
    FirmIds,
    PrepareError,
    Recipe,
    Source,
    load_recipe,
)
from clusterpolicy.data.schemas import DEFAULT_CLUSTERS, PANEL_COLUMNS, SPECS, YEAR_RANGE

#: The money columns of the panel (thousand euro, deflated), from the panel's declaration.
MONEY_COLUMNS: tuple[str, ...] = tuple(s.name for s in PANEL_COLUMNS
                                       if s.unit.startswith("thousand euro"))

#: The columns whose raw value may be a year or a date, by input.
YEAR_COLUMNS: dict[str, tuple[str, ...]] = {"panel": ("founding_year",),
                                            "membership": ("join_year", "exit_year")}

#: The files ``prepare`` writes, by input.
OUTPUT_FILES = {"panel": "panel.parquet", "membership": "membership.csv",
                "techfirms": "techfirms.csv"}

#: The name of the report files (``.json`` and ``.md``) written beside the prepared inputs.
REPORT_NAME = "prepare_report"

#: What ``run.yml`` (as a comment), the report (as a step of ``techfirms``) and the command
#: line say when the recipe has no ``techfirms`` section.
NO_TECHFIRMS = ("no techfirms section in the recipe: run.yml sets no techfirms_path, so study 2 "
                "(chapter 5) runs on the book's default tech firms, which are synthetic, unless "
                "the build names another file")


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One transformation of one file: what was done and to how many rows."""

    file: str  # the input: panel, membership, techfirms
    step: str  # rename, ids, years, scale, deflate, drop, ...
    detail: str
    rows: int


@dataclass
class PrepareReport:
    """Every transformation applied and every row changed or dropped, by reason and count."""

    recipe: str
    options: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, file: str, step: str, detail: str, rows: int) -> None:
        self.steps.append(Step(file, step, detail, int(rows)))

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "options": self.options, "inputs": self.inputs,
                "steps": [vars(s) for s in self.steps], "outputs": self.outputs}

    def markdown(self) -> str:
        """The report as a Markdown page (the ``.md`` beside the ``.json``)."""
        lines = ["# Preparation report", "", f"Recipe: `{self.recipe}`", "", "## Raw files", "",
                 "| input | file | format | rows | sha256 |", "|---|---|---|---|---|"]
        lines += [f"| {i['input']} | `{i['path']}` | {i['format']} | {i['rows']:,} | "
                  f"`{i['sha256'][:12]}…` |" for i in self.inputs]
        lines += ["", "## Transformations and rows changed or dropped", "",
                  "| input | step | what | rows |", "|---|---|---|---|"]
        lines += [f"| {s.file} | {s.step} | {s.detail.replace('|', '/')} | {s.rows:,} |"
                  for s in self.steps]
        lines += ["", "## Prepared files", "", "| input | file | rows | sha256 |",
                  "|---|---|---|---|"]
        lines += [f"| {o['input']} | `{o['file']}` | {o['rows']:,} | `{o['sha256'][:12]}…` |"
                  for o in self.outputs]
        return "\n".join(lines) + "\n"


def _show(value: Any) -> str:
    """A value as the user wrote it: text quoted, numbers plain (no numpy type names)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "(missing)"
    return repr(value)


def _fail(file: Path | str, column: str, rule: str, rows: np.ndarray | list[int] | None = None,
          frame: pd.DataFrame | None = None, shown: list[str] | None = None,
          hint: str = "", count: int | None = None) -> PrepareError:
    """A one-failure error whose examples are the first offending data rows (1-based)."""
    examples: list[str] = []
    pos = [] if rows is None else [int(p) for p in rows]
    for p in pos[:MAX_EXAMPLES]:
        vals = ""
        if frame is not None and shown:
            vals = ": " + ", ".join(f"{c}={_show(frame[c].iloc[p])}" for c in shown if c in frame)
        examples.append(f"data row {p + 1}{vals}")
    n = count if count is not None else (len(pos) if pos else 1)
    return PrepareError([Failure(str(file), column, rule, n, examples, hint,
                                 "row" if pos else "")])


# ----------------------------------------------------------------------------------------------
# Reading raw files
# ----------------------------------------------------------------------------------------------
def read_raw(source: Source) -> pd.DataFrame:
    """Read one raw file as it is (no renaming), by the format its name gives.

    Columns a recipe maps to identifiers, codes or dates are read from CSV as text, so that a
    leading zero or a date's form survives until the recipe's rule handles it.

    Raises
    ------
    ~clusterpolicy.data.recipe.PrepareError
        The file is missing or unreadable in its format or its encoding, the recipe's sheet is
        not in the workbook, or openpyxl (pinned in ``requirements.txt``) is missing from the
        environment for an ``.xlsx`` file.
    """
    path = source.path
    if not path.is_file():
        raise _fail(path, "(file)", "the raw file must exist")
    fmt = source.fmt
    if fmt == "unknown":
        raise _fail(path, "(file)", "a raw file must end in one of "
                    + ", ".join(end for end, _ in FORMATS))
    try:
        if fmt == "csv":
            opts = {"sep": source.csv.delimiter, "decimal": source.csv.decimal,
                    "encoding": source.csv.encoding, "compression": "infer"}
            # The header first: a text type for a column the file lacks would stop pandas
            # before the clearer report of absent columns (:func:`_select`).
            header = set(pd.read_csv(path, nrows=0, **opts).columns)
            text_cols = [source.columns[c] for c in ("firm_id", "nace2", "founding_year",
                                                     "join", "exit", "cluster")
                         if c in source.columns and source.columns[c] in header]
            return pd.read_csv(path, dtype={c: str for c in text_cols}, **opts)
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "stata":
            # Stata value labels stay codes: a label is not what the recipe maps.
            return pd.read_stata(path, convert_categoricals=False)
        try:
            import openpyxl  # noqa: F401  (pandas reads .xlsx through it)
        except ImportError as exc:
            # An environment set up without requirements.txt would otherwise get pandas'
            # message about an optional dependency, which names neither file nor remedy.
            raise _fail(path, "(file)", "reading an Excel .xlsx file needs the package "
                        "openpyxl, which is not installed",
                        hint="pip install -r requirements.txt (it pins openpyxl), or save the "
                             "sheet as CSV (UTF-8) or Parquet and name that file in the "
                             "recipe") from exc
        with pd.ExcelFile(path, engine="openpyxl") as book:
            if source.sheet is not None and source.sheet not in book.sheet_names:
                raise _fail(path, "(sheet)", f"the recipe's sheet {source.sheet!r} must be in "
                            "the workbook", hint="its sheets: "
                            + ", ".join(map(repr, book.sheet_names)))
            return pd.read_excel(book, sheet_name=source.sheet if source.sheet is not None else 0)
    except PrepareError:
        raise
    except UnicodeDecodeError as exc:
        raise _fail(path, "(file)", f"the file must be in the recipe's encoding "
                    f"{source.csv.encoding!r} ({exc.reason} at byte {exc.start})",
                    hint="set csv: {encoding: ...} in the recipe, e.g. latin-1 or cp1252") from exc
    except Exception as exc:  # any reader error is a user-fixable file problem
        raise _fail(path, "(file)", f"the file must be readable as {fmt} ({exc})") from exc


def _select(frame: pd.DataFrame, source: Source, renames: dict[str, str], input_name: str,
            report: PrepareReport) -> pd.DataFrame:
    """Rename the mapped raw columns to canonical names; absent columns are one error."""
    missing = [(canon, raw) for canon, raw in source.columns.items() if raw not in frame.columns]
    if missing:
        raise PrepareError([Failure(
            str(source.path), ", ".join(raw for _, raw in missing),
            "every column the recipe names must be in the file", len(missing),
            [f"recipe {input_name}.columns.{canon}: {raw!r} not found" for canon, raw in missing]
            + [f"the file has: {', '.join(map(str, frame.columns))[:300]}"],
            hint=("the file reads as a single column: check the recipe's csv: {delimiter: ...}"
                  if source.fmt == "csv" and len(frame.columns) == 1 else ""), unit="column")])
    out = pd.DataFrame({renames.get(canon, canon): frame[raw].reset_index(drop=True)
                        for canon, raw in source.columns.items()})
    moved = [f"{raw} → {renames.get(canon, canon)}" for canon, raw in source.columns.items()
             if raw != renames.get(canon, canon)]
    if moved:
        report.add(input_name, "rename", "; ".join(moved), len(out))
    return out


# ----------------------------------------------------------------------------------------------
# The rules
# ----------------------------------------------------------------------------------------------
def normalise_ids(values: pd.Series, rule: FirmIds) -> pd.Series:
    """Firm identifiers as text by the recipe's rule.

    A whole number read from a numeric column is written without its ``.0``; ``digits_only``
    keeps the digits (``"BE 0123.456.789"`` → ``"0123456789"``); ``zero_pad`` left-pads with
    zeros to the width (restoring a leading zero that a numeric column lost).
    """
    def one(v: Any) -> Any:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        s = str(v).strip()
        if rule.digits_only:
            s = re.sub(r"\D", "", s)
        if rule.zero_pad:
            s = s.zfill(rule.zero_pad)
        return s

    return pd.Series([one(v) for v in values], index=values.index, dtype="object")


def _ids(frame: pd.DataFrame, rule: FirmIds, file: Path, input_name: str,
         report: PrepareReport) -> pd.DataFrame:
    before = frame["firm_id"].map(lambda v: None if pd.isna(v) else str(v).strip())
    after = normalise_ids(frame["firm_id"], rule)
    empty = np.flatnonzero(after.fillna("").eq("").to_numpy() & before.notna().to_numpy())
    if empty.size:
        raise _fail(file, "firm_id", "a firm identifier must keep at least one character "
                    "after the identifier rule (digits_only)", empty,
                    pd.DataFrame({"firm_id": before}), ["firm_id"])
    changed = int((after.fillna("") != before.fillna("")).sum())
    what = ", ".join(w for w, on in (("digits only", rule.digits_only),
                                     (f"zero-padded to {rule.zero_pad}", bool(rule.zero_pad)))
                     if on) or "whitespace trimmed"
    report.add(input_name, "ids", f"firm_id normalised ({what})", changed)
    out = frame.copy()
    out["firm_id"] = after
    return out


def years_of(values: pd.Series) -> tuple[pd.Series, np.ndarray, int]:
    """Calendar years from years or dates.

    A whole number is a year. A date value (datetime) or a date written as text becomes its
    calendar year: text holding exactly one four-digit number in the range of plausible years
    whose whole parses as a date (``2017-03-15``, ``15/03/2017``, ``15.03.2017``,
    ``2017-03-15 00:00:00``). Day and month order does not matter for the year.

    Returns
    -------
    years : pandas.Series
        The years (nullable integers).
    bad : numpy.ndarray
        The positions of the values that are neither a year nor a date.
    dates : int
        The number of values that were dates.
    """
    out: list[Any] = []
    bad: list[int] = []
    dates = 0
    for i, v in enumerate(values):
        if v is None or v is pd.NaT or (not isinstance(v, str) and pd.isna(v)):
            out.append(pd.NA)
            continue
        if isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "year"):
            out.append(int(pd.Timestamp(v).year))
            dates += 1
            continue
        if isinstance(v, (int, np.integer, float, np.floating)) and float(v).is_integer():
            out.append(int(v))
            continue
        s = str(v).strip()
        if not s:
            out.append(pd.NA)
            continue
        if re.fullmatch(r"\d{4}(\.0+)?", s):
            out.append(int(float(s)))
            continue
        found = re.findall(r"(?<!\d)\d{4}(?!\d)", s)
        if len(found) == 1 and YEAR_RANGE[0] <= int(found[0]) <= YEAR_RANGE[1]:
            try:
                pd.to_datetime(s, dayfirst=not s.startswith(found[0]), format="mixed")
            except (ValueError, TypeError):
                pass
            else:
                out.append(int(found[0]))
                dates += 1
                continue
        out.append(pd.NA)
        bad.append(i)
    return pd.Series(out, index=values.index, dtype="Int64"), np.asarray(bad, int), dates


def _years(frame: pd.DataFrame, columns: tuple[str, ...], file: Path, input_name: str,
           raw_names: dict[str, str], report: PrepareReport) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        if col not in out:
            continue
        years, bad, dates = years_of(out[col])
        if bad.size:
            raise _fail(file, raw_names.get(col, col), f"{col} must be a year or a date (a "
                        "date holds one four-digit year, e.g. 2017-03-15 or 15/03/2017)",
                        bad, out, [col])
        if dates:
            report.add(input_name, "years", f"{raw_names.get(col, col)}: dates → calendar year "
                       f"({col})", dates)
        out[col] = years
    return out


def _numbers(frame: pd.DataFrame, columns: list[str], file: Path, raw_names: dict[str, str]
             ) -> pd.DataFrame:
    """Numeric columns as floats; a value that is not a number is an error."""
    out = frame.copy()
    for col in columns:
        if col not in out or pd.api.types.is_numeric_dtype(out[col]):
            continue
        num = pd.to_numeric(out[col], errors="coerce")
        bad = np.flatnonzero(num.isna().to_numpy() & out[col].notna().to_numpy())
        if bad.size:
            raise _fail(file, raw_names.get(col, col), f"{col} must be a number", bad, out, [col],
                        hint="check the recipe's csv: {decimal: ...} and thousands separators")
        out[col] = num.astype("float64")
    return out


def _nace(frame: pd.DataFrame, input_name: str, report: PrepareReport) -> pd.DataFrame:
    """2-digit industry codes as text: a code read as a number (``1.0``) is re-padded (``01``)."""
    before = frame["nace2"].map(lambda v: None if pd.isna(v) else str(v).strip())

    def one(v: Any) -> Any:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        if isinstance(v, (float, np.floating, int, np.integer)) and float(v).is_integer():
            v = int(v)
        s = str(v).strip()
        return s.zfill(2) if s.isdigit() and len(s) < 2 else s

    after = pd.Series([one(v) for v in frame["nace2"]], index=frame.index, dtype="object")
    changed = int((after.fillna("") != before.fillna("")).sum())
    if changed:
        report.add(input_name, "codes", "nace2 read as numbers: zero-padded to 2 digits", changed)
    out = frame.copy()
    out["nace2"] = after
    return out


def deflate(panel: pd.DataFrame, deflators: Deflators, report: PrepareReport,
            panel_file: Path | str = "panel") -> pd.DataFrame:
    """Divide each money column by its price index, rescaled so that the base year is 1 in
    every industry.

    Raises
    ------
    ~clusterpolicy.data.recipe.PrepareError
        The base year is outside the index file, or industry-years of the panel (or the base
        year of an industry) have no index: all of them are listed, never dropped.
    """
    src = deflators.source
    raw = read_raw(src)
    report.inputs.append({"input": "deflators", "path": str(src.path), "format": src.fmt,
                          "rows": len(raw), "sha256": sha256_file(src.path)})
    idx = _select(raw, src, {}, "deflators", PrepareReport(""))
    idx = _nace(idx, "deflators", PrepareReport(""))
    idx = _numbers(idx, ["year", *deflators.series.values()], src.path, {})
    for col in ("nace2", "year"):
        gap = np.flatnonzero(idx[col].isna().to_numpy())
        if gap.size:
            raise _fail(src.path, col, f"{col} must not be missing in the index file", gap,
                        idx, ["nace2", "year"])
    idx["year"] = idx["year"].astype("int64")
    years = sorted(idx["year"].unique())
    if deflators.base_year not in years:
        raise _fail(src.path, "year", f"the base year {deflators.base_year} must be in the index "
                    f"file (it holds {years[0]}–{years[-1]})" if years else
                    "the index file must hold at least one year")
    dup = np.flatnonzero(idx.duplicated(["nace2", "year"], keep=False).to_numpy())
    if dup.size:
        raise _fail(src.path, "nace2, year", "(nace2, year) must be unique in the index file",
                    dup, idx, ["nace2", "year"])
    for column in dict.fromkeys(deflators.series.values()):
        bad = np.flatnonzero((idx[column] <= 0).to_numpy())
        if bad.size:
            raise _fail(src.path, column, f"a price index must be positive ({column} > 0)", bad,
                        idx, ["nace2", "year", column])
    base = idx[idx["year"] == deflators.base_year].set_index("nace2")
    out = panel.copy()
    for col in ("nace2", "year"):
        # Which index deflates a row depends on both: a gap here cannot be deflated.
        gap = np.flatnonzero(out[col].isna().to_numpy())
        if gap.size:
            raise _fail(panel_file, col, f"{col} must not be missing in the panel (it picks "
                        "the price index)", gap, out, ["firm_id", "nace2", "year"])
    keys = pd.MultiIndex.from_frame(out[["nace2", "year"]].astype({"year": "int64"}))
    table = idx.set_index(["nace2", "year"])
    for money, column in deflators.series.items():
        if money not in out:
            continue
        level = table[column].reindex(keys).to_numpy()
        at_base = base[column].reindex(out["nace2"]).to_numpy()
        missing = np.isnan(level) | np.isnan(at_base)
        if missing.any():
            pairs = out.loc[np.isnan(level), ["nace2", "year"]].drop_duplicates()
            nobase = sorted(set(out.loc[np.isnan(at_base), "nace2"]))
            listing = [f"nace2={n!r}, year={deflators.base_year} (the base year)"
                       for n in nobase]
            listing += sorted(f"nace2={n!r}, year={y}" for n, y in pairs.itertuples(index=False))
            shown = 20
            raise PrepareError([Failure(
                str(src.path), column, f"every industry-year of the panel must have an index "
                f"(to deflate {money}; {int(missing.sum()):,} panel rows have none)",
                len(listing), listing[:shown],
                hint="add the missing industry-years to the index file; panel rows are never "
                     "dropped silently", unit="industry-year")])
        factor = level / at_base
        out[money] = out[money] / factor
        report.add("panel", "deflate", f"{money} ÷ {column} rescaled to {deflators.base_year} = 1 "
                   f"(panel years {int(out['year'].min())}–{int(out['year'].max())}, "
                   f"index used {np.nanmin(level):.4g}–{np.nanmax(level):.4g}, "
                   f"rescaled {np.nanmin(factor):.4g}–{np.nanmax(factor):.4g})",
                   int(out[money].notna().sum()))
    return out


# ----------------------------------------------------------------------------------------------
# The inputs
# ----------------------------------------------------------------------------------------------
def _input(source: Source, input_name: str, renames: dict[str, str], recipe: Recipe,
           report: PrepareReport) -> tuple[pd.DataFrame, pd.Series]:
    """A raw file read, renamed and with the identifier rule applied; and its raw ids."""
    raw = read_raw(source)
    report.inputs.append({"input": input_name, "path": str(source.path), "format": source.fmt,
                          "rows": len(raw), "sha256": sha256_file(source.path)})
    frame = _select(raw, source, renames, input_name, report)
    raw_ids = frame["firm_id"].copy()
    return _ids(frame, recipe.firm_ids, source.path, input_name, report), raw_ids


def _merged_firms(frame: pd.DataFrame, raw_ids: pd.Series, file: Path, column: str) -> None:
    """Two raw identifiers that the rule turns into one, in the same year, would merge two
    firms (``digits_only`` applied to ``"A-12"`` and ``"B-12"``): an error, not a silent merge."""
    ids = raw_ids.reset_index(drop=True).astype(str)
    both = pd.DataFrame({"firm_id": frame["firm_id"], "year": frame["year"], "raw": ids})
    dup = both[both.duplicated(["firm_id", "year"], keep=False)]
    merged = dup.groupby(["firm_id", "year"])["raw"].nunique()
    merged = merged[merged > 1]
    if merged.empty:
        return
    rows = np.flatnonzero(both.set_index(["firm_id", "year"]).index.isin(merged.index))
    # Rows of one firm-year next to each other, so that the examples show the merged raw ids.
    rows = rows[np.lexsort((rows, both["year"].to_numpy()[rows],
                            both["firm_id"].to_numpy()[rows]))]
    raise _fail(file, column, "the identifier rule (firm_ids) must not turn different raw "
                "identifiers of one year into one firm", rows, both.rename(
                    columns={"raw": column}), [column, "firm_id", "year"],
                hint="check firm_ids: digits_only drops letters that may tell firms apart")


def prepare_panel(recipe: Recipe, report: PrepareReport) -> pd.DataFrame:
    """The canonical panel from the recipe's raw file (steps 1–4 of the module)."""
    src = recipe.panel.source
    names = {canon: raw for canon, raw in src.columns.items()}
    frame, raw_ids = _input(src, "panel", {}, recipe, report)
    _merged_firms(frame, raw_ids, src.path, names["firm_id"])
    frame = _nace(frame, "panel", report)
    frame = _years(frame, YEAR_COLUMNS["panel"], src.path, "panel", names, report)
    numeric = [s.name for s in PANEL_COLUMNS if s.kind in {"float", "count", "int"}
               and s.name not in YEAR_COLUMNS["panel"]]
    frame = _numbers(frame, numeric, src.path, names)
    money = [c for c in MONEY_COLUMNS if c in frame]
    if recipe.panel.money_scale != 1.0:
        for c in money:
            frame[c] = frame[c] * recipe.panel.money_scale
        report.add("panel", "scale", f"money columns × {recipe.panel.money_scale:g} to thousand "
                   f"euro: {', '.join(money)}", len(frame))
    if recipe.panel.deflators is not None:
        unknown = [c for c in recipe.panel.deflators.series if c not in frame]
        if unknown:
            raise _fail(recipe.path, "panel.deflators.series", "a deflated money column must be "
                        f"mapped in panel.columns: {', '.join(unknown)}")
        frame = deflate(frame, recipe.panel.deflators, report, src.path)
    return frame


def prepare_membership(recipe: Recipe, panel: pd.DataFrame, report: PrepareReport
                       ) -> pd.DataFrame:
    """The canonical membership list, reconciled with the prepared panel by the recipe's
    policies (stop by default; ``drop`` drops and reports)."""
    m = recipe.membership
    src = m.source
    names = {MEMBERSHIP_KEYS[k]: raw for k, raw in src.columns.items()}
    frame, _ = _input(src, "membership", MEMBERSHIP_KEYS, recipe, report)
    frame = _years(frame, YEAR_COLUMNS["membership"], src.path, "membership", names, report)
    if "exit_year" not in frame:
        frame["exit_year"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    frame["cluster"] = frame["cluster"].map(lambda v: None if pd.isna(v) else str(v).strip())

    known = set(panel["firm_id"])
    unknown = np.flatnonzero(~frame["firm_id"].isin(known).to_numpy())
    if unknown.size:
        if m.unknown_firms == "stop":
            raise _fail(src.path, names["firm_id"], "every member must be a firm of the panel "
                        "(after the identifier rule)", unknown, frame, ["firm_id", "cluster"],
                        hint="check firm_ids in the recipe, or set membership: {unknown_firms: "
                             "drop} to drop these rows and report them")
        examples = ", ".join(frame["firm_id"].iloc[unknown[:MAX_EXAMPLES]].astype(str))
        report.add("membership", "drop", f"firm not in the panel (e.g. {examples})",
                   unknown.size)
        frame = frame.drop(index=frame.index[unknown]).reset_index(drop=True)

    dup = np.flatnonzero(frame.duplicated(["firm_id", "cluster"], keep=False).to_numpy())
    if dup.size:
        if m.duplicates == "stop":
            raise _fail(src.path, f"{names['firm_id']}, {names['cluster']}", "a firm must be "
                        "listed once per cluster", dup, frame,
                        ["firm_id", "cluster", "join_year"],
                        hint="set membership: {duplicates: drop} to keep each firm's earliest "
                             "join per cluster and report the others")
        # Keep the earliest join: a firm is treated from its first membership (data/README.md).
        order = frame.assign(_pos=np.arange(len(frame))).sort_values(
            ["join_year", "_pos"], na_position="last", kind="stable")
        keep = ~order.duplicated(["firm_id", "cluster"], keep="first")
        dropped = order[~keep]
        examples = ", ".join(f"{f} ({c})" for f, c in dropped[["firm_id", "cluster"]]
                             .head(MAX_EXAMPLES).itertuples(index=False))
        report.add("membership", "drop", f"firm listed again for the same cluster, later join "
                   f"dropped (e.g. {examples})", len(dropped))
        frame = order[keep].sort_values("_pos").drop(columns="_pos").reset_index(drop=True)
    return frame


def prepare_techfirms(recipe: Recipe, report: PrepareReport) -> pd.DataFrame:
    """The tech-firm cross-section: renamed, with the identifier rule applied."""
    assert recipe.techfirms is not None
    return _input(recipe.techfirms, "techfirms", {}, recipe, report)[0]


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------
def _typed(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Years and other integers written as integers (a CSV column with a gap reads as floats);
    a value that is not whole is left as it is for the schema check to name."""
    out = frame.copy()
    for spec in SPECS[kind]:
        if spec.kind == "int" and spec.name in out and pd.api.types.is_float_dtype(out[spec.name]):
            col = out[spec.name]
            if ((col.dropna() % 1) == 0).all():
                out[spec.name] = col.astype("Int64")
    return out


def _write(frame: pd.DataFrame, path: Path) -> None:
    """Parquet or UTF-8, comma-separated CSV with '.' decimals: the canonical formats."""
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, encoding="utf-8")


def run_params(recipe: Recipe, clusters: list[str], has_techfirms: bool) -> dict[str, Any]:
    """The ``run.yml`` of the prepared folder: paths relative to it, as ``build --params``
    reads them."""
    params: dict[str, Any] = {"panel_path": OUTPUT_FILES["panel"],
                              "membership_path": OUTPUT_FILES["membership"]}
    if has_techfirms:
        params["techfirms_path"] = OUTPUT_FILES["techfirms"]
    params["clusters"] = list(clusters)
    if recipe.programme_path is not None:
        # Absolute: the programme file stays where the recipe names it.
        params["programme_path"] = str(recipe.programme_path.resolve())
    return params


def run_file(params: dict[str, Any], has_techfirms: bool) -> str:
    """The text of ``run.yml``: the parameters, after a comment on the tech firms when the
    recipe has none.

    The comment is not a key: the path of the book's synthetic tech firms depends on where the
    book is, which ``prepare`` does not know, and the build takes a missing ``techfirms_path``
    as that default anyway. A real panel would otherwise run beside synthetic tech firms with
    nothing in the prepared folder to say so.
    """
    text = yaml.safe_dump(params, sort_keys=False, allow_unicode=True)
    if has_techfirms:
        return text
    return "".join(f"# {line}\n" for line in textwrap.wrap(NO_TECHFIRMS, 94)) + text


def prepare(recipe_path: str | os.PathLike[str], out: str | os.PathLike[str]) -> PrepareReport:
    """Carry out a recipe and write the canonical inputs, ``run.yml`` and the report to ``out``.

    Parameters
    ----------
    recipe_path
        The recipe (YAML), see :func:`clusterpolicy.data.recipe.load_recipe`.
    out
        The folder to write. It must not exist, be empty, or hold an earlier ``prepare``
        output (which is replaced only once every step has succeeded).

    Returns
    -------
    PrepareReport
        What was done, as written to ``out/prepare_report.json`` and ``.md``.

    Raises
    ------
    ~clusterpolicy.data.recipe.PrepareError
        Any problem a user can fix; nothing is written to ``out`` then.
    """
    recipe = load_recipe(recipe_path)
    target = Path(out)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (
            target / f"{REPORT_NAME}.json").is_file())):
        raise _fail(target, "(folder)", "--out must be a new or empty folder, or one that an "
                    "earlier prepare wrote", hint="choose another folder")
    defl = recipe.panel.deflators
    report = PrepareReport(str(recipe.path), {
        "money_scale": recipe.panel.money_scale,
        "deflators": None if defl is None else {"path": str(defl.source.path),
                                                "base_year": defl.base_year,
                                                "series": dict(defl.series)},
        "firm_ids": {"digits_only": recipe.firm_ids.digits_only,
                     "zero_pad": recipe.firm_ids.zero_pad},
        "membership": {"unknown_firms": recipe.membership.unknown_firms,
                       "duplicates": recipe.membership.duplicates},
        "clusters": list(recipe.clusters or DEFAULT_CLUSTERS)})
    clusters = list(recipe.clusters or DEFAULT_CLUSTERS)
    frames = {"panel": prepare_panel(recipe, report)}
    frames["membership"] = prepare_membership(recipe, frames["panel"], report)
    if recipe.techfirms is not None:
        frames["techfirms"] = prepare_techfirms(recipe, report)
    else:
        report.add("techfirms", "default", NO_TECHFIRMS, 0)
    for kind, frame in frames.items():
        order = [s.name for s in SPECS[kind] if s.name in frame]
        frames[kind] = _typed(frame[order + [c for c in frame.columns if c not in order]], kind)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    sources = {"panel": recipe.panel.source.path, "membership": recipe.membership.source.path,
               "techfirms": recipe.techfirms.path if recipe.techfirms else None}
    try:
        checked: pd.DataFrame | None = None
        for kind, frame in frames.items():
            path = tmp / OUTPUT_FILES[kind]
            _write(frame, path)
            # The one check of the book's inputs, with the membership's cross-file checks.
            check, typed = check_file(path, kind, clusters=clusters,
                                      panel=checked if kind == "membership" else None)
            if kind == "panel":
                checked = typed
            if not check.ok:
                # The checked file lives in the temporary folder, which is removed: name the
                # output and its raw file instead.
                for failure in check.failures:
                    failure.file = f"{OUTPUT_FILES[kind]} as prepared from {sources[kind]}"
                    failure.hint = failure.hint or (
                        "lines are those of the prepared file: the raw file's rows in their "
                        "order, less the rows the report drops")
                raise PrepareError(check.failures, f"the {kind} prepared from {sources[kind]} "
                                   f"breaks the {kind} schema")
            report.outputs.append({"input": kind, "file": OUTPUT_FILES[kind], "rows": len(frame),
                                   "sha256": sha256_file(path)})
        has_tech = "techfirms" in frames
        (tmp / "run.yml").write_text(run_file(run_params(recipe, clusters, has_tech), has_tech),
                                     encoding="utf-8")
        (tmp / f"{REPORT_NAME}.json").write_text(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / f"{REPORT_NAME}.md").write_text(report.markdown(), encoding="utf-8")
        # Swap in one rename: an earlier output is moved aside first, removed after.
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            old.rmdir()
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def find_report(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The preparation report that travels with a prepared input, for the Data chapter.

    The report is recorded as an input of the running chapter whether or not it exists
    (:func:`clusterpolicy.core.provenance.track_optional`), so that a cached page is executed
    again when a report appears, changes or disappears.

    Parameters
    ----------
    path
        A prepared input (``panel_path``, ...); its report is ``prepare_report.json`` beside it.

    Returns
    -------
    dict or None
        The report, with ``"current"`` telling whether the file is still the one ``prepare``
        wrote (its checksum is in the report: an edit after ``prepare`` is not described by
        it) and ``"changed"`` naming every prepared file of the folder that is no longer the
        one ``prepare`` wrote (changed or gone); ``None`` when the file did not come through
        ``prepare``.
    """
    file = Path(path)
    where = track_optional(file.parent / f"{REPORT_NAME}.json")
    if where is None:
        return None
    report = json.loads(where.read_text(encoding="utf-8"))
    changed = [o["file"] for o in report.get("outputs", [])
               if not (file.parent / o["file"]).is_file()
               or sha256_file(file.parent / o["file"]) != o["sha256"]]
    listed = {o.get("file") for o in report.get("outputs", [])}
    report["changed"] = changed
    report["current"] = file.name in listed and file.name not in changed
    return report


def steps_table(report: dict[str, Any]) -> pd.DataFrame:
    """The report's transformations and drops as a table (input, step, what, rows)."""
    return pd.DataFrame(report["steps"], columns=["file", "step", "detail", "rows"]).rename(
        columns={"file": "input", "detail": "what"})


def cli_prepare(recipe: str, out: str) -> int:
    """``python -m clusterpolicy prepare``: 0 on success, 2 on a problem the user can fix."""
    try:
        report = prepare(recipe, out)
    except PrepareError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    rows = ", ".join(f"{o['input']} {o['rows']:,} rows" for o in report.outputs)
    print(f"ok: prepared {rows} in {out}; build with: python -m clusterpolicy build "
          f"--params {Path(out) / 'run.yml'}")
    if not any(o["input"] == "techfirms" for o in report.outputs):
        print(f"note: {NO_TECHFIRMS}")
    return 0
