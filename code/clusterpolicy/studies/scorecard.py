"""The replication scorecard: each published claim, what this run finds, and a verdict.

The scorecard reads the numbers the chapters glued (from the run manifest, the one channel
between a run's pages) and applies to each claim an explicit rule. The verdict is worded for
the data (:mod:`clusterpolicy.studies.verdicts`): on synthetic data with a truth file a claim's
pattern is recovered or not (a miss where the truth has the pattern is a false negative, shown
with the power of its rule), on real data it is reproduced or not. A claim whose numbers a run
did not produce is "not testable with these data", with the reason. A claim of *no difference*
(the effect by firm size) fires only when the data show equivalence; a difference neither shown
absent nor shown present is *not detected*, which is not testable either, and is shown with its
minimum detectable difference (:mod:`clusterpolicy.studies.equivalence`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clusterpolicy.data.published import EffectRange, Study1Facts
from clusterpolicy.studies import contract, equivalence, verdicts
from clusterpolicy.studies.verdicts import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    NOT_RECOVERED,
    NOT_REPRODUCED,
    NOT_TESTABLE,
    RECOVERED,
    REPRODUCED,
)
from clusterpolicy.synthetic import is_synthetic_run

Z95 = 1.959963984540054

#: The generator whose truth files :func:`study1_truth_patterns` can read.
PANEL_GENERATOR = "clusterpolicy.synthetic.generate_panel"
#: The page of study 2, whose Monte Carlo gives the power of its rules.
STUDY2_PAGE = "05_serial_innovators"
#: The glue names of study 2's verdicts on that page.
STUDY2_VERDICTS = ("verdict_both_gain", "verdict_nonserial_decreasing", "verdict_serial_gain_more")


def study1_truth_patterns(truth: Mapping[str, Any], facts: Study1Facts) -> dict[str, bool | None]:
    """Whether the truth of a synthetic panel has the pattern of each study-1 claim.

    * ``headline`` and ``range``: the true effect ``theta`` lies inside the published range;
    * ``size``: the effect does not differ by firm size: in a truth file of the panel generator
      (:data:`PANEL_GENERATOR`), ``theta_size`` is zero (absent in files written before the
      generator had it, whose effect depended only on the years since joining);
    * ``selection``: members are selected on size, age and capital intensity
      (``select_size``, ``select_age``, ``select_capint`` all positive).

    Parameters
    ----------
    truth : mapping
        The panel's truth file (:func:`clusterpolicy.synthetic.read_truth`).
    facts : ~clusterpolicy.data.published.Study1Facts
        The published findings (the range scored).

    Returns
    -------
    dict of str to bool or None
        Claim key -> whether the truth has its pattern; ``None`` where the truth file cannot
        say (another generator, or a parameter it does not record).
    """
    theta = truth.get("treatment", {}).get("theta")
    params = truth.get("params", {})
    selection = [params.get(f"select_{key}") for key in contract.SELECTION_KEYS]
    return {
        "headline": None if theta is None else facts.scored.contains(float(theta)),
        "range": None if theta is None else facts.scored.contains(float(theta)),
        "size": (float(params.get("theta_size", 0.0)) == 0.0
                 if truth.get("generator") == PANEL_GENERATOR else None),
        "selection": (None if any(v is None for v in selection)
                      else all(float(v) > 0 for v in selection)),
    }


def rule_power(manifest: Mapping[str, Any], verdict: str) -> float | None:
    """The power of a study-2 rule: the share of draws from the synthetic generator in which it
    fires (the Monte Carlo grid's cell of the data's world and size, which chapter 5 shows), or
    ``None`` when the run did not report it.

    The one place where pages read the power of the rules.

    Parameters
    ----------
    manifest : mapping
        The run manifest.
    verdict : str
        The glue name of the verdict (one of :data:`STUDY2_VERDICTS`), or ``joint`` for the
        share of draws in which all three rules fire together.

    Returns
    -------
    float or None
    """
    try:
        return float(contract.read(manifest, STUDY2_PAGE, f"mc_rate_{verdict}"))
    except contract.NotReported:
        return None


def study2_verdicts(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Chapter 5's verdicts as the pages show them: a false negative with the power of its
    rule (:func:`clusterpolicy.studies.verdicts.with_power`).

    Parameters
    ----------
    manifest : mapping
        The run manifest.

    Returns
    -------
    dict of str to str
        Glue name of the verdict -> its text.

    Raises
    ------
    ~clusterpolicy.studies.contract.NotReported
        Chapter 5 did not decide a verdict (it stopped on these data).
    """
    out = {}
    for name in STUDY2_VERDICTS:
        value = str(contract.read(manifest, STUDY2_PAGE, name))
        if value not in verdicts.LABELS or value == NOT_TESTABLE:
            raise contract.NotReported(f"{STUDY2_PAGE} reported {name} = {value!r}")
        out[name] = verdicts.with_power(
            value, rule_power(manifest, name) if value == FALSE_NEGATIVE else None)
    return out


