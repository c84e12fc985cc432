"""Polynomial designs: the first-stage control function and the law of motion of productivity.

Both stages of the control-function estimators approximate an unknown function by a complete
polynomial of total degree ``d`` (every monomial ``x1**a1 * ... * xk**ak`` with ``a1 + ... +
ak <= d``). With ``d = 2`` this is exactly R prodest's ``model.matrix(~ .^2 - 1)`` plus the
squares; Stata prodest's default is ``d = 3``.

The space spanned by such a polynomial does not change under an affine change of each variable,
so fitted values (all the estimators use) do not depend on centring and scaling. The law of
motion is therefore built on a standardised ``omega_{t-1}``, which keeps its cubic well
conditioned.
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

__all__ = ["LawOfMotionBasis", "monomial_exponents", "polynomial_design"]


def monomial_exponents(
    n_vars: int,
    degree: int,
    *,
    include_constant: bool = True,
    binary: tuple[bool, ...] | None = None,
) -> list[tuple[int, ...]]:
    """Exponent tuples of every monomial of total degree at most ``degree``.

    Parameters
    ----------
    n_vars
        Number of variables.
    degree
        Maximum total degree (``>= 1``).
    include_constant
        Whether to include the constant monomial (all exponents zero) first.
    binary
        Per variable, whether it only takes the values 0 and 1; powers above one of such a
        variable duplicate the variable and are left out.

    Returns
    -------
    list of tuple of int
        Ordered by total degree, then by variable order (so the linear terms come first, in
        the order of the variables).
    """
    if degree < 1:
        raise ValueError(f"polynomial degree must be at least 1, got {degree}")
    binary = binary or (False,) * n_vars
    out: list[tuple[int, ...]] = [(0,) * n_vars] if include_constant else []
    for total in range(1, degree + 1):
        for combo in combinations_with_replacement(range(n_vars), total):
            exps = [0] * n_vars
            for var in combo:
                exps[var] += 1
            if any(b and e > 1 for b, e in zip(binary, exps, strict=True)):
                continue
            out.append(tuple(exps))
    return out


def polynomial_design(values: np.ndarray, exponents: list[tuple[int, ...]]) -> np.ndarray:
    """Evaluate the monomials ``exponents`` at the rows of ``values``.

    Parameters
    ----------
    values : numpy.ndarray
        n x k (or n, one variable).
    exponents : list of tuple of int
        One exponent per variable for each monomial (:func:`monomial_exponents`).

    Returns
    -------
    numpy.ndarray
        n x len(exponents).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n, k = values.shape
    max_power = max((max(e) for e in exponents if e), default=0)
    powers = np.ones((max_power + 1, n, k))
    for p in range(1, max_power + 1):
        powers[p] = powers[p - 1] * values
    out = np.ones((n, len(exponents)))
    for j, exps in enumerate(exponents):
        for var, power in enumerate(exps):
            if power:
                out[:, j] *= powers[power, :, var]
    return out


class LawOfMotionBasis:
    """Basis of ``g(omega_{t-1}, extra)`` in ``omega_t = g(...) + xi_t`` and its derivative.

    ``g`` is a complete polynomial of total degree ``degree`` in ``omega_{t-1}`` and the
    ``n_poly`` "polynomial" extras (prodest's exit correction puts the survival probability
    there), plus ``n_linear`` extras entering linearly (treatment ``D_t`` and ``D_{t-1}``).
    """

    def __init__(self, degree: int = 3, n_poly: int = 0, n_linear: int = 0) -> None:
        self.degree = degree
        self.n_poly = n_poly
        self.n_linear = n_linear
        self.exponents = monomial_exponents(1 + n_poly, degree)
        self.n_terms = len(self.exponents) + n_linear

    def __call__(
        self, omega_lag: np.ndarray, poly_extra: np.ndarray | None, linear_extra: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(P, dP)``: the basis and its derivative with respect to ``omega_lag``.

        The derivative is exact for the polynomial space; ``omega_lag`` is standardised
        internally, which changes the basis but not the space (so neither fitted values nor
        their derivatives).
        """
        centre = float(np.mean(omega_lag))
        scale = float(np.std(omega_lag)) or 1.0
        o = (omega_lag - centre) / scale
        if self.n_poly == 0 and self.n_linear == 0:
            # Fast path (the common case): powers of omega_{t-1} only, built row-major by power.
            pt = np.empty((self.degree + 1, o.size))
            pt[0] = 1.0
            pt[1] = o
            for j in range(2, self.degree + 1):
                np.multiply(pt[j - 1], o, out=pt[j])
            dpt = np.zeros_like(pt)
            for j in range(1, self.degree + 1):
                np.multiply(pt[j - 1], j / scale, out=dpt[j])
            return pt.T, dpt.T
        cols = [o[:, None]]
        if self.n_poly:
            cols.append(np.asarray(poly_extra, dtype=float).reshape(len(o), self.n_poly))
        values = np.hstack(cols)
        p_poly = polynomial_design(values, self.exponents)
        d_exps = []
        coef = np.zeros(len(self.exponents))
        for j, exps in enumerate(self.exponents):
            if exps[0] == 0:
                d_exps.append(exps)
            else:
                coef[j] = exps[0]
                d_exps.append((exps[0] - 1, *exps[1:]))
        dp_poly = polynomial_design(values, d_exps) * (coef / scale)
        if self.n_linear:
            lin = np.asarray(linear_extra, dtype=float).reshape(len(o), self.n_linear)
            return np.hstack([p_poly, lin]), np.hstack([dp_poly, np.zeros_like(lin)])
        return p_poly, dp_poly
