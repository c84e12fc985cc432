"""The seeded generator of the study-2 tech-firm cross-section: serial innovators and matched
non-serial innovators whose internationalization (initiation: probit; intensity: beta regression
with a logit mean) depends on standardised log clustering, and the structural effects of
clustering in the generated sample (``structural_effects``).

Besides the baseline (the estimating models themselves), the truth can switch on what the
Monte Carlo scenarios of :mod:`clusterpolicy.synthetic.scenarios` need: an unobserved export
potential that raises both margins and draws firms to their industry's concentrations
(``location``), a shock common to the firms of a region (``regional_shock_sd``), and a response
that is not the estimating model's (``form = "threshold"``). Their random numbers come from the
stream ``"tech-scenario"``, so the baseline's draws (stream ``"tech"``) do not move.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from clusterpolicy.core.seeding import DEFAULT_SEED, stream_rng
from clusterpolicy.data.innovators import CONTROLS, DIFFERENCE, GROUPS
from clusterpolicy.synthetic.panel import GENERATOR_VERSION, round_significant

#: The columns of the generated tech-firm cross-section, in order.
TECHFIRMS_COLUMNS = ["firm_id", "serial", "match_id", "industry", "region", "clustering",
                     "international", "foreign_share", "employees", "age", "patents"]

#: The columns of ``SyntheticTechFirms.latent``, in order.
TECH_LATENT_COLUMNS = ["firm_id", "export_potential", "regional_shock", "initiation_index",
                       "intensity_index"]

#: The functional forms of the response to clustering.
FORMS = ("quadratic", "threshold")

#: The published findings whose truth ``structural_effects`` decides (the keys of
#: :data:`clusterpolicy.studies.serial_innovators.FINDINGS`).
TRUE_FINDINGS = ("both_gain", "nonserial_decreasing", "serial_gain_more")


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
    """The true parameters of the tech-firm DGP (all **choice**; the published pattern only).

    Returns
    -------
    dict
        ``initiation`` and ``intensity`` (the coefficients of the two indices),
        ``clustering`` (regions' location quotients and how firms choose among them),
        ``form`` (``"quadratic"``: the estimating models), ``location`` (export potential:
        its pull towards concentrated regions ``endogenous`` and its coefficients in the two
        indices, all zero) and ``regional_shock_sd`` (zero). See :func:`generate_techfirms`.
    """
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
        "form": "quadratic",
        "location": {"endogenous": 0.0, "potential_initiation": 0.0, "potential_intensity": 0.0},
        "regional_shock_sd": 0.0,
    }


def default_threshold_response() -> dict[str, Any]:
    """The clustering response of the ``"threshold"`` form (all **choice**).

    Per margin and group: the index gains ``amplitude * (logistic((z - threshold) / width) -
    1/2)`` (``z`` in standard deviations of log clustering; the step is centred, so the index
    is unchanged at the threshold). Serial innovators' step is higher and
    steeper and lies at the middle of the distribution; non-serial innovators' is lower, wider
    and early, so most of them are beyond it, where their returns flatten: both groups gain,
    serial innovators more, and non-serial returns decrease on average.

    Returns
    -------
    dict
        ``{"initiation" | "intensity": {"amplitude" | "threshold" | "width":
        {"serial": float, "non-serial": float}}}``.
    """
    return {
        "initiation": {"amplitude": {"serial": 2.0, "non-serial": 1.0},
                       "threshold": {"serial": 0.0, "non-serial": -1.0},
                       "width": {"serial": 0.3, "non-serial": 0.4}},
        "intensity": {"amplitude": {"serial": 1.5, "non-serial": 0.8},
                      "threshold": {"serial": 0.0, "non-serial": -1.0},
                      "width": {"serial": 0.3, "non-serial": 0.4}},
    }


def _turning_point(equation: Mapping[str, Any]) -> float | None:
    return -equation["z"] / (2 * equation["z2"]) if equation["z2"] else None


def _form(truth: Mapping[str, Any]) -> str:
    form = truth.get("form", "quadratic")
    if form not in FORMS:
        raise ValueError(f"unknown response form {form!r}; known: {', '.join(FORMS)}")
    return form


def _latent_coefficients(truth: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """``endogenous``, ``potential_initiation``, ``potential_intensity``, ``regional_shock_sd``."""
    loc = truth.get("location", {})
    return (float(loc.get("endogenous", 0.0)), float(loc.get("potential_initiation", 0.0)),
            float(loc.get("potential_intensity", 0.0)), float(truth.get("regional_shock_sd", 0.0)))


def _clustering_terms(truth: Mapping[str, Any], margin: str, z: np.ndarray, s: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clustering part of a margin's index and its first and second derivatives in z."""
    if _form(truth) == "quadratic":
        eq = truth[margin]
        b1 = eq["z"] + eq["serial_z"] * s
        b2 = eq["z2"] + eq["serial_z2"] * s
        return b1 * z + b2 * z**2, b1 + 2 * b2 * z, 2 * b2 + 0 * z
    step = truth["threshold"][margin]

    def by_group(key: str) -> np.ndarray:
        return np.where(s == 1, step[key]["serial"], step[key]["non-serial"])

    amp, tau, width = by_group("amplitude"), by_group("threshold"), by_group("width")
    ell = special.expit((z - tau) / width)
    d1 = ell * (1 - ell)
    return amp * (ell - 0.5), amp * d1 / width, amp * d1 * (1 - 2 * ell) / width**2


def _other_terms(eq: Mapping[str, Any], frame: pd.DataFrame, s: np.ndarray) -> np.ndarray:
    """Constant, serial shift, controls and industry effect of one index."""
    industry = frame["industry"].astype(str).to_numpy()
    effects = eq.get("industry", {})
    return (eq["const"] + eq["serial"] * s
            + sum(eq[c] * frame[c].to_numpy(dtype=float) for c in CONTROLS)
            + np.array([effects.get(k, 0.0) for k in industry], dtype=float))


def _latent_arrays(latent: pd.DataFrame | Mapping[str, Any] | None, n: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    if latent is None:
        return np.zeros(n), np.zeros(n)
    return (np.asarray(latent["export_potential"], dtype=float),
            np.asarray(latent["regional_shock"], dtype=float))


def _indices(truth: Mapping[str, Any], frame: pd.DataFrame,
             latent: pd.DataFrame | Mapping[str, Any] | None
             ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per margin: the true index and its first and second derivatives in z."""
    s = frame["S"].to_numpy(dtype=float)
    z = frame["z"].to_numpy(dtype=float)
    v, shock = _latent_arrays(latent, len(frame))
    _, c_init, c_int, _ = _latent_coefficients(truth)
    out = {}
    for margin, c in (("initiation", c_init), ("intensity", c_int)):
        f, d1, d2 = _clustering_terms(truth, margin, z, s)
        out[margin] = (_other_terms(truth[margin], frame, s) + f + c * v + shock, d1, d2)
    return out


def structural_effects(truth: Mapping[str, Any], frame: pd.DataFrame,
                       latent: pd.DataFrame | Mapping[str, Any] | None = None
                       ) -> dict[str, Any]:
    """The true effects of clustering on the firms of a sample, for every response form.

    For each firm, the true conditional probability of initiation ``Phi(index)`` and the true
    conditional mean share ``logistic(index)`` of intensity are differentiated with respect to
    ``z``, holding the firm's latent terms (export potential, regional shock) fixed; the
    derivatives are averaged over the firms of each group as
    :func:`clusterpolicy.estimators.margins.average_marginal_effects` averages the estimated
    ones: all firms for initiation, the internationalized firms (``international = 1``) for
    intensity. In the quadratic form without latent terms the AMEs are exactly
    :func:`~clusterpolicy.estimators.margins.average_marginal_effects_at` at the true
    parameters.

    Parameters
    ----------
    truth : mapping
        The generator's truth (:func:`default_tech_truth` or a scenario's,
        :func:`clusterpolicy.synthetic.tech_truth`).
    frame : DataFrame
        One row per firm with ``S``, ``z``, the controls (``log_age``, ``log_employees``,
        ``log1p_patents``), ``industry`` and ``international``: e.g. the output of
        :func:`clusterpolicy.data.innovators.prepare`.
    latent : DataFrame or mapping, optional
        ``export_potential`` and ``regional_shock`` aligned with ``frame``'s rows
        (``SyntheticTechFirms.latent``); default zero.

    Returns
    -------
    dict
        Per margin (``"initiation"``, ``"intensity"``): ``ame`` (``serial``, ``non-serial``,
        ``serial − non-serial``: the average derivative of the response), ``index_slope`` and
        ``index_curvature`` (per group, the average first and second derivative of the index:
        what the models' ``b_z + b_sz S + 2 (b_z2 + b_sz2 S) z`` and ``2 (b_z2 + b_sz2 S)``
        estimate), ``response_curvature`` (per group, the average second derivative of the
        response, link included), ``firms`` (per group, how many were averaged over) and
        ``averaged_over``; and ``findings``: per published finding (``TRUE_FINDINGS``)
        whether it holds in the truth on both margins, in the sense of its verdict rule's
        claim: ``both_gain`` both groups' AMEs positive; ``nonserial_decreasing`` the non-serial
        index curvature negative (the rule tests ``b_z2``, the curvature of the index);
        ``serial_gain_more`` the AME difference positive.
    """
    idx = _indices(truth, frame, latent)
    s = frame["S"].to_numpy(dtype=float)
    international = frame["international"].to_numpy() == 1
    out: dict[str, Any] = {}
    for margin, (eta, d1, d2) in idx.items():
        if margin == "initiation":
            dens = np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi)
            dm, ddm = dens * d1, dens * (d2 - eta * d1**2)
            sample = np.ones(eta.size, dtype=bool)
        else:
            mu = special.expit(eta)
            dens = mu * (1 - mu)
            dm, ddm = dens * d1, dens * (d2 + (1 - 2 * mu) * d1**2)
            sample = international
        masks = {g: sample & (s == (1.0 if g == "serial" else 0.0)) for g in GROUPS}

        def avg(values: np.ndarray, masks: dict[str, np.ndarray] = masks) -> dict[str, float]:
            return {g: float(values[m].mean()) if m.any() else float("nan")
                    for g, m in masks.items()}

        ame = avg(dm)
        out[margin] = {
            "ame": {**ame, DIFFERENCE: ame[GROUPS[0]] - ame[GROUPS[1]]},
            "index_slope": avg(d1), "index_curvature": avg(d2), "response_curvature": avg(ddm),
            "firms": {g: int(m.sum()) for g, m in masks.items()},
            "averaged_over": "all firms" if margin == "initiation"
                             else "internationalized firms (international = 1)",
        }
    margins_ = [out["initiation"], out["intensity"]]
    out["findings"] = {
        "both_gain": all(m["ame"][g] > 0 for m in margins_ for g in GROUPS),
        "nonserial_decreasing": all(m["index_curvature"][GROUPS[1]] < 0 for m in margins_),
        "serial_gain_more": all(m["ame"][DIFFERENCE] > 0 for m in margins_),
    }
    return out


@dataclass(frozen=True)
class SyntheticTechFirms:
    """A generated tech-firm sample (:func:`draw_techfirms`).

    Attributes
    ----------
    data : DataFrame
        The firms (``TECHFIRMS_COLUMNS``), as :func:`generate_techfirms` returns them.
    truth : dict
        The truth, with the sample's structural effects (``structural_effects``).
    latent : DataFrame
        In the rows of ``data``: ``TECH_LATENT_COLUMNS``, the firm's export potential
        ``v`` (drawn in every world; it matters only where the ``location`` coefficients are
        not zero), the shock of its region (zero unless ``regional_shock_sd``) and the two true
        indices (latent terms included).
    """

    data: pd.DataFrame = field(repr=False)
    truth: dict[str, Any]
    latent: pd.DataFrame = field(repr=False)


def draw_techfirms(seed: int = DEFAULT_SEED, n_pairs: int = 400,
                   truth: Mapping[str, Any] | None = None) -> SyntheticTechFirms:
    """The sample of :func:`generate_techfirms` with its latent terms.

    Parameters
    ----------
    seed : int
        The run's seed (streams ``"tech"`` and ``"tech-scenario"``).
    n_pairs : int, default 400
        Serial innovators, each with a matched non-serial innovator.
    truth : mapping, optional
        The DGP (default :func:`default_tech_truth`).

    Returns
    -------
    SyntheticTechFirms
    """
    truth = json.loads(json.dumps(dict(truth) if truth is not None else default_tech_truth()))
    form = _form(truth)
    if form == "threshold":
        truth.setdefault("threshold", default_threshold_response())
    endogenous, c_init, c_int, shock_sd = _latent_coefficients(truth)
    rng = stream_rng(seed, "tech")
    # the scenarios' own draws: export potential, regional shocks (always drawn, in this order)
    v_rng, shock_rng = stream_rng(seed, "tech-scenario").spawn(2)
    potential = v_rng.standard_normal(2 * n_pairs)  # serial firms first, then their matches
    region_shock = shock_sd * shock_rng.standard_normal(N_REGIONS)

    ind_w = np.array([0.16, 0.18, 0.14, 0.12, 0.12, 0.10, 0.10, 0.08])
    n_ind = len(TECH_INDUSTRIES)
    log_lq = truth["clustering"]["log_lq_sd"] * rng.standard_normal((N_REGIONS, n_ind))
    lq = np.exp(log_lq)

    def pick_region(ind: np.ndarray, tilt: float, v: np.ndarray) -> np.ndarray:
        out = np.empty(ind.size, dtype=int)
        for j in range(n_ind):
            sel = np.flatnonzero(ind == j)
            if endogenous == 0:
                p = lq[:, j] ** tilt
                out[sel] = rng.choice(N_REGIONS, size=sel.size, p=p / p.sum())
                continue
            # weights lq^(tilt + endogenous v_i), by inversion of the uniforms that
            # rng.choice would have drawn (so the stream "tech" stays aligned)
            u = rng.random(sel.size)
            logw = (tilt + endogenous * v[sel])[:, None] * log_lq[None, :, j]
            cdf = np.cumsum(np.exp(logw - logw.max(axis=1, keepdims=True)), axis=1)
            cdf /= cdf[:, -1:]
            out[sel] = np.minimum((cdf <= u[:, None]).sum(axis=1), N_REGIONS - 1)
        return out

    ind_s = rng.choice(n_ind, size=n_pairs, p=ind_w / ind_w.sum())
    emp_s = np.clip(np.round(np.exp(np.log(60) + 0.8 * rng.standard_normal(n_pairs))), 5, 499)
    # the matched non-serial innovator: same industry, similar size
    emp_n = np.clip(np.round(emp_s * np.exp(0.25 * rng.standard_normal(n_pairs))), 3, 499)
    age_s = np.clip(np.round(np.exp(np.log(24) + 0.45 * rng.standard_normal(n_pairs))), 5, 90)
    age_n = np.clip(np.round(np.exp(np.log(15) + 0.55 * rng.standard_normal(n_pairs))), 1, 90)
    pat_s = 15 + rng.negative_binomial(2, 2 / (2 + 15), size=n_pairs)  # >= 15 in five years
    pat_n = rng.negative_binomial(0.8, 0.8 / (0.8 + 2.5), size=n_pairs)
    reg_s = pick_region(ind_s, truth["clustering"]["region_tilt_serial"], potential[:n_pairs])
    reg_n = pick_region(ind_s, truth["clustering"]["region_tilt_nonserial"], potential[n_pairs:])

    serial = np.r_[np.ones(n_pairs, dtype=bool), np.zeros(n_pairs, dtype=bool)]
    ind = np.r_[ind_s, ind_s]
    region = np.r_[reg_s, reg_n]
    employees = np.r_[emp_s, emp_n].astype("int64")
    age = np.r_[age_s, age_n].astype("int64")
    patents = np.r_[pat_s, pat_n].astype("int64")
    clustering = round_significant(lq[region, ind], 4)
    logc = np.log(clustering)
    z = (logc - logc.mean()) / logc.std()
    industry = np.array(TECH_INDUSTRIES)[ind]
    frame = pd.DataFrame({"S": serial.astype(float), "z": z, "log_age": np.log(age),
                          "log_employees": np.log(employees), "log1p_patents": np.log1p(patents),
                          "industry": industry})
    latent = pd.DataFrame({"export_potential": potential, "regional_shock": region_shock[region]})
    idx = _indices(truth, frame, latent)

    international = (rng.random(2 * n_pairs) < special.ndtr(idx["initiation"][0]))
    mu = special.expit(idx["intensity"][0])
    phi = truth["intensity"]["precision"]
    draw = rng.beta(mu * phi, (1 - mu) * phi)
    share = np.where(international, np.clip(np.round(draw, 4), 0.0001, 1.0), 0.0)
    frame["international"] = international.astype("int64")
    structural = structural_effects(truth, frame, latent)

    ids = np.array([f"T{v:04d}" for v in rng.permutation(2 * n_pairs) + 1])
    match = np.array([f"M{v:03d}" for v in np.r_[np.arange(n_pairs), np.arange(n_pairs)] + 1])
    df = pd.DataFrame({
        "firm_id": ids, "serial": serial, "match_id": match, "industry": industry,
        "region": np.array([f"R{r + 1:02d}" for r in region]),
        "clustering": clustering, "international": international.astype("int64"),
        "foreign_share": share, "employees": employees, "age": age, "patents": patents,
    })
    latent = pd.DataFrame({"firm_id": ids, **latent,
                           "initiation_index": idx["initiation"][0],
                           "intensity_index": idx["intensity"][0]})
    order = df.sort_values(["match_id", "serial"], ascending=[True, False], kind="stable").index
    df = df.loc[order].reset_index(drop=True)
    latent = latent.loc[order, TECH_LATENT_COLUMNS].reset_index(drop=True)
    quadratic = form == "quadratic"
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
        # None when the curvature is zero (no turning point) or the form is not quadratic
        "turning_point_nonserial_initiation":
            _turning_point(truth["initiation"]) if quadratic else None,
        "turning_point_nonserial_intensity":
            _turning_point(truth["intensity"]) if quadratic else None,
        "structural": structural,
    })
    if endogenous or c_init or c_int or shock_sd:
        truth["latent_definition"] = (
            "export potential v ~ N(0, 1) per firm, adding potential_initiation v and "
            "potential_intensity v to the indices; region chosen with weights "
            "lq^(tilt + endogenous v); regional shock ~ N(0, regional_shock_sd^2) per region, "
            "added to both indices; structural effects hold v and the shock fixed")
    return SyntheticTechFirms(data=df, truth=truth, latent=latent)


def generate_techfirms(seed: int = DEFAULT_SEED, n_pairs: int = 400,
                       truth: Mapping[str, Any] | None = None
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Serial innovators and matched non-serial innovators, and the true parameters.

    ``z = (log(clustering) - mean) / sd`` with the sample mean and standard deviation
    (``ddof=0``) over all firms of the generated sample. Initiation:
    ``P(international = 1) = Phi(index_1)``; intensity among international firms:
    ``foreign_share ~ Beta(mu phi, (1 - mu) phi)`` with ``mu = logistic(index_2)`` and
    ``phi = precision``. Each index is ``const + serial S + log_age log(age) + log_employees
    log(employees) + log1p_patents log(1 + patents) + industry`` plus

    * the response to clustering: ``form = "quadratic"`` (the estimating models)
      ``z z + z2 z^2 + serial_z S z + serial_z2 S z^2``; ``form = "threshold"``
      ``amplitude_g (logistic((z - threshold_g) / width_g) - 1/2)`` by group ``g``
      (:func:`default_threshold_response`, recorded under ``threshold``);
    * ``potential_{margin} v`` (``location``), with ``v ~ N(0, 1)`` a firm's unobserved export
      potential; with ``location.endogenous = a`` a firm chooses its region with weights
      ``lq^(tilt + a v)`` (``lq`` its industry's location quotient there) instead of
      ``lq^tilt``, so clustering rises with ``v``;
    * the shock of the firm's region, ``~ N(0, regional_shock_sd^2)``.

    ``v`` and the regional shocks come from the stream ``"tech-scenario"``; with all of these
    off (the baseline) the draws are those of the stream ``"tech"`` alone.

    Parameters
    ----------
    seed : int
        The run's seed.
    n_pairs : int, default 400
        Serial innovators, each with a matched non-serial innovator.
    truth : mapping, optional
        The DGP (default :func:`default_tech_truth`; scenarios:
        :func:`clusterpolicy.synthetic.tech_truth`).

    Returns
    -------
    data : DataFrame
        One row per firm, ``TECHFIRMS_COLUMNS``, sorted by ``match_id`` (serial first).
    truth : dict
        The DGP as used, the sample's description (``seed``, ``n_pairs``, ``z_definition``,
        ...), the non-serial turning points of the quadratic form, and ``structural``: the
        sample's structural effects of clustering and whether each published finding holds in
        the truth (``structural_effects``).
    """
    drawn = draw_techfirms(seed, n_pairs, truth)
    return drawn.data, drawn.truth
