"""Provenance of a run: input checksums, package versions, git commit.

A chapter never decides on its own what it read: every data file goes through
:func:`track_input`, which hashes the file and, when the build runs the chapter, appends the
record to the log named by ``CLUSTERPOLICY_INPUT_LOG``. The build turns that log into the
chapter's cache key and its entry in the run manifest.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

#: Environment variable naming the input log of the running chapter (set by the build).
INPUT_LOG_ENV = "CLUSTERPOLICY_INPUT_LOG"
#: Environment variable naming the directory for results that several chapters share, set by
#: the build (see :mod:`clusterpolicy.studies.productivity`).
WORK_CACHE_ENV = "CLUSTERPOLICY_WORK_CACHE"

#: Distributions whose versions can change a number in the book.
KEY_DISTRIBUTIONS = (
    "clusterpolicy",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "linearmodels",
    "pyfixest",
    "moderndid",
    "pandera",
    "pyarrow",
    "joblib",
    "matplotlib",
    "seaborn",
    "jupyter-book",
    "sphinx",
    "myst-nb",
    "papermill",
    "jupytext",
)

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str
        The digest as 64 hex characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """SHA-256 of a text encoded as UTF-8.

    Parameters
    ----------
    text : str
        The text.

    Returns
    -------
    str
        The digest as 64 hex characters.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_tracked: dict[str, str] = {}


def track_input(path: str | os.PathLike[str]) -> Path:
    """Declare that the running chapter reads ``path``.

    Parameters
    ----------
    path : str or path-like
        The input file.

    Returns
    -------
    pathlib.Path
        The resolved path.

    Raises
    ------
    FileNotFoundError
        Naming the path when it does not exist, so a chapter fails on the first line that
        touches a missing file, with the file named.
    ValueError
        When the path is a folder, a named pipe or a device.
    """
    resolved = Path(path).expanduser().resolve()
    if resolved.exists() and not resolved.is_file():
        # a folder has no checksum, and reading a named pipe would block
        raise ValueError(f"input must be a regular file: {path} (resolved to {resolved})")
    if not resolved.is_file():
        raise FileNotFoundError(f"input file not found: {path} (resolved to {resolved})")
    checksum = sha256_file(resolved)
    key = str(resolved)
    if _tracked.get(key) == checksum:
        return resolved
    _tracked[key] = checksum
    _log({"path": key, "sha256": checksum})
    return resolved


#: The checksum recorded for an input that a chapter looked for and did not find.
ABSENT = "absent"


def track_optional(path: str | os.PathLike[str]) -> Path | None:
    """Declare that the running chapter looks for ``path``, which may not exist.

    A file that exists is tracked as by :func:`track_input`. One that does not is recorded as
    ``absent``: what a chapter shows can depend on a file *not* being there (a synthetic-data
    truth file, say), so the chapter's cached result is valid only while it is still absent.

    Parameters
    ----------
    path : str or path-like
        The file looked for.

    Returns
    -------
    pathlib.Path or None
        The resolved path, or ``None`` when there is no file.
    """
    resolved = Path(path).expanduser().resolve()
    if resolved.is_file():
        return track_input(resolved)
    key = str(resolved)
    if _tracked.get(key) != ABSENT:
        _tracked[key] = ABSENT
        _log({"path": key, "sha256": ABSENT})
    return None


def still_valid(record: dict[str, str]) -> bool:
    """Whether an input recorded by :func:`track_input` or :func:`track_optional` is unchanged.

    Parameters
    ----------
    record : dict of str to str
        ``{"path": ..., "sha256": ...}`` (``sha256`` may be ``"absent"``).

    Returns
    -------
    bool
        The file has the recorded checksum (or is still absent).
    """
    path = Path(record["path"])
    if record["sha256"] == ABSENT:
        return not path.exists()
    return path.is_file() and sha256_file(path) == record["sha256"]


def _log(record: dict[str, str]) -> None:
    log = os.environ.get(INPUT_LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def tracked_inputs() -> dict[str, str]:
    """Inputs declared in this process so far.

    Returns
    -------
    dict of str to str
        Resolved path -> SHA-256 (or ``"absent"``).
    """
    return dict(_tracked)


def read_input_log(log: Path) -> list[dict[str, str]]:
    """Inputs recorded by a chapter's kernel, first read first, each path once.

    Parameters
    ----------
    log : pathlib.Path
        The log file (one JSON record per line); a missing log means no inputs.

    Returns
    -------
    list of dict
        ``{"path": ..., "sha256": ...}`` records, the last checksum of each path.
    """
    if not log.exists():
        return []
    seen: dict[str, str] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            seen[record["path"]] = record["sha256"]
    return [{"path": path, "sha256": checksum} for path, checksum in seen.items()]


def package_versions() -> dict[str, str]:
    """Python and the versions of the distributions that can change a result.

    Returns
    -------
    dict of str to str
        ``"python"`` and each installed distribution of :data:`KEY_DISTRIBUTIONS` -> version.
    """
    versions = {"python": platform.python_version()}
    for name in KEY_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


#: The helper package (``clusterpolicy/``), whose every source file keys the caches.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def package_source_digest() -> str:
    """SHA-256 over the helper package's source files (path and bytes), in a fixed order.

    Returns
    -------
    str
        The digest as 64 hex characters.
    """
    root = PACKAGE_ROOT
    digest = hashlib.sha256()
    for file in sorted(root.rglob("*.py")):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _module_file(name: str) -> Path | None:
    """The source file of package module ``name`` (``clusterpolicy.x.y``), if it is one."""
    parts = name.split(".")[1:]
    base = PACKAGE_ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(file: Path) -> set[str]:
    """The package modules ``file`` imports, at any depth of its code (relative ones resolved;
    ``from m import x`` counts ``m`` and, when it is a module, ``m.x``)."""
    # the package a relative import starts from: the module's own (``__init__`` included)
    package = list(file.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "clusterpolicy")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "clusterpolicy":
                continue
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return {m for m in found if _module_file(m) is not None}


def module_closure(module: str) -> list[Path]:
    """The source files of package module ``module`` and of every package module it imports,
    directly or not (read from the import statements, not by importing).

    Parameters
    ----------
    module : str
        A module of the package, e.g. ``"clusterpolicy.checks.grid"``.

    Returns
    -------
    list of pathlib.Path
        Sorted; each parent package's ``__init__.py`` included.

    Raises
    ------
    ValueError
        When ``module`` is not a module of the package.
    """
    if _module_file(module) is None:
        raise ValueError(f"{module!r} is not a module of the package")
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        file = _module_file(name)
        if file is not None:
            todo.extend(_imported_modules(file) - seen)
    return sorted({f for m in seen if (f := _module_file(m)) is not None})


def git_commit(root: str | os.PathLike[str]) -> str | None:
    """The commit checked out at ``root``, suffixed ``+dirty`` when tracked files differ.

    Parameters
    ----------
    root : str or path-like
        A directory of the repository.

    Returns
    -------
    str or None
        The commit hash, or ``None`` outside a git repository (or without git).
    """
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")