def page_has_truth(manifest: Mapping[str, Any], page: str) -> bool:
    """Whether the data of a page (``04_cluster_effects``, ``05_serial_innovators``,
    ``06_synthesis``) have a synthetic-data truth file, as the page glued it (``has_truth``);
    false when the page stopped before it could say."""
    try:
        return bool(contract.read(manifest, page, "has_truth"))
    except contract.NotReported:
        return False


class Glue:
    """Glued values of a run, read by page (file stem) and name through the pages' contract
    (:mod:`clusterpolicy.studies.contract`): an undeclared or unglued name is an error, and only
    a value the data could not give is :class:`~clusterpolicy.studies.contract.NotReported`.

    With the truth file of a synthetic panel (``panel_truth``), study-1 verdicts are worded for
    synthetic data, with the truth's patterns (:func:`study1_truth_patterns`)."""

    def __init__(self, manifest: Mapping[str, Any], facts: Study1Facts,
                 panel_truth: Mapping[str, Any] | None = None):
        self.manifest = manifest
        self.facts = facts
        self.synthetic = panel_truth is not None
        self.patterns = {} if panel_truth is None else study1_truth_patterns(panel_truth, facts)

    def get(self, chapter: str, name: str) -> Any:
        return contract.read(self.manifest, chapter, name)

    def verdict(self, claim: str, fired: bool) -> str:
        """The verdict on a study-1 claim (key of :func:`study1_truth_patterns`) whose rule
        ``fired`` or not, worded for the panel's data."""
        return verdicts.label(fired, self.synthetic, self.patterns.get(claim))


@dataclass(frozen=True)
class Claim:
    study: str
    claim: str
    source: str
    rule: str
    evaluate: Callable[[Glue], tuple[str, str, str]]  # -> (what this run finds, verdict, shown)


def percent_range(effect_range: EffectRange) -> str:
    """A published range as the studies word it, e.g. ``1% to 4.4%``."""
    return f"{100 * effect_range.low:g}% to {100 * effect_range.high:g}%"


def _headline(glue: Glue) -> tuple[str, str]:
    est = float(glue.get("04_cluster_effects", "effect_conditional_did"))
    se = float(glue.get("04_cluster_effects", "effect_conditional_did_se"))
    significant = est - Z95 * se > 0
    finding = (f"conditional DiD {est:.4f} log points (SE {se:.4f}; "
               f"95% CI {est - Z95 * se:.4f} to {est + Z95 * se:.4f})")
    return finding, glue.verdict("headline", significant and glue.facts.scored.contains(est))


def _range(glue: Glue) -> tuple[str, str]:
    names = {"conditional DiD": "effect_conditional_did", "TWFE": "effect_twfe",
             "Callaway–Sant'Anna": "effect_cs_simple"}
    values = {label: float(glue.get("04_cluster_effects", name)) for label, name in names.items()}
    finding = "; ".join(f"{label} {value:.4f}" for label, value in values.items())
    inside = all(glue.facts.scored.contains(v) for v in values.values())
    return finding, glue.verdict("range", inside)


def _size(glue: Glue) -> tuple[str, str, str]:
    """Equivalence, not a non-rejection: the difference of the effect between members at the
    90th and the 10th percentile of size (chapter 4's membership x log size interaction) is
    tested against chapter 4's equivalence bound (:func:`clusterpolicy.studies.equivalence.
    equivalence`). Equivalence shown: the rule fires; a significant difference: it does not;
    neither: not detected, which is not testable, shown with the minimum detectable
    difference."""
    page = "04_cluster_effects"
    contrast = float(glue.get(page, "size_contrast"))
    se = float(glue.get(page, "size_contrast_se"))
    bound = float(glue.get(page, "equivalence_bound"))
    test = equivalence.equivalence(contrast, se, bound)
    finding = (f"effect at the 90th minus the 10th percentile of size {contrast:.4f} (SE {se:.4f}); "
               f"equivalence within ±{bound:.3f}: TOST p = {test.p_tost:.3f}; zero difference: "
               f"p = {test.p_difference:.3f}; minimum detectable difference {test.mdd:.3f}")
    if test.outcome == equivalence.NOT_DETECTED:
        return finding, NOT_TESTABLE, verdicts.not_detected(test.mdd, bound, test.power)
    verdict = glue.verdict("size", test.outcome == equivalence.NO_DIFFERENCE)
    return finding, verdict, verdict


