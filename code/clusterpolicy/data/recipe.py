"""The recipe of ``python -m clusterpolicy prepare``: which raw files to read and how to turn them
into the book's canonical inputs (:mod:`clusterpolicy.data.prepare` carries it out).

A recipe is a YAML file. Every key is checked: an unknown key is an error that lists the known
ones, so that a misspelt option (``money_scal``) never silently falls back to its default.
Relative paths are relative to the recipe file, not to the shell's working directory.

A recipe problem is reported in the same form as a broken input file (a
:class:`clusterpolicy.data.read.Failure`: file, key, rule), carried by :class:`PrepareError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from clusterpolicy.data.read import Failure
from clusterpolicy.data.schemas import PANEL_COLUMNS, TECHFIRMS_COLUMNS

#: What to do with a membership row that the reconciliation flags. ``stop`` with an error (the
#: default, so that a user decides) or ``drop`` the row and report it.
Policy = Literal["stop", "drop"]

#: The policies a recipe may name.
POLICIES: tuple[str, ...] = ("stop", "drop")

#: The raw-file formats, by file-name ending (longest ending first).
FORMATS: tuple[tuple[str, str], ...] = ((".csv.gz", "csv"), (".csv", "csv"),
                                         (".parquet", "parquet"), (".pq", "parquet"),
                                         (".dta", "stata"), (".xlsx", "excel"))

#: The membership keys of a recipe's ``columns`` and the canonical column of each: the recipe
#: says ``join`` / ``exit`` because the raw value may be a date, the canonical file holds years.
MEMBERSHIP_KEYS: dict[str, str] = {"firm_id": "firm_id", "cluster": "cluster",
                                   "join": "join_year", "exit": "exit_year"}


class PrepareError(ValueError):
    """A recipe or raw file that ``prepare`` cannot turn into canonical inputs (exit status 2).

    ``str(exc)`` names the file, the column or key, the rule and the first offending rows.
    """

    def __init__(self, failures: list[Failure], what: str = "prepare stopped"):
        self.failures = failures
        n = len(failures)
        head = f"error: {what}: {n} problem{'s' if n != 1 else ''}"
        super().__init__("\n".join([head] + [f.text(i + 1) for i, f in enumerate(failures)]))


# ----------------------------------------------------------------------------------------------
# The recipe's parts
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvOptions:
    """How a CSV file is written: delimiter, decimal mark and encoding."""

    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Source:
    """One raw file and the mapping of canonical column names to its columns."""

    path: Path
    columns: dict[str, str]  # canonical name -> raw column
    csv: CsvOptions = CsvOptions()
    sheet: str | None = None  # .xlsx only

    @property
    def fmt(self) -> str:
        """The file's format, from its name (``csv``, ``parquet``, ``stata`` or ``excel``;
        ``unknown`` for any other ending)."""
        name = self.path.name.lower()
        return next((f for end, f in FORMATS if name.endswith(end)), "unknown")


@dataclass(frozen=True)
class Deflators:
    """Industry price indices: the file (columns ``nace2``, ``year`` and one per index), the
    base year and the index that deflates each money column."""

    source: Source
    base_year: int
    series: dict[str, str]  # canonical money column -> price-index column


@dataclass(frozen=True)
class PanelRecipe:
    """The firm panel: its raw file, the unit conversion and the optional deflation."""

    source: Source
    money_scale: float = 1.0
    deflators: Deflators | None = None


@dataclass(frozen=True)
class MembershipRecipe:
    """The membership list and what to do with rows the reconciliation flags."""

    source: Source
    unknown_firms: Policy = "stop"  # firm not in the panel
    duplicates: Policy = "stop"  # firm listed twice for one cluster


@dataclass(frozen=True)
class FirmIds:
    """The identifier rule applied to every file: digits only, then left-padded with zeros."""

    digits_only: bool = False
    zero_pad: int | None = None


@dataclass(frozen=True)
class Recipe:
    """A whole recipe, with every path resolved against the recipe file's folder."""

    path: Path
    panel: PanelRecipe
    membership: MembershipRecipe
    firm_ids: FirmIds = FirmIds()
    techfirms: Source | None = None
    clusters: list[str] | None = None
    programme_path: Path | None = None


