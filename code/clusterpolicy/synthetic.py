"""Seeded generators of the book's synthetic default data.

Three datasets, each written with a ``*.truth.json`` of its true parameters beside it:

* the **firm panel** and the **cluster membership** file (study 1): a Cobb–Douglas value-added
  economy with persistent AR(1) productivity that drives input choices, staggered joining of
  programme clusters and a known effect ``theta`` of membership on log TFP;
* the **tech-firm cross-section** (study 2): serial innovators and matched non-serial innovators
  whose internationalization (initiation: probit; intensity: beta regression with a logit mean)
  depends on standardised log clustering.

Everything country-specific lives in a :class:`PanelShape` (years, industries, clusters and
their start years, firm counts): the generator functions hold no Flemish constants. The
default shape is :data:`FLANDERS`, calibrated to ``shared/facts/published_facts.md``;
:data:`OTHER` is a second, deliberately different shape for testing that the book does not
depend on Flemish specifics.

The panel DGP (all logs natural; money in thousand euro)::

    y_it   = b0(j) + bl(j) l_it + bk(j) k_it + omega_it + eps_it,      eps ~ N(0, s_eps^2) iid
    omega_it = omt_it + theta_it D_it                                (true log TFP)
    omt_it = rho omt_i,t-1 + xa_it + xb_it                           (stationary AR(1), no firm effect)
    l_it   = mu_l(j) + s_i + kappa_l (rho omt_i,t-1 + xa_it + theta_it D_it) + u_it
             (labour chosen at t-1/2 knowing xa_it, not xb_it: ACF timing)
    K_i,t+1 = (1 - delta) K_it + I_it,  I_it >= 0 increasing in omega_it (partial adjustment)
    m_it   = log(materials ratio(j)) + b0 + bl l + bk k + omega     (Leontief: the proxy)

so that the law of motion of true TFP is
``omega_it = rho omega_i,t-1 + theta (D_it - rho D_i,t-1) + xi_it`` (De Loecker 2013).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

DEFAULT_SEED = 20240624
GENERATOR_VERSION = "1.0"

PANEL_COLUMNS = ["firm_id", "year", "nace2", "value_added", "employment", "capital", "materials",
                 "wage_bill", "investment", "founding_year", "exports", "patents"]
MEMBERSHIP_COLUMNS = ["firm_id", "cluster", "join_year", "exit_year"]
TECHFIRMS_COLUMNS = ["firm_id", "serial", "match_id", "industry", "region", "clustering",
                     "international", "foreign_share", "employees", "age", "patents"]

FILES = {"panel": "panel.parquet", "membership": "membership.csv", "techfirms": "techfirms.csv"}
CHECKSUMS = "SHA256SUMS"
SIGNIFICANT_DIGITS = 6

# Streams of the seed sequence: one per component, so changing one part of the generator does
# not move the random numbers of the others.
_STREAM = {"firms": 1, "productivity": 2, "membership": 3, "inputs": 4, "outputs": 5,
           "trade": 6, "mess": 7, "tech": 11}


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM[stream]])


# --------------------------------------------------------------------------------------------
# Shapes: everything about the economy being imitated
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Industry:
    """One 2-digit industry of the panel and its production technology (all **choice**)."""

    nace2: str
    label: str
    weight: float  # relative number of firms
    beta_l: float  # labour elasticity of value added
    beta_k: float  # capital elasticity of value added
    median_fte: float  # employment of the median firm (FTE)
    va_per_fte: float  # value added per FTE of the median firm (thousand euro)
    capital_per_fte: float  # tangible fixed assets per FTE of the median firm (thousand euro)
    materials_ratio: float  # materials / value added
    labour_share: float  # wage bill / value added
    patent_shift: float = 0.0  # log shift of the patent rate (R&D-intensive industries > 0)
    export_shift: float = 0.0  # shift of the export propensity index (tradables > 0)


@dataclass(frozen=True)
class Cluster:
    """One programme cluster: its start year, home industries and size (memberships)."""

    name: str
    label: str
    start_year: int
    industries: tuple[str, ...]  # NACE divisions the cluster recruits from (85% of members)
    members: int  # memberships by the last panel year
    first_year_share: float = 0.7  # share of members joining in the cluster's first year


@dataclass(frozen=True)
class PanelShape:
    """The economy a synthetic panel imitates: years, industries, clusters, firm counts."""

    name: str
    region: str
    first_year: int
    last_year: int
    n_firms: int
    industries: tuple[Industry, ...]
    clusters: tuple[Cluster, ...]
    # The calibration count of members: distinct firms of these clusters whose membership
    # started by max(count_year, the cluster's start year).
    count_year: int | None = None
    count_clusters: tuple[str, ...] = ()
    count_target: int | None = None
    description: str = ""
    # serial innovators in the tech-firm cross-section written beside the panel (each with one
    # matched non-serial innovator)
    tech_pairs: int = 400

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    @property
    def policy_year(self) -> int:
        return min(c.start_year for c in self.clusters)

    @property
    def cluster_names(self) -> list[str]:
        return [c.name for c in self.clusters]

    def industry(self, nace2: str) -> Industry:
        for ind in self.industries:
            if ind.nace2 == nace2:
                return ind
        raise KeyError(nace2)


def _ind(nace2, label, weight, bl, bk, fte, va, kpf, mat, ls, pat=0.0, exp=0.0) -> Industry:
    return Industry(nace2, label, weight, bl, bk, fte, va, kpf, mat, ls, pat, exp)


FLANDERS = PanelShape(
    name="flanders",
    region="Flanders (Belgium)",
    first_year=2013,
    last_year=2020,
    n_firms=12_000,
    industries=(
        # cluster industries (manufacturing, logistics, energy, blue economy, health)
        _ind("10", "Food products", 7, 0.64, 0.26, 14, 75, 110, 2.2, 0.62, 0.0, 0.6),
        _ind("11", "Beverages", 2, 0.60, 0.30, 15, 95, 160, 1.8, 0.55, 0.0, 0.6),
        _ind("20", "Chemicals", 3, 0.60, 0.30, 25, 140, 220, 2.4, 0.52, 1.2, 1.0),
        _ind("21", "Pharmaceuticals", 2, 0.61, 0.29, 30, 160, 200, 1.6, 0.50, 1.8, 1.0),
        _ind("22", "Rubber and plastics", 3, 0.66, 0.25, 18, 85, 120, 1.9, 0.62, 0.6, 0.8),
        _ind("24", "Basic metals", 2, 0.63, 0.28, 30, 95, 200, 2.8, 0.60, 0.4, 1.0),
        _ind("25", "Fabricated metal products", 6, 0.68, 0.22, 12, 70, 70, 1.3, 0.68, 0.3, 0.4),
        _ind("26", "Computer, electronic and optical", 3, 0.66, 0.22, 15, 100, 60, 1.4, 0.64, 1.6,
             0.9),
        _ind("27", "Electrical equipment", 3, 0.66, 0.24, 16, 85, 80, 1.6, 0.64, 1.0, 0.8),
        _ind("42", "Civil engineering", 3, 0.68, 0.24, 15, 80, 120, 1.2, 0.66, 0.0, 0.0),
        _ind("43", "Specialised construction", 9, 0.70, 0.20, 8, 60, 40, 1.0, 0.70, 0.0, -0.6),
        _ind("49", "Land transport", 6, 0.65, 0.27, 12, 60, 110, 1.1, 0.65, 0.0, 0.0),
        _ind("50", "Water transport", 2, 0.62, 0.30, 12, 110, 400, 1.3, 0.52, 0.0, 0.6),
        _ind("52", "Warehousing and transport support", 5, 0.64, 0.27, 14, 80, 150, 1.0, 0.60,
             0.0, 0.3),
        # industries without a programme cluster
        _ind("28", "Machinery and equipment", 4, 0.66, 0.24, 16, 85, 80, 1.5, 0.64, 1.0, 0.9),
        _ind("41", "Construction of buildings", 6, 0.69, 0.22, 8, 65, 50, 1.6, 0.66, 0.0, -0.6),
        _ind("45", "Motor vehicle trade and repair", 5, 0.65, 0.25, 8, 55, 60, 1.8, 0.66, 0.0,
             -0.4),
        _ind("46", "Wholesale trade", 9, 0.64, 0.25, 9, 80, 50, 2.0, 0.60, 0.0, 0.4),
        _ind("47", "Retail trade", 7, 0.67, 0.23, 7, 45, 40, 1.4, 0.68, 0.0, -1.0),
        _ind("56", "Food and beverage service", 4, 0.70, 0.20, 7, 35, 30, 1.2, 0.72, 0.0, -1.5),
        _ind("62", "Computer programming and consultancy", 6, 0.70, 0.20, 9, 90, 20, 0.5, 0.72,
             0.8, 0.3),
        _ind("71", "Architecture and engineering", 5, 0.70, 0.20, 7, 75, 25, 0.5, 0.72, 0.3,
             0.0),
    ),
    clusters=(
        # start years: stated (facts file) except MEDVIA's year (choice); sizes: choice,
        # calibrated to 1,148 firms in 2018 in six clusters and about 1,700 later in seven.
        Cluster("Catalisti", "chemistry and plastics", 2017, ("20", "22"), 290),
        Cluster("SIM", "materials", 2017, ("24", "25"), 262),
        Cluster("VIL", "logistics", 2017, ("49", "52"), 270),
        Cluster("Flux50", "energy and buildings", 2017, ("27", "43"), 242),
        Cluster("Flanders' FOOD", "agro-food", 2017, ("10", "11"), 222),
        Cluster("De Blauwe Cluster", "blue economy", 2019, ("42", "50"), 140),
        Cluster("MEDVIA", "health technology", 2020, ("21", "26"), 140),
    ),
    count_year=2018,
    count_clusters=("Catalisti", "SIM", "VIL", "Flux50", "Flanders' FOOD", "De Blauwe Cluster"),
    count_target=1148,
    description="Flemish Spearhead Cluster programme, calibrated to the published facts",
)

OTHER = PanelShape(
    name="other",
    region="Ruritania (fictional)",
    first_year=2010,
    last_year=2023,
    n_firms=6_000,
    industries=(
        _ind("13", "Textiles", 5, 0.68, 0.22, 12, 50, 60, 1.6, 0.70, 0.2, 0.6),
        _ind("16", "Wood products", 5, 0.66, 0.26, 10, 55, 90, 1.7, 0.66, 0.0, 0.3),
        _ind("29", "Motor vehicles", 4, 0.62, 0.28, 40, 95, 150, 2.6, 0.58, 1.0, 1.2),
        _ind("30", "Other transport equipment", 3, 0.63, 0.27, 35, 100, 140, 2.2, 0.60, 1.2, 1.2),
        _ind("58", "Publishing", 4, 0.70, 0.20, 8, 70, 20, 0.6, 0.70, 0.3, 0.0),
        _ind("61", "Telecommunications", 3, 0.60, 0.30, 20, 150, 300, 0.8, 0.45, 0.8, 0.2),
        _ind("72", "Scientific research", 4, 0.70, 0.20, 10, 85, 50, 0.6, 0.72, 2.0, 0.5),
        _ind("33", "Repair of machinery", 6, 0.69, 0.21, 9, 60, 40, 1.0, 0.70, 0.0, -0.3),
        _ind("68", "Real estate", 6, 0.60, 0.30, 5, 90, 500, 0.4, 0.40, 0.0, -1.5),
        _ind("77", "Rental and leasing", 5, 0.62, 0.30, 6, 80, 300, 0.5, 0.45, 0.0, -0.5),
    ),
    clusters=(
        Cluster("Mobility Valley", "vehicles", 2014, ("29", "30"), 220, 0.6),
        Cluster("Media Coast", "publishing and telecoms", 2016, ("58", "61"), 150, 0.5),
        Cluster("Science Ring", "research", 2019, ("72",), 110, 0.8),
    ),
    description="A fictional economy: 14 years, three clusters starting in 2014, 2016, 2019",
    tech_pairs=300,
)

SHAPES: dict[str, PanelShape] = {s.name: s for s in (FLANDERS, OTHER)}


def get_shape(shape: str | PanelShape) -> PanelShape:
    if isinstance(shape, PanelShape):
        return shape
    try:
        return SHAPES[shape]
    except KeyError:
        raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(SHAPES)}") from None


# --------------------------------------------------------------------------------------------
# Parameters of the panel's data-generating process
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PanelParams:
    """Parameters of the panel DGP (every one a **choice** of this report)."""

    theta: float = 0.03  # effect of membership on log TFP
    ramp_years: int = 0  # 0: full effect from the join year; r: effect * min(1, (t-join+1)/r)
    rho: float = 0.75  # AR(1) coefficient of log TFP
    sigma_xi: float = 0.12  # sd of the TFP innovation xi
    known_share: float = 0.5  # share of var(xi_t) known when labour is chosen (t - 1/2)
    sigma_eps: float = 0.10  # sd of the measurement error of log value added
    kappa_l: float = 1.5  # elasticity of labour to expected log TFP
    kappa_k: float = 1.5  # elasticity of target capital to expected log TFP
    sigma_scale: float = 1.0  # sd of the permanent scale factor (factor prices, demand)
    sigma_capint: float = 0.45  # sd of the permanent capital-intensity factor (user cost)
    rho_u: float = 0.5  # AR(1) coefficient of the labour-demand shock (wages)
    sigma_u: float = 0.10  # sd of the labour-demand shock innovation
    delta: float = 0.08  # depreciation rate
    adjust: float = 0.35  # partial adjustment of capital towards its target per year
    sigma_inv: float = 0.08  # sd of the investment shock (log desired capital)
    sigma_k0: float = 0.25  # sd of initial capital around its target
    sigma_wage: float = 0.10  # sd of log wage-bill noise
    entry_share: float = 0.12  # share of firms entering after the first year
    exit_hazard: float = 0.02  # yearly exit probability (not related to TFP)
    exit_hazard_young: float = 0.03  # extra hazard for firms younger than 5 years
    age_median: float = 15.0  # median age of incumbents in the first year
    age_sigma: float = 0.75  # sd of log age of incumbents
    select_size: float = 0.9  # membership index: per unit of the scale factor
    select_age: float = 0.6  # ... per unit of log age
    select_capint: float = 1.0  # ... per unit of the capital-intensity factor
    select_on_pre_tfp: float = 0.0  # ... per unit of log TFP in the year before the start
    outside_share: float = 0.15  # share of a cluster's members from non-cluster industries
    multi_share: float = 0.06  # share of members who also join a second cluster
    member_exit_share: float = 0.02  # share of single memberships that end before the panel does
    export_size: float = 0.5  # export propensity index: per unit of log employment
    export_tfp: float = 2.0  # ... per unit of log TFP
    export_membership: float = 0.1  # ... for members (direct effect, beyond TFP)
    export_firm_sd: float = 1.5  # sd of the persistent firm component of exporting
    export_const: float = -0.8
    export_precision: float = 6.0  # precision of the beta-distributed export share
    patent_size: float = 0.6  # log patent rate: per unit of log employment
    patent_tfp: float = 1.5  # ... per unit of log TFP
    patent_membership: float = 0.3  # ... for members
    patent_firm_sd: float = 1.0
    patent_const: float = -3.2
    patent_dispersion: float = 1.5  # negative binomial: var = mu + alpha mu^2
    gap_share: float = 0.01  # share of firms with one missing interior year
    zero_employment_share: float = 0.0015  # rows with employment = 0
    zero_capital_share: float = 0.001  # rows with capital = 0
    zero_materials_share: float = 0.001  # rows with materials = 0
    missing_investment_share: float = 0.02
    missing_exports_share: float = 0.03
    missing_patents_share: float = 0.02


@dataclass
class SyntheticPanel:
    """A generated panel with its membership file, true parameters and latent variables."""

    panel: pd.DataFrame
    membership: pd.DataFrame
    truth: dict[str, Any]
    latent: pd.DataFrame = field(repr=False)  # firm_id, year, omega, omega_tilde, D, eps, ...


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits (NaN kept), as the shortest decimal."""
    out = np.asarray(values, dtype="float64").copy()
    finite = np.isfinite(out) & (out != 0)
    fmt = f"{{:.{digits}g}}"
    out[finite] = [float(fmt.format(v)) for v in out[finite]]
    return out


