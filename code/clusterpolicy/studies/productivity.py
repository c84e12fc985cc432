"""Production functions and firm-year TFP: the study of the productivity chapter (03), and the
TFP panel that the chapters taking TFP as an outcome (04, 06) use.

The productivity chapter shows how the production functions are estimated; the cluster-effect
chapters need the resulting TFP panel. Rather than read chapter 03's output (chapters never read
each other's outputs), each calls :func:`firm_tfp`, which estimates the production functions
industry by industry and keeps the result in an on-disk cache keyed on the SHA-256 of the input
files, the estimation settings and the helper package's source. The build points the cache at
``_build/.cache/work`` (``CLUSTERPOLICY_WORK_CACHE``); without it nothing is cached.

When membership is the treatment whose effect on TFP is estimated next, membership must be
allowed to shift productivity in its law of motion, ``g(omega_{t-1}, D_{t-1}, D_t)`` (De
Loecker 2013); otherwise Ackerberg-Caves-Frazer attributes part of the effect to the inputs.
That is the default here (``law_of_motion="member"``).

How TFP is measured is declared once, in :class:`TFPSettings` (the book's are
:data:`TFP_SETTINGS`, the defaults of the shared parameters ``degree`` and ``min_obs``);
:func:`production_options` turns settings into the arguments of
:func:`clusterpolicy.estimators.production.estimate_by`, for the TFP panel and for every
estimator of the chapter alike, so the page's ACF estimates and the TFP panel's come from the
same settings.

The chapter (``03_productivity``) makes one call per result and glues what comes back:

* :func:`load_data` - the estimation sample and, for synthetic data, the truth
  (:class:`ProductivityData`);
* :func:`estimate_methods` - the six estimators by industry and ACF without membership in the
  law of motion (:class:`MethodFits`); :func:`shared_tfp_panel` - the TFP panel of
  :func:`firm_tfp`, checked against the page's ACF (:class:`SharedTFPPanel`);
  :func:`notes_markdown` - the estimators' warnings for the reader;
* :func:`sample_summary` - the sample and what each estimator leaves out
  (:class:`SampleSummary`);
* :func:`coefficient_table`, :func:`methods_table`, :func:`elasticities_figure` - the estimates
  by industry; :func:`estimator_errors` - their errors against the truth;
* :func:`diagnostics` - ACF's roots, the bootstrap and the pooling of small industries
  (:class:`Diagnostics`);
* :func:`law_of_motion_comparison` - ACF with and without membership in the law of motion
  (:class:`LawOfMotionComparison`);
* :func:`member_comparison`, :func:`tfp_distribution_figure` - TFP of members and non-members
  (:class:`MemberComparison`);
* :func:`truth_recovery` - the estimates against the truth of synthetic data
  (:class:`Recovery`).

Nothing here glues: the functions return numbers (as ``{glue name: value}`` mappings),
strings, DataFrames and matplotlib figures.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clusterpolicy import synthetic
from clusterpolicy.core import provenance
from clusterpolicy.core.notes import caught_warnings
from clusterpolicy.data import read, samples
from clusterpolicy.estimators import did, production

CACHE_FORMAT = 1

PathLike = str | os.PathLike[str]


#: How the notes of the pages that use the TFP panel name its estimation.
TFP_SOURCE = "TFP estimation (clusterpolicy.studies.productivity)"


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

# Value added on labour and capital, materials the proxy (LP/ACF/Wooldridge), investment OP's.
Y, FREE, STATE, PROXY = "log_value_added", ["log_employment"], ["log_capital"], "log_materials"
#: OP's proxy, in levels (logged by the estimator, which counts the non-positive values).
INVESTMENT = "investment"
#: The membership indicator ``D_it`` of the law of motion.
MEMBER = "member"
#: Firm and year columns of the panel.
UNIT, TIME = "firm_id", "year"
LABOUR, CAPITAL = FREE[0], STATE[0]

#: The chapter's estimators (label on the page -> method of
#: :func:`clusterpolicy.estimators.production.estimate_by`), in the order of the page's columns.
METHODS: Mapping[str, str] = {"OLS": "ols", "FE": "fe", "OP": "op", "LP": "lp", "ACF": "acf",
                              "Wooldridge": "wooldridge"}
#: The control-function estimators, which have standard errors only when bootstrapped.
CONTROL_FUNCTION = ("OP", "LP", "ACF")
#: Estimators fast enough that worker processes would cost more than they save.
SERIAL_METHODS = ("ols", "fe", "wooldridge")

#: The data banner's sentence after the synthetic-data banner, when the truth is known.
TRUTH_SENTENCE = (" Their true elasticities and productivity are known, and this page compares "
                  "the estimates with them.")
#: The data banner of a run on data without a truth file.
REAL_DATA_BANNER = ("These results are computed on the data files named in the run's parameters. "
                    "No synthetic-data truth file was found beside the panel, so the comparisons "
                    "with true elasticities and true productivity are not available.")
#: What the notes say when no estimator raised a warning.
NO_NOTES = "No estimator raised a warning on these data."
#: The two variants of ACF compared in the law-of-motion section (the first is used).
VARIANT_MEMBER, VARIANT_NONE = "ACF, membership in g (used)", "ACF, g(ω) only"


# ----------------------------------------------------------------------------------------------
# The TFP panel shared with chapters 04 and 06
# ----------------------------------------------------------------------------------------------
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
        The per-industry production-function estimates
        (:class:`~clusterpolicy.estimators.production.ProductionByResults`).
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
    """The estimation sample with membership status, and its sample-construction table.

    Parameters
    ----------
    panel, membership : pandas.DataFrame
        The validated firm panel and cluster-membership file.

    Returns
    -------
    sample : pandas.DataFrame
        The rows of :func:`clusterpolicy.data.samples.sample_construction` with ``cohort``
        (first join year, 0 for never-members) and ``member`` (0/1 in each year).
    table : pandas.DataFrame
        Rows read, dropped by reason and used.
    """
    sample, table = samples.sample_construction(panel)
    status = samples.membership_status(sample, membership)
    sample = sample.assign(cohort=status["cohort"].to_numpy(), member=status["member"].to_numpy())
    return sample, table


def production_options(settings: TFPSettings = TFP_SETTINGS, method: str | None = None,
                       ) -> dict[str, Any]:
    """The arguments of :func:`~clusterpolicy.estimators.production.estimate_by` that measure TFP.

    One place for the columns, the industry column, the pooling threshold, the first-stage
    degree, the proxy of each method and whether membership enters the law of motion, so that
    the TFP panel (:func:`firm_tfp`) and every estimator of the chapter
    (:func:`estimate_methods`) follow the same settings.

    Parameters
    ----------
    settings : TFPSettings
        How TFP is measured.
    method : str, optional
        The estimator (default ``settings.method``).

    Returns
    -------
    dict
        ``method`` and the keyword arguments ``by``, ``min_obs``, ``y``, ``free``, ``state``,
        ``proxy`` (none for OLS and FE, investment for OP, materials otherwise), ``unit``,
        ``time``, ``degree``, ``law_of_motion_controls`` (``["member"]`` for OP, LP and ACF when
        ``settings.law_of_motion == "member"``) and, for OP, ``logs`` (investment is logged).

    Examples
    --------
    >>> production_options(TFPSettings(degree=3), "lp")["degree"]
    3
    >>> production_options(method="ols")["proxy"] is None
    True
    """
    method = method or settings.method
    member = settings.law_of_motion == "member" and method in ("op", "lp", "acf")
    proxy = None if method in ("ols", "fe") else INVESTMENT if method == "op" else PROXY
    options: dict[str, Any] = {
        "method": method, "by": settings.by, "min_obs": settings.min_obs, "y": Y, "free": FREE,
        "state": STATE, "proxy": proxy, "unit": UNIT, "time": TIME, "degree": settings.degree,
        "law_of_motion_controls": [MEMBER] if member else None}
    if method == "op":
        options["logs"] = [INVESTMENT]
    return options


def _estimate(data: pd.DataFrame, options: Mapping[str, Any], **more: Any,
              ) -> tuple[production.ProductionByResults, list[str]]:
    """``estimate_by`` with its warnings as notes: the groups' warnings as the estimator words
    them (``[nace2=<group>] <message>``), then any other warning's message, each once."""
    options = dict(options)
    method = options.pop("method")
    with caught_warnings() as caught:
        fit = production.estimate_by(data, method, **options, **more)
    emitted = {" ".join(note.split()) for note in fit.notes}
    others = [m for m in caught if m not in emitted]
    return fit, [*fit.notes, *others]