def _selection(glue: Glue) -> tuple[str, str]:
    parts, ok = [], True
    for key, label in (("size", "log employment"), ("age", "age"), ("capint", "log capital per FTE")):
        diff = float(glue.get("02_data", f"diff_{key}"))
        p = float(glue.get("02_data", f"p_{key}"))
        parts.append(f"{label} {diff:+.3f} (p = {p:.2g})")
        ok = ok and diff > 0 and p < 0.05
    return ("members minus non-members before the programme: " + "; ".join(parts),
            glue.verdict("selection", ok))


def _g(glue: Glue, name: str) -> float:
    return float(glue.get(STUDY2_PAGE, name))


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


def _study1(evaluate: Callable[[Glue], tuple[str, str]]) -> Callable[[Glue], tuple[str, str, str]]:
    def shown(glue: Glue) -> tuple[str, str, str]:
        finding, verdict = evaluate(glue)
        return finding, verdict, verdict

    return shown


def _study2(verdict: str, statistic: Callable[[Glue], str]) -> Callable[[Glue], tuple[str, str, str]]:
    """Chapter 5 computes the verdict (its rules, and whether the truth has each pattern, are
    stated there); the scorecard shows it with the statistics behind it and, for a false
    negative, the power of the rule."""

    def evaluate(glue: Glue) -> tuple[str, str, str]:
        text = study2_verdicts(glue.manifest)[verdict]
        value = str(glue.get(STUDY2_PAGE, verdict))
        try:
            detail = statistic(glue)
        except contract.NotReported:
            detail = "statistics: see chapter 5"
        return detail, value, text

    return evaluate