def _gumbel_top(rng: np.random.Generator, index: np.ndarray, k: int) -> np.ndarray:
    """Positions of ``k`` draws without replacement with probabilities proportional to
    ``exp(index)`` (the Gumbel top-k trick: a conditional-logit selection)."""
    k = min(k, index.size)
    keys = index + rng.gumbel(size=index.size)
    return np.argsort(-keys, kind="stable")[:k]


def _theta_path(params: PanelParams, years: np.ndarray, join: np.ndarray) -> np.ndarray:
    """Effect on log TFP in each year for a firm that joined in ``join`` (NaN: never)."""
    since = years[None, :] - join[:, None] + 1  # 1 in the join year
    if params.ramp_years and params.ramp_years > 0:
        scale = np.clip(since / params.ramp_years, 0.0, 1.0)
    else:
        scale = (since >= 1).astype(float)
    return params.theta * np.nan_to_num(scale, nan=0.0)


# --------------------------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------------------------
def generate_panel(seed: int = DEFAULT_SEED, *, firms: int | None = None,
                   shape: str | PanelShape = "flanders",
                   params: PanelParams | None = None, **overrides: Any) -> SyntheticPanel:
    """Generate the firm panel and the cluster-membership file.

    Parameters
    ----------
    seed
        Seed of the random streams (same seed, same shape and parameters: identical data).
    firms
        Number of firms ever observed (default: the shape's ``n_firms``).
    shape
        ``"flanders"`` (default), ``"other"`` or a :class:`PanelShape`.
    params
        DGP parameters (default :class:`PanelParams`); keyword ``overrides`` replace single
        fields, e.g. ``generate_panel(select_on_pre_tfp=3.0)`` for selection on pre-period TFP.
    """
    shape = get_shape(shape)
    params = replace(params or PanelParams(), **overrides)
    n = int(firms or shape.n_firms)
    if n < 50:
        raise ValueError("firms must be at least 50")
    years = np.arange(shape.first_year, shape.last_year + 1)
    n_years = years.size
    first, last = shape.first_year, shape.last_year

    # ---- firms: industry, entry, exit, age, permanent factors -------------------------------
    rng = _rng(seed, "firms")
    inds = shape.industries
    weights = np.array([i.weight for i in inds], dtype=float)
    ind_idx = rng.choice(len(inds), size=n, p=weights / weights.sum())
    ids = np.array([f"F{v:05d}" for v in rng.permutation(n) + 1])
    entrant = rng.random(n) < params.entry_share
    entry_year = np.where(entrant, rng.integers(first + 1, last + 1, size=n), first)
    inc_age = np.clip(np.round(np.exp(np.log(params.age_median)
                                      + params.age_sigma * rng.standard_normal(n))), 0, 120)
    founding = np.where(entrant, entry_year, first - inc_age).astype(int)
    scale = params.sigma_scale * rng.standard_normal(n)
    capint = params.sigma_capint * rng.standard_normal(n)
    # exit: the firm is observed up to and including exit_year
    exit_year = np.full(n, last)
    alive_now = np.ones(n, dtype=bool)
    for t in range(first + 1, last + 1):
        age_t = t - founding
        hazard = params.exit_hazard + params.exit_hazard_young * (age_t < 5)
        leaves = alive_now & (entry_year < t) & (rng.random(n) < hazard)
        exit_year[leaves] = t - 1
        alive_now &= ~leaves
    alive = (years[None, :] >= entry_year[:, None]) & (years[None, :] <= exit_year[:, None])

    # ---- productivity without the programme: stationary AR(1), no firm effect ---------------
    rng = _rng(seed, "productivity")
    sd_stat = params.sigma_xi / math.sqrt(1.0 - params.rho**2)
    sd_a = params.sigma_xi * math.sqrt(params.known_share)
    sd_b = params.sigma_xi * math.sqrt(1.0 - params.known_share)
    omt_prev0 = sd_stat * rng.standard_normal(n)  # year first-1 (initial condition)
    xa = sd_a * rng.standard_normal((n, n_years))
    xb = sd_b * rng.standard_normal((n, n_years))
    omt = np.empty((n, n_years))
    prev = omt_prev0
    for j in range(n_years):
        omt[:, j] = params.rho * prev + xa[:, j] + xb[:, j]
        prev = omt[:, j]
    omt_lag = np.column_stack([omt_prev0, omt[:, :-1]])

    # ---- membership: selection on size, age, capital intensity (and optionally pre-TFP) -----
    rng = _rng(seed, "membership")
    log_age_first = np.log1p(np.maximum(first - founding, 0))
    base_index = (params.select_size * scale + params.select_age * log_age_first
                  + params.select_capint * capint)
    nace = np.array([i.nace2 for i in inds])[ind_idx]
    cluster_inds = {code for c in shape.clusters for code in c.industries}
    outside = ~np.isin(nace, sorted(cluster_inds))
    taken = np.zeros(n, dtype=bool)
    rows: list[tuple[int, str, int, float]] = []  # firm position, cluster, join, exit
    year_pos = {int(y): j for j, y in enumerate(years)}
    for cl in shape.clusters:
        pre = cl.start_year - 1
        if pre not in year_pos or cl.start_year not in year_pos:
            raise ValueError(f"cluster {cl.name}: start year {cl.start_year} needs the year "
                             f"before it inside the panel {first}-{last}")
        eligible = alive[:, year_pos[pre]] & alive[:, year_pos[cl.start_year]] & ~taken
        index = base_index + params.select_on_pre_tfp * omt[:, year_pos[pre]]
        n_out = round(cl.members * params.outside_share)
        chosen: list[np.ndarray] = []
        for pool_mask, k in ((eligible & np.isin(nace, cl.industries), cl.members - n_out),
                             (eligible & outside, n_out)):
            pool = np.flatnonzero(pool_mask)
            chosen.append(pool[_gumbel_top(rng, index[pool], k)])
        members = np.sort(np.concatenate(chosen))
        taken[members] = True
        later_years = np.arange(cl.start_year + 1, last + 1)
        for pos in members:
            join = cl.start_year
            if later_years.size and rng.random() > cl.first_year_share:
                join = int(rng.choice(later_years))
                if not alive[pos, year_pos[join]]:
                    join = cl.start_year
            rows.append((int(pos), cl.name, join, np.nan))
    # a few firms join a second cluster (at or after its start, and after their first join)
    n_multi = round(len(rows) * params.multi_share)
    multi_pick = rng.choice(len(rows), size=n_multi, replace=False)
    extra: list[tuple[int, str, int, float]] = []
    for r in np.sort(multi_pick):
        pos, name, join, _ = rows[r]
        others = [c for c in shape.clusters if c.name != name]
        cl = others[int(rng.integers(len(others)))]
        second = max(join, cl.start_year) + int(rng.integers(0, 2))
        if second <= last and alive[pos, year_pos[second]]:
            extra.append((pos, cl.name, second, np.nan))
    multi_firms = {e[0] for e in extra}
    # a few single memberships end before the panel does (exit_year: first year not a member)
    for r in range(len(rows)):
        pos, name, join, _ = rows[r]
        if pos not in multi_firms and join + 1 < last and rng.random() < params.member_exit_share:
            rows[r] = (pos, name, join, float(rng.integers(join + 1, last + 1)))
    rows += extra
    memb = pd.DataFrame(rows, columns=["pos", "cluster", "join_year", "exit_year"])

    # treatment: D from the first join on, until the exit of the last active membership
    first_join = np.full(n, np.nan)
    grp = memb.groupby("pos")["join_year"].min()
    first_join[grp.index.to_numpy()] = grp.to_numpy()
    active = np.zeros((n, n_years), dtype=bool)
    for pos, join, ex in memb[["pos", "join_year", "exit_year"]].itertuples(index=False):
        end = last + 1 if np.isnan(ex) else int(ex)
        active[pos] |= (years >= join) & (years < end)
    theta_it = _theta_path(params, years, first_join) * active
    omega = omt + theta_it

    # ---- inputs ------------------------------------------------------------------------------
    rng = _rng(seed, "inputs")
    bl = np.array([i.beta_l for i in inds])[ind_idx]
    bk = np.array([i.beta_k for i in inds])[ind_idx]
    mu_l_j = np.array([math.log(i.median_fte) for i in inds])
    mu_k_j = np.array([math.log(i.median_fte * i.capital_per_fte) for i in inds])
    b0_j = np.array([math.log(i.va_per_fte * i.median_fte) - i.beta_l * math.log(i.median_fte)
                     - i.beta_k * math.log(i.median_fte * i.capital_per_fte) for i in inds])
    mu_l, mu_k, b0 = mu_l_j[ind_idx], mu_k_j[ind_idx], b0_j[ind_idx]
    # labour: chosen at t - 1/2 knowing omega_{t-1}, xa_t and D_t but not xb_t
    u = np.empty((n, n_years))
    prev_u = params.sigma_u / math.sqrt(1 - params.rho_u**2) * rng.standard_normal(n)
    for j in range(n_years):
        prev_u = params.rho_u * prev_u + params.sigma_u * rng.standard_normal(n)
        u[:, j] = prev_u
    expected_omega = params.rho * omt_lag + xa + theta_it
    lab = mu_l[:, None] + scale[:, None] + params.kappa_l * expected_omega + u
    # capital: K_{t+1} = (1-delta) K_t + I_t; I_t >= 0 moves k towards a target that rises with
    # expected TFP (E_t omega_{t+1} = rho omt_t + theta_{t+1} D_{t+1})
    k_target_base = mu_k + scale + capint
    theta_next = np.column_stack([theta_it[:, 1:], theta_it[:, -1]])
    cap = np.empty((n, n_years))
    inv = np.empty((n, n_years))
    k0 = (k_target_base + params.kappa_k * params.rho * omt_prev0
          + params.sigma_k0 * rng.standard_normal(n))
    # entrants start at their own target in their first year, incumbents in the first year
    cap[:, 0] = k0
    for j in range(n_years):
        if j > 0:
            newly = entry_year == years[j]
            k_entry = (k_target_base + params.kappa_k * params.rho * omt_lag[:, j]
                       + params.sigma_k0 * rng.standard_normal(n))
            cap[:, j] = np.where(newly, k_entry, cap[:, j])
        k_star = k_target_base + params.kappa_k * (params.rho * omt[:, j] + theta_next[:, j])
        desired = (cap[:, j] + params.adjust * (k_star - cap[:, j])
                   + params.sigma_inv * rng.standard_normal(n))
        invest = np.maximum(np.exp(desired) - (1 - params.delta) * np.exp(cap[:, j]), 0.0)
        inv[:, j] = invest
        if j + 1 < n_years:
            cap[:, j + 1] = np.log((1 - params.delta) * np.exp(cap[:, j]) + invest)

    # ---- outputs -------------------------------------------------------------------------------
    rng = _rng(seed, "outputs")
    y_star = b0[:, None] + bl[:, None] * lab + bk[:, None] * cap + omega
    eps = params.sigma_eps * rng.standard_normal((n, n_years))
    y = y_star + eps
    mat_ratio = np.array([i.materials_ratio for i in inds])[ind_idx]
    lab_share = np.array([i.labour_share for i in inds])[ind_idx]
    m = np.log(mat_ratio)[:, None] + y_star
    wage = np.log(lab_share)[:, None] + y_star + params.sigma_wage * rng.standard_normal(
        (n, n_years))

    # ---- exports and patents -------------------------------------------------------------------
    rng = _rng(seed, "trade")
    exp_shift = np.array([i.export_shift for i in inds])[ind_idx]
    pat_shift = np.array([i.patent_shift for i in inds])[ind_idx]
    l_centre = lab - mu_l[:, None]
    x_firm = params.export_firm_sd * rng.standard_normal(n)
    x_index = (params.export_const + exp_shift[:, None] + x_firm[:, None]
               + params.export_size * l_centre + params.export_tfp * omega
               + params.export_membership * active)
    p_export = special.expit(x_index)
    exporter = rng.random((n, n_years)) < p_export
    share_mean = special.expit(-1.2 + 0.3 * x_firm[:, None] + 0.2 * l_centre + omega)
    phi = params.export_precision
    share = rng.beta(share_mean * phi, (1 - share_mean) * phi)
    turnover = np.exp(y) + np.exp(m)
    exports = np.where(exporter, share * turnover, 0.0)
    p_firm = params.patent_firm_sd * rng.standard_normal(n)
    p_mu = np.exp(params.patent_const + pat_shift[:, None] + p_firm[:, None]
                  + params.patent_size * l_centre + params.patent_tfp * omega
                  + params.patent_membership * active)
    alpha = params.patent_dispersion
    gamma = rng.gamma(shape=1 / alpha, scale=alpha * p_mu)
    patents = rng.poisson(gamma).astype(float)

    # ---- long format ---------------------------------------------------------------------------
    fi, yj = np.nonzero(alive)
    df = pd.DataFrame({
        "firm_id": ids[fi],
        "year": years[yj].astype("int64"),
        "nace2": nace[fi],
        "value_added": np.exp(y[fi, yj]),
        "employment": np.exp(lab[fi, yj]),
        "capital": np.exp(cap[fi, yj]),
        "materials": np.exp(m[fi, yj]),
        "wage_bill": np.exp(wage[fi, yj]),
        "investment": inv[fi, yj],
        "founding_year": founding[fi].astype("int64"),
        "exports": exports[fi, yj],
        "patents": patents[fi, yj],
    })
    latent = pd.DataFrame({
        "firm_id": ids[fi], "year": years[yj].astype("int64"),
        "omega": omega[fi, yj], "omega_tilde": omt[fi, yj], "treated": active[fi, yj],
        "theta_it": theta_it[fi, yj], "eps": eps[fi, yj], "xi_known": xa[fi, yj],
        "xi_unknown": xb[fi, yj], "scale": scale[fi], "capint": capint[fi],
    })

    # ---- realistic mess ------------------------------------------------------------------------
    rng = _rng(seed, "mess")
    counts = df.groupby("firm_id", sort=False)["year"].transform("size").to_numpy()
    firstrow = df["year"].to_numpy() == df.groupby("firm_id", sort=False)["year"].transform(
        "min").to_numpy()
    lastrow = df["year"].to_numpy() == df.groupby("firm_id", sort=False)["year"].transform(
        "max").to_numpy()
    interior = np.flatnonzero((counts >= 4) & ~firstrow & ~lastrow)
    interior_firms = pd.unique(df["firm_id"].to_numpy()[interior])
    gap_firms = rng.choice(interior_firms, size=round(params.gap_share * n), replace=False)
    drop = []
    fid = df["firm_id"].to_numpy()
    for f in np.sort(gap_firms):
        cand = interior[fid[interior] == f]
        drop.append(int(rng.choice(cand)))
    keep = np.ones(len(df), dtype=bool)
    keep[drop] = False
    df, latent = df[keep].reset_index(drop=True), latent[keep].reset_index(drop=True)
    latent["gap_before"] = False
    nrows = len(df)
    for column, share in (("employment", params.zero_employment_share),
                          ("capital", params.zero_capital_share),
                          ("materials", params.zero_materials_share)):
        pick = rng.choice(nrows, size=round(share * nrows), replace=False)
        df.loc[pick, column] = 0.0
    for column, share in (("investment", params.missing_investment_share),
                          ("exports", params.missing_exports_share),
                          ("patents", params.missing_patents_share)):
        pick = rng.choice(nrows, size=round(share * nrows), replace=False)
        df.loc[pick, column] = np.nan
    for column in ("value_added", "employment", "capital", "materials", "wage_bill",
                   "investment", "exports"):
        df[column] = round_significant(df[column].to_numpy())
    df = df.sort_values(["firm_id", "year"], kind="stable").reset_index(drop=True)
    latent = latent.sort_values(["firm_id", "year"], kind="stable").reset_index(drop=True)

    membership = pd.DataFrame({
        "firm_id": ids[memb["pos"].to_numpy()],
        "cluster": memb["cluster"].to_numpy(),
        "join_year": memb["join_year"].to_numpy().astype("int64"),
        "exit_year": pd.array(memb["exit_year"].to_numpy(), dtype="Int64"),
    })
    order = {c.name: i for i, c in enumerate(shape.clusters)}
    membership = (membership.assign(_o=membership["cluster"].map(order))
                  .sort_values(["_o", "firm_id"], kind="stable").drop(columns="_o")
                  .reset_index(drop=True))

    truth = panel_truth(seed, n, shape, params, b0_j)
    return SyntheticPanel(panel=df, membership=membership, truth=truth, latent=latent)


