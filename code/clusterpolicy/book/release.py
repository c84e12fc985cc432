"""Releases of the book: a frozen run manifest per version, the version and date in
``CITATION.cff``, and a changelog entry that records which results moved since the last release.

A release ``X.Y.Z`` is the folder ``releases/X.Y.Z/`` of the repository holding the
``run_manifest.json`` of the build made for it (every glued value with the checksums of the
data, the parameters, the package versions and the commit of each page), with the release's
version and date added under ``"release"``. Releases are made by :func:`make_release`
(``python -m clusterpolicy release X.Y.Z``, or ``make release VERSION=X.Y.Z``, which runs the
test suite first); every later build compares itself with the latest release on the What
changed page (:func:`since_latest`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from clusterpolicy.book import changes as changes_module
from clusterpolicy.book.changes import Changes
from clusterpolicy.core import provenance

__all__ = ["CHANGELOG", "CITATION", "INDEX", "MANIFEST", "RELEASES", "Frozen", "ReleaseError",
           "SinceRelease", "changelog_entry", "latest", "make_release", "parse_version",
           "releases", "set_citation_version", "since_latest"]

#: The folder of the repository that holds one folder per release.
RELEASES = "releases"
#: The list of releases in it (version, date, manifest), which the What changed page reads so
#: that a new release re-executes it.
INDEX = "index.json"
#: The frozen manifest's file name in a release folder.
MANIFEST = "run_manifest.json"
#: The citation metadata (version and date of the current release).
CITATION = "CITATION.cff"
#: The changelog (one ``## [X.Y.Z] - YYYY-MM-DD`` section per release).
CHANGELOG = "CHANGELOG.md"
#: The changelog's section of changes not released yet, moved into the next release.
UNRELEASED = "## [Unreleased]"

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class ReleaseError(Exception):
    """A release that cannot be made as asked (the message says why and what to do)."""


def parse_version(text: str) -> tuple[int, int, int]:
    """``"X.Y.Z"`` as three integers, for ordering.

    Raises
    ------
    ValueError
        When ``text`` is not three dot-separated non-negative integers.
    """
    match = _VERSION.match(str(text).strip())
    if not match:
        raise ValueError(f"version {text!r} is not of the form X.Y.Z (three whole numbers)")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class Frozen:
    """One release: its version and the path of its frozen manifest."""

    version: str
    manifest: Path

    def read(self) -> dict[str, Any]:
        """The frozen manifest (tracked as an input of the page that reads it)."""
        return changes_module.read_manifest(provenance.track_input(self.manifest))

    @property
    def date(self) -> str:
        """The release date recorded in the manifest (``""`` when it has none)."""
        return str(self.read().get("release", {}).get("date", ""))


def releases(index: str | os.PathLike[str]) -> list[Frozen]:
    """The releases listed in a releases index (``releases/index.json``), oldest first.

    Raises
    ------
    ValueError
        When the index is not one (naming the file), or lists a release whose manifest is
        missing.
    """
    index = Path(index)
    try:
        listed = json.loads(index.read_text(encoding="utf-8"))["releases"]
        found = [Frozen(str(item["version"]), index.parent / item["manifest"]) for item in listed]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{index}: not a releases index ({error})") from None
    missing = [f.version for f in found if not f.manifest.is_file()]
    if missing:
        raise ValueError(f"{index}: the manifest of release {missing[0]} is missing")
    return sorted(found, key=lambda f: parse_version(f.version))


def latest(index: str | os.PathLike[str]) -> Frozen | None:
    """The newest release of a releases index, or None before the first."""
    found = releases(index)
    return found[-1] if found else None


# --------------------------------------------------------------------------------------------
# The What changed page
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SinceRelease:
    """This run against the latest release (the What changed page).

    Attributes
    ----------
    release : Frozen or None
        The latest release (None before the first).
    changes : ~clusterpolicy.book.changes.Changes or None
        This run compared with it (None before the first release).
    """

    release: Frozen | None
    changes: Changes | None

    @property
    def numbers(self) -> dict[str, int]:
        """The counts the page glues (values moved, verdicts flipped, values unchanged, pages)."""
        c = self.changes
        if c is None:
            return {"n_moved": 0, "n_flipped": 0, "n_unchanged": 0, "n_pages_moved": 0}
        return {"n_moved": len(c.moved), "n_flipped": len(c.flipped),
                "n_unchanged": c.unchanged, "n_pages_moved": len(c.reasons)}

    def pages_table(self) -> pd.DataFrame:
        """Per page with a moved value: values moved, verdicts flipped, and why."""
        columns = ["values moved", "verdicts flipped", "why"]
        if self.changes is None or self.changes.nothing_moved:
            return pd.DataFrame(columns=columns, index=pd.Index([], name="page"))
        moved = pd.Series([m.page for m in self.changes.moved]).value_counts()
        flipped = pd.Series([m.page for m in self.changes.flipped], dtype=object).value_counts()
        rows = [{"page": page, "values moved": int(moved.get(page, 0)),
                 "verdicts flipped": int(flipped.get(page, 0)), "why": "; ".join(why)}
                for page, why in self.changes.reasons.items()]
        return pd.DataFrame(rows, columns=["page", *columns]).set_index("page")

    def flipped_table(self) -> pd.DataFrame:
        """Every verdict that flipped: page, name, the release's verdict and this run's."""
        flipped = self.changes.flipped if self.changes is not None else ()
        return pd.DataFrame([{"page": m.page, "verdict": m.name, "in the release": m.before,
                              "in this run": m.after} for m in flipped],
                            columns=["page", "verdict", "in the release", "in this run"])

    def moved_table(self) -> pd.DataFrame:
        """Every moved value (:meth:`~clusterpolicy.book.changes.Changes.table`), in the
        release's and this run's terms."""
        if self.changes is None:
            return Changes((), 0).table()
        return self.changes.table().rename(columns={"before": "in the release",
                                                    "after": "in this run"})


def since_latest(index: str | os.PathLike[str],
                 manifest: str | os.PathLike[str] | dict[str, Any]) -> SinceRelease:
    """This run (its manifest so far) compared with the latest release of a releases index.

    Parameters
    ----------
    index : path-like
        The repository's ``releases/index.json`` (listing no release before the first).
    manifest : path-like or dict
        This run's manifest (the build gives the pages that run last the manifest of the run
        so far).

    Returns
    -------
    SinceRelease
    """
    release = latest(provenance.track_input(index))
    if release is None:
        return SinceRelease(None, None)
    after = (manifest if isinstance(manifest, dict)
             else changes_module.read_manifest(provenance.track_input(manifest)))
    before = release.read()
    return SinceRelease(release, changes_module.compare(
        before, after, before_label=f"release {release.version}", after_label="this run"))


# --------------------------------------------------------------------------------------------
# Making a release
# --------------------------------------------------------------------------------------------
def set_citation_version(text: str, version: str, date: str) -> str:
    """``CITATION.cff``'s text with its ``version`` and ``date-released`` replaced (the rest,
    comments and layout included, as it was).

    Raises
    ------
    ReleaseError
        When the file does not have exactly one top-level line of each.
    """
    for key, value in (("version", version), ("date-released", f'"{date}"')):
        pattern = re.compile(rf"^{re.escape(key)}:.*$", re.MULTILINE)
        if len(pattern.findall(text)) != 1:
            raise ReleaseError(f"{CITATION} must have exactly one top-level '{key}:' line")
        text = pattern.sub(f"{key}: {value}", text)
    return text


def changelog_entry(version: str, date: str, previous: Frozen | None = None,
                    changes: Changes | None = None, notes: list[str] | None = None,
                    *, results: bool | None = None) -> str:
    """The changelog section of a release: the maintainers' notes, then the results that moved
    since the previous release (computed, never typed).

    ``results`` (default: whether ``changes`` or ``previous`` is given) adds the results item;
    without it the section is the heading and the notes, as committed before the release's
    build.
    """
    lines = [f"## [{version}] - {date}", ""]
    lines += [note if note.startswith("- ") else f"- {note}" for note in notes or []]
    if results is None:
        results = changes is not None or previous is not None
    manifest = f"`{RELEASES}/{version}/{MANIFEST}`"
    if not results:
        return "\n".join(lines) + "\n"
    if previous is None or changes is None:
        lines.append(f"- Results: the first release with frozen results ({manifest}).")
    elif changes.nothing_moved:
        lines.append(f"- Results: nothing moved since {previous.version}; all "
                     f"{changes.unchanged:,} glued values are identical ({manifest}).")
    else:
        flipped = (", ".join(f"`{m.name}` ({m.before} -> {m.after})" for m in changes.flipped)
                   or "none")
        lines.append(f"- Results: {len(changes.moved):,} glued values moved since "
                     f"{previous.version} on {len(changes.reasons)} page(s); verdicts flipped: "
                     f"{flipped} ({manifest}).")
        for page, why in changes.reasons.items():
            count = sum(m.page == page for m in changes.moved)
            lines.append(f"  - {page}: {count} value(s) moved; why: {'; '.join(why)}.")
    return "\n".join(lines) + "\n"


def _unreleased_notes(text: str) -> tuple[str, list[str]]:
    """The changelog without its Unreleased section, and that section's items."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == UNRELEASED)
    except StopIteration:
        return text, []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    notes: list[str] = []
    for line in lines[start + 1:end]:
        if line.startswith("- "):
            notes.append(line)
        elif notes and line.strip():
            notes[-1] += "\n" + line
    rest = lines[:start] + lines[end:]
    return "\n".join(rest) + ("\n" if text.endswith("\n") else ""), notes