def firm_tfp(
    panel_path: PathLike,
    membership_path: PathLike,
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
        :mod:`clusterpolicy.data.schemas`; both are recorded as inputs of the running chapter).
    clusters
        Cluster names the membership file may use (default: the programme's seven).
    settings
        How TFP is measured (:class:`TFPSettings`; the book's are :data:`TFP_SETTINGS`).
    n_jobs
        Workers for the per-industry estimation (joblib).

    Returns
    -------
    FirmTFP
        The panel with ``log_tfp``, the estimates, the sample table and the estimation's
        warnings as notes; from the on-disk cache when the inputs and settings are unchanged.
    """
    inputs = [str(provenance.track_input(panel_path)), str(provenance.track_input(membership_path))]
    key = {"clusters": list(clusters) if clusters else None, "method": settings.method,
           "law_of_motion": settings.law_of_motion, "degree": settings.degree, "by": settings.by,
           "min_obs": settings.min_obs}
    cache = _cache_file(inputs, key)
    if cache is not None and cache.is_file():
        with cache.open("rb") as handle:
            cached: FirmTFP = pickle.load(handle)
        cached.from_cache = True
        return cached

    panel = read.load_panel(panel_path)
    membership = read.load_membership(membership_path, clusters=clusters, panel=panel)
    sample, table = tfp_sample(panel, membership)
    fit, notes = _estimate(sample, production_options(settings), n_jobs=n_jobs)
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
    result = FirmTFP(used, fit, table, list(dict.fromkeys(notes)), key)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)
    return result


# ----------------------------------------------------------------------------------------------
# Chapter 03: the data and the truth
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProductivityData:
    """The estimation sample of the productivity chapter and, for synthetic data, the truth.

    Attributes
    ----------
    sample : pandas.DataFrame
        The estimation sample (:func:`tfp_sample`).
    construction : pandas.DataFrame
        Its sample-construction table (rows read, dropped by reason, used).
    truth : dict or None
        The panel's truth file (``None`` for real data).
    true_industries : pandas.DataFrame or None
        The true production function per industry (index: industry code as a string; columns
        ``beta_l``, ``beta_k``, ``beta_0``, ``label``, ...).
    true_tfp : pandas.Series or None
        True log TFP ``beta_0 + omega`` of each row of ``sample`` (same index), when the truth
        file could regenerate the latent productivity.
    true_shock : pandas.Series or None
        The output shock ``eps`` of each row of ``sample``, likewise.
    latent_problem : str
        Why the latent productivity could not be regenerated ("" when it could, or without a
        truth file).
    """

    sample: pd.DataFrame
    construction: pd.DataFrame
    truth: dict[str, Any] | None = None
    true_industries: pd.DataFrame | None = None
    true_tfp: pd.Series | None = None
    true_shock: pd.Series | None = None
    latent_problem: str = ""

    @property
    def has_truth(self) -> bool:
        """Whether the true elasticities are known (synthetic data)."""
        return self.true_industries is not None

    @property
    def has_latent(self) -> bool:
        """Whether the true productivity of every firm-year is known."""
        return self.true_tfp is not None

    @property
    def numbers(self) -> dict[str, int]:
        """Firm-years and firms of the sample, as ``rows_sample`` and ``firms_sample``."""
        used = self.construction.loc["used"]
        return {"rows_sample": int(used["rows remaining"]),
                "firms_sample": int(used["firms remaining"])}


def _latent_column(sample: pd.DataFrame, latent: pd.DataFrame, column: str) -> np.ndarray:
    """A latent variable of the truth, aligned with the rows of the sample."""
    return sample[[UNIT, TIME]].merge(latent[[UNIT, TIME, column]].astype({UNIT: str}),
                                      on=[UNIT, TIME], how="left")[column].to_numpy()


def load_data(panel_path: PathLike, membership_path: PathLike, *,
              clusters: Sequence[str] | None = None) -> ProductivityData:
    """Read and validate the panel and the membership file; the estimation sample and the truth.

    Parameters
    ----------
    panel_path, membership_path
        The firm panel and the cluster-membership file.
    clusters : sequence of str, optional
        Cluster names the membership file may use.

    Returns
    -------
    ProductivityData
        The sample and its construction; with a truth file beside the panel, the true
        elasticities and, regenerated from it, the true log TFP of every firm-year (or why it
        could not be regenerated).
    """
    panel = read.load_panel(panel_path)
    membership = read.load_membership(membership_path, clusters=clusters, panel=panel)
    truth = synthetic.read_truth(panel_path)
    sample, construction = tfp_sample(panel, membership)
    if truth is None:
        return ProductivityData(sample, construction)
    industries = pd.DataFrame(truth["production"]["industries"]).T
    industries.index = industries.index.astype(str)
    industries = industries.astype({"beta_l": float, "beta_k": float, "beta_0": float})
    try:
        latent = synthetic.latent_for(panel_path, panel)
    except ValueError as exc:
        return ProductivityData(sample, construction, truth, industries, latent_problem=str(exc))
    if latent is None:
        return ProductivityData(sample, construction, truth, industries)
    level = (sample["nace2"].astype(str).map(industries["beta_0"]).to_numpy()
             + _latent_column(sample, latent, "omega"))
    return ProductivityData(
        sample, construction, truth, industries,
        true_tfp=pd.Series(level, index=sample.index),
        true_shock=pd.Series(_latent_column(sample, latent, "eps"), index=sample.index))


# ----------------------------------------------------------------------------------------------
# Chapter 03: estimation
# ----------------------------------------------------------------------------------------------
def industry_estimates(fit: production.ProductionByResults) -> pd.DataFrame:
    """Each industry's elasticities and standard errors (a pooled industry gets its group's).

    Parameters
    ----------
    fit : ~clusterpolicy.estimators.production.ProductionByResults
        Estimates by industry (:func:`~clusterpolicy.estimators.production.estimate_by`).

    Returns
    -------
    pandas.DataFrame
        Index ``industry`` (code as a string); columns ``beta_l``, ``beta_k``, ``se_l``,
        ``se_k``, ``group`` (the group the industry is estimated in) and ``rts``
        (``beta_l + beta_k``). NaN for an industry whose group was not estimated.
    """
    group = fit.table["estimated_as"].astype(str)
    params = fit.params_by_group.reindex(index=group.to_numpy(), columns=[LABOUR, CAPITAL])
    ses = fit.std_errors_by_group.reindex(index=group.to_numpy(), columns=[LABOUR, CAPITAL])
    out = pd.DataFrame({
        "beta_l": params[LABOUR].to_numpy(dtype=float), "beta_k": params[CAPITAL].to_numpy(dtype=float),
        "se_l": ses[LABOUR].to_numpy(dtype=float), "se_k": ses[CAPITAL].to_numpy(dtype=float),
        "group": group.to_numpy()}, index=fit.table.index.astype(str))
    out["rts"] = out["beta_l"] + out["beta_k"]
    out.index.name = "industry"
    return out


def join_names(names: Sequence[str], empty: str) -> str:
    """Names as prose lists them: ``"A"``, ``"A and B"``, ``"A, B and C"``; ``empty`` for none.

    Examples
    --------
    >>> join_names(["OP", "LP", "ACF"], "none")
    'OP, LP and ACF'
    >>> join_names([], "none")
    'none'
    """
    if not names:
        return empty
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


@dataclass(frozen=True)
class MethodFits:
    """The chapter's estimators, each by industry, and what they had to say.

    Attributes
    ----------
    fits : dict of str to ~clusterpolicy.estimators.production.ProductionByResults
        Label (:data:`METHODS`) -> estimates by industry, in the order of the page.
    acf_none : ~clusterpolicy.estimators.production.ProductionByResults
        ACF without membership in the law of motion.
    settings : TFPSettings
        The settings of the estimation (those of the TFP panel).
    bootstrapped : tuple of str
        The control-function estimators whose standard errors are bootstrapped.
    replications : int
        Bootstrap replications of each of them.
    notes : tuple of str
        The estimators' warnings, each ``"<label>: <note>"``, in the order raised.
    """

    fits: dict[str, production.ProductionByResults]
    acf_none: production.ProductionByResults
    settings: TFPSettings
    bootstrapped: tuple[str, ...] = ()
    replications: int = 0
    notes: tuple[str, ...] = ()

    def __getitem__(self, label: str) -> production.ProductionByResults:
        """The estimates of one estimator, by its label (``"ACF"``)."""
        return self.fits[label]

    @property
    def methods(self) -> list[str]:
        """The estimators' labels, in the order of the page."""
        return list(self.fits)

    @property
    def estimates(self) -> dict[str, pd.DataFrame]:
        """Label -> :func:`industry_estimates` of that estimator."""
        return {label: industry_estimates(fit) for label, fit in self.fits.items()}

    @property
    def industries(self) -> list[str]:
        """The industries (codes as strings), in the order of the page."""
        return [str(i) for i in self.fits["ACF"].table.index]

    @property
    def texts(self) -> dict[str, str]:
        """The control-function estimators with and without bootstrapped standard errors, as
        prose lists them (``boot_list`` and ``noboot_list``)."""
        others = [m for m in CONTROL_FUNCTION if m not in self.bootstrapped]
        return {"boot_list": join_names(self.bootstrapped, "none of them"),
                "noboot_list": join_names(others, "none")}


def estimate_methods(
    sample: pd.DataFrame,
    *,
    settings: TFPSettings = TFP_SETTINGS,
    bootstrap_reps: int = 30,
    bootstrap_methods: Sequence[str] = ("acf",),
    seed: int | None = None,
    n_jobs: int | None = -1,
) -> MethodFits:
    """Estimate the production function of every industry with the six estimators.

    OLS, FE, OP (investment as the proxy), LP, ACF and Wooldridge (materials), each with the
    arguments of :func:`production_options` for ``settings``, and ACF once more without
    membership in the law of motion. The warnings the estimators raise become notes.

    Parameters
    ----------
    sample : pandas.DataFrame
        The estimation sample (:func:`tfp_sample`).
    settings : TFPSettings
        How TFP is measured: the same settings as the TFP panel's (:func:`firm_tfp`).
    bootstrap_reps : int
        Firm-block bootstrap replications for the control-function estimators named in
        ``bootstrap_methods`` (fewer than 2: none is bootstrapped).
    bootstrap_methods : sequence of str
        Methods (``"op"``, ``"lp"``, ``"acf"``) whose standard errors are bootstrapped.
    seed : int, optional
        Seed of the bootstrap.
    n_jobs : int, optional
        Workers for the per-industry estimation of OP, LP and ACF (OLS, FE and Wooldridge run
        in this process).

    Returns
    -------
    MethodFits
    """
    columns = list(dict.fromkeys([UNIT, TIME, settings.by, Y, *FREE, *STATE, PROXY, INVESTMENT,
                                  MEMBER]))
    # Only the columns the estimators use travel to the worker processes.
    data = sample[columns]
    booted = bootstrap_reps >= 2
    fits, notes = {}, []
    for label, method in METHODS.items():
        boot = ({"bootstrap": int(bootstrap_reps), "seed": None if seed is None else int(seed)}
                if booted and method in bootstrap_methods and label in CONTROL_FUNCTION else {})
        jobs = 1 if method in SERIAL_METHODS else n_jobs
        fits[label], raised = _estimate(data, production_options(settings, method), n_jobs=jobs,
                                        **boot)
        notes += [f"{label}: {note}" for note in raised]
    label = "ACF without membership in g"
    acf_none, raised = _estimate(data, production_options(replace(settings, law_of_motion="none"),
                                                          "acf"), n_jobs=n_jobs)
    notes += [f"{label}: {note}" for note in raised]
    bootstrapped = tuple(m for m in CONTROL_FUNCTION if booted and METHODS[m] in bootstrap_methods)
    return MethodFits(fits, acf_none, settings, bootstrapped,
                      int(bootstrap_reps) if bootstrapped else 0, tuple(notes))


@dataclass(frozen=True)
class SharedTFPPanel:
    """The TFP panel of :func:`firm_tfp` as the page shows it.

    Attributes
    ----------
    panel : FirmTFP
        The TFP panel that chapters 04 and 06 use.
    same_point : bool
        Whether its ACF estimates are the page's (they differ only if its cache was written
        with other settings).
    notes : tuple of str
        Its warnings (``"TFP panel: ..."``) and, when the estimates differ, a note saying so.
    """

    panel: FirmTFP
    same_point: bool
    notes: tuple[str, ...] = ()


def shared_tfp_panel(panel_path: PathLike, membership_path: PathLike, fits: MethodFits, *,
                     clusters: Sequence[str] | None = None, n_jobs: int | None = -1,
                     ) -> SharedTFPPanel:
    """The TFP panel of the next chapters, with the settings of ``fits``, checked against them.

    Parameters
    ----------
    panel_path, membership_path
        The firm panel and the cluster-membership file.
    fits : MethodFits
        The page's estimates (:func:`estimate_methods`); their settings measure the TFP.
    clusters : sequence of str, optional
        Cluster names the membership file may use.
    n_jobs : int, optional
        Workers for the per-industry estimation (joblib).

    Returns
    -------
    SharedTFPPanel
    """
    with caught_warnings() as caught:
        panel = firm_tfp(panel_path, membership_path, clusters=clusters, settings=fits.settings,
                         n_jobs=n_jobs)
    mine = panel.production.params
    page = fits["ACF"].params.reindex(mine.index)
    same = bool(np.allclose(mine.to_numpy(), page.to_numpy(), rtol=0, atol=1e-8, equal_nan=True))
    notes = [f"TFP panel: {m}" for m in caught] + [f"TFP panel: {n}" for n in panel.notes]
    if not same:
        notes.append("The cached TFP panel's ACF estimates differ from this page's ACF estimates "
                     "(the cache was written with other settings).")
    return SharedTFPPanel(panel, same, tuple(notes))


def notes_markdown(notes: Sequence[str]) -> str:
    """The estimators' notes as a Markdown list, each once; :data:`NO_NOTES` when there are none.

    Examples
    --------
    >>> print(notes_markdown(["OLS: a", "ACF: b", "OLS: a"]))
    * OLS: a
    * ACF: b
    >>> notes_markdown([]) == NO_NOTES
    True
    """
    unique = list(dict.fromkeys(notes))
    return "\n".join(f"* {n}" for n in unique) if unique else NO_NOTES


# ----------------------------------------------------------------------------------------------
# Chapter 03: the sample
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleSummary:
    """What each estimator uses of the common sample.

    Attributes
    ----------
    dropped : pandas.DataFrame
        Rows of the common sample left out by each estimator (columns), by reason and stage,
        and the observations of its estimation (last row), as floats.
    numbers : dict of str to float
        ``op_nonpositive_inv``, ``op_missing_inv`` (firm-years OP loses for want of positive
        investment) and ``op_share_lost`` (% fewer observations than ACF).
    """

    dropped: pd.DataFrame
    numbers: dict[str, float]


def sample_summary(fits: MethodFits) -> SampleSummary:
    """The rows of the common sample that each estimator leaves out, and OP's losses.

    Parameters
    ----------
    fits : MethodFits
        The page's estimates.

    Returns
    -------
    SampleSummary
    """
    rows = {}
    for label, fit in fits.fits.items():
        column = fit.dropped["rows"].copy()
        column.index = [f"{reason} ({fit.dropped.loc[reason, 'stage']})" for reason in column.index]
        column["estimation observations"] = sum(r.nobs for r in fit.results.values())
        rows[label] = column
    table = pd.DataFrame(rows).fillna(0).astype("int64")
    order = [i for i in table.index if i != "estimation observations"]
    table = table.loc[[*order, "estimation observations"]]
    table.index.name = "rows of the common sample"
    op = fits["OP"].dropped["rows"]
    used = table.loc["estimation observations"]
    return SampleSummary(table.astype(float), {
        "op_nonpositive_inv": int(op.get(f"non-positive {INVESTMENT} before log", 0)),
        "op_missing_inv": int(op.get(f"missing or non-finite proxy {INVESTMENT}", 0)),
        "op_share_lost": 100 * (1 - used["OP"] / used["ACF"])})


# ----------------------------------------------------------------------------------------------
# Chapter 03: the estimates
# ----------------------------------------------------------------------------------------------
def _cell(b: float, se: float) -> str:
    if not np.isfinite(b):
        return "–"
    return f"{b:.3f} ({se:.3f})" if np.isfinite(se) else f"{b:.3f}"


def coefficient_table(fits: MethodFits, key: Literal["beta_l", "beta_k"],
                      true_industries: pd.DataFrame | None = None) -> pd.DataFrame:
    """One elasticity by industry (rows) and estimator (columns), with its standard error.

    Parameters
    ----------
    fits : MethodFits
        The page's estimates.
    key : {"beta_l", "beta_k"}
        The labour or the capital elasticity.
    true_industries : pandas.DataFrame, optional
        The truth (the ``true_industries`` of a :class:`ProductivityData`): a first column ``truth``.

    Returns
    -------
    pandas.DataFrame
        Index ``industry``; cells ``"b (se)"``, ``"b"`` without a standard error, ``"–"``
        without an estimate.
    """
    se_key = {"beta_l": "se_l", "beta_k": "se_k"}[key]
    industries = fits.industries
    table = pd.DataFrame(index=pd.Index(industries, name="industry"))
    if true_industries is not None:
        table["truth"] = [f"{true_industries[key].get(j, np.nan):.3f}" for j in industries]
    for label, est in fits.estimates.items():
        table[label] = [_cell(b, s) for b, s in zip(est[key], est[se_key], strict=True)]
    return table


def standard_errors_label(fit: production.ProductionByResults) -> str:
    """How an estimator's standard errors were obtained, for the page."""
    inference = next(iter(fit.results.values())).inference
    if inference.get("replications"):
        return f"firm-block bootstrap, {inference['replications']} replications"
    if inference["std_errors"].startswith("none"):
        return "none (not bootstrapped in this run)"
    return inference["std_errors"]


def methods_table(fits: MethodFits, true_industries: pd.DataFrame | None = None) -> pd.DataFrame:
    """The estimators across industries: mean elasticities, returns to scale, standard errors.

    Parameters
    ----------
    fits : MethodFits
        The page's estimates.
    true_industries : pandas.DataFrame, optional
        The truth: a first row ``truth``.

    Returns
    -------
    pandas.DataFrame
        Index ``method``; columns ``mean β_l``, ``mean β_k``, ``mean RTS``, ``min RTS``,
        ``max RTS`` (rounded to 3 decimals, so that a tiny negative mean does not show as
        ``-0.000``) and ``standard errors``.
    """
    est, methods, industries = fits.estimates, fits.methods, fits.industries
    summary = pd.DataFrame({
        "mean β_l": [est[m]["beta_l"].mean() for m in methods],
        "mean β_k": [est[m]["beta_k"].mean() for m in methods],
        "mean RTS": [est[m]["rts"].mean() for m in methods],
        "min RTS": [est[m]["rts"].min() for m in methods],
        "max RTS": [est[m]["rts"].max() for m in methods],
        "standard errors": [standard_errors_label(fits[m]) for m in methods],
    }, index=pd.Index(methods, name="method"))
    if true_industries is not None:
        true_l = true_industries["beta_l"].reindex(industries)
        true_rts = (true_industries["beta_l"] + true_industries["beta_k"]).reindex(industries)
        true_row = pd.DataFrame({
            "mean β_l": [true_l.mean()],
            "mean β_k": [true_industries["beta_k"].reindex(industries).mean()],
            "mean RTS": [true_rts.mean()], "min RTS": [true_rts.min()],
            "max RTS": [true_rts.max()], "standard errors": ["–"]},
            index=pd.Index(["truth"], name="method"))
        summary = pd.concat([true_row, summary])
    numeric = [c for c in summary.columns if c != "standard errors"]
    return summary.assign(**{c: summary[c].round(3) + 0.0 for c in numeric})


def elasticities_figure(fits: MethodFits, true_industries: pd.DataFrame | None = None) -> Figure:
    """Both elasticities of every industry by every estimator, with the truth when known.

    Parameters
    ----------
    fits : MethodFits
        The page's estimates.
    true_industries : pandas.DataFrame, optional
        The truth, drawn as a black tick per industry.

    Returns
    -------
    matplotlib.figure.Figure
    """
    est, methods, industries = fits.estimates, fits.methods, fits.industries
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 0.32 * len(industries) + 1.6), sharey=True)
    ypos = np.arange(len(industries))
    offsets = np.linspace(-0.3, 0.3, len(methods))
    markers = ["o", "s", "^", "v", "D", "P"]
    for ax, key, title in ((axes[0], "beta_l", "labour elasticity β_l"),
                           (axes[1], "beta_k", "capital elasticity β_k")):
        for m, off, mk in zip(methods, offsets, markers, strict=True):
            ax.plot(est[m][key].to_numpy(), ypos + off, mk, ms=4, label=m, alpha=0.85)
        if true_industries is not None:
            ax.plot(true_industries[key].reindex(industries).to_numpy(), ypos, "|", color="black",
                    ms=14, mew=2, label="truth")
        ax.set_title(title)
        ax.set_xlabel("estimate")
    axes[0].set_yticks(ypos, industries)
    axes[0].set_ylabel("industry (NACE 2)")
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def estimator_errors(fits: MethodFits, true_industries: pd.DataFrame) -> dict[str, float]:
    """How each estimator errs against the true elasticities (synthetic data).

    Parameters
    ----------
    fits : MethodFits
        The page's estimates.
    true_industries : pandas.DataFrame
        The truth (the ``true_industries`` of a :class:`ProductivityData`).

    Returns
    -------
    dict of str to float
        Mean errors over industries ``ols_bias_l``, ``ols_bias_k``, ``fe_bias_l``,
        ``op_bias_l``, ``acf_bias_l``, ``acf_bias_k``; industries where OLS overstates labour
        (``ols_up_l``) and understates capital (``ols_down_k``); mean estimates
        ``lp_mean_l`` (rounded to 3 decimals), ``wrdg_mean_l``, ``lp_mean_rts`` and the true
        ``true_mean_rts``.
    """
    est, industries = fits.estimates, fits.industries
    tl = true_industries["beta_l"].reindex(industries)
    tk = true_industries["beta_k"].reindex(industries)
    ols_bias_l = est["OLS"]["beta_l"] - tl
    ols_bias_k = est["OLS"]["beta_k"] - tk
    return {
        "ols_bias_l": float(ols_bias_l.mean()),
        "ols_bias_k": float(ols_bias_k.mean()),
        "ols_up_l": int((ols_bias_l > 0).sum()),
        "ols_down_k": int((ols_bias_k < 0).sum()),
        "fe_bias_l": float((est["FE"]["beta_l"] - tl).mean()),
        "op_bias_l": float((est["OP"]["beta_l"] - tl).mean()),
        "lp_mean_l": round(float(est["LP"]["beta_l"].mean()), 3) + 0.0,
        "wrdg_mean_l": float(est["Wooldridge"]["beta_l"].mean()),
        "lp_mean_rts": float(est["LP"]["rts"].mean()),
        "true_mean_rts": float((tl + tk).mean()),
        "acf_bias_l": float((est["ACF"]["beta_l"] - tl).mean()),
        "acf_bias_k": float((est["ACF"]["beta_k"] - tk).mean()),
    }


