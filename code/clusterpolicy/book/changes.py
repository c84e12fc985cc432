"""What changed between two runs of the book: which glued values moved, by how much, which
verdicts flipped, and why (from the two run manifests).

A run manifest (``run_manifest.json``, written by every build) records per page the
parameters, the input files with their checksums, the package versions, the commit and every
glued value. :func:`compare` sets two of them side by side; ``python -m clusterpolicy diff A
B`` prints the result.

Why a page's values moved is read from what its manifest entry records, in this order: its
input files (checksums), its parameters, the versions of the packages, the code (the commit).
A page whose values moved while none of these changed is said to have moved *with no recorded
cause*: results must be determined by what the manifest records, so that is a finding to
investigate (nondeterminism, or an input the page does not record).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Pages whose glued values describe the run or the book, not its results, and are never
#: compared: page -> why.
NOT_COMPARED = {
    "chapters/appendix_reproducibility": "the execution report: seconds, times and paths of "
                                         "the run",
    "chapters/appendix_changes": "the What changed page: this comparison itself",
    "chapters/appendix_cite": "the citation page: version, date and changelog of the book",
}

#: Glued values are numbers, flags, short texts and Markdown tables.
Value = Any


@dataclass(frozen=True)
class Moved:
    """One glued value that differs between the two runs.

    Attributes
    ----------
    page, name : str
        Where the value is glued.
    before, after : object
        The two values (None where the value is absent from one run).
    difference : float or None
        ``after - before`` for numbers.
    in_se : float or None
        ``difference`` in standard errors of the earlier run, where the page glues one as
        ``NAME_se``.
    """

    page: str
    name: str
    before: Value
    after: Value
    difference: float | None = None
    in_se: float | None = None

    @property
    def kind(self) -> str:
        """``"number"``, ``"verdict"``, ``"table"``, ``"text"``, ``"added"`` or ``"removed"``."""
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        if self.difference is not None:
            return "number"
        if is_verdict(self.name, self.after):
            return "verdict"
        if _is_table(self.before) or _is_table(self.after):
            return "table"
        return "text"


@dataclass(frozen=True)
class Changes:
    """The differences between two run manifests (:func:`compare`).

    Attributes
    ----------
    moved : tuple of Moved
        Every glued value that differs, added or removed, in page and name order.
    unchanged : int
        Glued values identical in both runs.
    reasons : dict
        Page -> what its manifest entry records as changed (input files, parameters, package
        versions, code), for every page with a moved value.
    before_label, after_label : str
        How the two runs are named in the text.
    """

    moved: tuple[Moved, ...]
    unchanged: int
    reasons: dict[str, list[str]] = field(default_factory=dict)
    before_label: str = "before"
    after_label: str = "after"

    @property
    def nothing_moved(self) -> bool:
        return not self.moved

    @property
    def flipped(self) -> tuple[Moved, ...]:
        """The verdicts that changed."""
        return tuple(m for m in self.moved if m.kind == "verdict")

    def table(self) -> pd.DataFrame:
        """One row per moved value: page, name, kind, before, after, difference, in SE."""
        return pd.DataFrame([
            {"page": m.page, "name": m.name, "kind": m.kind, "before": _shown(m.before),
             "after": _shown(m.after), "difference": m.difference, "in SE": m.in_se}
            for m in self.moved],
            columns=["page", "name", "kind", "before", "after", "difference", "in SE"])

    def text(self) -> str:
        """The comparison in Markdown, as ``python -m clusterpolicy diff`` prints it."""
        head = f"Comparing {self.before_label} with {self.after_label}: "
        if self.nothing_moved:
            return head + (f"nothing moved; all {self.unchanged:,} glued values are identical "
                           f"(not compared: {', '.join(NOT_COMPARED)}).\n")
        counts = pd.Series([m.kind for m in self.moved]).value_counts()
        lines = [head + f"{len(self.moved):,} glued values differ ("
                 + ", ".join(f"{n} {kind}" for kind, n in counts.items())
                 + f"); {self.unchanged:,} are identical.", ""]
        if self.flipped:
            lines += ["Verdicts that flipped:", ""]
            lines += [f"- {m.page} `{m.name}`: {m.before} -> {m.after}" for m in self.flipped]
            lines.append("")
        for page in dict.fromkeys(m.page for m in self.moved):
            lines += [f"## {page}", "", "Why: " + "; ".join(self.reasons.get(page, [])), ""]
            for m in (m for m in self.moved if m.page == page and m.kind != "verdict"):
                lines.append("- " + _line(m))
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"


def is_verdict(name: str, value: Value) -> bool:
    """Whether a glued value is a verdict: a text glued as ``verdict_*`` or ``*_verdict``."""
    return isinstance(value, str) and not _is_table(value) and (
        name.startswith("verdict_") or name.endswith("_verdict"))


def _is_table(value: Value) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("|")


def _number(value: Value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


#: Texts longer than this are summarised in tables of moved values (the prose they carry is on
#: the page that glues them).
SHOWN_TEXT = 60


def _shown(value: Value) -> str:
    if value is None:
        return "–"
    if _is_table(value):
        return f"table of {value.strip().count(chr(10)) - 1} rows"
    if (isinstance(value, float) and math.isnan(value)) or (
            isinstance(value, str) and value.strip().lower() == "nan"):  # also a glued "nan" text
        return "not a number"
    if isinstance(value, str) and len(value) > SHOWN_TEXT:
        return f"a text of {len(value):,} characters"
    return str(value)


def _line(m: Moved) -> str:
    if m.kind == "added":
        return f"`{m.name}` added: {_shown(m.after)}"
    if m.kind == "removed":
        return f"`{m.name}` removed (was {_shown(m.before)})"
    if m.kind == "number":
        se = f", {m.in_se:+.2f} SE" if m.in_se is not None else ""
        return f"`{m.name}`: {m.before} -> {m.after} ({m.difference:+.6g}{se})"
    if m.kind == "table":
        return f"`{m.name}` (table) changed: {_shown(m.before)} -> {_shown(m.after)}"
    return f"`{m.name}`: {m.before!r} -> {m.after!r}"


def _moved(page: str, name: str, before: Value, after: Value,
           glue_before: dict[str, Value]) -> Moved:
    a, b = _number(before), _number(after)
    if a is None or b is None:
        return Moved(page, name, before, after)
    difference = b - a
    se = _number(glue_before.get(f"{name}_se"))
    in_se = difference / se if se is not None and math.isfinite(se) and se > 0 else None
    return Moved(page, name, before, after, difference, in_se)


def _same(before: Value, after: Value) -> bool:
    a, b = _number(before), _number(after)
    if a is not None and b is not None:
        return a == b or (math.isnan(a) and math.isnan(b))
    return before == after


def reasons(entry_before: dict[str, Any] | None, entry_after: dict[str, Any] | None,
            before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What a page's two manifest entries record as changed, in plain words.

    Parameters
    ----------
    entry_before, entry_after : dict or None
        The page's entries in the two manifests (None where the page is absent).
    before, after : dict
        The two manifests (for the book-wide versions and commit).

    Returns
    -------
    list of str
        One phrase per kind of change; ``["no recorded cause"]`` when nothing differs.
    """
    if entry_before is None:
        return ["the page is new"]
    if entry_after is None:
        return ["the page was removed"]
    found = []
    inputs_a = {i["path"]: i["sha256"] for i in entry_before.get("inputs", [])}
    inputs_b = {i["path"]: i["sha256"] for i in entry_after.get("inputs", [])}
    files = sorted(p for p in set(inputs_a) | set(inputs_b) if inputs_a.get(p) != inputs_b.get(p))
    if files:
        found.append("input files changed: " + ", ".join(files))
    params_a, params_b = entry_before.get("parameters", {}), entry_after.get("parameters", {})
    params = sorted(k for k in set(params_a) | set(params_b) if params_a.get(k) != params_b.get(k))
    if params:
        found.append("parameters changed: " + ", ".join(
            f"{k} {params_a.get(k)!r} -> {params_b.get(k)!r}" for k in params))
    versions_a = entry_before.get("versions") or before.get("versions", {})
    versions_b = entry_after.get("versions") or after.get("versions", {})
    packages = sorted(k for k in set(versions_a) | set(versions_b)
                      if versions_a.get(k) != versions_b.get(k))
    if packages:
        found.append("package versions changed: " + ", ".join(
            f"{k} {versions_a.get(k)} -> {versions_b.get(k)}" for k in packages))
    commit_a = entry_before.get("commit") or before.get("commit")
    commit_b = entry_after.get("commit") or after.get("commit")
    if commit_a != commit_b:
        found.append(f"code changed: commit {_commit(commit_a)} -> {_commit(commit_b)}")
    elif str(commit_a).endswith("+dirty"):
        found.append(f"code may differ: both runs had uncommitted changes on {_commit(commit_a)}")
    return found or ["no recorded cause: inputs, parameters, versions and code are the same"]


