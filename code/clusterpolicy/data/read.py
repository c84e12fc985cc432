"""Reading the book's inputs against their rules, and the one error report.

Reading a file goes through three layers, and every problem found in any layer becomes a
:class:`Failure` (file, column, rule, count, the first offending rows with their line numbers)
in one :class:`ValidationReport`:

1. file-level checks: existence, empty file, spreadsheet or other binary renamed ``.csv``,
   non-UTF-8 bytes, header only, missing columns (with a hint when the delimiter looks wrong);
2. parsing of each column to its type (``year must be an integer``, ...);
3. the pandera schema of the input (:mod:`clusterpolicy.data.schemas`) and, for the
   membership file, the cross-file checks against the panel.

``python -m clusterpolicy validate`` prints the report (exit status 2) or a one-line summary
(exit status 0); the loaders raise :class:`DataValidationError` carrying the same report.
Nothing is ever written by validation. Rows that cannot enter an estimation are removed only by
:func:`clusterpolicy.data.samples.sample_construction`, which counts every drop by reason.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from clusterpolicy.core.provenance import track_input
from clusterpolicy.data.schemas import DEFAULT_CLUSTERS, ROW_RULES, SCHEMAS, SPECS, ColumnSpec, make_schema

#: Chapter parameters that name an input file, and the schema the file must satisfy (the build
#: checks them all before any chapter runs).
PARAMETER_SCHEMAS = {"panel_path": "panel", "membership_path": "membership",
                     "techfirms_path": "techfirms"}


#: The number of offending rows a failure shows.
MAX_EXAMPLES = 5


#: The strings read as missing values.
NA_STRINGS = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "."]


_TRUE = {"true", "t", "1", "yes", "y"}


_FALSE = {"false", "f", "0", "no", "n"}


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
        if self.path.is_dir():
            none.failures.append(self.fail("(file)", "the path must be a file, not a folder"))
            return none
        if not self.path.is_file():
            none.failures.append(self.fail(
                "(file)", "the path must be a regular file, not a named pipe, socket or device",
                hint="write the data to a file first (for example: zcat panel.csv.gz > panel.csv)"))
            return none
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(8)
        except OSError as exc:
            none.failures.append(self.fail("(file)", f"the file must be readable ({_os_reason(exc)})",
                                           hint="check the file's permissions"))
            return none
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
        failures = self._header_failures(names, delimiter_hint=False)
        if any(f.column == "(header)" for f in failures):
            return _Read(None, names, lambda pos: [], failures, "parquet")
        try:
            frame = pfile.read(columns=self._selected(names)).to_pandas()
        except Exception as exc:  # a damaged column chunk is found only when it is read
            failures.append(self.fail("(file)", f"the Parquet file must be readable ({exc})",
                                      hint="export the data again"))
            return _Read(None, names, lambda pos: [], failures, "parquet")
        if len(frame) == 0:
            failures.append(self.fail("(file)", "the file must hold at least one data row"))
        frame.index = pd.RangeIndex(len(frame))
        return _Read(frame, names, lambda pos: [f"row {int(p) + 1}" for p in pos], failures,
                     "parquet")

    # -- CSV ------------------------------------------------------------------------------------
    def _read_csv(self, none: _Read) -> _Read:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            none.failures.append(self.fail("(file)", f"the file must be readable ({_os_reason(exc)})",
                                           hint="check the file's permissions"))
            return none
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            none.failures.append(self._encoding_failure(data))
            return none
        try:
            starts, widths, header = _scan_records(text)
        except _RecordError as exc:
            none.failures.append(self.fail(
                "(file)", f"every field must be shorter than {csv.field_size_limit():,} characters",
                [f"the field that starts on line {exc.line}"],
                hint="an unclosed quotation mark makes the rest of the file one field: check the "
                     "quoting on that line"))
            return none
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


class _RecordError(Exception):
    """The csv module cannot split a record (a field over its size limit)."""

    def __init__(self, line: int):
        super().__init__(f"line {line}")
        self.line = line


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _scan_records(text: str) -> tuple[list[int], list[int], list[str] | None]:
    """For each non-blank CSV record: the line where it starts (1-based) and its number of
    fields; and the header (the first record).

    Raises
    ------
    _RecordError
        With the line where the record that cannot be split starts.
    """
    reader = csv.reader(io.StringIO(text))
    starts: list[int] = []
    widths: list[int] = []
    header: list[str] | None = None
    prev_end = 0
    records = iter(reader)
    while True:
        start = prev_end + 1
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _RecordError(start) from exc
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
