"""Schemas of the book's three inputs, their loaders and the one error report.

The three canonical inputs (names fixed; extra columns are allowed and kept):

* the **firm panel** (one row per firm and year),
* the **cluster membership** file (one row per firm and cluster),
* the **tech-firm** cross-section (study 2).

Reading a file goes through three layers, and every problem found in any layer becomes a
:class:`Failure` (file, column, rule, count, the first offending rows with their line numbers)
in one :class:`ValidationReport`:

1. file-level checks: existence, empty file, spreadsheet or other binary renamed ``.csv``,
   non-UTF-8 bytes, header only, missing columns (with a hint when the delimiter looks wrong);
2. parsing of each column to its type (``year must be an integer``, ...);
3. the pandera schema of the input (ranges, codes, keys, rules across columns) and, for the
   membership file, the cross-file checks against the panel.

``python -m clusterpolicy validate`` prints the report (exit status 2) or a one-line summary
(exit status 0); the loaders raise :class:`DataValidationError` carrying the same report.
Nothing is ever written by validation. Rows that cannot enter an estimation are removed only by
:func:`sample_construction`, which counts every drop by reason.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

DEFAULT_CLUSTERS: tuple[str, ...] = ("Catalisti", "SIM", "VIL", "Flux50", "Flanders' FOOD",
                                     "De Blauwe Cluster", "MEDVIA")
SCHEMAS = ("panel", "membership", "techfirms")
# Chapter parameters that name an input file, and the schema the file must satisfy: the build
# checks them all before any chapter runs.
PARAMETER_SCHEMAS = {"panel_path": "panel", "membership_path": "membership",
                     "techfirms_path": "techfirms"}
MAX_EXAMPLES = 5
NA_STRINGS = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "."]
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}

# NACE Rev. 2 divisions (2-digit codes).
NACE2_DIVISIONS: frozenset[str] = frozenset(
    f"{d:02d}" for d in [*range(1, 4), *range(5, 10), *range(10, 34), 35, *range(36, 40),
                         *range(41, 44), *range(45, 48), *range(49, 54), 55, 56,
                         *range(58, 64), *range(64, 67), 68, *range(69, 76), *range(77, 83),
                         84, 85, *range(86, 89), *range(90, 94), *range(94, 97), 97, 98, 99])


# ----------------------------------------------------------------------------------------------
# Column specifications: the one source of the schemas, the parsers and the chapter's tables
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column: its type, unit, meaning and value rules."""

    name: str
    kind: str  # "string", "code", "int", "float", "count", "bool"
    unit: str
    description: str
    nullable: bool = False
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    isin: tuple[Any, ...] | None = None
    isin_rule: str | None = None

    @property
    def type_name(self) -> str:
        return {"string": "string", "code": "string (code)", "int": "integer",
                "float": "float", "count": "integer (count)", "bool": "boolean"}[self.kind]

    def rules(self) -> list[str]:
        out = []
        if not self.nullable:
            out.append(f"{self.name} must not be missing")
        if self.gt is not None:
            out.append(f"{self.name} must be > {_fmt(self.gt)}")
        if self.ge is not None:
            out.append(f"{self.name} must be >= {_fmt(self.ge)}")
        if self.le is not None:
            out.append(f"{self.name} must be <= {_fmt(self.le)}")
        if self.isin is not None:
            out.append(self.isin_rule or f"{self.name} must be one of {self.isin}")
        return out


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


YEAR_RANGE = (1800, 2100)

PANEL_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("firm_id", "string", "—", "firm identifier"),
    ColumnSpec("year", "int", "calendar year", "year of the annual accounts",
               ge=YEAR_RANGE[0], le=YEAR_RANGE[1]),
    ColumnSpec("nace2", "code", "—", "industry: 2-digit NACE Rev. 2 division, e.g. '10'",
               isin=tuple(sorted(NACE2_DIVISIONS)),
               isin_rule="nace2 must be a 2-digit NACE Rev. 2 division such as '01' or '25'"),
    ColumnSpec("value_added", "float", "thousand euro, deflated", "value added", gt=0),
    ColumnSpec("employment", "float", "FTE", "employment in full-time equivalents", ge=0),
    ColumnSpec("capital", "float", "thousand euro, deflated", "tangible fixed assets", ge=0),
    ColumnSpec("materials", "float", "thousand euro, deflated",
               "materials and services used", ge=0),
    ColumnSpec("wage_bill", "float", "thousand euro, deflated", "staff costs", ge=0),
    ColumnSpec("investment", "float", "thousand euro, deflated",
               "gross investment in tangible fixed assets during the year", nullable=True),
    ColumnSpec("founding_year", "int", "calendar year", "year the firm was founded",
               ge=YEAR_RANGE[0], le=YEAR_RANGE[1]),
    ColumnSpec("exports", "float", "thousand euro, deflated", "exports", nullable=True, ge=0),
    ColumnSpec("patents", "count", "count", "patent applications in the year", nullable=True,
               ge=0),
)

