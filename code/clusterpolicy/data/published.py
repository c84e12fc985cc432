"""The published findings that the book compares its results with (``data/facts/published.yml``).

One file states each published number once, with its source; the pages that state or score a
published number read it from here (through the shared parameter ``facts_path``), and the
programme's own facts (launch year, clusters) come from the programme file that the facts file
names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clusterpolicy.core.provenance import track_input
from clusterpolicy.data.programme import load_programme


class FactsFileError(ValueError):
    """The facts file breaks its form; the message names the file, the entry and the rule."""


@dataclass(frozen=True)
class EffectRange:
    """A published range of effects (log points), with its source and wording."""

    low: float
    high: float
    source: str
    words: str

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the range (ends included)."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Study1Facts:
    """What Angelino, Czarnitzki & Volckaert (2024) published, and the programme they studied.

    Attributes
    ----------
    headline
        The effect of membership on log TFP in the study's preferred specification.
    scored
        The published range the book scores its estimates against.
    ranges
        Every published range, by name (``working_paper``, ``summary``).
    first_year, last_year
        The study's panel years.
    firms_more_than
        The estimation sample has more firms than this.
    launch_year, n_clusters
        From the programme file: the programme's launch year and its number of clusters.
    size_heterogeneity_significant
        Whether the study found the effect to differ significantly by firm size.
    """

    reference: str
    headline: float
    headline_source: str
    scored: EffectRange
    ranges: Mapping[str, EffectRange]
    first_year: int
    last_year: int
    firms_more_than: int
    launch_year: int
    n_clusters: int
    size_heterogeneity_significant: bool


def _get(data: Mapping[str, Any], dotted: str, path: str) -> Any:
    node: Any = data
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise FactsFileError(f"{path}: entry {dotted!r} is missing (at {key!r})")
        node = node[key]
    return node


def load_study1(path: str | os.PathLike[str]) -> Study1Facts:
    """Read the study-1 facts (recorded, with the programme file, as inputs of the page)."""
    text = track_input(path).read_text(encoding="utf-8")
    where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FactsFileError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise FactsFileError(f"{where}: expected a mapping with programme and study1")
    programme = load_programme(Path(path).parent / _get(data, "programme", where))
    ranges = {name: EffectRange(float(_get(entry, "low", where)), float(_get(entry, "high", where)),
                                str(_get(entry, "source", where)), str(_get(entry, "words", where)))
              for name, entry in _get(data, "study1.effect_on_tfp.ranges", where).items()}
    scored = str(_get(data, "study1.effect_on_tfp.scored", where))
    if scored not in ranges:
        raise FactsFileError(f"{where}: study1.effect_on_tfp.scored names {scored!r}, which is not "
                             f"one of the ranges ({', '.join(ranges)})")
    for name, effect_range in ranges.items():
        if not effect_range.low <= effect_range.high:
            raise FactsFileError(f"{where}: range {name!r}: low must not exceed high")
    return Study1Facts(
        reference=str(_get(data, "study1.reference", where)),
        headline=float(_get(data, "study1.effect_on_tfp.headline.value", where)),
        headline_source=str(_get(data, "study1.effect_on_tfp.headline.source", where)),
        scored=ranges[scored],
        ranges=ranges,
        first_year=int(_get(data, "study1.panel_years.first", where)),
        last_year=int(_get(data, "study1.panel_years.last", where)),
        firms_more_than=int(_get(data, "study1.firms_in_sample.more_than", where)),
        launch_year=programme.launch_year,
        n_clusters=len(programme.clusters),
        size_heterogeneity_significant=bool(
            _get(data, "study1.size_heterogeneity.significant", where)),
    )
