"""The seeded generator of the study-2 tech-firm cross-section: serial innovators and matched
non-serial innovators whose internationalization (initiation: probit; intensity: beta regression
with a logit mean) depends on standardised log clustering.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from clusterpolicy.core.seeding import DEFAULT_SEED, stream_rng
from clusterpolicy.synthetic.panel import GENERATOR_VERSION, round_significant

#: The columns of the generated tech-firm cross-section, in order.
TECHFIRMS_COLUMNS = ["firm_id", "serial", "match_id", "industry", "region", "clustering",
                     "international", "foreign_share", "employees", "age", "patents"]


# --------------------------------------------------------------------------------------------
# Tech firms (study 2)
# --------------------------------------------------------------------------------------------
#: The industries of the generated tech firms.
TECH_INDUSTRIES = ("Semiconductors", "Software", "Medical devices", "Instruments",
                   "Communications equipment", "Specialty chemicals", "Biotechnology",
                   "Aerospace components")


#: The number of regions over which the generated tech firms cluster.
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
    rng = stream_rng(seed, "tech")
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