def panel_truth(seed: int, firms: int, shape: PanelShape, params: PanelParams,
                b0: np.ndarray) -> dict[str, Any]:
    """The true parameters of a generated panel, as written to ``panel.truth.json``."""
    industries = {}
    for i, ind in enumerate(shape.industries):
        industries[ind.nace2] = {
            "label": ind.label, "beta_l": ind.beta_l, "beta_k": ind.beta_k,
            "beta_0": round(float(b0[i]), 10), "materials_ratio": ind.materials_ratio,
            "labour_share": ind.labour_share,
            "cluster": next((c.name for c in shape.clusters if ind.nace2 in c.industries), None),
        }
    return {
        "synthetic": True,
        "dataset": "panel and cluster membership",
        "generator": "clusterpolicy.synthetic.generate_panel",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "firms": int(firms),
        "shape": {"name": shape.name, "region": shape.region, "first_year": shape.first_year,
                  "last_year": shape.last_year, "description": shape.description,
                  "clusters": [asdict(c) for c in shape.clusters]},
        "params": asdict(params),
        "production": {
            "model": "log value added y = beta_0(j) + beta_l(j) l + beta_k(j) k + omega + eps; "
                     "eps ~ N(0, sigma_eps^2) iid measurement error; j = nace2",
            "industries": industries,
        },
        "productivity": {
            "omega": "omega_it = omega_tilde_it + theta_it * D_it (true log TFP, mean 0 "
                     "without the programme)",
            "omega_tilde": "stationary AR(1): omega_tilde_it = rho omega_tilde_i,t-1 + xi_it, "
                           "xi ~ N(0, sigma_xi^2), no firm fixed effect",
            "law_of_motion": "omega_it = rho omega_i,t-1 + theta (D_it - rho D_i,t-1) + xi_it "
                             "(De Loecker 2013; with ramp_years > 0 theta varies with time "
                             "since joining)",
            "rho": params.rho, "sigma_xi": params.sigma_xi,
            "sd_stationary": params.sigma_xi / math.sqrt(1 - params.rho**2),
        },
        "treatment": {
            "theta": params.theta, "ramp_years": params.ramp_years,
            "D": "1 from the firm's first join year until the end of its last membership "
                 "(exit_year = first year no longer a member)",
            "selection": "conditional logit (Gumbel top-k) within each cluster's eligible pool "
                         "on select_size * scale + select_age * log(1 + age) + select_capint * "
                         "capint + select_on_pre_tfp * omega_tilde(start year - 1); eligible: "
                         "alive in the year before and the year of the cluster's start",
            "parallel_trends": ("hold unconditionally (selection on permanent factors only)"
                                if params.select_on_pre_tfp == 0 else
                                "fail unconditionally (selection on pre-period TFP with "
                                "mean reversion); hold conditional on omega_tilde(start-1)"),
        },
        "inputs": {
            "labour": "l_it = mu_l(j) + scale_i + kappa_l (rho omega_tilde_i,t-1 + xi_known_it "
                      "+ theta_it D_it) + u_it; xi_known has variance known_share * "
                      "sigma_xi^2 (chosen at t - 1/2, ACF timing); u AR(1)",
            "capital": "K_i,t+1 = (1 - delta) K_it + I_it; log desired K_i,t+1 = k_it + adjust "
                       "(k*_i,t+1 - k_it) + N(0, sigma_inv^2); k* = mu_k(j) + scale_i + "
                       "capint_i + kappa_k E_t[omega_i,t+1]; I_it = max(desired - (1-delta) "
                       "K_it, 0)",
            "materials": "m_it = log(materials_ratio(j)) + beta_0 + beta_l l + beta_k k + omega "
                         "(Leontief in materials: strictly increasing in omega, the proxy)",
            "wage_bill": "log wage_bill = log(labour_share(j)) + y* + N(0, sigma_wage^2)",
        },
        "exports_patents": {
            "exports": "exporter ~ Bernoulli(logistic(export_const + export_shift(j) + firm "
                       "effect + export_size (l - mu_l) + export_tfp omega + export_membership "
                       "D)); exports = share * (value added + materials), share ~ Beta",
            "patents": "negative binomial, log mean = patent_const + patent_shift(j) + firm "
                       "effect + patent_size (l - mu_l) + patent_tfp omega + patent_membership "
                       "D; var = mu + patent_dispersion mu^2",
        },
        "mess": "entry after the first year, exit (hazard not related to TFP), one missing "
                "interior year for gap_share of firms, zeros in employment, capital and "
                "materials, missing investment, exports and patents, floats rounded to 6 "
                "significant digits",
        "units": "money in thousand euro (deflated), employment in FTE",
    }


