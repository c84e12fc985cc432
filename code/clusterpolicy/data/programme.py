"""The cluster programme a run is about: its clusters, start years, funding and sources.

A programme file (YAML) documents the programme from the public record; the programme
chapter reads it through :func:`load_programme` and sets it beside the membership data. The
book's default is the Flemish Spearhead Cluster programme (``data/programme/flanders.yml``);
a user studying another programme writes a file of the same form (see ``data/README.md``), and
:func:`describe_generated` writes one for a generated synthetic economy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import yaml

from clusterpolicy.core.provenance import track_input

STATUSES = ("stated", "choice")


class ProgrammeFileError(ValueError):
    """The programme file breaks its form; the message names the file, the entry and the rule."""


@dataclass(frozen=True)
class Programme:
    name: str
    region: str
    launch_year: int
    legal_basis: dict[str, Any] | None
    clusters: pd.DataFrame  # name, domain, start_year, event, status, source
    facts: pd.DataFrame  # section, item, value, status, source


def _require(entry: Mapping[str, Any], keys: tuple[str, ...], where: str, path: str) -> None:
    missing = [k for k in keys if k not in entry or entry[k] in (None, "")]
    if missing:
        raise ProgrammeFileError(f"{path}: {where} lacks {', '.join(missing)}")
    status = entry.get("status")
    if status is not None and status not in STATUSES:
        raise ProgrammeFileError(f"{path}: {where}: status must be one of {STATUSES}, got {status!r}")


def load_programme(path: str | os.PathLike[str]) -> Programme:
    """Read and check a programme file (recorded as an input of the running chapter)."""
    text = track_input(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProgrammeFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProgrammeFileError(f"{path}: expected a mapping with programme, clusters, ...")
    _require(data, ("programme", "region", "launch_year", "clusters"), "the file", str(path))
    rows = []
    for i, cluster in enumerate(data["clusters"], start=1):
        _require(cluster, ("name", "start_year", "status"), f"cluster {i}", str(path))
        if not isinstance(cluster["start_year"], int):
            raise ProgrammeFileError(f"{path}: cluster {cluster['name']!r}: start_year must be a year")
        rows.append({"name": cluster["name"], "domain": cluster.get("domain", ""),
                     "start_year": cluster["start_year"], "event": cluster.get("event", ""),
                     "status": cluster["status"], "source": cluster.get("source")})
    clusters = pd.DataFrame(rows)
    if clusters["name"].duplicated().any():
        raise ProgrammeFileError(f"{path}: cluster names must be unique")
    facts = []
    for section in ("funding", "membership"):
        for i, fact in enumerate(data.get(section) or [], start=1):
            _require(fact, ("item", "value", "status"), f"{section} entry {i}", str(path))
            facts.append({"section": section, "item": fact["item"], "value": str(fact["value"]),
                          "status": fact["status"], "source": fact.get("source")})
    return Programme(name=data["programme"], region=data["region"],
                     launch_year=int(data["launch_year"]), legal_basis=data.get("legal_basis"),
                     clusters=clusters,
                     facts=pd.DataFrame(facts, columns=["section", "item", "value", "status",
                                                        "source"]))


def describe_generated(truth: Mapping[str, Any]) -> dict[str, Any]:
    """A programme file for a synthetic economy made by :mod:`clusterpolicy.synthetic`."""
    shape = truth["shape"]
    return {
        "programme": f"Synthetic cluster programme ({shape['name']} shape)",
        "region": shape.get("region") or shape["name"],
        "launch_year": min(c["start_year"] for c in shape["clusters"]),
        "clusters": [{"name": c["name"], "domain": c.get("label", ""),
                      "start_year": c["start_year"], "event": "generated",
                      "status": "choice", "source": None} for c in shape["clusters"]],
    }