# ----------------------------------------------------------------------------------------------
# Chapter 03: diagnostics
# ----------------------------------------------------------------------------------------------
def root_diagnostics(fit: production.ProductionByResults) -> pd.DataFrame:
    """ACF's search for roots, by estimated group.

    Parameters
    ----------
    fit : ~clusterpolicy.estimators.production.ProductionByResults
        ACF estimates by industry.

    Returns
    -------
    pandas.DataFrame
        Index ``estimated as``; columns ``observations``, ``relative criterion``, ``roots``,
        ``plausible roots``, ``local minima``, ``first-stage R²`` and ``failed replicates``
        (``"k of n"``, ``"–"`` without bootstrap).
    """
    rows = []
    for group, r in fit.results.items():
        roots = r.extra.get("roots", pd.DataFrame())
        failed = r.inference.get("failed_replications", np.nan)
        rows.append({
            "estimated as": group,
            "observations": float(r.nobs),
            "relative criterion": r.extra.get("relative_criterion", np.nan),
            "roots": len(roots),
            "plausible roots": int(roots["plausible"].sum()) if len(roots) else 0,
            "local minima": len(r.extra.get("local_minima", pd.DataFrame())),
            "first-stage R²": r.extra.get("first_stage_r2", np.nan),
            "failed replicates": (f"{failed} of {r.inference['replications']}"
                                  if r.inference.get("replications") else "–"),
        })
    return pd.DataFrame(rows).set_index("estimated as")