def claims(facts: Study1Facts) -> tuple[Claim, ...]:
    """The published claims, with the published range of ``facts`` in their rules."""
    published = percent_range(facts.scored)
    between = published.replace(" to ", " and ")
    return (
        Claim("Study 1", f"Membership raised members' TFP by about {100 * facts.headline:g}%",
              facts.reference,
              f"conditional DiD estimate significant at 5% and inside the published {published}",
              _study1(_headline)),
        Claim("Study 1", f"The effect lies between {between} across specifications",
              facts.reference,
              f"conditional DiD, TWFE and Callaway–Sant'Anna (simple) all inside {published}",
              _study1(_range)),
        Claim("Study 1", "The effect does not differ significantly by firm size", "itif2024flemish",
              f"equivalence: the {1 - 2 * equivalence.LEVEL:.0%} interval of the difference of the "
              "effect between members at the 90th and the 10th percentile of size (membership x log "
              "size) lies within chapter 4's equivalence bounds (two one-sided tests at "
              f"{equivalence.LEVEL:.0%}); a difference significant at {equivalence.LEVEL:.0%} does not "
              "fire the rule; neither is *not detected*: not testable, shown with the minimum "
              f"detectable difference ({equivalence.LEVEL:.0%} two-sided test, "
              f"{equivalence.POWER:.0%} power)",
              _size),
        Claim("Study 1", "Members are larger, older and more capital intensive", "itif2024flemish",
              "all three pre-programme differences positive and significant at 5% (Welch)",
              _study1(_selection)),
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


def scorecard(manifest: Mapping[str, Any], facts: Study1Facts,
              panel_truth: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per claim: study, claim, source, rule, what this run finds, verdict.

    Parameters
    ----------
    manifest
        The run manifest (its glued values are read through the pages' contract).
    facts
        The published findings (:func:`clusterpolicy.data.published.load_study1`).
    panel_truth
        The truth file of the run's panel, if synthetic
        (:func:`clusterpolicy.synthetic.read_truth`); ``None`` for real data.

    Returns
    -------
    DataFrame
        Columns ``study, claim, source, rule, this run, verdict`` (one of
        :data:`clusterpolicy.studies.verdicts.LABELS`) and ``verdict shown`` (a false negative
        with the power of its rule).
    """
    glue = Glue(manifest, facts, panel_truth)
    rows = []
    for claim in claims(facts):
        try:
            finding, verdict, shown = claim.evaluate(glue)
        except contract.NotReported as missing:
            finding, verdict, shown = f"not reported: {missing}", NOT_TESTABLE, NOT_TESTABLE
        rows.append({"study": claim.study, "claim": claim.claim, "source": claim.source,
                     "rule": claim.rule, "this run": finding, "verdict": verdict,
                     "verdict shown": shown})
    return pd.DataFrame(rows)


def counts(table: pd.DataFrame) -> dict[str, int]:
    """The scorecard's summary counts, by verdict.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`scorecard`.

    Returns
    -------
    dict of str to int
        ``n_claims``; ``n_recovered``, ``n_not_recovered`` (false negatives included),
        ``n_false_negative``, ``n_false_positive`` (synthetic data); ``n_reproduced``,
        ``n_not_reproduced`` (real data); ``n_not_testable``.
    """
    n = table["verdict"].value_counts()
    return {"n_claims": len(table),
            "n_recovered": int(n.get(RECOVERED, 0)),
            "n_not_recovered": int(n.get(NOT_RECOVERED, 0) + n.get(FALSE_NEGATIVE, 0)),
            "n_false_negative": int(n.get(FALSE_NEGATIVE, 0)),
            "n_false_positive": int(n.get(FALSE_POSITIVE, 0)),
            "n_reproduced": int(n.get(REPRODUCED, 0)),
            "n_not_reproduced": int(n.get(NOT_REPRODUCED, 0)),
            "n_not_testable": int(n.get(NOT_TESTABLE, 0))}


def verdict_data(manifest: Mapping[str, Any]) -> dict[str, bool]:
    """Which data the scorecard's verdicts speak of, as the flags of the sentences that sum
    them up (on the scorecard and on the landing page).

    Study 1's claims are decided on the panel (chapter 4 says whether it has a truth file),
    study 2's on the tech-firm file (chapter 5).

    Parameters
    ----------
    manifest : mapping
        The run manifest.

    Returns
    -------
    dict of str to bool
        ``verdicts_synthetic`` (both on synthetic data: recovered or not), ``verdicts_real``
        (both on real data: reproduced or not) and ``verdicts_mixed``; exactly one is true.
    """
    kinds = {page_has_truth(manifest, page) for page in ("04_cluster_effects", STUDY2_PAGE)}
    return {"verdicts_synthetic": kinds == {True}, "verdicts_real": kinds == {False},
            "verdicts_mixed": len(kinds) == 2}


#: The landing page's three headline paragraphs and the page each quotes.
HEADLINE_PARTS = {"study1": "04_cluster_effects", "study2": STUDY2_PAGE, "together": "06_synthesis"}


@dataclass(frozen=True)
class LandingPage:
    """What the landing page quotes of a run, and which of its sentences apply.

    Attributes
    ----------
    synthetic : bool
        Whether any page of the run read a truth file (the page's data banner).
    flags : dict of str to bool
        Per headline part (:data:`HEADLINE_PARTS`): ``{part}_complete`` (its page did not stop
        early), ``{part}_synthetic`` and ``{part}_real`` (complete, on data with or without a
        truth file); and :func:`verdict_data`.
    reasons : dict of str to str
        ``{part}_stopped``: why a page stopped early (MyST Markdown).
    numbers : dict of str to float
        ``true_effect`` (study 1 on synthetic data) and ``joint_power`` (study 2 complete: the
        share of draws from the generator in which its three rules fire together).
    texts : dict of str to str
        Chapter 5's verdicts as shown (:func:`study2_verdicts`), when it is complete.
    """

    synthetic: bool
    flags: Mapping[str, bool]
    reasons: Mapping[str, str]
    numbers: Mapping[str, float]
    texts: Mapping[str, str]


def landing_page(manifest: Mapping[str, Any]) -> LandingPage:
    """The landing page's view of a run: which data each headline speaks of, and the values it
    quotes besides those the chapters glued.

    Parameters
    ----------
    manifest : mapping
        The run manifest (of the pages run so far).

    Returns
    -------
    LandingPage
    """
    stopped = contract.stopped_pages(manifest)
    flags: dict[str, bool] = {}
    reasons: dict[str, str] = {}
    for part, page in HEADLINE_PARTS.items():
        complete = page not in stopped
        truth = page_has_truth(manifest, page)
        flags |= {f"{part}_complete": complete, f"{part}_synthetic": complete and truth,
                  f"{part}_real": complete and not truth}
        if not complete:
            reasons[f"{part}_stopped"] = stopped[page]
    numbers: dict[str, float] = {}
    texts: dict[str, str] = {}
    if flags["study1_synthetic"]:
        numbers["true_effect"] = float(contract.read(manifest, "04_cluster_effects", "true_effect"))
    if flags["study2_complete"]:
        texts = study2_verdicts(manifest)
        numbers["joint_power"] = float(contract.read(manifest, STUDY2_PAGE, "mc_rate_joint"))
    return LandingPage(synthetic=is_synthetic_run(dict(manifest)),
                       flags=flags | verdict_data(manifest), reasons=reasons, numbers=numbers,
                       texts=texts)
