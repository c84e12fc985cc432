"""Claims of *no difference*: equivalence tests, minimum detectable differences and the one
rule that says whether a difference was shown absent, shown present, or not detected.

A test that does not reject equal effects says nothing when it has no power. A claim that an
effect does not differ (by firm size, say) is supported only when the data show that any
difference is small: the two one-sided tests (TOST) of Schuirmann (1987) reject both
"difference <= -bound" and "difference >= bound", i.e. the ``1 - 2 level`` confidence interval
of the difference lies inside ``(-bound, bound)``. The *minimum detectable difference* (MDD) of
a contrast with standard error ``se`` is the true difference that a two-sided test of size
``level`` detects with probability ``power`` (Bloom 1995): ``(z_{1-level/2} + z_{power}) se``.

Inference is normal (large samples). The rule (:func:`equivalence`):

* :data:`NO_DIFFERENCE` when the TOST rejects at ``level`` (equivalence within the bounds; the
  difference may still be distinguishable from zero, but it is smaller than the bound);
* otherwise :data:`DIFFERS` when the two-sided test of a zero difference rejects at ``level``;
* otherwise :data:`NOT_DETECTED`: the data can neither show that the difference is small nor
  that it exists; its MDD says how large a difference they could have detected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

__all__ = [
    "DIFFERS",
    "LEVEL",
    "NOT_DETECTED",
    "NO_DIFFERENCE",
    "OUTCOMES",
    "POWER",
    "EquivalenceTest",
    "equivalence",
    "equivalence_bound",
    "minimum_detectable_difference",
    "tost",
]

#: Size of every test here.
LEVEL = 0.05
#: Power at which the minimum detectable difference is stated.
POWER = 0.8
#: Equivalence shown, the difference lying within the bounds.
NO_DIFFERENCE = "no difference"
#: The difference is significantly different from zero (and not within the bounds).
DIFFERS = "differs"
#: Neither outcome, no difference shown and none excluded.
NOT_DETECTED = "not detected"
#: The outcomes of :func:`equivalence`, in the order of the rule.
OUTCOMES = (NO_DIFFERENCE, DIFFERS, NOT_DETECTED)


def _check(se: float, bound: float | None = None) -> None:
    if not (math.isfinite(se) and se > 0):
        raise ValueError(f"the standard error must be finite and positive, got {se!r}")
    if bound is not None and not (math.isfinite(bound) and bound > 0):
        raise ValueError(f"the equivalence bound must be finite and positive, got {bound!r}")


def equivalence_bound(headline: float, share: float) -> float:
    """The equivalence bound of a difference of effects: a share of the published headline.

    Parameters
    ----------
    headline : float
        The published headline effect (log points), read from the facts file.
    share : float
        The share of it below which a difference of effects does not matter (0 < share).

    Returns
    -------
    float
        ``share * |headline|``.

    Raises
    ------
    ValueError
        ``share`` not positive or the headline zero (no bound).
    """
    bound = float(share) * abs(float(headline))
    if not (math.isfinite(bound) and bound > 0):
        raise ValueError(f"an equivalence bound needs a positive share and a non-zero headline, "
                         f"got share {share!r} and headline {headline!r}")
    return bound


def tost(estimate: float, se: float, bound: float) -> float:
    """The p-value of the two one-sided tests of equivalence within ``(-bound, bound)``.

    Parameters
    ----------
    estimate, se : float
        The estimated difference and its standard error (normal).
    bound : float
        The equivalence bound (positive).

    Returns
    -------
    float
        ``max(P(Z >= (estimate + bound) / se), P(Z <= (estimate - bound) / se))`` with Z
        standard normal: below ``level`` exactly when the ``1 - 2 level`` interval lies
        inside the bounds.
    """
    _check(se, bound)
    p_lower = float(stats.norm.sf((estimate + bound) / se))   # H0: difference <= -bound
    p_upper = float(stats.norm.cdf((estimate - bound) / se))  # H0: difference >= bound
    return max(p_lower, p_upper)


def minimum_detectable_difference(se: float, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest true difference a two-sided test of size ``level`` detects with ``power``.

    Parameters
    ----------
    se : float
        Standard error of the estimated difference.
    level, power : float
        Size of the test and power.

    Returns
    -------
    float
        ``(z_{1 - level/2} + z_{power}) * se`` (2.80 se at 5% and 80%).
    """
    _check(se)
    return float((stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)) * se)


@dataclass(frozen=True)
class EquivalenceTest:
    """A difference of effects, tested for being absent, present, or neither.

    Attributes
    ----------
    estimate, se, bound, level, power
        The difference, its standard error, the equivalence bound, the size of the tests and
        the power of the MDD.
    p_difference
        Two-sided p-value of a zero difference.
    p_tost
        :func:`tost` p-value.
    ci_low, ci_high
        The ``1 - 2 level`` interval (90% at 5%), the one the TOST compares with the bounds.
    mdd
        :func:`minimum_detectable_difference`.
    smallest_bound
        The smallest bound that these data would show equivalence within:
        ``|estimate| + z_{1-level} se``.
    outcome
        One of :data:`OUTCOMES`.
    """

    estimate: float
    se: float
    bound: float
    level: float
    power: float
    p_difference: float
    p_tost: float
    ci_low: float
    ci_high: float
    mdd: float
    smallest_bound: float
    outcome: str

    @property
    def text(self) -> str:
        """The outcome in words, with the number that backs it."""
        if self.outcome == NO_DIFFERENCE:
            return (f"no difference beyond ±{self.bound:.3f} (equivalence test p = "
                    f"{self.p_tost:.3f})")
        if self.outcome == DIFFERS:
            return f"differs (p = {self.p_difference:.3f})"
        return (f"not detected (minimum detectable difference {self.mdd:.3f} at "
                f"{self.power:.0%} power)")


def equivalence(estimate: float, se: float, bound: float, *, level: float = LEVEL,
                power: float = POWER) -> EquivalenceTest:
    """Whether a difference is shown absent (equivalence), present, or not detected.

    Parameters
    ----------
    estimate, se : float
        The estimated difference and its standard error.
    bound : float
        The equivalence bound (positive), e.g. :func:`equivalence_bound`.
    level : float
        Size of the TOST and of the test of a zero difference.
    power : float
        Power at which the MDD is stated.

    Returns
    -------
    EquivalenceTest
        Its ``outcome`` by the rule of this module: :data:`NO_DIFFERENCE` when the TOST
        rejects, else :data:`DIFFERS` when the test of zero rejects, else :data:`NOT_DETECTED`.

    Raises
    ------
    ValueError
        A standard error or bound that is not finite and positive, or a non-finite estimate.
    """
    _check(se, bound)
    if not math.isfinite(estimate):
        raise ValueError(f"the estimated difference must be finite, got {estimate!r}")
    p_difference = float(2 * stats.norm.sf(abs(estimate) / se))
    p_tost = tost(estimate, se, bound)
    z = float(stats.norm.ppf(1 - level))
    if p_tost < level:
        outcome = NO_DIFFERENCE
    elif p_difference < level:
        outcome = DIFFERS
    else:
        outcome = NOT_DETECTED
    return EquivalenceTest(
        estimate=float(estimate), se=float(se), bound=float(bound), level=level, power=power,
        p_difference=p_difference, p_tost=p_tost, ci_low=float(estimate - z * se),
        ci_high=float(estimate + z * se), mdd=minimum_detectable_difference(se, level, power),
        smallest_bound=float(abs(estimate) + z * se), outcome=outcome)
