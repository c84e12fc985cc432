"""The book's shared parameters: one value for each setting that several chapters use.

A chapter takes a shared parameter by naming it with a type and no value in its cell tagged
``parameters`` (``seed: int``); the build gives it the value declared here, or the run's value
(``--params FILE`` or ``-p NAME VALUE``), which then reaches every chapter that names it. So
``-p degree 3`` changes the TFP of every chapter that uses TFP, and the default seed, the TFP
settings and the programme's clusters are each written once, where they belong.

Data paths are relative to the chapter that reads them (every chapter lives in ``chapters/``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from clusterpolicy.core.seeding import DEFAULT_SEED
from clusterpolicy.data.schemas import DEFAULT_CLUSTERS
from clusterpolicy.studies.productivity import TFP_SETTINGS

#: Every shared parameter with its default value (read-only).
SHARED: MappingProxyType[str, Any] = MappingProxyType({
    # the default data: synthetic, written by `python -m clusterpolicy synth`
    "panel_path": "../data/synthetic/panel.parquet",
    "membership_path": "../data/synthetic/membership.csv",
    "techfirms_path": "../data/synthetic/techfirms.csv",
    "programme_path": "../data/programme/flanders.yml",
    "clusters": list(DEFAULT_CLUSTERS),
    # the studies' published findings, stated once (data/facts/published.yml)
    "facts_path": "../data/facts/published.yml",
    "seed": DEFAULT_SEED,
    # how TFP is measured wherever it is used (chapters 03, 04 and 06)
    "degree": TFP_SETTINGS.degree,
    "min_obs": TFP_SETTINGS.min_obs,
    # the Monte Carlo grid (chapters 03 and appendix): kept with the book, keyed by its code
    "montecarlo_store": "../data/montecarlo",
    "montecarlo_replications": 500,
    "montecarlo_recompute": False,
    "montecarlo_seed": DEFAULT_SEED,
    # where parallel work runs
    "n_jobs": -1,
    "dask_scheduler": "",
})