def pooling_table(fits: MethodFits, true_industries: pd.DataFrame | None = None) -> pd.DataFrame:
    """How each industry is estimated: alone or pooled, for ACF (the plan of every estimator
    but OP) and for OP.

    Parameters
    ----------
    fits : MethodFits
        The page's estimates.
    true_industries : pandas.DataFrame, optional
        The truth: a first column ``label`` with the industries' names.

    Returns
    -------
    pandas.DataFrame
        Index ``industry``; columns ``usable rows``, ``estimated as``, ``reason``,
        ``usable rows (OP)``, ``estimated as (OP)``.
    """
    pool = fits["ACF"].table[["rows", "estimated_as", "reason"]].copy()
    pool.index = pool.index.astype(str)
    pool.columns = ["usable rows", "estimated as", "reason"]
    pool["usable rows"] = pool["usable rows"].astype(float)
    if true_industries is not None:
        pool.insert(0, "label", [true_industries["label"].get(j, "") for j in pool.index])
    op_table = fits["OP"].table
    pool["usable rows (OP)"] = op_table["rows"].to_numpy(dtype=float)
    pool["estimated as (OP)"] = op_table["estimated_as"].astype(str).to_numpy()
    pool.index.name = "industry"
    return pool


@dataclass(frozen=True)
class Diagnostics:
    """ACF's roots, the bootstrap's failures and the pooling of small industries.

    Attributes
    ----------
    roots : pandas.DataFrame
        :func:`root_diagnostics` of ACF.
    pooling : pandas.DataFrame
        :func:`pooling_table`.
    numbers : dict of str to float
        ``diag_groups``, ``diag_one_root`` (groups with exactly one plausible root),
        ``diag_no_root``, ``diag_max_crit`` (largest relative criterion), ``n_pooled_acf``,
        ``n_pooled_op`` (industries pooled).
    texts : dict of str to str
        ``boot_failed_text``: failed replicates of each bootstrapped estimator.
    """

    roots: pd.DataFrame
    pooling: pd.DataFrame
    numbers: dict[str, float]
    texts: dict[str, str]


