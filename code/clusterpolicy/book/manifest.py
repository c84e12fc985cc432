"""What a run manifest says about the run, as the tables of the Reproducibility appendix.

The build writes one manifest per run (``run_manifest.json``: every page's parameters, input
files with checksums, package versions, commit, execution time and glued values). The pages
that report on the run (the landing page, the scorecard, the Reproducibility appendix) read it
with :func:`read` and summarise it with the functions below.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd

from clusterpolicy.core import provenance


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The run manifest at ``path``, recorded as an input of the running page."""
    return json.loads(provenance.track_input(path).read_text(encoding="utf-8"))


def short_commit(commit: str | None) -> str:
    """A commit as a reader can look it up: 12 characters, and whether the tree was dirty."""
    if not commit:
        return "not a git checkout"
    return commit[:12] + (" (uncommitted changes)" if commit.endswith("+dirty") else "")


def execution_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """One row per page: seconds, time and commit of its execution, input files and glued values."""
    return pd.DataFrame([
        {"chapter": name,
         "seconds": entry["seconds"],
         "executed at (UTC)": entry["executed_at"],
         "commit": short_commit(entry["commit"]),
         "input files": sum(item["sha256"] != provenance.ABSENT for item in entry["inputs"]),
         "glued numbers": len(entry["glue"])}
        for name, entry in manifest["chapters"].items()
    ]).set_index("chapter")


def parameters_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """One row per page and parameter, with the value it ran with (JSON)."""
    return pd.DataFrame(
        [{"chapter": name, "parameter": key, "value": json.dumps(value)}
         for name, entry in manifest["chapters"].items()
         for key, value in entry["parameters"].items()],
        columns=["chapter", "parameter", "value"],
    ).set_index(["chapter", "parameter"])


def inputs_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """One row per page and input file, with its SHA-256 (or ``absent``)."""
    return pd.DataFrame(
        [{"chapter": name, "file": item["path"], "SHA-256": item["sha256"]}
         for name, entry in manifest["chapters"].items()
         for item in entry["inputs"]],
        columns=["chapter", "file", "SHA-256"],
    ).set_index(["chapter", "file"])


def versions_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """Python and the package versions of the environment that ran the build."""
    versions = pd.Series(manifest["versions"], name="version")
    versions.index.name = "package"
    return versions.to_frame()