MEMBERSHIP_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("firm_id", "string", "—", "firm identifier (as in the panel)"),
    ColumnSpec("cluster", "string", "—", "programme cluster (one of the run's `clusters`)"),
    ColumnSpec("join_year", "int", "calendar year", "first year of membership",
               ge=YEAR_RANGE[0], le=YEAR_RANGE[1]),
    ColumnSpec("exit_year", "int", "calendar year",
               "first year in which the firm is no longer a member (empty: still a member)",
               nullable=True, ge=YEAR_RANGE[0], le=YEAR_RANGE[1]),
)

TECHFIRMS_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("firm_id", "string", "—", "firm identifier"),
    ColumnSpec("serial", "bool", "true/false", "serial innovator"),
    ColumnSpec("match_id", "string", "—", "matched set: a serial innovator and its matches"),
    ColumnSpec("industry", "string", "—", "industry"),
    ColumnSpec("region", "string", "—", "region"),
    ColumnSpec("clustering", "float", "location quotient",
               "same-industry firms in the region relative to the country", gt=0),
    ColumnSpec("international", "int", "0/1", "sells abroad", isin=(0, 1),
               isin_rule="international must be 0 or 1"),
    ColumnSpec("foreign_share", "float", "share", "foreign sales / sales", ge=0, le=1),
    ColumnSpec("employees", "float", "persons", "employees", gt=0),
    ColumnSpec("age", "int", "years", "firm age", gt=0),
    ColumnSpec("patents", "count", "count", "patents granted in the last five years", ge=0),
)

SPECS: dict[str, tuple[ColumnSpec, ...]] = {
    "panel": PANEL_COLUMNS, "membership": MEMBERSHIP_COLUMNS, "techfirms": TECHFIRMS_COLUMNS}


@dataclass(frozen=True)
class RowRule:
    """A rule across columns or rows: a human message, the columns it concerns and a test."""

    rule: str
    column: str  # the column the report names
    shown: tuple[str, ...]  # columns whose values are shown for offending rows
    test: Callable[[pd.DataFrame], pd.Series]  # True where the row passes


def _unique(cols: list[str]) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: ~df.duplicated(cols, keep=False)


def _founding_ok(df: pd.DataFrame) -> pd.Series:
    return ~(df["founding_year"] > df["year"]).fillna(False).astype(bool)


def _exit_ok(df: pd.DataFrame) -> pd.Series:
    return ~(df["exit_year"] <= df["join_year"]).fillna(False).astype(bool)


def _share_ok(df: pd.DataFrame) -> pd.Series:
    return ~((df["international"] == 0) & (df["foreign_share"] != 0)).fillna(False).astype(bool)


def _matched_ok(df: pd.DataFrame) -> pd.Series:
    g = df.groupby("match_id", dropna=True)["serial"]
    n_serial = g.transform(lambda s: s.astype("boolean").fillna(False).sum())
    n_all = g.transform("size")
    ok = (n_serial >= 1) & (n_all - n_serial >= 1)
    return ok.reindex(df.index).fillna(True).astype(bool)


ROW_RULES: dict[str, tuple[RowRule, ...]] = {
    "panel": (
        RowRule("(firm_id, year) must be unique", "firm_id, year", ("firm_id", "year"),
                _unique(["firm_id", "year"])),
        RowRule("founding_year must not be after year", "founding_year",
                ("founding_year", "year"), _founding_ok),
    ),
    "membership": (
        RowRule("(firm_id, cluster) must be unique", "firm_id, cluster", ("firm_id", "cluster"),
                _unique(["firm_id", "cluster"])),
        RowRule("exit_year must be after join_year (exit_year is the first year the firm is no "
                "longer a member)", "exit_year", ("join_year", "exit_year"), _exit_ok),
    ),
    "techfirms": (
        RowRule("firm_id must be unique", "firm_id", ("firm_id",), _unique(["firm_id"])),
        RowRule("foreign_share must be 0 when international is 0", "foreign_share",
                ("international", "foreign_share"), _share_ok),
        RowRule("each match_id must hold at least one serial and one non-serial firm",
                "match_id", ("match_id", "serial"), _matched_ok),
    ),
}


def _column_checks(spec: ColumnSpec) -> list[pa.Check]:
    checks = []
    if spec.gt is not None:
        checks.append(pa.Check.gt(spec.gt, error=f"{spec.name} must be > {_fmt(spec.gt)}"))
    if spec.ge is not None:
        checks.append(pa.Check.ge(spec.ge, error=f"{spec.name} must be >= {_fmt(spec.ge)}"))
    if spec.le is not None:
        checks.append(pa.Check.le(spec.le, error=f"{spec.name} must be <= {_fmt(spec.le)}"))
    if spec.isin is not None:
        checks.append(pa.Check.isin(list(spec.isin), error=spec.isin_rule))
    if spec.kind == "float":
        checks.append(pa.Check(lambda s: np.isfinite(s.astype("float64")),
                               error=f"{spec.name} must be a finite number"))
    return checks