def diagnostics(fits: MethodFits, true_industries: pd.DataFrame | None = None) -> Diagnostics:
    """ACF's roots by group, the bootstrap's failed replicates and the pooling plan.

    Parameters
    ----------
    fits : MethodFits
        The page's estimates.
    true_industries : pandas.DataFrame, optional
        The truth (for the industries' names).

    Returns
    -------
    Diagnostics
    """
    roots = root_diagnostics(fits["ACF"])
    failed = {m: sum(r.inference.get("failed_replications", 0) for r in fits[m].results.values())
              for m in fits.methods}
    total = {m: sum(r.inference.get("replications", 0) for r in fits[m].results.values())
             for m in fits.methods}
    booted = [m for m in fits.methods if total[m]]
    text = ("; ".join(f"{m}: {failed[m]} of {total[m]:,}" for m in booted) if booted
            else "no estimator was bootstrapped")
    pooled = {m: int((fits[m].table["pooled_with"] != "").sum()) for m in ("ACF", "OP")}
    return Diagnostics(roots, pooling_table(fits, true_industries), {
        "diag_groups": len(roots),
        "diag_one_root": int((roots["plausible roots"] == 1).sum()),
        "diag_no_root": int((roots["roots"] == 0).sum()),
        "diag_max_crit": float(roots["relative criterion"].max()),
        "n_pooled_acf": pooled["ACF"],
        "n_pooled_op": pooled["OP"],
    }, {"boot_failed_text": text})


