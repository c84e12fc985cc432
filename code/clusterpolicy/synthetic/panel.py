"""The seeded generator of the study-1 firm panel and cluster-membership file.

A Cobb–Douglas value-added economy with persistent AR(1) productivity that drives input
choices, staggered joining of programme clusters and a known effect ``theta`` of membership
on log TFP. Each dataset is written with a ``*.truth.json`` of its true parameters beside it
(:mod:`clusterpolicy.synthetic.io`).

The panel DGP (all logs natural; money in thousand euro)::

    y_it   = b0(j) + bl(j) l_it + bk(j) k_it + omega_it + eps_it,      eps ~ N(0, s_eps^2) iid
    omega_it = omt_it + theta_it D_it                                (true log TFP)
    omt_it = alpha_i + a_it + eta_jt, a_it = rho a_i,t-1 + xa_it + xb_it   (stationary AR(1);
             alpha_i a firm effect and eta_jt industry-year shocks, zero in the baseline)
    l_it   = mu_l(j) + s_i + kappa_l (rho omt_i,t-1 + xa_it + theta_it D_it) + u_it
             (labour chosen at t-1/2 knowing xa_it, not xb_it: ACF timing)
    K_i,t+1 = (1 - delta) K_it + I_it,  I_it >= 0 increasing in omega_it (partial adjustment)
    m_it   = log(materials ratio(j)) + b0 + bl l + bk k + omega     (Leontief: the proxy;
             the materials scenario replaces l by mu_l(j) and adds measurement error)

The baseline world is the one above; :mod:`clusterpolicy.synthetic.scenarios` names the others
(each changes a few :class:`~clusterpolicy.synthetic.shapes.PanelParams` from their
baseline values).

so that the law of motion of true TFP is
``omega_it = rho omega_i,t-1 + theta (D_it - rho D_i,t-1) + xi_it`` (De Loecker 2013).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from clusterpolicy.core.seeding import DEFAULT_SEED, stream_rng
from clusterpolicy.synthetic.shapes import PanelParams, PanelShape, get_shape

#: The version of the generators, recorded in every truth file; regeneration requires the same.
GENERATOR_VERSION = "1.0"


#: The columns of the generated firm panel, in order.
PANEL_COLUMNS = ["firm_id", "year", "nace2", "value_added", "employment", "capital", "materials",
                 "wage_bill", "investment", "founding_year", "exports", "patents"]


#: The columns of the generated cluster-membership file, in order.
MEMBERSHIP_COLUMNS = ["firm_id", "cluster", "join_year", "exit_year"]


#: The significant digits to which generated values are rounded
#: (:func:`~clusterpolicy.synthetic.round_significant`).
SIGNIFICANT_DIGITS = 6


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


def _theta_path(params: PanelParams, years: np.ndarray, join: np.ndarray,
                firm_scale: np.ndarray | None = None) -> np.ndarray:
    """Effect on log TFP in each year for a firm that joined in ``join`` (NaN: never).

    The effect ramps up over ``ramp_years``, is ``theta + theta_size * scale_i`` once fully in
    place, and a share ``anticipation`` of it arrives in the year before joining.
    """
    since = years[None, :] - join[:, None] + 1  # 1 in the join year
    if params.ramp_years and params.ramp_years > 0:
        scale = np.clip(since / params.ramp_years, 0.0, 1.0)
    else:
        scale = (since >= 1).astype(float)
    if params.anticipation:
        scale = np.where(since == 0, params.anticipation, scale)
    theta = params.theta
    if params.theta_size and firm_scale is not None:
        theta = params.theta + params.theta_size * firm_scale[:, None]
    return theta * np.nan_to_num(scale, nan=0.0)


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
    rng = stream_rng(seed, "firms")
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
    rng = stream_rng(seed, "productivity")
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
    # scenario components, each from a stream of its own (zero in the baseline world, whose
    # draws they leave unchanged): a permanent firm effect, industry-by-year shocks
    alpha = params.sigma_firm * stream_rng(seed, "firm-effect").standard_normal(n)
    shocks = params.sigma_industry_year * stream_rng(seed, "industry-year").standard_normal(
        (len(inds), n_years))
    persistent = alpha[:, None] + shocks[ind_idx]
    ar_lag = np.column_stack([omt_prev0, omt[:, :-1]])
    omt = omt + persistent
    omt_lag = np.column_stack([omt_prev0 + alpha, omt[:, :-1]])

    # ---- exit of the least productive firms (scenario): an extra hazard up to exit_tfp --------
    if params.exit_tfp > 0:
        rng = stream_rng(seed, "exit-tfp")
        for j in range(1, n_years):
            t = first + j
            extra = params.exit_tfp * special.expit(-2.0 * omt[:, j - 1] / sd_stat)
            leaves = (exit_year >= t) & (entry_year < t) & (rng.random(n) < extra)
            exit_year[leaves] = t - 1
        alive = (years[None, :] >= entry_year[:, None]) & (years[None, :] <= exit_year[:, None])

    # ---- membership: selection on size, age, capital intensity (and optionally pre-TFP) -----
    rng = stream_rng(seed, "membership")
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
        if params.select_on_pre_trend:
            earlier = year_pos.get(pre - 2, 0)
            index = index + params.select_on_pre_trend * (omt[:, year_pos[pre]] - omt[:, earlier])
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
    theta_it = _theta_path(params, years, first_join, scale) * active
    if params.anticipation:
        # the year before the first join: not a member yet, already part of the effect
        before = (years[None, :] == first_join[:, None] - 1) & ~active
        theta_it = theta_it + np.where(before, _theta_path(params, years, first_join, scale), 0.0)
    omega = omt + theta_it

    # ---- inputs ------------------------------------------------------------------------------
    rng = stream_rng(seed, "inputs")
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
    expected_omega = alpha[:, None] + params.rho * ar_lag + xa + theta_it + shocks[ind_idx]
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
        k_star = k_target_base + params.kappa_k * (params.rho * omt[:, j] + theta_next[:, j]
                                                   + (1 - params.rho) * alpha)
        desired = (cap[:, j] + params.adjust * (k_star - cap[:, j])
                   + params.sigma_inv * rng.standard_normal(n))
        invest = np.maximum(np.exp(desired) - (1 - params.delta) * np.exp(cap[:, j]), 0.0)
        inv[:, j] = invest
        if j + 1 < n_years:
            cap[:, j + 1] = np.log((1 - params.delta) * np.exp(cap[:, j]) + invest)

    # ---- outputs -------------------------------------------------------------------------------
    rng = stream_rng(seed, "outputs")
    y_star = b0[:, None] + bl[:, None] * lab + bk[:, None] * cap + omega
    eps = params.sigma_eps * rng.standard_normal((n, n_years))
    y = y_star + eps
    mat_ratio = np.array([i.materials_ratio for i in inds])[ind_idx]
    lab_share = np.array([i.labour_share for i in inds])[ind_idx]
    # Leontief (materials_labour = 1): materials follow value added, labour included. With
    # materials_labour = 0 they follow capital and productivity alone, at the industry's
    # median labour (materials demand that labour's own shocks do not reach).
    m = np.log(mat_ratio)[:, None] + y_star - (1 - params.materials_labour) * bl[:, None] * (
        lab - mu_l[:, None])
    if params.sigma_materials:
        m = m + params.sigma_materials * stream_rng(seed, "materials-error").standard_normal(
            (n, n_years))
    wage = np.log(lab_share)[:, None] + y_star + params.sigma_wage * rng.standard_normal(
        (n, n_years))

    # ---- exports and patents -------------------------------------------------------------------
    rng = stream_rng(seed, "trade")
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
    rng = stream_rng(seed, "mess")
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
            "omega_tilde": "alpha_i + a_it + eta_j(i),t with a_it = rho a_i,t-1 + xi_it "
                           "stationary AR(1), xi ~ N(0, sigma_xi^2); alpha_i ~ N(0, "
                           "sigma_firm^2) a permanent firm effect and eta_jt ~ N(0, "
                           "sigma_industry_year^2) industry-by-year shocks known to the firm "
                           "(both zero unless the scenario sets them)",
            "law_of_motion": "omega_it = rho omega_i,t-1 + theta (D_it - rho D_i,t-1) + xi_it "
                             "(De Loecker 2013; with ramp_years > 0 theta varies with time "
                             "since joining)",
            "rho": params.rho, "sigma_xi": params.sigma_xi,
            "sd_stationary": params.sigma_xi / math.sqrt(1 - params.rho**2),
        },
        "treatment": {
            "theta": params.theta, "ramp_years": params.ramp_years,
            "effect": "theta_it = (theta + theta_size * scale_i) * min(1, (t - join + 1) / "
                      "ramp_years) while a member (full from the join year when ramp_years = "
                      "0); anticipation * that effect in the year before the first join",
            "D": "1 from the firm's first join year until the end of its last membership "
                 "(exit_year = first year no longer a member)",
            "selection": "conditional logit (Gumbel top-k) within each cluster's eligible pool "
                         "on select_size * scale + select_age * log(1 + age) + select_capint * "
                         "capint + select_on_pre_tfp * omega_tilde(start year - 1) + "
                         "select_on_pre_trend * (omega_tilde(start - 1) - omega_tilde(start "
                         "- 3)); eligible: "
                         "alive in the year before and the year of the cluster's start",
            "parallel_trends": ("hold unconditionally (selection on permanent factors only)"
                                if params.select_on_pre_tfp == 0
                                and params.select_on_pre_trend == 0 else
                                "fail unconditionally (selection on pre-period TFP or its "
                                "trend, with mean reversion)"),
        },
        "inputs": {
            "labour": "l_it = mu_l(j) + scale_i + kappa_l (rho omega_tilde_i,t-1 + xi_known_it "
                      "+ theta_it D_it) + u_it; xi_known has variance known_share * "
                      "sigma_xi^2 (chosen at t - 1/2, ACF timing); u AR(1)",
            "capital": "K_i,t+1 = (1 - delta) K_it + I_it; log desired K_i,t+1 = k_it + adjust "
                       "(k*_i,t+1 - k_it) + N(0, sigma_inv^2); k* = mu_k(j) + scale_i + "
                       "capint_i + kappa_k E_t[omega_i,t+1]; I_it = max(desired - (1-delta) "
                       "K_it, 0)",
            "materials": "m_it = log(materials_ratio(j)) + beta_0 + beta_l (materials_labour "
                         "l + (1 - materials_labour) mu_l(j)) + beta_k k + omega + N(0, "
                         "sigma_materials^2) (materials_labour = 1: Leontief in value added; "
                         "strictly increasing in omega, the proxy)",
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
        "exit": "yearly hazard exit_hazard (+ exit_hazard_young below age 5) + exit_tfp * "
                "logistic(-2 omega_tilde_i,t-1 / sd_stationary): related to TFP only when "
                "exit_tfp > 0",
        "mess": "entry after the first year, exit, one missing "
                "interior year for gap_share of firms, zeros in employment, capital and "
                "materials, missing investment, exports and patents, floats rounded to 6 "
                "significant digits",
        "units": "money in thousand euro (deflated), employment in FTE",
    }