def _insert_entry(text: str, entry: str) -> str:
    """The changelog with ``entry`` before its newest release (after the preamble)."""
    match = re.search(r"^## \[", text, re.MULTILINE)
    at = match.start() if match else len(text)
    head = text[:at].rstrip("\n") + "\n\n"
    return head + entry + ("\n" + text[at:] if match else "")


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise ReleaseError(f"git {' '.join(args)} failed in {root}: {error}") from None
    return done.stdout


def make_release(root: str | os.PathLike[str], version: str, *, out: str | None = None,
                 date: str | None = None,
                 build: Callable[..., dict[str, Any]] | None = None,
                 progress: Callable[[str], None] = print) -> Path:
    """Make release ``version``: build the book on its default data and parameters, freeze the
    run manifest, and record the release in ``CITATION.cff`` and ``CHANGELOG.md``.

    The working tree must be clean, and ``version`` newer than ``CITATION.cff``'s and every
    release's. The version, date and the changelog's notes are committed first and the book is
    built from that commit (the frozen manifest names it; a failed build undoes it); the
    frozen manifest, the releases index and the changelog's results item are left for the
    maintainer to commit and tag, as the command prints. ``make release VERSION=X.Y.Z`` runs
    the test suite first.

    Parameters
    ----------
    root : path-like
        The book's repository.
    version : str
        ``X.Y.Z``.
    out : str, optional
        The build's output folder (default: the book's ``_build``).
    date : str, optional
        Release date, ``YYYY-MM-DD`` (default: today, UTC).
    build : callable, optional
        The build function (default: :func:`clusterpolicy.book.build.build`).
    progress : callable
        Called with each line of progress.

    Returns
    -------
    pathlib.Path
        The frozen manifest.

    Raises
    ------
    ReleaseError
        For a malformed or old version, a dirty working tree, or a build from uncommitted code.
    """
    root = Path(root).resolve()
    try:
        wanted = parse_version(version)
    except ValueError as error:
        raise ReleaseError(str(error)) from None
    date = date or dt.datetime.now(dt.UTC).date().isoformat()
    citation_file, changelog_file = root / CITATION, root / CHANGELOG
    citation = citation_file.read_text(encoding="utf-8")
    current = re.search(r"^version:\s*['\"]?([^'\"\s]+)", citation, re.MULTILINE)
    folder = root / RELEASES
    index = folder / INDEX
    listed = json.loads(index.read_text(encoding="utf-8"))["releases"] if index.is_file() else []
    previous = latest(index) if index.is_file() else None
    newest = [v for v in ((current and current.group(1)), previous and previous.version) if v]
    for other in newest:
        if _VERSION.match(other) and parse_version(other) >= wanted:
            raise ReleaseError(f"version {version} is not newer than {other} (the version in "
                               f"{CITATION} or the latest release in {RELEASES}/)")
    dirty = _git(root, "status", "--porcelain")
    if dirty.strip():
        raise ReleaseError("the working tree has uncommitted changes; a release is built from "
                           "a commit:\n" + dirty.rstrip())
    if build is None:
        from clusterpolicy.book.build import build as build_book

        build = build_book
    # The version, date and notes are committed first, so that the pages built for the release
    # (the landing page cites the version) are the release's, from a clean commit.
    start = _git(root, "rev-parse", "HEAD").strip()
    rest, notes = _unreleased_notes(changelog_file.read_text(encoding="utf-8"))
    heading = changelog_entry(version, date, notes=notes)
    changelog_file.write_text(_insert_entry(rest, heading), encoding="utf-8")
    citation_file.write_text(set_citation_version(citation, version, date), encoding="utf-8")
    try:
        _git(root, "commit", "-q", "-m", f"Release {version}: version, date and changes",
             "--", CITATION, CHANGELOG)
        progress(f"building the book for release {version}")
        manifest = build(root, out=out, progress=progress)
        if str(manifest.get("commit") or "").endswith("+dirty") or not manifest.get("commit"):
            raise ReleaseError("the build did not run from a clean commit; nothing was released")
    except BaseException:
        # nothing of a release that was not made stays behind
        _git(root, "reset", "-q", "--hard", start)
        raise
    frozen = {**manifest, "release": {"version": version, "date": date}}
    target = folder / version / MANIFEST
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(frozen, indent=1, default=str) + "\n", encoding="utf-8")
    listed.append({"version": version, "date": date, "manifest": f"{version}/{MANIFEST}",
                   "commit": manifest["commit"]})
    index.write_text(json.dumps({"releases": listed}, indent=1) + "\n", encoding="utf-8")
    changes = (changes_module.compare(previous.read(), frozen,
                                      before_label=f"release {previous.version}",
                                      after_label=f"release {version}")
               if previous is not None else None)
    full = changelog_entry(version, date, previous, changes, notes, results=True)
    changelog_file.write_text(changelog_file.read_text(encoding="utf-8").replace(heading, full, 1),
                              encoding="utf-8")
    progress(f"release {version} frozen in {target.relative_to(root)} (built from "
             f"{manifest['commit'][:12]}, where {CITATION} and {CHANGELOG} got the version); "
             f"the changelog has its results. Now: git add {RELEASES} {CHANGELOG} && "
             f"git commit -m 'Release {version}' && git tag v{version}")
    return target