# ----------------------------------------------------------------------------------------------
# Chapter 03: membership in the law of motion
# ----------------------------------------------------------------------------------------------
def membership_gain(frame: pd.DataFrame, column: str) -> tuple[float, float, list[str]]:
    """The coefficient of membership in a two-way fixed-effects regression of log TFP.

    Parameters
    ----------
    frame : pandas.DataFrame
        Firm-years with ``firm_id``, ``year``, ``member`` and ``column``.
    column : str
        The log TFP (rows where it is missing are left out).

    Returns
    -------
    gain, se : float
        The coefficient of ``member`` (firm and year effects) and its standard error
        (clustered by firm).
    notes : list of str
        The regression's notes and warnings.
    """
    with caught_warnings() as caught:
        res = did.twfe(frame.dropna(subset=[column]), column, UNIT, TIME, MEMBER)
    return float(res.params[MEMBER]), float(res.std_errors[MEMBER]), [*res.notes, *caught]


def _nanmedian(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


@dataclass(frozen=True)
class LawOfMotionComparison:
    """ACF with and without membership in the law of motion of productivity.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``variant`` (the truth, with the true productivity; the two ACF variants); mean
        elasticities, their mean error against the truth (synthetic data), and the TWFE
        membership gain with its standard error.
    numbers : dict of str to float
        ``gain_member``, ``gain_member_se``, ``gain_none``, ``lom_diff_l``, ``lom_diff_k``
        (mean change of the elasticities without membership), ``lom_maxdiff``,
        ``lom_diff_gain``, ``acf_se_median`` (median bootstrap standard error of ACF's
        elasticities); with the truth ``theta_true``, with the true productivity
        ``gain_true``, and ``sigma_xi`` when the choice matters little on synthetic data.
    small : bool
        Whether the choice changes little: the gain moves by less than its standard error and
        no elasticity by more than ``acf_se_median`` (when there are standard errors).
    notes : tuple of str
        The regressions' notes.
    """

    table: pd.DataFrame
    numbers: dict[str, float]
    small: bool
    notes: tuple[str, ...] = ()


def law_of_motion_comparison(data: ProductivityData, fits: MethodFits) -> LawOfMotionComparison:
    """Compare ACF with membership in the law of motion (used) and without it.

    Parameters
    ----------
    data : ProductivityData
        The sample and the truth.
    fits : MethodFits
        The page's estimates (``fits["ACF"]`` and ``fits.acf_none``).

    Returns
    -------
    LawOfMotionComparison
    """
    frame = data.sample[[UNIT, TIME, MEMBER]].assign(
        tfp_member=fits["ACF"].productivity().to_numpy(),
        tfp_none=fits.acf_none.productivity().to_numpy())
    est, none, industries = fits.estimates["ACF"], industry_estimates(fits.acf_none), fits.industries
    rows, notes, numbers = [], [], {}
    if data.has_latent:
        gain, se, raised = membership_gain(frame.assign(tfp_true=data.true_tfp.to_numpy()), "tfp_true")
        true = data.true_industries
        rows.append({"variant": "truth", "mean β_l": true["beta_l"].reindex(industries).mean(),
                     "mean β_k": true["beta_k"].reindex(industries).mean(),
                     "TWFE membership gain": gain, "SE": se})
        numbers["gain_true"], notes = gain, notes + raised
    for name, variant, column in ((VARIANT_MEMBER, est, "tfp_member"), (VARIANT_NONE, none, "tfp_none")):
        gain, se, raised = membership_gain(frame, column)
        row = {"variant": name, "mean β_l": variant["beta_l"].mean(), "mean β_k": variant["beta_k"].mean(),
               "TWFE membership gain": gain, "SE": se}
        if data.has_truth:
            for key in ("beta_l", "beta_k"):
                row[f"mean β_{key[-1]} − truth"] = float(
                    (variant[key] - data.true_industries[key].reindex(industries)).mean())
        rows.append(row)
        notes += raised
    lom = pd.DataFrame(rows).set_index("variant")
    lom = lom[[c for c in ["mean β_l", "mean β_k", "mean β_l − truth", "mean β_k − truth",
                           "TWFE membership gain", "SE"] if c in lom.columns]]
    gains = lom["TWFE membership gain"]
    changes = np.r_[none["beta_l"] - est["beta_l"], none["beta_k"] - est["beta_k"]]
    se_median = _nanmedian(np.r_[est["se_l"], est["se_k"]])
    maxdiff = float(np.nanmax(np.abs(changes)))
    numbers |= {
        "gain_member": gains[VARIANT_MEMBER], "gain_none": gains[VARIANT_NONE],
        "lom_diff_l": float((none["beta_l"] - est["beta_l"]).mean()),
        "lom_diff_k": float((none["beta_k"] - est["beta_k"]).mean()),
        "lom_maxdiff": maxdiff, "lom_diff_gain": gains[VARIANT_NONE] - gains[VARIANT_MEMBER],
        "acf_se_median": se_median, "gain_member_se": float(lom.loc[VARIANT_MEMBER, "SE"])}
    small = bool(abs(gains[VARIANT_NONE] - gains[VARIANT_MEMBER]) < lom.loc[VARIANT_MEMBER, "SE"]
                 and (not np.isfinite(se_median) or maxdiff < se_median))
    if data.truth is not None and data.has_truth:
        numbers["theta_true"] = float(data.truth["params"]["theta"])
        if small:
            numbers["sigma_xi"] = float(data.truth["params"]["sigma_xi"])
    return LawOfMotionComparison(lom, numbers, small, tuple(notes))


# ----------------------------------------------------------------------------------------------
# Chapter 03: members and non-members
# ----------------------------------------------------------------------------------------------
#: The labels of the two groups the member comparison sets side by side.
MEMBERS, NON_MEMBERS = "members (ever)", "non-members"


@dataclass(frozen=True)
class MemberComparison:
    """Log TFP of members and non-members relative to the industry-year mean, by year.

    Attributes
    ----------
    relative : pandas.DataFrame
        The TFP panel with ``relative`` (log TFP minus its industry-year mean) and ``group``
        (:data:`MEMBERS` or :data:`NON_MEMBERS`).
    yearly : pandas.DataFrame
        Index ``year``; ``diff`` (members − non-members, mean), ``se`` (its standard error,
        NaN with fewer than two firms in a group) and ``true_diff`` (the same difference in
        true productivity; NaN without it).
    cohorts : list of int
        The years of first joining.
    has_true : bool
        Whether ``true_diff`` holds the truth.
    numbers : dict of str to float
        ``n_members_tfp``, ``n_nonmembers_tfp`` and, when :attr:`gaps_shown`, ``gap_pre`` (mean
        difference before the first cohort) and ``gap_post`` (from the last cohort on).
    texts : dict of str to str
        ``first_cohort``, ``last_cohort`` and ``cohort_list``.
    """

    relative: pd.DataFrame
    yearly: pd.DataFrame
    cohorts: list[int]
    has_true: bool
    numbers: dict[str, float]
    texts: dict[str, str]

    @property
    def gaps_shown(self) -> bool:
        """Whether the data give a raw gap before the first and after the last cohort."""
        return "gap_pre" in self.numbers and "gap_post" in self.numbers


def _gap(diff: np.ndarray) -> float | None:
    return float(np.nanmean(diff)) if diff.size and np.isfinite(diff).any() else None


def member_comparison(panel: FirmTFP, data: ProductivityData) -> MemberComparison:
    """Members' and non-members' log TFP by year, relative to the industry-year mean.

    Parameters
    ----------
    panel : FirmTFP
        The TFP panel (:func:`firm_tfp`).
    data : ProductivityData
        The sample and, for synthetic data, the true productivity.

    Returns
    -------
    MemberComparison
    """
    tp = panel.data.copy()
    tp["relative"] = tp["log_tfp"] - tp.groupby(["nace2", "year"], observed=True)["log_tfp"].transform("mean")
    tp["group"] = np.where(tp["cohort"] > 0, MEMBERS, NON_MEMBERS)
    years = sorted(tp["year"].unique())
    joined = tp["cohort"] > 0
    first_cohort = int(tp.loc[joined, "cohort"].min()) if joined.any() else None
    cohorts = sorted(int(c) for c in tp.loc[joined, "cohort"].unique())
    diff = []
    for y in years:
        a = tp.loc[(tp["year"] == y) & (tp["group"] == MEMBERS), "relative"]
        b = tp.loc[(tp["year"] == y) & (tp["group"] == NON_MEMBERS), "relative"]
        se = np.sqrt(a.var() / len(a) + b.var() / len(b)) if len(a) > 1 and len(b) > 1 else np.nan
        diff.append((a.mean() - b.mean(), se))
    yearly = pd.DataFrame(diff, columns=["diff", "se"], index=pd.Index(years, name="year"))
    yearly["true_diff"] = np.nan
    if data.has_latent:
        truth = data.sample[[UNIT, TIME]].assign(tfp_true=data.true_tfp.to_numpy())
        tt = tp.merge(truth, on=[UNIT, TIME], how="left")
        tt["true_rel"] = tt["tfp_true"] - tt.groupby(["nace2", "year"],
                                                     observed=True)["tfp_true"].transform("mean")
        yearly["true_diff"] = [tt.loc[(tt["year"] == y) & (tt["group"] == MEMBERS), "true_rel"].mean()
                               - tt.loc[(tt["year"] == y) & (tt["group"] == NON_MEMBERS), "true_rel"].mean()
                               for y in years]
    values = yearly["diff"].to_numpy(dtype=float)
    pre = np.array([first_cohort is not None and y < first_cohort for y in years], dtype=bool)
    post = np.array([first_cohort is not None and y >= max(cohorts) for y in years], dtype=bool)
    gap_pre, gap_post = _gap(values[pre]), _gap(values[post])
    numbers: dict[str, float] = {}
    if gap_pre is not None and gap_post is not None:
        numbers |= {"gap_pre": gap_pre, "gap_post": gap_post}
    numbers |= {"n_members_tfp": int(tp.loc[joined, "firm_id"].nunique()),
                "n_nonmembers_tfp": int(tp.loc[tp["cohort"] == 0, "firm_id"].nunique())}
    texts = {"first_cohort": str(first_cohort),
             "last_cohort": str(max(cohorts)) if cohorts else "–",
             "cohort_list": ", ".join(str(c) for c in cohorts)}
    return MemberComparison(tp, yearly, cohorts, data.has_latent, numbers, texts)


def tfp_distribution_figure(comparison: MemberComparison) -> Figure:
    """Members' and non-members' log TFP by year: distributions and difference in means.

    Parameters
    ----------
    comparison : MemberComparison
        :func:`member_comparison`.

    Returns
    -------
    matplotlib.figure.Figure
        Top: box plots of log TFP relative to the industry-year mean (quartiles, whiskers at
        the 10th and 90th percentiles) by year and group. Bottom: members − non-members with
        95% confidence intervals and, on synthetic data, the same difference in true
        productivity. Dotted lines mark the cohorts' first years.
    """
    tp, years = comparison.relative, list(comparison.yearly.index)
    fig, axes = plt.subplots(2, 1, figsize=(8.0, 7.2), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2]})
    ax = axes[0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for g_i, (group, shift) in enumerate(zip((NON_MEMBERS, MEMBERS), (-0.18, 0.18), strict=True)):
        data = [tp.loc[(tp["year"] == y) & (tp["group"] == group), "relative"].to_numpy()
                for y in years]
        box = ax.boxplot(data, positions=np.arange(len(years)) + shift, widths=0.32,
                         showfliers=False, patch_artist=True, whis=(10, 90))
        for patch in box["boxes"]:
            patch.set_facecolor(colors[g_i])
            patch.set_alpha(0.6)
        for median in box["medians"]:
            median.set_color("black")
        ax.plot([], [], "s", color=colors[g_i], alpha=0.6, label=group)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("log TFP relative to\nindustry-year mean")
    ax.set_title("Distribution (box: quartiles, whiskers: 10th and 90th percentiles)")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.25 * (high - low))
    ax.legend(loc="upper left", frameon=False, ncol=2)

    ax = axes[1]
    xs = np.arange(len(years))
    yearly = comparison.yearly
    ax.errorbar(xs, yearly["diff"].to_numpy(), yerr=1.96 * yearly["se"].to_numpy(), fmt="o-",
                color=colors[1], capsize=3, label="estimated (ACF)")
    if comparison.has_true:
        ax.plot(xs, yearly["true_diff"].to_numpy(), "x--", color="black", label="true productivity")
    ax.axhline(0, color="grey", lw=0.8)
    for c in comparison.cohorts:
        for a_ in axes:
            a_.axvline(years.index(c) - 0.5, color="grey", ls=":", lw=1)
    ax.set_ylabel("members − non-members\n(mean, 95% CI)")
    ax.set_xticks(xs, [str(y) for y in years])
    ax.set_xlabel("year")
    ax.legend(loc="upper left", frameon=False, ncol=2)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# Chapter 03: recovery of the truth
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recovery:
    """Every estimator against the truth of synthetic data.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``method``; mean error and RMSE of each elasticity over industries, the
        industries whose truth lies within two standard errors (``"k/n"``, ``"–"`` without
        standard errors) and, with the true productivity, the correlation of estimated with
        true log TFP over all firm-years and within industry-years.
    numbers : dict of str to float
        ``acf_in_l``, ``acf_in_k``, ``acf_in_both`` (ACF's industries within two standard
        errors), ``acf_expected_both`` (0.95² × industries), ``acf_rmse_l``, ``ols_rmse_l``;
        with the true productivity ``corr_acf``, ``corr_acf_within``, ``corr_ols_within`` and
        ``corr_ceiling`` (the within correlation of the true elasticities' residual).
    """

    table: pd.DataFrame
    numbers: dict[str, float]


