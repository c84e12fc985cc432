"""The shapes of a synthetic economy: years, industries, clusters and their start years, firm
counts and the parameters of the data-generating process.

Everything country-specific lives in a :class:`PanelShape`: the generator functions hold no
Flemish constants. The default shape is :data:`FLANDERS`, calibrated to the published facts;
:data:`OTHER` is a second, deliberately different shape for testing that the book does not
depend on Flemish specifics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


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


#: The default shape, the Flemish Spearhead Cluster programme, calibrated to the published facts.
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


#: A fictional economy, deliberately unlike Flanders, for testing that nothing depends on it.
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


#: The known shapes by name (:func:`~clusterpolicy.synthetic.get_shape`).
SHAPES: dict[str, PanelShape] = {s.name: s for s in (FLANDERS, OTHER)}


def get_shape(shape: str | PanelShape) -> PanelShape:
    """The shape named ``shape`` (a key of :data:`~clusterpolicy.synthetic.shapes.SHAPES`), or
    ``shape`` itself if it is one.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known shapes.
    """
    if isinstance(shape, PanelShape):
        return shape
    try:
        return SHAPES[shape]
    except KeyError:
        raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(SHAPES)}") from None


def scaled_shape(shape: str | PanelShape, firms: int) -> PanelShape:
    """The shape with every cluster's member count scaled to ``firms`` firms.

    A shape fixes the number of members for its full number of firms; a smaller (or larger)
    panel keeps the share of members, with at least one member per cluster.

    Parameters
    ----------
    shape : str or PanelShape
        A shape or its name (:func:`get_shape`).
    firms : int
        Firms of the panel.

    Returns
    -------
    PanelShape
        The shape with each cluster's ``members`` scaled.
    """
    shape = get_shape(shape)
    factor = firms / shape.n_firms
    return dataclasses.replace(shape, clusters=tuple(
        dataclasses.replace(c, members=max(1, round(c.members * factor))) for c in shape.clusters))


# --------------------------------------------------------------------------------------------
# Parameters of the panel's data-generating process
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PanelParams:
    """Parameters of the panel DGP (every one a **choice** of this report)."""

    theta: float = 0.03  # effect of membership on log TFP
    ramp_years: int = 0  # 0: full effect from the join year; r: effect * min(1, (t-join+1)/r)
    theta_size: float = 0.0  # change of a member's effect per unit of its scale factor
    anticipation: float = 0.0  # share of the effect already in the year before joining
    rho: float = 0.75  # AR(1) coefficient of log TFP
    sigma_xi: float = 0.12  # sd of the TFP innovation xi
    known_share: float = 0.5  # share of var(xi_t) known when labour is chosen (t - 1/2)
    sigma_firm: float = 0.0  # sd of a permanent firm component of log TFP
    sigma_industry_year: float = 0.0  # sd of industry-by-year shocks to log TFP (known to firms)
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
    materials_labour: float = 1.0  # 1: materials Leontief in value added; 0: materials demand
    # depends on capital and productivity only (labour's own variation does not reach it)
    sigma_materials: float = 0.0  # sd of classical measurement error in log materials
    entry_share: float = 0.12  # share of firms entering after the first year
    exit_hazard: float = 0.02  # yearly exit probability (not related to TFP)
    exit_hazard_young: float = 0.03  # extra hazard for firms younger than 5 years
    exit_tfp: float = 0.0  # extra yearly exit hazard of the least productive firms (at most)
    age_median: float = 15.0  # median age of incumbents in the first year
    age_sigma: float = 0.75  # sd of log age of incumbents
    select_size: float = 0.9  # membership index: per unit of the scale factor
    select_age: float = 0.6  # ... per unit of log age
    select_capint: float = 1.0  # ... per unit of the capital-intensity factor
    select_on_pre_tfp: float = 0.0  # ... per unit of log TFP in the year before the start
    select_on_pre_trend: float = 0.0  # ... per unit of log TFP growth over the two years before
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