# ----------------------------------------------------------------------------------------------
# Loading and checking
# ----------------------------------------------------------------------------------------------
_PANEL_OPTIONAL = {s.name for s in PANEL_COLUMNS if s.nullable}
_TOP_KEYS = ("panel", "membership", "techfirms", "firm_ids", "clusters", "programme_path")
_SOURCE_KEYS = ("path", "columns", "csv", "sheet")


class _Checker:
    """Walks the recipe's mapping, collecting every problem before raising them together."""

    def __init__(self, path: Path):
        self.path = path
        self.base = path.resolve().parent
        self.failures: list[Failure] = []

    def fail(self, key: str, rule: str, examples: list[str] | None = None, hint: str = "") -> None:
        self.failures.append(Failure(str(self.path), key, rule, 1, examples or [], hint, ""))

    def mapping(self, value: Any, key: str, known: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"{key} must be a mapping of keys to values",
                      [f"found: {value!r}"[:200]])
            return {}
        for k in value:
            if k not in known:
                self.fail(f"{key}.{k}" if key else str(k), "unknown recipe key",
                          [f"known keys{' of ' + key if key else ''}: {', '.join(known)}"])
        for k in required:
            if k not in value:
                self.fail(f"{key}.{k}" if key else k, "required recipe key is missing")
        return dict(value)

    def file(self, value: Any, key: str) -> Path | None:
        if not isinstance(value, str) or not value:
            self.fail(key, f"{key} must be a file path")
            return None
        # Relative paths are relative to the recipe, so a recipe works from any folder.
        return Path(value) if os.path.isabs(value) else self.base / value

    def source(self, value: Any, key: str, known_columns: tuple[str, ...],
               required_columns: tuple[str, ...], extra_keys: tuple[str, ...] = ()
               ) -> tuple[Source | None, dict[str, Any]]:
        raw = self.mapping(value, key, _SOURCE_KEYS + extra_keys, ("path", "columns"))
        path = self.file(raw.get("path"), f"{key}.path") if "path" in raw else None
        if path is not None and not any(path.name.lower().endswith(e) for e, _ in FORMATS):
            self.fail(f"{key}.path", "the raw file must end in one of "
                      + ", ".join(e for e, _ in FORMATS), [f"found: {path.name}"])
            path = None
        columns = self.mapping(raw.get("columns", {}), f"{key}.columns", known_columns,
                               required_columns) if "columns" in raw else {}
        for k, v in columns.items():
            if not isinstance(v, str) or not v:
                self.fail(f"{key}.columns.{k}", "a column mapping names the raw column as text")
        csv_raw = self.mapping(raw["csv"], f"{key}.csv", ("delimiter", "decimal", "encoding")) \
            if "csv" in raw else {}
        csv = CsvOptions(**{k: str(v) for k, v in csv_raw.items()
                            if k in ("delimiter", "decimal", "encoding")})
        sheet = raw.get("sheet")
        # An option that does not apply to the file's format would be ignored silently.
        fmt = next((f for e, f in FORMATS if path and path.name.lower().endswith(e)), None)
        if sheet is not None and fmt not in (None, "excel"):
            self.fail(f"{key}.sheet", f"{key}.sheet applies to .xlsx files only",
                       [f"the file is {path.name if path else '?'}"])
        if "csv" in raw and fmt not in (None, "csv"):
            self.fail(f"{key}.csv", f"{key}.csv applies to .csv and .csv.gz files only",
                       [f"the file is {path.name if path else '?'}"])
        if path is None or "columns" not in raw:
            return None, raw
        return Source(path, {k: str(v) for k, v in columns.items()}, csv,
                      None if sheet is None else str(sheet)), raw

    def policy(self, raw: Mapping[str, Any], key: str, name: str) -> Policy:
        value = raw.get(name, "stop")
        if value not in POLICIES:
            self.fail(f"{key}.{name}", f"{key}.{name} must be one of {', '.join(POLICIES)}",
                      [f"found: {value!r}"])
            return "stop"
        return value


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and check a recipe file.

    Parameters
    ----------
    path
        The recipe (YAML). Relative paths inside it are taken relative to its folder.

    Returns
    -------
    Recipe
        The typed recipe, with every path resolved.

    Raises
    ------
    PrepareError
        Every problem found: an unreadable file, unknown keys (listing the known ones),
        missing required keys, values of the wrong kind.
    """
    file = Path(path)
    check = _Checker(file)
    if not file.is_file():
        check.fail("(file)", "the recipe file must exist")
        raise PrepareError(check.failures, "recipe")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        check.fail("(file)", f"the recipe must be valid UTF-8 YAML ({exc})")
        raise PrepareError(check.failures, "recipe") from exc
    top = check.mapping(data if data is not None else {}, "", _TOP_KEYS, ("panel", "membership"))

    panel = None
    if "panel" in top:
        panel_cols = tuple(s.name for s in PANEL_COLUMNS)
        required = tuple(c for c in panel_cols if c not in _PANEL_OPTIONAL)
        source, raw = check.source(top["panel"], "panel", panel_cols, required,
                                   ("money_scale", "deflators"))
        scale = raw.get("money_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
            check.fail("panel.money_scale", "panel.money_scale must be a positive number",
                       [f"found: {scale!r}"])
            scale = 1.0
        deflators = None
        if "deflators" in raw:
            deflators = _deflators(check, raw["deflators"])
        if source is not None:
            panel = PanelRecipe(source, float(scale), deflators)

    membership = None
    if "membership" in top:
        source, raw = check.source(top["membership"], "membership", tuple(MEMBERSHIP_KEYS),
                                   ("firm_id", "cluster", "join"), ("unknown_firms", "duplicates"))
        unknown = check.policy(raw, "membership", "unknown_firms")
        dups = check.policy(raw, "membership", "duplicates")
        if source is not None:
            membership = MembershipRecipe(source, unknown, dups)

    techfirms = None
    if "techfirms" in top:
        tcols = tuple(s.name for s in TECHFIRMS_COLUMNS)
        techfirms, _ = check.source(top["techfirms"], "techfirms", tcols, tcols)

    ids = FirmIds()
    if "firm_ids" in top:
        raw = check.mapping(top["firm_ids"], "firm_ids", ("digits_only", "zero_pad"))
        digits = raw.get("digits_only", False)
        pad = raw.get("zero_pad")
        if not isinstance(digits, bool):
            check.fail("firm_ids.digits_only", "firm_ids.digits_only must be true or false")
            digits = False
        if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int) or pad < 1):
            check.fail("firm_ids.zero_pad", "firm_ids.zero_pad must be a positive integer",
                       [f"found: {pad!r}"])
            pad = None
        ids = FirmIds(digits, pad)

    clusters = top.get("clusters")
    if clusters is not None and (not isinstance(clusters, list) or not clusters
                                 or not all(isinstance(c, str) for c in clusters)):
        check.fail("clusters", "clusters must be a non-empty list of names")
        clusters = None
    programme = check.file(top["programme_path"], "programme_path") \
        if "programme_path" in top else None

    if check.failures or panel is None or membership is None:
        raise PrepareError(check.failures, f"recipe {file} is not valid")
    return Recipe(file, panel, membership, ids, techfirms, clusters, programme)


def _deflators(check: _Checker, value: Any) -> Deflators | None:
    """The ``panel.deflators`` section: a file with ``nace2``, ``year`` and index columns."""
    key = "panel.deflators"
    raw = check.mapping(value, key, ("path", "base_year", "series", "csv", "sheet"),
                        ("path", "base_year", "series"))
    path = check.file(raw.get("path"), f"{key}.path") if "path" in raw else None
    base = raw.get("base_year")
    if "base_year" in raw and (isinstance(base, bool) or not isinstance(base, int)):
        check.fail(f"{key}.base_year", f"{key}.base_year must be a year (an integer)",
                   [f"found: {base!r}"])
    money = tuple(s.name for s in PANEL_COLUMNS if s.unit.startswith("thousand euro"))
    series = check.mapping(raw.get("series", {}), f"{key}.series", money) \
        if "series" in raw else {}
    csv_raw = check.mapping(raw["csv"], f"{key}.csv", ("delimiter", "decimal", "encoding")) \
        if "csv" in raw else {}
    if path is None or not isinstance(base, int) or isinstance(base, bool) or not series:
        return None
    columns = {"nace2": "nace2", "year": "year", **{v: str(v) for v in series.values()}}
    source = Source(path, columns, CsvOptions(**{k: str(v) for k, v in csv_raw.items()}),
                    raw.get("sheet"))
    return Deflators(source, base, {k: str(v) for k, v in series.items()})