def _within(values: pd.Series, cells: pd.Series) -> pd.Series:
    return values - values.groupby(cells).transform("mean")


def _correlations(estimate: pd.Series, truth: pd.Series, cells: pd.Series) -> tuple[float, float]:
    """Correlation of estimated with true log TFP over all firm-years and within cells."""
    ok = estimate.notna() & truth.notna()
    e, t, c = estimate[ok], truth[ok], cells[ok]
    return float(np.corrcoef(e, t)[0, 1]), float(np.corrcoef(_within(e, c), _within(t, c))[0, 1])


def truth_recovery(data: ProductivityData, fits: MethodFits) -> Recovery | None:
    """Set every estimator against the true elasticities and productivity.

    Parameters
    ----------
    data : ProductivityData
        The sample and the truth.
    fits : MethodFits
        The page's estimates.

    Returns
    -------
    Recovery or None
        ``None`` without a truth file.
    """
    if not data.has_truth:
        return None
    industries, est = fits.industries, fits.estimates
    tl = data.true_industries["beta_l"].reindex(industries)
    tk = data.true_industries["beta_k"].reindex(industries)
    cells = data.sample["nace2"].astype(str) + "-" + data.sample["year"].astype(str)
    truth = data.true_tfp
    rows, inside = [], {}
    for m in fits.methods:
        e = est[m]
        in_l, in_k = np.abs(e["beta_l"] - tl) <= 2 * e["se_l"], np.abs(e["beta_k"] - tk) <= 2 * e["se_k"]
        inside[m] = (in_l, in_k)
        has_se = e["se_l"].notna().all() and e["se_k"].notna().all()
        row = {"method": m,
               "error β_l": float((e["beta_l"] - tl).mean()),
               "error β_k": float((e["beta_k"] - tk).mean()),
               "RMSE β_l": float(np.sqrt(((e["beta_l"] - tl) ** 2).mean())),
               "RMSE β_k": float(np.sqrt(((e["beta_k"] - tk) ** 2).mean())),
               "β_l in 2 SE": f"{int(in_l.sum())}/{len(industries)}" if has_se else "–",
               "β_k in 2 SE": f"{int(in_k.sum())}/{len(industries)}" if has_se else "–"}
        if data.has_latent:
            row["corr. overall"], row["corr. within"] = _correlations(fits[m].productivity(), truth,
                                                                      cells)
        rows.append(row)
    recovery = pd.DataFrame(rows).set_index("method")
    in_l, in_k = inside["ACF"]
    numbers: dict[str, float] = {
        "acf_in_l": int(in_l.sum()), "acf_in_k": int(in_k.sum()), "acf_in_both": int((in_l & in_k).sum()),
        "acf_expected_both": 0.95**2 * len(industries),
        "acf_rmse_l": float(recovery.loc["ACF", "RMSE β_l"]),
        "ols_rmse_l": float(recovery.loc["OLS", "RMSE β_l"])}
    if data.has_latent:
        best = truth + data.true_shock.to_numpy()
        ok = truth.notna()
        numbers |= {
            "corr_acf": float(recovery.loc["ACF", "corr. overall"]),
            "corr_acf_within": float(recovery.loc["ACF", "corr. within"]),
            "corr_ols_within": float(recovery.loc["OLS", "corr. within"]),
            # The ceiling: the residual of the true elasticities still holds the output shock.
            "corr_ceiling": float(np.corrcoef(_within(best, cells)[ok], _within(truth, cells)[ok])[0, 1])}
    return Recovery(recovery, numbers)
