"""The contract between pages: every name that one page glues and another page reads.

A page reads another page's results only through the run manifest, and only by a name declared
here (:data:`EXPORTS`). So renaming a result is one change in one place, and a name that is read
but not glued fails loudly:

* the build checks, after each chapter, that it glued every name it exports here
  (:func:`missing_exports`); a chapter that stopped early (``report.require``) is excused, and so
  is a name whose *condition* flag the chapter glued as false (the data could not give it);
* :func:`read` raises :class:`ContractError` for a name that is not declared, or that a page
  did not glue without being excused; it raises :class:`NotReported` only for a name the data
  could not give (the page stopped, or its condition is false), which a reader of the
  scorecard sees as "not testable with these data";
* ``tests/test_contract.py`` checks that every ``{glue}`page::name``` reference in the book's
  Markdown is declared here, and that the default build glues every declared name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

#: The glued name of the reason a page stopped early (``clusterpolicy.book.report.require``).
STOPPED = "page_stopped"

#: The margins of internationalization of study 2 (chapter 05), in the order pages show them.
MARGINS = ("initiation", "intensity")
#: The pre-programme member/non-member comparisons of chapter 02.
SELECTION_KEYS = ("size", "age", "capint")


def _always(*names: str) -> dict[str, str | None]:
    return dict.fromkeys(names)


def _margin_statistics(margin: str) -> dict[str, str | None]:
    return _always(f"ame_{margin}_serial", f"ame_{margin}_serial_p",
                   f"ame_{margin}_nonserial", f"ame_{margin}_nonserial_p",
                   f"ame_{margin}_diff", f"ame_{margin}_diff_p",
                   f"curv_{margin}", f"curv_{margin}_p", f"tp_{margin}")


#: Page (file stem) -> name -> the flag that must be glued true for the name to exist (None:
#: always glued unless the page stopped early).
EXPORTS: Mapping[str, Mapping[str, str | None]] = MappingProxyType({
    "02_data": MappingProxyType(
        {name: "members_compared" for key in SELECTION_KEYS for name in (f"diff_{key}", f"p_{key}")}
    ),
    "04_cluster_effects": MappingProxyType(
        _always("has_truth", "effect_conditional_did", "effect_conditional_did_se",
                "effect_twfe", "effect_twfe_se", "effect_cs_simple", "effect_cs_simple_se",
                "cohort_years", "equivalence_bound")
        | {"size_contrast": "size_interaction_computed",
           "size_contrast_se": "size_interaction_computed", "true_effect": "has_truth"}
    ),
    "05_serial_innovators": MappingProxyType(
        _always("has_truth", "verdict_both_gain", "verdict_nonserial_decreasing",
                "verdict_serial_gain_more",
                # the power of each rule and of the three together (the Monte Carlo grid's
                # cell of the data's world and size), read by the scorecard through
                # clusterpolicy.studies.scorecard.rule_power
                "mc_rate_verdict_both_gain", "mc_rate_verdict_nonserial_decreasing",
                "mc_rate_verdict_serial_gain_more", "mc_rate_joint")
        | {name: cond for margin in MARGINS for name, cond in _margin_statistics(margin).items()}
    ),
    "06_synthesis": MappingProxyType(
        _always("has_truth", "effect_innovative", "effect_other", "effect_diff_p",
                "verdict_innovative_differ", "effect_export_initiation",
                "effect_export_initiation_se", "effect_export_intensity",
                "effect_export_intensity_se")
    ),
    "appendix_scorecard": MappingProxyType(
        _always("n_claims", "n_recovered", "n_not_recovered", "n_false_negative",
                "n_false_positive", "n_reproduced", "n_not_reproduced", "n_not_testable",
                # the published facts, read once by the scorecard and quoted elsewhere
                "range_low", "range_high", "published_headline", "programme_launch_year",
                "programme_timeline")
    ),
})


class ContractError(RuntimeError):
    """A page reads a name that is not declared, or a page did not glue a name it exports."""


class NotReported(LookupError):
    """The data of this run could not give the name (the page stopped, or a condition failed)."""


def _glue_of(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {name.rsplit("/", 1)[-1]: entry.get("glue", {})
            for name, entry in manifest["chapters"].items()}


def stopped_pages(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Pages of a run (by file stem, e.g. ``04_cluster_effects``) that stopped early, with the
    reason each gave to ``require``; read from the run manifest."""
    return {page: glue[STOPPED] for page, glue in _glue_of(manifest).items() if STOPPED in glue}


def missing_exports(page: str, glue: Mapping[str, Any]) -> list[str]:
    """Names that ``page`` exports, that its glued values lack, and that nothing excuses."""
    if STOPPED in glue:
        return []
    return [name for name, condition in EXPORTS.get(page, {}).items()
            if name not in glue and (condition is None or glue.get(condition) is not False)]


def read(manifest: Mapping[str, Any], page: str, name: str) -> Any:
    """The value that ``page`` glued as ``name`` in the run of ``manifest``.

    Raises
    ------
    ContractError
        ``name`` is not declared in :data:`EXPORTS` for ``page``, or the page did not glue it
        and neither stopped early nor glued its condition as false.
    NotReported
        The data of this run could not give the value (with the reason).
    """
    declared = EXPORTS.get(page, {})
    if name not in declared:
        raise ContractError(f"{page}::{name} is read by another page but not declared in "
                            "clusterpolicy.studies.contract.EXPORTS")
    glue = _glue_of(manifest).get(page)
    if glue is None:
        raise ContractError(f"the run has no page {page}")
    if name in glue:
        return glue[name]
    if STOPPED in glue:
        raise NotReported(f"{page} stopped early on these data (its page says why) and did not "
                          f"report {name}")
    condition = declared[name]
    if condition is not None and glue.get(condition) is False:
        raise NotReported(f"{page} could not compute {name} on these data ({condition} is false)")
    raise ContractError(f"{page} did not glue {name}, which it exports")