# --------------------------------------------------------------------------------------------
# Tech firms (study 2)
# --------------------------------------------------------------------------------------------
TECH_INDUSTRIES = ("Semiconductors", "Software", "Medical devices", "Instruments",
                   "Communications equipment", "Specialty chemicals", "Biotechnology",
                   "Aerospace components")
N_REGIONS = 40


def default_tech_truth() -> dict[str, Any]:
    """The true parameters of the tech-firm DGP (all **choice**; the published pattern only)."""
    industry_effect = dict(zip(TECH_INDUSTRIES, [0.0, 0.15, 0.10, -0.05, 0.10, -0.10, 0.05,
                                                  0.20], strict=True))
    return {
        "initiation": {"model": "probit", "const": -0.85, "z": 0.55, "z2": -0.30, "serial": 0.30,
                       "serial_z": 0.40, "serial_z2": 0.30, "log_age": 0.10,
                       "log_employees": 0.15, "log1p_patents": 0.08,
                       "industry": industry_effect},
        "intensity": {"model": "beta regression, logit mean (fractional logit QMLE consistent)",
                      "precision": 8.0, "const": -1.75, "z": 0.40, "z2": -0.22, "serial": 0.30,
                      "serial_z": 0.35, "serial_z2": 0.22, "log_age": 0.05,
                      "log_employees": 0.10, "log1p_patents": 0.05,
                      "industry": {k: 0.5 * v for k, v in industry_effect.items()}},
        "clustering": {"log_lq_sd": 0.8, "region_tilt_serial": 0.5, "region_tilt_nonserial": 0.3},
    }


