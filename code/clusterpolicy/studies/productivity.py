"""Firm-year log TFP for the chapters that take it as an outcome (04, 06), computed once.

The productivity chapter (03) shows how the production functions are estimated; the
cluster-effect chapters need the resulting TFP panel. Rather than read chapter 03's output
(chapters never read each other's outputs), each calls :func:`firm_tfp`, which estimates the
production functions industry by industry and keeps the result in an on-disk cache keyed on
the SHA-256 of the input files, the estimation settings and the helper package's source. The
build points the cache at ``_build/.cache/work`` (``CLUSTERPOLICY_WORK_CACHE``); without it
nothing is cached.

When membership is the treatment whose effect on TFP is estimated next, membership must be
allowed to shift productivity in its law of motion, ``g(omega_{t-1}, D_{t-1}, D_t)`` (De
Loecker 2013); otherwise Ackerberg-Caves-Frazer attributes part of the effect to the inputs.
That is the default here (``law_of_motion="member"``).
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from clusterpolicy.core import provenance
from clusterpolicy.data import read, samples
from clusterpolicy.estimators import production

CACHE_FORMAT = 1


@dataclass(frozen=True)
class TFPSettings:
    """How firm-year TFP is measured wherever the book uses it as an outcome.

    Attributes
    ----------
    method
        Production-function estimator (:func:`clusterpolicy.estimators.production.estimate`).
    degree
        Total degree of the first-stage polynomial (2 reproduces R prodest).
    min_obs
        Minimum usable firm-years of an industry; smaller industries are pooled.
    law_of_motion
        ``"member"``: membership ``D_t``, ``D_{t-1}`` enter the law of motion of productivity
        (control-function methods); ``"none"``: they do not.
    by
        Industry column.
    """

    method: Literal["acf", "lp", "wooldridge", "ols", "fe"] = "acf"
    degree: int = 2
    min_obs: int = 300
    law_of_motion: Literal["member", "none"] = "member"
    by: str = "nace2"


#: The book's TFP settings (the defaults of the shared parameters ``degree`` and ``min_obs``).
TFP_SETTINGS = TFPSettings()

# Value added on labour and capital, materials the proxy (LP/ACF/Wooldridge).
Y, FREE, STATE, PROXY = "log_value_added", ["log_employment"], ["log_capital"], "log_materials"


@dataclass
class FirmTFP:
    """The TFP panel and how it was obtained.

    Attributes
    ----------
    data
        One row per usable firm-year: ``firm_id``, ``year``, ``nace2``, ``cohort`` (first join
        year, 0 for never-members), ``member`` (0/1), ``log_tfp`` and the log inputs, plus the
        panel's other columns.
    production
        The per-industry production-function estimates (:class:`production.ProductionByResults`).
    sample
        Rows read, dropped by reason (logs of non-positive values, no TFP) and used.
    notes
        Warnings raised while estimating (e.g. several ACF roots), for the page to show.
    settings
        The arguments of the estimation.
    """

    data: pd.DataFrame
    production: production.ProductionByResults
    sample: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False


def _cache_file(inputs: Sequence[str], settings: dict[str, Any]) -> Path | None:
    directory = os.environ.get(provenance.WORK_CACHE_ENV)
    if not directory:
        return None
    key = provenance.sha256_text(json.dumps(
        {"format": CACHE_FORMAT, "inputs": [provenance.sha256_file(p) for p in inputs],
         "settings": settings, "package": provenance.package_source_digest()},
        sort_keys=True, default=str))
    return Path(directory) / f"tfp-{key[:32]}.pkl"


def tfp_sample(panel: pd.DataFrame, membership: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The estimation sample with membership status, and its sample-construction table."""
    sample, table = samples.sample_construction(panel)
    status = samples.membership_status(sample, membership)
    sample = sample.assign(cohort=status["cohort"].to_numpy(), member=status["member"].to_numpy())
    return sample, table


def firm_tfp(
    panel_path: str | os.PathLike[str],
    membership_path: str | os.PathLike[str],
    *,
    clusters: Sequence[str] | None = None,
    settings: TFPSettings = TFP_SETTINGS,
    n_jobs: int | None = -1,
) -> FirmTFP:
    """Estimate production functions per industry and return firm-year log TFP.

    Parameters
    ----------
    panel_path, membership_path
        The firm panel and the cluster-membership file (validated by
        :mod:`clusterpolicy.schemas`; both are recorded as inputs of the running chapter).
    clusters
        Cluster names the membership file may use (default: the programme's seven).
    settings
        How TFP is measured (:class:`TFPSettings`; the book's are :data:`TFP_SETTINGS`).
    n_jobs
        Workers for the per-industry estimation (joblib).
    """
    method, law_of_motion, degree = settings.method, settings.law_of_motion, settings.degree
    by, min_obs = settings.by, settings.min_obs
    inputs = [str(provenance.track_input(panel_path)), str(provenance.track_input(membership_path))]
    settings = {"clusters": list(clusters) if clusters else None, "method": method,
                "law_of_motion": law_of_motion, "degree": degree, "by": by, "min_obs": min_obs}
    cache = _cache_file(inputs, settings)
    if cache is not None and cache.is_file():
        with cache.open("rb") as handle:
            cached: FirmTFP = pickle.load(handle)
        cached.from_cache = True
        return cached

    panel = read.load_panel(panel_path)
    membership = read.load_membership(membership_path, clusters=clusters, panel=panel)
    sample, table = tfp_sample(panel, membership)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", production.ProductionWarning)
        fit = production.estimate(
            sample, method, Y, FREE, STATE,
            None if method in ("ols", "fe") else PROXY,
            "firm_id", "year", degree, by=by, min_obs=min_obs, n_jobs=n_jobs,
            law_of_motion_controls=(["member"] if law_of_motion == "member"
                                    and method in ("lp", "acf") else None),
        )
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    sample = sample.assign(log_tfp=fit.productivity().to_numpy())
    missing = int(sample["log_tfp"].isna().sum())
    used = sample.dropna(subset=["log_tfp"]).reset_index(drop=True)
    table = pd.concat([
        table.drop(index="used"),
        pd.DataFrame({"rows dropped": [missing, 0], "rows remaining": [len(used), len(used)],
                      "firms remaining": [used["firm_id"].nunique()] * 2},
                     index=pd.Index(["dropped: no TFP (industry not estimated)", "used"],
                                    name=table.index.name)),
    ])
    result = FirmTFP(used, fit, table, notes, settings)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)
    return result