def make_schema(kind: str, *, clusters: Sequence[str] | None = None,
                panel_ids: Iterable[str] | None = None,
                panel_years: tuple[int, int] | None = None,
                present: Iterable[str] | None = None) -> pa.DataFrameSchema:
    """The pandera schema of input ``kind`` (``panel``, ``membership`` or ``techfirms``).

    For the membership file, ``clusters`` are the allowed cluster names (default: the seven
    programme clusters); ``panel_ids`` and ``panel_years`` add the cross-file checks. Columns
    not in ``present`` (when given) are left out, so a file with missing columns still gets
    every other check.
    """
    if kind not in SPECS:
        raise ValueError(f"unknown schema {kind!r}; expected one of {', '.join(SCHEMAS)}")
    present_set = None if present is None else set(present)
    columns: dict[str, pa.Column] = {}
    for spec in SPECS[kind]:
        if present_set is not None and spec.name not in present_set:
            continue
        checks = _column_checks(spec)
        if kind == "membership" and spec.name == "cluster":
            names = list(clusters or DEFAULT_CLUSTERS)
            checks.append(pa.Check.isin(
                names, error="cluster must be one of the run's clusters: " + ", ".join(names)))
        if kind == "membership" and spec.name == "firm_id" and panel_ids is not None:
            ids = pd.Index(pd.unique(pd.Series(list(panel_ids), dtype="object")))
            checks.append(pa.Check(lambda s, ids=ids: s.isin(ids),
                                   error="firm_id must appear in the panel"))
        if kind == "membership" and spec.name == "join_year" and panel_years is not None:
            lo, hi = panel_years
            checks.append(pa.Check.in_range(
                lo, hi, error=f"join_year must lie within the panel's years {lo}-{hi}"))
        columns[spec.name] = pa.Column(None, checks=checks, nullable=spec.nullable,
                                       required=True)
    wide = []
    for rr in ROW_RULES[kind]:
        if present_set is None or set(rr.shown) <= present_set:
            wide.append(pa.Check(rr.test, error=rr.rule))
    return pa.DataFrameSchema(columns, checks=wide, strict=False, name=kind)


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------
@dataclass
class Failure:
    """One broken rule in one file."""

    file: str
    column: str
    rule: str
    count: int
    examples: list[str] = field(default_factory=list)  # "line 5: capital=-12"
    hint: str = ""
    unit: str = "row"  # what ``count`` counts: "row", "byte"; "" for file-level problems

    def text(self, number: int) -> str:
        count = (f" | {self.count} {self.unit}{'' if self.count == 1 else 's'}"
                 if self.unit else "")
        head = f"  [{number}] file: {self.file} | column: {self.column} | rule: {self.rule}{count}"
        lines = [head] + [f"        {e}" for e in self.examples]
        if self.count > len(self.examples) and self.examples:
            lines.append(f"        ... and {self.count - len(self.examples)} more")
        if self.hint:
            lines.append(f"        hint: {self.hint}")
        return "\n".join(lines)


@dataclass
class ValidationReport:
    """Every failure found in a file (and, for membership, in the panel it is checked against)."""

    path: str
    schema: str
    failures: list[Failure] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    def text(self) -> str:
        if self.ok:
            return self.summary
        n = len(self.failures)
        head = (f"error: {self.path} does not satisfy the {self.schema} schema: "
                f"{n} problem{'s' if n > 1 else ''}")
        return "\n".join([head] + [f.text(i + 1) for i, f in enumerate(self.failures)])