def _commit(commit: Any) -> str:
    if not commit:
        return "no commit"
    text = str(commit)
    dirty = text.endswith("+dirty")
    return text.removesuffix("+dirty")[:12] + (" (uncommitted changes)" if dirty else "")


def compare(before: dict[str, Any], after: dict[str, Any], *, before_label: str = "before",
            after_label: str = "after") -> Changes:
    """Every glued value that differs between two run manifests, and why.

    Parameters
    ----------
    before, after : dict
        Two run manifests (``run_manifest.json`` of two builds, or of a release and a build).
    before_label, after_label : str
        Names of the two runs in the text.

    Returns
    -------
    Changes
        The values of the pages of :data:`NOT_COMPARED` are not compared.
    """
    pages_a, pages_b = before.get("chapters", {}), after.get("chapters", {})
    moved: list[Moved] = []
    unchanged = 0
    why: dict[str, list[str]] = {}
    for page in sorted(set(pages_a) | set(pages_b)):
        if page in NOT_COMPARED:
            continue
        glue_a = (pages_a.get(page) or {}).get("glue", {})
        glue_b = (pages_b.get(page) or {}).get("glue", {})
        page_moved = []
        for name in sorted(set(glue_a) | set(glue_b)):
            a, b = glue_a.get(name), glue_b.get(name)
            if name in glue_a and name in glue_b and _same(a, b):
                unchanged += 1
                continue
            page_moved.append(_moved(page, name, a, b, glue_a))
        if page_moved:
            moved += page_moved
            why[page] = reasons(pages_a.get(page), pages_b.get(page), before, after)
    return Changes(tuple(moved), unchanged, why, before_label, after_label)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A run manifest from a file, or from a built site's folder holding ``run_manifest.json``.

    Raises
    ------
    ValueError
        When the file does not exist or is not a run manifest, naming it.
    """
    path = Path(path)
    file = path / "run_manifest.json" if path.is_dir() else path
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{file}: no such file (give a run_manifest.json or a built site's "
                         "folder)") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{file}: not a readable run manifest ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("chapters"), dict):
        raise ValueError(f"{file}: not a run manifest (no 'chapters' mapping)")
    return manifest
