"""A small economy with known production elasticities, for the tests and the benchmarks.

Cobb-Douglas value added ``y = b0 + bl*l + bk*k + omega + eps`` with:

* productivity AR(1) without firm effects, ``omega_t = rho*omega_{t-1} + tau*D_{t-1} + xi_t``
  (``D`` an optional treatment, e.g. cluster membership, switched on for good at a random year
  and more likely for firms with more capital);
* labour chosen half-way through the period (Ackerberg-Caves-Frazer's timing): with
  ``omega_{t-1/2}`` known, not ``omega_t``, plus a serially correlated firm-specific wage shock
  that moves labour independently of productivity;
* capital accumulated from last period's investment, which rises with productivity;
* materials (the proxy) Leontief in value added: ``m = bl*l + bk*k + omega + const``, strictly
  increasing in productivity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_panel"]


def simulate_panel(
    n_firms: int = 1000,
    n_years: int = 8,
    *,
    beta_l: float = 0.6,
    beta_k: float = 0.3,
    rho: float = 0.7,
    sigma_xi: float = 0.25,
    sigma_eps: float = 0.1,
    treatment_effect: float = 0.0,
    treatment_share: float = 0.0,
    wage_rho: float = 0.5,
    labour_adjustment: float = 0.0,
    seed: int = 0,
    burn_in: int = 10,
) -> pd.DataFrame:
    """Simulate a balanced firm panel; returns columns firm, year, y, l, k, m, inv, member.

    Parameters
    ----------
    n_firms, n_years
        Panel size (after a burn-in of ``burn_in`` years that is discarded).
    beta_l, beta_k
        True labour and capital elasticities.
    rho, sigma_xi
        Persistence and innovation s.d. of productivity.
    sigma_eps
        S.d. of the output shock unknown to the firm.
    treatment_effect, treatment_share
        Effect of last year's membership on productivity, and share of firms that join during
        the observed years (firms with more capital join more often).
    wage_rho
        Persistence of the firm-specific wage shock.
    labour_adjustment
        Weight of last year's labour in this year's (0: labour is set at its static optimum).
    seed
        Seed of the numpy generator.
    burn_in
        Years simulated and discarded before the observed ones.

    Returns
    -------
    pandas.DataFrame
        One row per firm and year, sorted by firm and year.
    """
    rng = np.random.default_rng(seed)
    total = burn_in + n_years
    half = np.sqrt(rho)
    sd_half = sigma_xi / np.sqrt(1 + rho)  # both half-step innovations: total variance sigma_xi^2
    omega = rng.normal(0, sigma_xi / np.sqrt(1 - rho**2), n_firms)
    k = rng.normal(3.0, 0.5, n_firms)
    wage = rng.normal(0, 0.2, n_firms)
    join_prob = treatment_share * np.where(k > np.median(k), 1.5, 0.5)
    joins = rng.random(n_firms) < join_prob
    join_year = np.where(joins, burn_in + rng.integers(1, max(n_years - 1, 2), n_firms), 10**9)
    member_prev = np.zeros(n_firms)
    labour_prev = np.zeros(n_firms)
    rows = []
    delta = 0.1
    for t in range(total):
        member = (t >= join_year).astype(float)
        omega_half = half * omega + treatment_effect * member_prev + rng.normal(0, sd_half, n_firms)
        omega_new = half * omega_half + rng.normal(0, sd_half, n_firms)
        wage = wage_rho * wage + rng.normal(0, 0.15, n_firms)
        target = (np.log(beta_l) + half * omega_half + beta_k * k - wage) / (1 - beta_l)
        labour = target if t == 0 else labour_adjustment * labour_prev + (1 - labour_adjustment) * target
        labour_prev = labour
        eps = rng.normal(0, sigma_eps, n_firms)
        y = 1.0 + beta_l * labour + beta_k * k + omega_new + eps
        materials = 0.5 + beta_l * labour + beta_k * k + omega_new
        log_inv = np.log(delta) + k + 0.8 * omega_new - 0.3 * (k - 3.0)
        if t >= burn_in:
            rows.append(
                pd.DataFrame(
                    {
                        "firm": np.arange(n_firms),
                        "year": 2000 + t - burn_in,
                        "y": y,
                        "l": labour,
                        "k": k,
                        "m": materials,
                        "inv": log_inv,
                        "member": member,
                    }
                )
            )
        k = np.log((1 - delta) * np.exp(k) + np.exp(log_inv))
        omega = omega_new
        member_prev = member
    return pd.concat(rows, ignore_index=True).sort_values(["firm", "year"], ignore_index=True)