class DataValidationError(ValueError):
    """An input file breaks its schema; ``str(exc)`` is the report the CLI prints."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.text())

    @property
    def failures(self) -> list[Failure]:
        return self.report.failures


# ----------------------------------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------------------------------
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP container such as an Excel workbook (.xlsx) or OpenDocument "
                    "spreadsheet (.ods), not a CSV file",
     "open it in the spreadsheet program and save the sheet as 'CSV UTF-8', or as Parquet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Excel workbook (.xls, OLE2 format), not a "
                                          "CSV file",
     "open it in the spreadsheet program and save the sheet as 'CSV UTF-8', or as Parquet"),
    (b"\x1f\x8b", "a gzip-compressed file", "decompress it first"),
    (b"%PDF", "a PDF document", "export the data as CSV or Parquet"),
)


@dataclass
class _Read:
    """A file read as text columns (CSV) or typed columns (Parquet)."""

    frame: pd.DataFrame | None
    columns: list[str]
    locator: Callable[[np.ndarray], list[str]]  # row positions -> "line 5" / "row 5"
    failures: list[Failure]
    fmt: str = "csv"


class _Reader:
    """Reads one file for one schema, collecting file-level failures instead of raising."""

    def __init__(self, path: str | os.PathLike[str], kind: str,
                 keep: Sequence[str] | bool = True):
        self.path = Path(path)
        self.name = str(path)
        self.kind = kind
        self.required = [s.name for s in SPECS[kind]]
        self.keep = keep

    def fail(self, column: str, rule: str, examples: Sequence[str] = (), count: int = 1,
             hint: str = "", unit: str = "") -> Failure:
        return Failure(self.name, column, rule, count, list(examples), hint, unit)

    def read(self) -> _Read:
        none = _Read(None, [], lambda pos: [], [])
        if not self.path.exists():
            none.failures.append(self.fail("(file)", "the file must exist"))
            return none
        if not self.path.is_file():
            none.failures.append(self.fail("(file)", "the path must be a file, not a folder"))
            return none
        with open(self.path, "rb") as handle:
            head = handle.read(8)
        if not head:
            none.failures.append(self.fail("(file)", "the file must not be empty (0 bytes)",
                                           hint="export the data again"))
            return none
        if head.startswith(b"PAR1"):
            return self._read_parquet(none)
        if self.path.suffix.lower() in {".parquet", ".pq"}:
            none.failures.append(self.fail("(file)", "a .parquet file must be in Parquet format "
                                                     "(it does not start with 'PAR1')"))
            return none
        for magic, what, hint in _SIGNATURES:
            if head.startswith(magic):
                none.failures.append(self.fail(
                    "(file)", f"the file must be CSV text; this is {what}", hint=hint))
                return none
        return self._read_csv(none)

    # -- Parquet --------------------------------------------------------------------------------
    def _read_parquet(self, none: _Read) -> _Read:
        import pyarrow.parquet as pq

        try:
            pfile = pq.ParquetFile(self.path)
            names = list(pfile.schema_arrow.names)
        except Exception as exc:  # any reader error is a file-level failure
            none.failures.append(self.fail("(file)", f"the Parquet file must be readable ({exc})"))
            return none
        read_cols = self._selected(names)
        failures = self._header_failures(names, delimiter_hint=False)
        table = pfile.read(columns=read_cols)
        frame = table.to_pandas()
        if len(frame) == 0:
            failures.append(self.fail("(file)", "the file must hold at least one data row"))
        frame.index = pd.RangeIndex(len(frame))
        return _Read(frame, names, lambda pos: [f"row {int(p) + 1}" for p in pos], failures,
                     "parquet")

    # -- CSV ------------------------------------------------------------------------------------
    def _read_csv(self, none: _Read) -> _Read:
        data = self.path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            none.failures.append(self._encoding_failure(data))
            return none
        starts, widths, header = _scan_records(text)
        if header is None:
            none.failures.append(self.fail("(file)", "the file must not be empty (only blank "
                                                     "lines)"))
            return none
        header_line = text.splitlines()[starts[0] - 1] if starts else ""
        names = [n.strip() for n in header]
        failures = self._header_failures(names, header_line=header_line)
        if any(f.column == "(header)" for f in failures):
            return _Read(None, names, lambda pos: [], failures)
        if len(starts) == 1:
            failures.append(self.fail("(file)", "the file must hold at least one data row "
                                                "(it has a header only)"))
            return _Read(None, names, lambda pos: [], failures)
        ragged = np.flatnonzero(np.asarray(widths[1:]) != len(names))
        if ragged.size:
            failures.append(self.fail(
                "(row)", f"every row must have as many fields as the header ({len(names)})",
                [f"line {starts[p + 1]}: {widths[p + 1]} fields" for p in ragged[:MAX_EXAMPLES]],
                count=int(ragged.size), unit="row",
                hint="check the delimiter, quoting and trailing commas on these lines"))
            return _Read(None, names, lambda pos: [], failures)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                na_values=NA_STRINGS, usecols=self._selected(names),
                                skipinitialspace=True)
        except (pd.errors.ParserError, ValueError) as exc:
            failures.append(self._parser_failure(str(exc), len(names)))
            return _Read(None, names, lambda pos: [], failures)
        frame.columns = [c.strip() for c in frame.columns]
        frame.index = pd.RangeIndex(len(frame))

        def locate(pos: np.ndarray) -> list[str]:
            return [f"line {starts[int(p) + 1]}" if int(p) + 1 < len(starts) else f"row {p + 1}"
                    for p in pos]

        return _Read(frame, names, locate, failures, "csv")

    def _selected(self, names: list[str]) -> list[str]:
        present = [n for n in names if n.strip() in self.required]
        if self.keep is True:
            return list(names)
        extras = [] if self.keep is False else [n for n in names if n in set(self.keep)]
        return present + [n for n in extras if n not in present]

    def _header_failures(self, names: list[str], header_line: str = "",
                         delimiter_hint: bool = True) -> list[Failure]:
        out = []
        counts = pd.Series(names, dtype="object").value_counts()
        for d in sorted(counts[counts > 1].index):
            out.append(self.fail("(header)", f"column names must be unique: {d!r} appears "
                                             "more than once"))
        missing = [c for c in self.required if c not in names]
        hint = ""
        if missing and delimiter_hint:
            for delim, label in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
                if header_line.count(delim) >= 2 and len(names) <= 2:
                    hint = (f"the header looks delimited by {label}: the book reads "
                            "comma-separated files (save as CSV with ',' as delimiter and '.' "
                            "as decimal mark)")
                    break
        if missing:
            rule = ("required column is missing" if len(missing) == 1
                    else f"required columns are missing ({len(missing)})")
            shown = ", ".join(names) if len(names) > 1 else header_line or ", ".join(names)
            out.append(self.fail(", ".join(missing), rule, [f"header has: {shown[:300]}"],
                                 hint=hint))
        return out

    def _parser_failure(self, message: str, n_fields: int) -> Failure:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
        if m:
            return self.fail("(row)", f"every row must have as many fields as the header "
                                      f"({n_fields})",
                             [f"line {m.group(2)}: {m.group(3)} fields"],
                             hint="check the delimiter and quoting on that line", unit="row")
        return self.fail("(file)", f"the file must be readable as CSV ({message.strip()})")

    def _encoding_failure(self, data: bytes) -> Failure:
        bad: list[int] = []
        pos = 0
        while len(bad) < MAX_EXAMPLES:
            try:
                data[pos:].decode("utf-8")
                break
            except UnicodeDecodeError as exc:
                bad.append(pos + exc.start)
                pos = pos + exc.end
        total = data.decode("utf-8", errors="surrogateescape")
        count = sum(1 for ch in total if "\udc80" <= ch <= "\udcff")
        header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
        names = next(csv.reader([header])) if header else []
        examples = []
        columns = []
        for off in bad:
            line_no = data.count(b"\n", 0, off) + 1
            line_start = data.rfind(b"\n", 0, off) + 1
            field_no = data.count(b",", line_start, off)
            col = names[field_no].strip() if line_no > 1 and field_no < len(names) else "(header)"
            columns.append(col)
            line_end = data.find(b"\n", off)
            snippet = data[line_start:line_end if line_end >= 0 else len(data)][:80]
            examples.append(f"line {line_no}, byte offset {off} (column {col}): byte "
                            f"0x{data[off]:02x} in {snippet!r}")
        column = ", ".join(dict.fromkeys(columns)) or "(file)"
        latin = all(0xA0 <= data[o] <= 0xFF for o in bad)
        hint = ("re-save the file as UTF-8 (in Excel: 'CSV UTF-8'); the bytes look like "
                "Latin-1 / Windows-1252" if latin else "re-save the file as UTF-8")
        return Failure(self.name, column, "the file must be UTF-8 encoded", count, examples, hint,
                       "byte")


def _scan_records(text: str) -> tuple[list[int], list[int], list[str] | None]:
    """For each non-blank CSV record: the line where it starts (1-based) and its number of
    fields; and the header (the first record)."""
    reader = csv.reader(io.StringIO(text))
    starts: list[int] = []
    widths: list[int] = []
    header: list[str] | None = None
    prev_end = 0
    for record in reader:
        start = prev_end + 1
        prev_end = reader.line_num
        if record and any(f.strip() for f in record):
            if header is None:
                header = record
            starts.append(start)
            widths.append(len(record))
    return starts, widths, header


# ----------------------------------------------------------------------------------------------
# Parsing columns to their types
# ----------------------------------------------------------------------------------------------
def _parse_column(spec: ColumnSpec, raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Typed column and the positions of values that cannot be parsed."""
    isnull = raw.isna().to_numpy()
    if spec.kind in {"string", "code"}:
        if pd.api.types.is_float_dtype(raw) and spec.kind == "code":
            vals = raw.map(lambda v: str(int(v)) if pd.notna(v) and float(v).is_integer()
                           else (None if pd.isna(v) else str(v)))
        else:
            vals = raw.map(lambda v: None if pd.isna(v) else str(v).strip())
        out = pd.Series(vals, index=raw.index, dtype="object")
        return out, np.zeros(len(raw), dtype=bool)
    if spec.kind == "bool":
        if pd.api.types.is_bool_dtype(raw):
            return raw.astype("boolean"), np.zeros(len(raw), dtype=bool)
        text = raw.map(lambda v: None if pd.isna(v) else str(v).strip().lower())
        val = text.map(lambda v: True if v in _TRUE else (False if v in _FALSE else None))
        bad = (~isnull) & val.isna().to_numpy()
        return val.astype("boolean"), bad
    if pd.api.types.is_bool_dtype(raw):
        num = raw.astype("float64")
    else:
        num = pd.to_numeric(raw, errors="coerce")
        if not pd.api.types.is_numeric_dtype(num):
            num = pd.to_numeric(num.astype("object"), errors="coerce")
        num = num.astype("float64")
    bad = (~isnull) & num.isna().to_numpy()
    if pd.api.types.is_string_dtype(raw) or raw.dtype == object:
        # "inf" parses as a number: let the finiteness check name it
        pass
    if spec.kind in {"int", "count"}:
        finite = np.isfinite(num.to_numpy())
        nonint = (~num.isna().to_numpy()) & (~finite | (num.to_numpy() != np.round(num.to_numpy())))
        bad = bad | nonint
        num = num.where(~nonint)
        out = num.astype("Int64") if spec.kind == "int" else num
        return out, bad
    return num, bad