def _turning_point(equation: Mapping[str, Any]) -> float | None:
    return -equation["z"] / (2 * equation["z2"]) if equation["z2"] else None


def generate_techfirms(seed: int = DEFAULT_SEED, n_pairs: int = 400,
                       truth: Mapping[str, Any] | None = None
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Serial innovators and matched non-serial innovators, and the true parameters.

    ``z = (log(clustering) - mean) / sd`` with the sample mean and standard deviation
    (``ddof=0``) over all firms of the generated sample. Initiation:
    ``P(international = 1) = Phi(const + z z + z2 z^2 + serial S + serial_z S z + serial_z2 S z^2
    + log_age log(age) + log_employees log(employees) + log1p_patents log(1 + patents) +
    industry)``; intensity among international firms: ``foreign_share ~ Beta(mu phi,
    (1 - mu) phi)`` with ``mu = logistic(...)`` of the same terms and ``phi = precision``.
    """
    truth = json.loads(json.dumps(dict(truth) if truth is not None else default_tech_truth()))
    rng = _rng(seed, "tech")
    ind_w = np.array([0.16, 0.18, 0.14, 0.12, 0.12, 0.10, 0.10, 0.08])
    n_ind = len(TECH_INDUSTRIES)
    log_lq = truth["clustering"]["log_lq_sd"] * rng.standard_normal((N_REGIONS, n_ind))
    lq = np.exp(log_lq)

    def pick_region(ind: np.ndarray, tilt: float) -> np.ndarray:
        out = np.empty(ind.size, dtype=int)
        for j in range(n_ind):
            sel = np.flatnonzero(ind == j)
            p = lq[:, j] ** tilt
            out[sel] = rng.choice(N_REGIONS, size=sel.size, p=p / p.sum())
        return out

    ind_s = rng.choice(n_ind, size=n_pairs, p=ind_w / ind_w.sum())
    emp_s = np.clip(np.round(np.exp(np.log(60) + 0.8 * rng.standard_normal(n_pairs))), 5, 499)
    # the matched non-serial innovator: same industry, similar size
    emp_n = np.clip(np.round(emp_s * np.exp(0.25 * rng.standard_normal(n_pairs))), 3, 499)
    age_s = np.clip(np.round(np.exp(np.log(24) + 0.45 * rng.standard_normal(n_pairs))), 5, 90)
    age_n = np.clip(np.round(np.exp(np.log(15) + 0.55 * rng.standard_normal(n_pairs))), 1, 90)
    pat_s = 15 + rng.negative_binomial(2, 2 / (2 + 15), size=n_pairs)  # >= 15 in five years
    pat_n = rng.negative_binomial(0.8, 0.8 / (0.8 + 2.5), size=n_pairs)
    reg_s = pick_region(ind_s, truth["clustering"]["region_tilt_serial"])
    reg_n = pick_region(ind_s, truth["clustering"]["region_tilt_nonserial"])

    serial = np.r_[np.ones(n_pairs, dtype=bool), np.zeros(n_pairs, dtype=bool)]
    ind = np.r_[ind_s, ind_s]
    region = np.r_[reg_s, reg_n]
    employees = np.r_[emp_s, emp_n].astype("int64")
    age = np.r_[age_s, age_n].astype("int64")
    patents = np.r_[pat_s, pat_n].astype("int64")
    clustering = round_significant(lq[region, ind], 4)
    logc = np.log(clustering)
    z = (logc - logc.mean()) / logc.std()
    s = serial.astype(float)
    industry = np.array(TECH_INDUSTRIES)[ind]

    def index(eq: Mapping[str, Any]) -> np.ndarray:
        return (eq["const"] + eq["z"] * z + eq["z2"] * z**2 + eq["serial"] * s
                + eq["serial_z"] * s * z + eq["serial_z2"] * s * z**2
                + eq["log_age"] * np.log(age) + eq["log_employees"] * np.log(employees)
                + eq["log1p_patents"] * np.log1p(patents)
                + np.array([eq["industry"][k] for k in industry]))

    international = (rng.random(2 * n_pairs) < stats.norm.cdf(index(truth["initiation"])))
    mu = special.expit(index(truth["intensity"]))
    phi = truth["intensity"]["precision"]
    draw = rng.beta(mu * phi, (1 - mu) * phi)
    share = np.where(international, np.clip(np.round(draw, 4), 0.0001, 1.0), 0.0)

    ids = np.array([f"T{v:04d}" for v in rng.permutation(2 * n_pairs) + 1])
    match = np.array([f"M{v:03d}" for v in np.r_[np.arange(n_pairs), np.arange(n_pairs)] + 1])
    df = pd.DataFrame({
        "firm_id": ids, "serial": serial, "match_id": match, "industry": industry,
        "region": np.array([f"R{r + 1:02d}" for r in region]),
        "clustering": clustering, "international": international.astype("int64"),
        "foreign_share": share, "employees": employees, "age": age, "patents": patents,
    }).sort_values(["match_id", "serial"], ascending=[True, False], kind="stable")
    df = df.reset_index(drop=True)
    truth.update({
        "synthetic": True,
        "dataset": "tech firms (serial and matched non-serial innovators)",
        "generator": "clusterpolicy.synthetic.generate_techfirms",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_pairs": int(n_pairs),
        "z_definition": "z = (log(clustering) - mean) / std over all firms of the sample, "
                        "ddof=0; z2 = z**2",
        "matching": "each serial innovator shares match_id with one non-serial innovator of the "
                    "same industry and similar employment (log ratio ~ N(0, 0.25^2))",
        # None when the curvature is zero (no turning point)
        "turning_point_nonserial_initiation": _turning_point(truth["initiation"]),
        "turning_point_nonserial_intensity": _turning_point(truth["intensity"]),
    })
    return df, truth


# --------------------------------------------------------------------------------------------
# Writing the defaults
# --------------------------------------------------------------------------------------------
def _write_json(path: Path, obj: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        df.to_csv(handle, index=False, lineterminator="\n")


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    """Parquet written deterministically: no pandas metadata, fixed row groups and codec."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", compression_level=9,
                   row_group_size=1 << 20, use_dictionary=["firm_id", "nace2"],
                   write_statistics=True, version="2.6")


