"""Named worlds of the two generators: the baseline and the adversarial scenarios of the Monte
Carlo grid.

The default data of the book are drawn from the **baseline** world of each generator. That world
is built for clarity, and it favours some estimators by construction: in the study-1 baseline,
materials are Leontief in value added (so Levinsohn–Petrin and Wooldridge cannot separate labour
from the proxy), productivity has no firm effect (so fixed effects are biased by construction
only through timing), selection into membership is on size, age and capital intensity alone, and
exit is unrelated to productivity; the study-2 baseline is the estimating model itself. Each
other scenario changes one of these choices, so that the Monte Carlo appendix can say which
estimator holds up where, instead of crowning the one the baseline was built around.

A study-1 scenario is a set of :class:`~clusterpolicy.synthetic.shapes.PanelParams` values
(``PANEL_SCENARIOS``, :func:`panel_params`); a study-2 scenario a set of changes to the
tech-firm truth (``TECH_SCENARIOS``, :func:`tech_truth`). ``python -m clusterpolicy synth
--scenario NAME`` writes data of one scenario, with its name in the truth files.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from clusterpolicy.synthetic.shapes import PanelParams
from clusterpolicy.synthetic.techfirms import default_tech_truth, default_threshold_response

__all__ = ["BASELINE", "PANEL_SCENARIOS", "TECH_SCENARIOS", "Scenario", "panel_params",
           "scenario_names", "tech_truth"]

#: The name of the world the book's default data come from.
BASELINE = "baseline"


@dataclass(frozen=True)
class Scenario:
    """One named world of a generator.

    Attributes
    ----------
    name : str
        Its name (a parameter value: ``synth --scenario``, the Monte Carlo page's grid).
    title : str
        A few words for tables.
    description : str
        What it changes and why, for the Monte Carlo page.
    changes : mapping
        For a study-1 scenario, :class:`~clusterpolicy.synthetic.shapes.PanelParams` fields and
        their values; for a study-2 scenario, keys of the tech-firm truth and their values
        (nested mappings are merged into the baseline's).
    pattern : bool
        Study 2: whether the published pattern (both groups gain, non-serial decreasing returns,
        serial innovators gain more) is built in: whether all three findings hold in the truth
        of its samples (``truth["structural"]["findings"]`` of
        :func:`~clusterpolicy.synthetic.generate_techfirms`). A scenario without it measures
        how often the verdict rules fire when they should not.
    """

    name: str
    title: str
    description: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    pattern: bool = True


def _scenarios(*items: Scenario) -> dict[str, Scenario]:
    return {s.name: s for s in items}


#: The study-1 worlds (firm panel and membership).
PANEL_SCENARIOS: dict[str, Scenario] = _scenarios(
    Scenario(BASELINE, "baseline",
             "The default data's world: ACF timing, materials Leontief in value added, no firm "
             "effect in productivity, selection on size, age and capital intensity, a constant "
             "effect from the join year, exit unrelated to productivity."),
    Scenario("firm-effect", "firm effect in TFP",
             "A permanent firm component of log TFP (sd 0.15) beside the AR(1) part. Inputs "
             "respond to it, which biases OLS; the control-function estimators' law of motion "
             "has no firm effect, and the within transformation removes this component but "
             "not the time-varying productivity that inputs respond to.",
             {"sigma_firm": 0.15}),
    Scenario("proxy-noise", "materials not Leontief, measured with error",
             "Materials follow capital and productivity but not labour's own shocks, so "
             "Levinsohn–Petrin and Wooldridge are identified, and log materials carry "
             "classical measurement error (sd 0.05), which no proxy estimator is immune to.",
             {"materials_labour": 0.0, "sigma_materials": 0.05}),
    Scenario("selection-level", "selection on TFP level",
             "Firms with high productivity in the year before a cluster starts are more likely "
             "to join (index coefficient 3 per log point): with mean reversion, unconditional "
             "parallel trends fail.",
             {"select_on_pre_tfp": 3.0}),
    Scenario("selection-trend", "selection on TFP trend",
             "Firms whose productivity grew over the two years before a cluster starts are more "
             "likely to join (coefficient 3 per log point of growth): an Ashenfelter-type dip in "
             "reverse, which matching on pre-period levels does not remove.",
             {"select_on_pre_trend": 3.0}),
    Scenario("industry-shocks", "industry-by-year shocks",
             "Productivity shocks common to an industry and year (sd 0.05), known to firms: "
             "clusters recruit from few industries, so members and non-members face different "
             "shocks.",
             {"sigma_industry_year": 0.05}),
    Scenario("dynamic-effect", "effect ramps up, differs by size",
             "The effect builds up over three years after joining and rises with firm scale "
             "(0.015 per standard deviation of the scale factor): averages over event times and "
             "firms differ, and TWFE's weights matter.",
             {"ramp_years": 3, "theta_size": 0.015}),
    Scenario("anticipation", "anticipation",
             "Half of the effect arrives in the year before joining (the legal basis and the "
             "calls preceded membership): the last pre-period is already treated.",
             {"anticipation": 0.5}),
    Scenario("exit", "exit of unproductive firms",
             "An extra exit hazard of up to 10% a year for the least productive firms: the "
             "balanced panel selects survivors.",
             {"exit_tfp": 0.10}),
)


#: The study-2 worlds (tech-firm cross-section).
TECH_SCENARIOS: dict[str, Scenario] = _scenarios(
    Scenario(BASELINE, "baseline",
             "The default data's world: the estimating models themselves (probit and logit "
             "indices quadratic in z with serial interactions), location exogenous."),
    Scenario("null", "no effect of clustering",
             "Clustering has no effect on either margin for either group: every verdict rule "
             "that fires here is a false positive (the size of the rules).",
             {"initiation": {"z": 0.0, "z2": 0.0, "serial_z": 0.0, "serial_z2": 0.0},
              "intensity": {"z": 0.0, "z2": 0.0, "serial_z": 0.0, "serial_z2": 0.0}},
             pattern=False),
    Scenario("linear", "same linear gain for both groups",
             "Both groups' indices rise with clustering, equally and without curvature: the "
             "rules for decreasing returns and for serial innovators gaining more should not "
             "fire. (Through the link, the AMEs differ: serial innovators' higher initiation "
             "index gives them the smaller AME of initiation.)",
             {"initiation": {"z2": 0.0, "serial_z": 0.0, "serial_z2": 0.0},
              "intensity": {"z2": 0.0, "serial_z": 0.0, "serial_z2": 0.0}},
             pattern=False),
    Scenario("endogenous-location", "location follows export potential",
             "An unobserved export potential v ~ N(0, 1) per firm raises both indices (by 0.5 "
             "v for initiation, 0.4 v for intensity) and draws firms to regions where their "
             "industry is concentrated (region weights lq^(tilt + 0.6 v)): clustering is "
             "endogenous, and the estimated effects of z carry part of v's.",
             {"location": {"endogenous": 0.6, "potential_initiation": 0.5,
                           "potential_intensity": 0.4}}),
    Scenario("regional-shocks", "regional shocks",
             "A shock common to the firms of a region (sd 0.3), added to both indices: errors "
             "are correlated within regions, where clustering varies (the Moulton problem), "
             "and the models, which leave it out, estimate coefficients slightly attenuated.",
             {"regional_shock_sd": 0.3}),
    Scenario("threshold", "threshold response",
             "The response is not the estimating model's: the index gains a logistic step in z "
             "(standardised log clustering), higher and steeper for serial innovators and at "
             "the middle of their distribution, lower, wider and early for non-serial ones, "
             "whose returns flatten beyond it. The published pattern holds (both gain, "
             "serial innovators more, non-serial returns decreasing on average), but no "
             "coefficient of the estimating models is a true parameter.",
             {"form": "threshold", "threshold": default_threshold_response()}),
)


def scenario_names(study: str) -> list[str]:
    """The scenario names of ``study`` (``"panel"`` or ``"tech"``), baseline first."""
    return list({"panel": PANEL_SCENARIOS, "tech": TECH_SCENARIOS}[study])


def _get(table: Mapping[str, Scenario], name: str, kind: str) -> Scenario:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} scenario {name!r}; known: {', '.join(table)}") from None


def panel_params(name: str = BASELINE, params: PanelParams | None = None) -> PanelParams:
    """The panel generator's parameters in scenario ``name``.

    Parameters
    ----------
    name : str, default "baseline"
        A key of ``PANEL_SCENARIOS``.
    params : ~clusterpolicy.synthetic.shapes.PanelParams, optional
        The parameters the scenario changes (default: the baseline's).

    Returns
    -------
    ~clusterpolicy.synthetic.shapes.PanelParams

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    return replace(params or PanelParams(), **dict(_get(PANEL_SCENARIOS, name, "panel").changes))


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def tech_truth(name: str = BASELINE) -> dict[str, Any]:
    """The tech-firm generator's truth in scenario ``name`` (a fresh dict, with ``scenario``).

    Parameters
    ----------
    name : str, default "baseline"
        A key of ``TECH_SCENARIOS``.

    Returns
    -------
    dict
        :func:`~clusterpolicy.synthetic.default_tech_truth` with the scenario's changes merged
        in and ``"scenario": name``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    scenario = _get(TECH_SCENARIOS, name, "tech")
    return _merge(default_tech_truth(), {**scenario.changes, "scenario": name})