_KIND_RULE = {"int": "must be an integer", "count": "must be a whole number (count)",
              "float": "must be a number", "bool": "must be true or false (or 1/0)"}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "(missing)"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _examples(read: _Read, positions: np.ndarray, columns: Sequence[str],
              raw: pd.DataFrame) -> list[str]:
    positions = np.sort(np.asarray(positions))[:MAX_EXAMPLES]
    where = read.locator(positions)
    out = []
    for loc, p in zip(where, positions, strict=True):
        vals = ", ".join(f"{c}={_show(raw[c].iloc[int(p)])}" for c in columns if c in raw)
        out.append(f"{loc}: {vals}")
    return out


def _pandera_failures(schema: pa.DataFrameSchema, typed: pd.DataFrame, read: _Read,
                      raw: pd.DataFrame, kind: str, skip: dict[str, np.ndarray],
                      name: str) -> list[Failure]:
    try:
        schema.validate(typed, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    failures: list[Failure] = []
    wide = {rr.rule: rr for rr in ROW_RULES[kind]}
    cases = cases[cases["index"].notna()].copy()
    cases["index"] = cases["index"].astype("int64")
    for check, group in cases.groupby("check", sort=False):
        check = str(check)
        if check in wide:
            rr = wide[check]
            if any(c in skip for c in rr.shown):
                continue  # the type failure is reported; this rule is checked once it is fixed
            pos = np.unique(group["index"].to_numpy())
            failures.append(Failure(name, rr.column, rr.rule, int(pos.size),
                                    _examples(read, pos, rr.shown, raw)))
            continue
        for column, sub in group.groupby("column", sort=False):
            column = str(column)
            pos = np.unique(sub["index"].to_numpy())
            if column in skip:  # unparseable values are already reported as type failures
                pos = pos[~skip[column][pos]]
            if pos.size == 0:
                continue
            rule = f"{column} must not be missing" if check == "not_nullable" else check
            failures.append(Failure(name, column, rule, int(pos.size),
                                    _examples(read, pos, [column], raw)))
    return failures


# ----------------------------------------------------------------------------------------------
# Checking a file
# ----------------------------------------------------------------------------------------------
def check_file(path: str | os.PathLike[str], kind: str, *,
               clusters: Sequence[str] | None = None,
               panel: pd.DataFrame | str | os.PathLike[str] | None = None,
               keep: Sequence[str] | bool = True
               ) -> tuple[ValidationReport, pd.DataFrame | None]:
    """Check one input file; returns the report and, when it is valid, the typed frame.

    Never writes anything. ``panel`` (membership only) is a loaded panel or a path to one; it
    adds the cross-file checks.
    """
    if kind not in SPECS:
        raise ValueError(f"unknown schema {kind!r}; expected one of {', '.join(SCHEMAS)}")
    report = ValidationReport(str(path), kind)
    panel_ids = panel_years = None
    if kind == "membership" and panel is not None:
        if not isinstance(panel, pd.DataFrame):
            preport, pframe = check_file(panel, "panel", keep=["firm_id", "year"])
            report.failures.extend(preport.failures)
            panel = pframe
        if panel is not None:
            panel_ids = panel["firm_id"].astype("object").to_numpy()
            panel_years = (int(panel["year"].min()), int(panel["year"].max()))
    read = _Reader(path, kind, keep=keep).read()
    report.failures.extend(read.failures)
    if read.frame is None:
        return report, None
    raw = read.frame
    typed = raw.copy()
    skip: dict[str, np.ndarray] = {}
    for spec in SPECS[kind]:
        if spec.name not in raw:
            continue
        values, bad = _parse_column(spec, raw[spec.name])
        typed[spec.name] = values
        if bad.any():
            pos = np.flatnonzero(bad)
            hint = ""
            sample = raw[spec.name].iloc[pos[:MAX_EXAMPLES]].astype(str)
            if spec.kind in {"float", "int", "count"} and sample.str.contains(r"\d,\d").any():
                hint = "use '.' as the decimal mark and no thousands separators"
            report.failures.append(Failure(report.path, spec.name,
                                           f"{spec.name} {_KIND_RULE[spec.kind]}",
                                           int(pos.size), _examples(read, pos, [spec.name], raw),
                                           hint))
            skip[spec.name] = bad
    schema = make_schema(kind, clusters=clusters, panel_ids=panel_ids, panel_years=panel_years,
                         present=[c for c in typed.columns])
    report.failures.extend(_pandera_failures(schema, typed, read, raw, kind, skip, report.path))
    if report.failures:
        return report, None
    frame = _finalise(typed, kind, clusters)
    report.summary = _summary(frame, kind, report.path, read.fmt)
    return report, frame


def _finalise(df: pd.DataFrame, kind: str, clusters: Sequence[str] | None) -> pd.DataFrame:
    """Compact, analysis-ready dtypes (float64 for amounts, int64 for years, categories)."""
    out = df.copy()
    for spec in SPECS[kind]:
        if spec.name not in out:
            continue
        col = out[spec.name]
        if spec.kind == "string":
            out[spec.name] = col.astype("str")
        elif spec.kind == "code":
            out[spec.name] = col.astype("category")
        elif spec.kind == "int":
            out[spec.name] = col.astype("Int64") if spec.nullable else col.astype("int64")
        elif spec.kind == "count":
            out[spec.name] = col.astype("float64") if spec.nullable else col.astype("int64")
        elif spec.kind == "bool":
            out[spec.name] = col.astype(bool)
        else:
            out[spec.name] = col.astype("float64")
    if kind == "membership":
        names = list(clusters or DEFAULT_CLUSTERS)
        out["cluster"] = pd.Categorical(out["cluster"], categories=names)
    if kind == "techfirms":
        for c in ("industry", "region"):
            out[c] = out[c].astype("category")
    return out


def _summary(df: pd.DataFrame, kind: str, path: str, fmt: str) -> str:
    extra = [c for c in df.columns if c not in {s.name for s in SPECS[kind]}]
    extra_txt = f", {len(extra)} extra column{'s' if len(extra) != 1 else ''} kept" if extra else ""
    if kind == "panel":
        return (f"ok: {path} satisfies the panel schema ({fmt}): {len(df):,} rows, "
                f"{df['firm_id'].nunique():,} firms, years {df['year'].min()}-{df['year'].max()}"
                f"{extra_txt}")
    if kind == "membership":
        return (f"ok: {path} satisfies the membership schema ({fmt}): {len(df):,} rows, "
                f"{df['firm_id'].nunique():,} firms, {df['cluster'].nunique()} clusters, join "
                f"years {df['join_year'].min()}-{df['join_year'].max()}{extra_txt}")
    return (f"ok: {path} satisfies the techfirms schema ({fmt}): {len(df):,} firms "
            f"({int(df['serial'].sum()):,} serial), {df['match_id'].nunique():,} matched sets"
            f"{extra_txt}")


# ----------------------------------------------------------------------------------------------
# Loaders used by the chapters
# ----------------------------------------------------------------------------------------------
def _load(path: str | os.PathLike[str], kind: str, **kw: Any) -> pd.DataFrame:
    from .provenance import track_input

    if Path(path).is_file():
        track_input(path)
    report, frame = check_file(path, kind, **kw)
    if frame is None:
        raise DataValidationError(report)
    return frame


def load_panel(path: str | os.PathLike[str], *, columns: Sequence[str] | bool = True
               ) -> pd.DataFrame:
    """Read and validate the firm panel (CSV or Parquet).

    ``columns``: extra (non-canonical) columns to keep: ``True`` all (default), ``False``
    none, or a list of names. Raises :class:`DataValidationError` with the full report.
    """
    return _load(path, "panel", keep=columns)


def load_membership(path: str | os.PathLike[str], *, clusters: Sequence[str] | None = None,
                    panel: pd.DataFrame | str | os.PathLike[str] | None = None,
                    columns: Sequence[str] | bool = True) -> pd.DataFrame:
    """Read and validate the cluster-membership file, with the cross-file checks when
    ``panel`` (a loaded panel or its path) is given. ``cluster`` is a categorical with the
    run's ``clusters`` (default: the seven programme clusters) as categories, in order."""
    if panel is not None and not isinstance(panel, pd.DataFrame) and Path(panel).is_file():
        from .provenance import track_input

        track_input(panel)
    return _load(path, "membership", clusters=clusters, panel=panel, keep=columns)


def load_techfirms(path: str | os.PathLike[str], *, columns: Sequence[str] | bool = True
                   ) -> pd.DataFrame:
    """Read and validate the tech-firm cross-section (study 2)."""
    return _load(path, "techfirms", keep=columns)


def cli_validate(path: str, schema: str, clusters: Sequence[str] | None = None,
                 panel: str | None = None) -> int:
    """``python -m clusterpolicy validate``: print the report; 0 if valid, 2 otherwise."""
    if schema not in SPECS:
        print(f"error: unknown schema {schema!r}; expected one of {', '.join(SCHEMAS)}",
              file=sys.stderr)
        return 2
    if panel is not None and schema != "membership":
        print("error: --panel applies to --schema membership only", file=sys.stderr)
        return 2
    report, _ = check_file(path, schema, clusters=clusters, panel=panel)
    print(report.text())
    return 0 if report.ok else 2


# ----------------------------------------------------------------------------------------------
# Treatment status and the estimation sample
# ----------------------------------------------------------------------------------------------
def first_join(membership: pd.DataFrame) -> pd.DataFrame:
    """One row per member firm: first join year (the cohort), number of clusters, clusters.

    A firm in several clusters is treated from its first join.
    """
    m = membership.assign(cluster=membership["cluster"].astype(str))
    g = m.sort_values(["join_year", "cluster"]).groupby("firm_id", sort=True)
    return pd.DataFrame({
        "first_join": g["join_year"].min().astype("int64"),
        "n_clusters": g["cluster"].nunique().astype("int64"),
        "clusters": g["cluster"].agg(lambda s: "; ".join(s)),
    }).rename_axis("firm_id").reset_index()


def membership_status(panel: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame:
    """Per panel row: ``cohort`` (first join year, 0 for never-members, as in the DiD
    literature) and ``member`` (1 from the first join until the end of the last membership)."""
    cohort = first_join(membership).set_index("firm_id")["first_join"]
    out = pd.DataFrame(index=panel.index)
    out["cohort"] = panel["firm_id"].map(cohort).fillna(0).astype("int64")
    m = membership[["firm_id", "join_year", "exit_year"]].merge(
        panel[["firm_id", "year"]].reset_index(), on="firm_id")
    ex = m["exit_year"].astype("Float64").fillna(np.inf).to_numpy(dtype=float)
    active = (m["year"].to_numpy() >= m["join_year"].to_numpy()) & (m["year"].to_numpy() < ex)
    on = pd.Index(m.loc[active, "index"].unique())
    out["member"] = np.isin(out.index, on).astype("int64")
    return out


LOG_COLUMNS = {"value_added": "log_value_added", "employment": "log_employment",
               "capital": "log_capital", "materials": "log_materials"}


def sample_construction(panel: pd.DataFrame, *, require_lag: bool = False
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The estimation sample and the table that accounts for every row.

    Rows are dropped, in this order, when a variable taken in logs is not positive
    (value added, employment, capital, materials) and, with ``require_lag``, when the firm has
    no usable observation in the previous year (first year, entry or a gap). Returns the kept
    rows with log columns (``log_value_added``, ``log_employment``, ``log_capital``,
    ``log_materials``) and ``has_lag``, and a table with one line per step: rows dropped,
    rows remaining and firms remaining.
    """
    df = panel.copy()
    steps: list[tuple[str, int, int, int]] = [
        ("rows read", 0, len(df), int(df["firm_id"].nunique()))]
    for column in ("value_added", "employment", "capital", "materials"):
        bad = ~(df[column] > 0).fillna(False).to_numpy(dtype=bool)
        df = df[~bad]
        steps.append((f"dropped: {column} not positive (log undefined)", int(bad.sum()),
                      len(df), int(df["firm_id"].nunique())))
    for column, logname in LOG_COLUMNS.items():
        df[logname] = np.log(df[column].to_numpy(dtype="float64"))
    prev = pd.MultiIndex.from_arrays([df["firm_id"], df["year"] - 1])
    keys = pd.MultiIndex.from_arrays([df["firm_id"], df["year"]])
    df["has_lag"] = prev.isin(keys)
    if require_lag:
        bad = ~df["has_lag"].to_numpy()
        df = df[~bad]
        steps.append(("dropped: no usable observation in the previous year (first year, entry "
                      "or gap)", int(bad.sum()), len(df), int(df["firm_id"].nunique())))
    steps.append(("used", 0, len(df), int(df["firm_id"].nunique())))
    table = pd.DataFrame(steps, columns=["step", "rows dropped", "rows remaining",
                                         "firms remaining"]).set_index("step")
    return df.reset_index(drop=True), table


# ----------------------------------------------------------------------------------------------
# Tables of the data chapter
# ----------------------------------------------------------------------------------------------
def schema_table(kind: str) -> pd.DataFrame:
    """The schema of input ``kind`` as a table: column, type, unit, missing allowed, rules."""
    rows = []
    for spec in SPECS[kind]:
        rules = [r for r in spec.rules() if not r.endswith("must not be missing")]
        rules += [rr.rule for rr in ROW_RULES[kind] if spec.name == rr.column.split(",")[0]]
        if kind == "membership" and spec.name == "cluster":
            rules.append("one of the run's clusters")
        rows.append({"column": spec.name, "type": spec.type_name, "unit": spec.unit,
                     "missing allowed": "yes" if spec.nullable else "no",
                     "meaning": spec.description, "rules": "; ".join(rules) or "—"})
    return pd.DataFrame(rows).set_index("column")


def descriptive_statistics(sample: pd.DataFrame,
                           columns: Sequence[str] = ("value_added", "employment", "capital",
                                                     "materials", "wage_bill", "investment",
                                                     "exports", "patents")) -> pd.DataFrame:
    """Count, mean, standard deviation and percentiles of the panel's variables."""
    rows = {}
    for c in columns:
        s = sample[c].astype("float64").dropna()
        rows[c] = {"observations": int(s.size), "mean": s.mean(), "sd": s.std(),
                   "p10": s.quantile(0.10), "median": s.median(), "p90": s.quantile(0.90),
                   "share zero": float((s == 0).mean())}
    s = (sample["year"] - sample["founding_year"]).astype("float64")
    rows["age"] = {"observations": int(s.size), "mean": s.mean(), "sd": s.std(),
                   "p10": s.quantile(0.10), "median": s.median(), "p90": s.quantile(0.90),
                   "share zero": float((s == 0).mean())}
    return pd.DataFrame(rows).T.rename_axis("variable")


def pre_period_comparison(sample: pd.DataFrame, membership: pd.DataFrame, *,
                          before: int) -> pd.DataFrame:
    """Members (firms that ever join) against non-members in the years before ``before``.

    Firm-level means over the pre-period of log employment (size), age and log capital per FTE
    (capital intensity), with Welch's t-test and the Mann–Whitney test of the difference.
    """
    from scipy import stats

    pre = sample[sample["year"] < before]
    members = set(membership["firm_id"].astype(str))
    firm = pre.assign(
        size=np.log(pre["employment"]), age=pre["year"] - pre["founding_year"],
        capint=np.log(pre["capital"] / pre["employment"]),
        va=np.log(pre["value_added"]),
    ).groupby("firm_id")[["size", "age", "capint", "va"]].mean()
    is_member = firm.index.astype(str).isin(members)
    labels = {"size": "size: log employment (FTE)", "age": "age (years)",
              "capint": "capital intensity: log capital per FTE",
              "va": "log value added"}
    rows = []
    for var, label in labels.items():
        a, b = firm.loc[is_member, var], firm.loc[~is_member, var]
        t = stats.ttest_ind(a, b, equal_var=False)
        u = stats.mannwhitneyu(a, b, alternative="two-sided")
        pooled = np.sqrt((a.var() + b.var()) / 2)
        rows.append({"variable": label, "members": a.mean(), "non-members": b.mean(),
                     "difference": a.mean() - b.mean(),
                     "standardised difference": (a.mean() - b.mean()) / pooled,
                     "t (Welch)": t.statistic, "p (Welch)": t.pvalue,
                     "p (Mann-Whitney)": u.pvalue, "firms (members)": int(a.size),
                     "firms (non-members)": int(b.size)})
    return pd.DataFrame(rows).set_index("variable")
