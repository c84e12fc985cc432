"""Difference-in-differences for the cluster-membership chapter.

Entry points (all return the package's one results shape, with ``notes``):

* :func:`conditional_did` - the study's design: propensity-score matching on pre-treatment
  covariates, then DiD on the matched sample (Angelino, Czarnitzki & Volckaert 2024).
* :func:`twfe`, :func:`twfe_event_study` - two-way fixed effects (R fixest).
* :func:`callaway_santanna` - group-time ATT(g,t), aggregations, pre-test (R did).
* :func:`sun_abraham` - interaction-weighted event study (R fixest ``sunab``).
* :func:`bacon`, :func:`twfe_weights` - what the TWFE coefficient averages.
* :func:`honest_did` - sensitivity to violations of parallel trends (R HonestDiD).
* :func:`did2s` - Gardner's two-stage DiD (R did2s; static = BJS imputation estimate).
"""

from ._common import DiDResults
from .bacon import BaconResults, bacon, twfe_weights
from .conditional import ConditionalDiDResults, conditional_did
from .regression import SunAbrahamResults, did2s, sun_abraham, twfe, twfe_event_study
from .staggered import (
    AggregateResults,
    CallawaySantAnnaResults,
    HonestDiDResults,
    callaway_santanna,
    honest_did,
)

__all__ = [
    "AggregateResults",
    "BaconResults",
    "CallawaySantAnnaResults",
    "ConditionalDiDResults",
    "DiDResults",
    "HonestDiDResults",
    "SunAbrahamResults",
    "bacon",
    "callaway_santanna",
    "conditional_did",
    "did2s",
    "honest_did",
    "sun_abraham",
    "twfe",
    "twfe_event_study",
    "twfe_weights",
]