def write_defaults(out: str | Path, seed: int = DEFAULT_SEED, firms: int | None = None,
                   shape: str | PanelShape = "flanders",
                   n_pairs: int | None = None) -> dict[str, Path]:
    """Generate the three datasets into ``out`` with truth JSONs and a ``SHA256SUMS`` file.

    ``n_pairs`` (serial innovators, each with a matched non-serial one) defaults to the shape's
    ``tech_pairs``, so another shape gets another tech-firm sample too.
    """
    from .provenance import sha256_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shape = get_shape(shape)
    sp = generate_panel(seed, firms=firms, shape=shape)
    tech, tech_truth = generate_techfirms(
        seed, n_pairs=shape.tech_pairs if n_pairs is None else n_pairs)
    panel_truth_ = dict(sp.truth, files={"panel": FILES["panel"],
                                         "membership": FILES["membership"]})
    written = {
        "panel": out / FILES["panel"],
        "membership": out / FILES["membership"],
        "techfirms": out / FILES["techfirms"],
    }
    _write_parquet(written["panel"], sp.panel)
    _write_csv(written["membership"], sp.membership)
    _write_csv(written["techfirms"], tech)
    for key, truth in (("panel", panel_truth_), ("membership", panel_truth_),
                       ("techfirms", tech_truth)):
        tpath = truth_path(written[key])
        _write_json(tpath, truth)
        written[f"{key}_truth"] = tpath
    lines = [f"{sha256_file(p)}  {p.name}\n" for _, p in sorted(written.items(),
                                                               key=lambda kv: kv[1].name)]
    (out / CHECKSUMS).write_text("".join(lines), encoding="utf-8")
    written["checksums"] = out / CHECKSUMS
    return written


def truth_path(data_path: str | Path) -> Path:
    """Where the truth JSON of a data file lives: ``panel.parquet`` -> ``panel.truth.json``."""
    p = Path(data_path)
    return p.with_name(p.name.split(".")[0] + ".truth.json")


def read_truth(data_path: str | Path) -> dict[str, Any] | None:
    """The truth JSON beside a data file, or ``None`` (real data have none).

    The truth file is recorded as an input of the running chapter whether or not it exists,
    so a cached chapter is executed again when a truth file appears or disappears.
    """
    from .provenance import track_optional

    found = track_optional(truth_path(data_path))
    return None if found is None else json.loads(found.read_text(encoding="utf-8"))


