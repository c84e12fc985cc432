"""The rule set of each of the book's three inputs: columns, types, ranges, codes, keys and
rules across columns.

The three canonical inputs (names fixed; extra columns are allowed and kept):

* the **firm panel** (one row per firm and year),
* the **cluster membership** file (one row per firm and cluster),
* the **tech-firm** cross-section (study 2).

:data:`SPECS` and :data:`ROW_RULES` are the one declaration of what a valid input is;
:func:`make_schema` turns them into a pandera schema and :func:`schema_table` into the table the
data chapter shows. Reading files against these rules is :mod:`clusterpolicy.data.read`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

#: The clusters of the default programme (the Flemish Spearhead Clusters).
DEFAULT_CLUSTERS: tuple[str, ...] = ("Catalisti", "SIM", "VIL", "Flux50", "Flanders' FOOD",
                                     "De Blauwe Cluster", "MEDVIA")


#: The names of the three inputs, each with its rule set in :data:`SPECS` and :data:`ROW_RULES`.
SCHEMAS = ("panel", "membership", "techfirms")


#: NACE Rev. 2 divisions (2-digit codes).
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


#: The range of plausible calendar years (inclusive).
YEAR_RANGE = (1800, 2100)


#: The columns of the firm panel.
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


#: The columns of the cluster-membership file.
MEMBERSHIP_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("firm_id", "string", "—", "firm identifier (as in the panel)"),
    ColumnSpec("cluster", "string", "—", "programme cluster (one of the run's `clusters`)"),
    ColumnSpec("join_year", "int", "calendar year", "first year of membership",
               ge=YEAR_RANGE[0], le=YEAR_RANGE[1]),
    ColumnSpec("exit_year", "int", "calendar year",
               "first year in which the firm is no longer a member (empty: still a member)",
               nullable=True, ge=YEAR_RANGE[0], le=YEAR_RANGE[1]),
)


#: The columns of the tech-firm cross-section (study 2).
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


#: The column specifications of each input, by schema name.
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


#: The rules across columns and rows of each input (keys, orderings), by schema name.
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
