"""The replication scorecard: each published claim, what this run finds, and a verdict.

The scorecard reads the numbers the chapters glued (from the run manifest, the one channel
between a run's pages) and applies to each claim an explicit rule. A claim whose numbers a run
did not produce is "not testable with these data", with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clusterpolicy.data.published import EffectRange, Study1Facts
from clusterpolicy.studies import contract

REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE = "reproduced", "not reproduced", "not testable with these data"
Z95 = 1.959963984540054


class Glue:
    """Glued values of a run, read by page (file stem) and name through the pages' contract
    (:mod:`clusterpolicy.studies.contract`): an undeclared or unglued name is an error, and only
    a value the data could not give is :class:`~clusterpolicy.studies.contract.NotReported`."""

    def __init__(self, manifest: Mapping[str, Any], facts: Study1Facts):
        self.manifest = manifest
        self.facts = facts

    def get(self, chapter: str, name: str) -> Any:
        return contract.read(self.manifest, chapter, name)


@dataclass(frozen=True)
class Claim:
    study: str
    claim: str
    source: str
    rule: str
    evaluate: Callable[[Glue], tuple[str, str]]  # -> (what this run finds, verdict)


def percent_range(effect_range: EffectRange) -> str:
    """A published range as the studies word it, e.g. ``1% to 4.4%``."""
    return f"{100 * effect_range.low:g}% to {100 * effect_range.high:g}%"


def _headline(glue: Glue) -> tuple[str, str]:
    est = float(glue.get("04_cluster_effects", "effect_conditional_did"))
    se = float(glue.get("04_cluster_effects", "effect_conditional_did_se"))
    significant = est - Z95 * se > 0
    finding = (f"conditional DiD {est:.4f} log points (SE {se:.4f}; "
               f"95% CI {est - Z95 * se:.4f} to {est + Z95 * se:.4f})")
    return finding, REPRODUCED if significant and glue.facts.scored.contains(est) else NOT_REPRODUCED


def _range(glue: Glue) -> tuple[str, str]:
    names = {"conditional DiD": "effect_conditional_did", "TWFE": "effect_twfe",
             "Callaway–Sant'Anna": "effect_cs_simple"}
    values = {label: float(glue.get("04_cluster_effects", name)) for label, name in names.items()}
    finding = "; ".join(f"{label} {value:.4f}" for label, value in values.items())
    inside = all(glue.facts.scored.contains(v) for v in values.values())
    return finding, REPRODUCED if inside else NOT_REPRODUCED


def _size(glue: Glue) -> tuple[str, str]:
    p = float(glue.get("04_cluster_effects", "size_test_p"))
    return (f"test of equal effects across size classes: p = {p:.3f}",
            REPRODUCED if p >= 0.05 else NOT_REPRODUCED)


def _selection(glue: Glue) -> tuple[str, str]:
    parts, ok = [], True
    for key, label in (("size", "log employment"), ("age", "age"), ("capint", "log capital per FTE")):
        diff = float(glue.get("02_data", f"diff_{key}"))
        p = float(glue.get("02_data", f"p_{key}"))
        parts.append(f"{label} {diff:+.3f} (p = {p:.2g})")
        ok = ok and diff > 0 and p < 0.05
    return "members minus non-members before the programme: " + "; ".join(parts), \
        REPRODUCED if ok else NOT_REPRODUCED


def _g(glue: Glue, name: str) -> float:
    return float(glue.get("05_serial_innovators", name))


def _both_gain(glue: Glue) -> str:
    return "; ".join(
        f"{margin}: AME serial {_g(glue, f'ame_{margin}_serial'):.3f} "
        f"(p = {_g(glue, f'ame_{margin}_serial_p'):.2g}), non-serial "
        f"{_g(glue, f'ame_{margin}_nonserial'):.3f} (p = {_g(glue, f'ame_{margin}_nonserial_p'):.2g})"
        for margin in contract.MARGINS)


def _decreasing(glue: Glue) -> str:
    return "; ".join(
        f"{margin}: non-serial curvature {_g(glue, f'curv_{margin}'):.3f} "
        f"(p = {_g(glue, f'curv_{margin}_p'):.2g}), turning point z = {_g(glue, f'tp_{margin}'):.2f}"
        for margin in contract.MARGINS)


def _gain_more(glue: Glue) -> str:
    return "; ".join(
        f"{margin}: AME serial minus non-serial {_g(glue, f'ame_{margin}_diff'):.3f} "
        f"(p = {_g(glue, f'ame_{margin}_diff_p'):.2g})"
        for margin in contract.MARGINS)


def _study2(verdict: str, statistic: Callable[[Glue], str]) -> Callable[[Glue], tuple[str, str]]:
    """Chapter 5 computes the verdict (its rules are stated there); the scorecard shows it with
    the statistics behind it."""

    def evaluate(glue: Glue) -> tuple[str, str]:
        value = str(glue.get("05_serial_innovators", verdict))
        if value not in (REPRODUCED, NOT_REPRODUCED):
            raise contract.NotReported(f"05_serial_innovators reported {verdict} = {value!r}")
        try:
            detail = statistic(glue)
        except contract.NotReported:
            detail = "statistics: see chapter 5"
        return detail, value

    return evaluate


def claims(facts: Study1Facts) -> tuple[Claim, ...]:
    """The published claims, with the published range of ``facts`` in their rules."""
    published = percent_range(facts.scored)
    between = published.replace(" to ", " and ")
    return (
        Claim("Study 1", f"Membership raised members' TFP by about {100 * facts.headline:g}%",
              facts.reference,
              f"conditional DiD estimate significant at 5% and inside the published {published}",
              _headline),
        Claim("Study 1", f"The effect lies between {between} across specifications",
              facts.reference,
              f"conditional DiD, TWFE and Callaway–Sant'Anna (simple) all inside {published}", _range),
        Claim("Study 1", "The effect does not differ significantly by firm size", "itif2024flemish",
              "test of equal effects across size classes not rejected at 5%", _size),
        Claim("Study 1", "Members are larger, older and more capital intensive", "itif2024flemish",
              "all three pre-programme differences positive and significant at 5% (Welch)",
              _selection),
        Claim("Study 2", "Both serial and non-serial innovators gain from clustering",
              "libaers2011highly",
              "average marginal effect of clustering positive and significant for each group, on both "
              "margins (chapter 5)",
              _study2("verdict_both_gain", _both_gain)),
        Claim("Study 2", "Non-serial innovators show decreasing returns to clustering",
              "libaers2011highly",
              "non-serial curvature negative and significant with the turning point inside the data, "
              "on both margins (chapter 5)",
              _study2("verdict_nonserial_decreasing", _decreasing)),
        Claim("Study 2", "Serial innovators gain more from clustering than non-serial innovators",
              "libaers2011highly",
              "serial minus non-serial average marginal effect positive and significant, on both "
              "margins (chapter 5)",
              _study2("verdict_serial_gain_more", _gain_more)),
    )


def scorecard(manifest: Mapping[str, Any], facts: Study1Facts) -> pd.DataFrame:
    """One row per claim: study, claim, source, rule, what this run finds, verdict.

    Parameters
    ----------
    manifest
        The run manifest (its glued values are read through the pages' contract).
    facts
        The published findings (:func:`clusterpolicy.data.published.load_study1`).
    """
    glue = Glue(manifest, facts)
    rows = []
    for claim in claims(facts):
        try:
            finding, verdict = claim.evaluate(glue)
        except contract.NotReported as missing:
            finding, verdict = f"not reported: {missing}", NOT_TESTABLE
        rows.append({"study": claim.study, "claim": claim.claim, "source": claim.source,
                     "rule": claim.rule, "this run": finding, "verdict": verdict})
    return pd.DataFrame(rows)