def is_synthetic_run(manifest: dict[str, Any]) -> bool:
    """Whether any page of a run (its run manifest) read a truth file: the run is synthetic.

    A truth file looked for and not found is recorded as ``absent`` and does not count.
    """
    from .provenance import ABSENT

    return any(item["path"].endswith(".truth.json") and item["sha256"] != ABSENT
               for entry in manifest["chapters"].values() for item in entry["inputs"])


def is_synthetic(*data_paths: str | Path) -> bool:
    """True when any of the files has a truth JSON that declares it synthetic."""
    return any((read_truth(p) or {}).get("synthetic", False) for p in data_paths)


@dataclass(frozen=True)
class Regenerated:
    """A synthetic panel file regenerated from its truth file, checked to reproduce the file.

    ``generated`` is the file's own world; :meth:`world` generates it again with some DGP
    parameters replaced. Every block of the data comes from its own named random stream, so
    the other worlds reuse the same random numbers (common random numbers): they differ from
    the file only through the replaced parameters. :meth:`align` puts any generated frame in
    the rows of the file.
    """

    path: Path
    truth: dict[str, Any]
    panel: pd.DataFrame = field(repr=False)  # the file, as loaded
    generated: SyntheticPanel = field(repr=False)

    def world(self, **overrides: Any) -> SyntheticPanel:
        """The panel generated with the file's seed, shape and parameters, ``overrides`` replaced."""
        return _generate_like(self.truth, **overrides)

    def align(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (columns ``firm_id``, ``year``, one row per generated firm-year) in the
        file's rows and order, with the file's index; ``ValueError`` if the firm-years differ."""
        return _align_to_file(frame, self.panel, self.path.name)


def _generate_like(truth: Mapping[str, Any], **overrides: Any) -> SyntheticPanel:
    return generate_panel(int(truth["seed"]), firms=int(truth["firms"]),
                          shape=truth["shape"]["name"], params=PanelParams(**truth["params"]),
                          **overrides)


def _align_to_file(frame: pd.DataFrame, panel: pd.DataFrame, name: str) -> pd.DataFrame:
    keys = pd.MultiIndex.from_arrays(
        [panel["firm_id"].astype(str).to_numpy(), panel["year"].astype("int64").to_numpy()],
        names=["firm_id", "year"])
    indexed = frame.astype({"firm_id": str, "year": "int64"}).set_index(["firm_id", "year"])
    if len(indexed) != len(keys) or not keys.isin(indexed.index).all():
        raise ValueError(f"{name}: {len(keys)} firm-years in the file, {len(indexed)} "
                         "regenerated from its truth file, not the same firm-years: the file "
                         "was edited")
    out = indexed.loc[keys].reset_index()
    out.index = panel.index
    return out


def regenerate(panel_path: str | Path, panel: pd.DataFrame | None = None,
               *, rtol: float = 1e-5) -> Regenerated | None:
    """Regenerate a synthetic panel file from the truth JSON beside it, and check it.

    The truth file records everything the generator needs (generator version, seed, number of
    firms, shape and parameters). The regenerated panel must have the file's firm-years and,
    to ``rtol``, its value added.

    Parameters
    ----------
    panel_path
        The panel file (its ``*.truth.json`` is read through :func:`read_truth`).
    panel
        The panel as loaded by :func:`clusterpolicy.schemas.load_panel`; read from
        ``panel_path`` when not given.
    rtol
        Relative tolerance of the check of ``value_added`` (the file's floats are rounded to
        6 significant digits).

    Returns
    -------
    Regenerated or None
        ``None`` when the panel has no synthetic truth file (real data).

    Raises
    ------
    ValueError
        The truth file cannot be regenerated (unknown generator, version or shape), or the
        regenerated panel does not match the file: other firm-years or other value added (the
        file was edited, or written by another version of the generator).
    """
    truth = read_truth(panel_path)
    if truth is None or not truth.get("synthetic", False):
        return None
    name = Path(panel_path).name
    if truth.get("generator") != "clusterpolicy.synthetic.generate_panel":
        raise ValueError(f"{name}: truth file names generator {truth.get('generator')!r}, "
                         "not clusterpolicy.synthetic.generate_panel")
    if truth.get("generator_version") != GENERATOR_VERSION:
        raise ValueError(f"{name}: written by generator version {truth.get('generator_version')!r},"
                         f" this package has {GENERATOR_VERSION!r}: cannot regenerate it")
    shape = get_shape(truth["shape"]["name"])
    recorded = {k: truth["shape"][k] for k in ("first_year", "last_year", "clusters")}
    ours = {"first_year": shape.first_year, "last_year": shape.last_year,
            "clusters": [asdict(c) for c in shape.clusters]}
    if json.loads(json.dumps(ours)) != recorded:
        raise ValueError(f"{name}: the truth file's shape {shape.name!r} differs from this "
                         "package's shape of that name: cannot regenerate it")
    if panel is None:
        from .schemas import load_panel

        panel = load_panel(panel_path)
    generated = _generate_like(truth)
    same = _align_to_file(generated.panel[["firm_id", "year", "value_added"]], panel, name)
    if not np.allclose(panel["value_added"].to_numpy(dtype=float),
                       same["value_added"].to_numpy(dtype=float), rtol=rtol, atol=0):
        raise ValueError(f"{name}: value_added differs from the panel regenerated from its truth "
                         "file: the file was edited")
    return Regenerated(Path(panel_path), truth, panel, generated)


def latent_for(panel_path: str | Path, panel: pd.DataFrame | None = None,
               *, rtol: float = 1e-5) -> pd.DataFrame | None:
    """The latent variables (true log TFP ``omega``, ...) of a synthetic panel file.

    One row per firm-year of the file, in the file's order and with its index: ``firm_id``,
    ``year``, ``omega`` (true log TFP without the industry constant), ``omega_tilde`` (without
    the programme), ``treated``, ``theta_it``, ``eps`` (the output shock), ``xi_known``,
    ``xi_unknown``, ``scale`` and ``capint``. ``None`` for real data (no truth file); the
    errors and ``rtol`` are those of :func:`regenerate`.
    """
    regenerated = regenerate(panel_path, panel, rtol=rtol)
    if regenerated is None:
        return None
    return regenerated.align(regenerated.generated.latent)


def cli_synth(out: str, seed: int | None = None, firms: int | None = None,
              shape: str = "flanders") -> int:
    """``python -m clusterpolicy synth``: write the datasets; exit status 0, 2 on bad usage."""
    import sys
    import time

    try:
        get_shape(shape)
        if firms is not None and firms < 50:
            raise ValueError("--firms must be at least 50")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    written = write_defaults(out, seed=DEFAULT_SEED if seed is None else seed, firms=firms,
                             shape=shape)
    seconds = time.perf_counter() - start
    for key in ("panel", "membership", "techfirms", "checksums"):
        print(f"wrote {written[key]}")
    print(f"done in {seconds:.1f} s (seed {DEFAULT_SEED if seed is None else seed}, "
          f"shape {shape})")
    return 0


# --------------------------------------------------------------------------------------------
# Calibration: published facts against the data
# --------------------------------------------------------------------------------------------
def members_counted(membership: pd.DataFrame, shape: PanelShape) -> int:
    """Distinct firms of ``shape.count_clusters`` whose membership started by
    ``max(count_year, cluster start year)`` and had not ended by then."""
    if shape.count_year is None:
        return 0
    start = {c.name: c.start_year for c in shape.clusters}
    m = membership[membership["cluster"].isin(shape.count_clusters)]
    cutoff = np.maximum(shape.count_year, m["cluster"].map(start).to_numpy(dtype=float))
    ex = m["exit_year"].astype("Float64").fillna(np.inf).to_numpy(dtype=float)
    ok = (m["join_year"].to_numpy() <= cutoff) & (ex > cutoff)
    return int(m.loc[ok, "firm_id"].nunique())


def _holds(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "no")


def calibration_table(panel: pd.DataFrame, membership: pd.DataFrame,
                      techfirms: pd.DataFrame | None = None, *,
                      panel_truth: Mapping[str, Any] | None = None,
                      tech_truth: Mapping[str, Any] | None = None,
                      shape: str | PanelShape = "flanders") -> pd.DataFrame:
    """Each published fact (or modelling choice) beside the value computed from the data.

    Works on any data satisfying the schemas: rows that need the true parameters (synthetic
    data only) show ``n/a`` on real data. Tolerances are part of the table and are asserted by
    the tests on the committed defaults.
    """
    from .schemas import pre_period_comparison, sample_construction

    shape = get_shape(shape)
    rows: list[dict[str, Any]] = []

    def add(quantity: str, published: str, status: str, value: str, tolerance: str,
            ok: bool | None) -> None:
        rows.append({"quantity": quantity, "published": published, "status": status,
                     "in the data": value, "tolerance": tolerance, "holds": _holds(ok)})

    sample, _ = sample_construction(panel)
    y0, y1 = int(panel["year"].min()), int(panel["year"].max())
    add("panel years", f"{shape.first_year}-{shape.last_year}", "stated", f"{y0}-{y1}", "exact",
        (y0, y1) == (shape.first_year, shape.last_year))
    n_firms = int(sample["firm_id"].nunique())
    add("firms in the estimation sample", "more than 10,000", "stated", f"{n_firms:,}",
        "> 10,000", n_firms > 10_000)
    clusters_seen = [str(c) for c in pd.unique(membership["cluster"].astype(str))]
    add("number of clusters", str(len(shape.clusters)), "stated", str(len(clusters_seen)),
        "exact", len(clusters_seen) == len(shape.clusters))
    first = membership.groupby(membership["cluster"].astype(str))["join_year"].min()
    starts_ok = all(int(first.get(c.name, -1)) == c.start_year for c in shape.clusters)
    add("policy launch (first joins)", str(shape.policy_year), "stated",
        str(int(membership["join_year"].min())), "exact",
        int(membership["join_year"].min()) == shape.policy_year)
    add("cluster start years", "; ".join(f"{c.name} {c.start_year}" for c in shape.clusters),
        "stated (MEDVIA's year: choice)" if shape.name == "flanders" else "choice",
        "; ".join(f"{c.name} {int(first.get(c.name, 0)) or '—'}" for c in shape.clusters),
        "exact (first join year of each cluster)", starts_ok)
    if shape.count_target:
        counted = members_counted(membership, shape)
        lo, hi = 0.85 * shape.count_target, 1.15 * shape.count_target
        add(f"member firms in {shape.count_year} ({len(shape.count_clusters)} clusters)",
            f"{shape.count_target:,}", "stated", f"{counted:,}",
            f"± 15% ({lo:,.0f}-{hi:,.0f}); counted as firms whose membership started by "
            f"max({shape.count_year}, the cluster's start year)", lo <= counted <= hi)
    ever = int(membership["firm_id"].nunique())
    if shape.name == "flanders":
        add("member firms later, seven clusters", "about 1,700 (2021 pact)", "stated",
            f"{ever:,} by {y1}", "between 1,148 and 1,700 (the panel ends before 2021)",
            1148 <= ever <= 1700)
    all_firms = int(panel["firm_id"].nunique())
    share = ever / all_firms
    add("share of firms ever members", "5-15%", "choice", f"{100 * share:.1f}%", "5-15%",
        0.05 <= share <= 0.15)
    in_year = panel[panel["year"] == min(max(2018, y0), y1)]
    mem = in_year["firm_id"].isin(set(membership["firm_id"].astype(str)))
    emp_share = in_year.loc[mem, "employment"].sum() / in_year["employment"].sum()
    va_share = in_year.loc[mem, "value_added"].sum() / in_year["value_added"].sum()
    if shape.name == "flanders":
        add("members' share of employment / value added", "14% / 18% of the Flemish economy",
            "stated (not a target)",
            f"{100 * emp_share:.0f}% / {100 * va_share:.0f}% of the panel",
            "not comparable: population shares, while the panel over-represents members",
            None)
    cmp = pre_period_comparison(sample, membership, before=shape.policy_year)
    diff = cmp["difference"]
    pvals = cmp["p (Welch)"]
    keys = ["size: log employment (FTE)", "age (years)", "capital intensity: log capital per FTE"]
    empty = [group for group in ("members", "non-members") if cmp[f"firms ({group})"].min() < 2]
    if empty:
        add("members vs non-members before the policy", "larger, older, more capital intensive",
            "stated (direction only)",
            f"not comparable: fewer than two {' or '.join(empty)} observed before "
            f"{shape.policy_year}", "all three differences > 0 with p < 0.01", None)
    else:
        add("members vs non-members before the policy", "larger, older, more capital intensive",
            "stated (direction only)",
            "; ".join(f"{k.split(':')[0]} {diff[k]:+.2f} (p = {pvals[k]:.1g})" for k in keys),
            "all three differences > 0 with p < 0.01",
            bool(all(diff[k] > 0 and pvals[k] < 0.01 for k in keys)))
    joins = membership.assign(cluster=membership["cluster"].astype(str))
    start = {c.name: c.start_year for c in shape.clusters}
    first_year = (joins["join_year"] == joins["cluster"].map(start)).mean()
    add("members joining in their cluster's first year", "most (staggered over the years)",
        "choice", f"{100 * first_year:.0f}%", "> 50%", first_year > 0.5)
    if panel_truth is not None:
        p = panel_truth["params"]
        theta = float(p["theta"])
        add("effect of membership on log TFP", "+1% to +4.4% (headline about +3%)", "stated",
            f"{theta:.3f} (true parameter)", "0.01-0.044", 0.01 <= theta <= 0.044)
        inds = panel_truth["production"]["industries"].values()
        bl = [i["beta_l"] for i in inds]
        bk = [i["beta_k"] for i in inds]
        add("output elasticities by industry", "labour 0.6-0.7, capital 0.2-0.3", "choice",
            f"labour {min(bl):.2f}-{max(bl):.2f}, capital {min(bk):.2f}-{max(bk):.2f}",
            "inside the ranges", min(bl) >= 0.6 and max(bl) <= 0.7 and min(bk) >= 0.2
            and max(bk) <= 0.3)
        add("persistence of TFP (AR(1) coefficient)", "persistent (no value published)",
            "choice", f"{float(p['rho']):.2f}", "0.7-0.8", 0.7 <= float(p["rho"]) <= 0.8)
        add("heterogeneity of the effect by firm size", "not significant", "stated",
            "none (homogeneous effect by construction)", "exact", True)
    else:
        add("effect of membership on log TFP", "+1% to +4.4% (headline about +3%)", "stated",
            "estimated in the chapter on cluster effects", "—", None)
    if techfirms is not None:
        n_s = int(techfirms["serial"].sum())
        n_n = int((~techfirms["serial"].astype(bool)).sum())
        add("serial / matched non-serial innovators", "about 400 / 400", "choice",
            f"{n_s:,} / {n_n:,}", "300-500 each", 300 <= n_s <= 500 and 300 <= n_n <= 500)
        if tech_truth is not None:
            for margin in ("initiation", "intensity"):
                eq = tech_truth[margin]
                tp = -eq["z"] / (2 * eq["z2"])
                pattern = (eq["z"] > 0 and eq["z2"] < 0 and 0.5 <= tp <= 1.5
                           and eq["serial_z"] > 0 and abs(eq["z2"] + eq["serial_z2"]) < 1e-9)
                add(f"pattern, {margin}: both gain; non-serial decreasing returns; serial gain "
                    "more", "qualitative (findings 1-3)", "stated (coefficients: choice)",
                    f"non-serial slope {eq['z']:+.2f}, curvature {eq['z2']:+.2f} (turning point "
                    f"z = {tp:.2f}); serial slope {eq['z'] + eq['serial_z']:+.2f}, curvature "
                    f"{eq['z2'] + eq['serial_z2']:+.2f} (true parameters)",
                    "signs as published; turning point 0.5-1.5", pattern)
    return pd.DataFrame(rows).set_index("quantity")
