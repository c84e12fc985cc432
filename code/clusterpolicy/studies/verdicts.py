"""The words of a verdict, declared once, and the one rule that picks them.

A rule (chapter 5's rules, the scorecard's rules) *fires* or does not on the data of a run.
What that says depends on the data:

* on data with a synthetic-data truth file the methods are checked against what was built in:
  :data:`RECOVERED` (the rule fired), :data:`NOT_RECOVERED` (it did not), and
  :data:`FALSE_NEGATIVE` when the truth has the pattern and the rule did not fire, or
  :data:`FALSE_POSITIVE` when it fired and the truth lacks the pattern;
* only real data (no truth file) can *reproduce* a published finding: :data:`REPRODUCED`,
  :data:`NOT_REPRODUCED`;
* on any data, :data:`NOT_TESTABLE` when a page could not compute what the rule needs, or when
  a rule about the *absence* of a difference met data that can neither show the difference
  small (equivalence) nor show it at all: a difference *not detected* is neither a
  reproduction nor a refutation, and is shown with the minimum detectable difference
  (:func:`not_detected`).
"""

from __future__ import annotations

#: On synthetic data, the rule fired (and the truth has the pattern, or cannot say).
RECOVERED = "recovered"
#: On synthetic data, the rule did not fire (and the truth lacks the pattern, or cannot say).
NOT_RECOVERED = "not recovered"
#: On synthetic data, the rule did not fire although the truth has the pattern.
FALSE_NEGATIVE = "not recovered (false negative)"
#: On synthetic data, the rule fired although the truth lacks the pattern.
FALSE_POSITIVE = "found but not built in (false positive)"
#: On real data, the rule fired.
REPRODUCED = "reproduced"
#: On real data, the rule did not fire.
NOT_REPRODUCED = "not reproduced"
#: On any data, a page could not compute what the rule needs.
NOT_TESTABLE = "not testable with these data"

#: The verdicts on data with a truth file.
SYNTHETIC_LABELS = (RECOVERED, NOT_RECOVERED, FALSE_NEGATIVE, FALSE_POSITIVE)
#: The verdicts on data without a truth file.
REAL_LABELS = (REPRODUCED, NOT_REPRODUCED)
#: Every verdict a page may show.
LABELS = (*SYNTHETIC_LABELS, *REAL_LABELS, NOT_TESTABLE)

_FIRED = frozenset({RECOVERED, FALSE_POSITIVE, REPRODUCED})


def label(fired: bool | None, synthetic: bool, truth_has_pattern: bool | None = None) -> str:
    """The verdict of a rule on the data of a run.

    Parameters
    ----------
    fired : bool or None
        Whether the rule fired; ``None`` when the data could not give what it needs.
    synthetic : bool
        Whether the data have a synthetic-data truth file.
    truth_has_pattern : bool or None
        Whether the truth of synthetic data has the pattern the rule looks for, computed from
        the truth file; ``None`` when the truth cannot say (then no false negative or false
        positive is named).

    Returns
    -------
    str
        One of :data:`LABELS`.

    Raises
    ------
    ValueError
        ``truth_has_pattern`` given for data without a truth file.
    """
    if not synthetic and truth_has_pattern is not None:
        raise ValueError("data without a truth file cannot say whether the truth has a pattern")
    if fired is None:
        return NOT_TESTABLE
    if not synthetic:
        return REPRODUCED if fired else NOT_REPRODUCED
    if fired:
        return FALSE_POSITIVE if truth_has_pattern is False else RECOVERED
    return FALSE_NEGATIVE if truth_has_pattern else NOT_RECOVERED


def fired(verdict: str) -> bool:
    """Whether a verdict (one of :data:`LABELS`) says that its rule fired.

    Parameters
    ----------
    verdict : str

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        ``verdict`` is not one of :data:`LABELS`.
    """
    if verdict not in LABELS:
        raise ValueError(f"{verdict!r} is not a verdict (one of {', '.join(LABELS)})")
    return verdict in _FIRED


def with_power(verdict: str, power: float | None) -> str:
    """A verdict as a page shows it: a false negative with the power of its rule.

    Parameters
    ----------
    verdict : str
        One of :data:`LABELS`.
    power : float or None
        The share of draws from the synthetic generator in which the rule fires; ``None`` when
        no Monte Carlo run gives it.

    Returns
    -------
    str
        ``verdict``, or for a false negative with a known power e.g. ``not recovered (false
        negative; the rule fires in 82% of draws from this generator)``.
    """
    if verdict != FALSE_NEGATIVE or power is None:
        return verdict
    return (f"{NOT_RECOVERED} (false negative; the rule fires in {power:.0%} of draws from this "
            "generator)")


def not_detected(mdd: float, bound: float, power: float = 0.8) -> str:
    """A claim of no difference that the data could neither confirm nor refute, as a page shows
    it: :data:`NOT_TESTABLE`, with how large a difference the data could have detected.

    Parameters
    ----------
    mdd : float
        The minimum detectable difference of the contrast (log points).
    bound : float
        The equivalence bound within which a difference would have been shown absent.
    power : float
        The power at which ``mdd`` is stated.

    Returns
    -------
    str
        e.g. ``not testable with these data (not detected: minimum detectable difference 0.054
        log points at 80% power; equivalence bound ±0.015)``.
    """
    return (f"{NOT_TESTABLE} (not detected: minimum detectable difference {mdd:.3f} log points "
            f"at {power:.0%} power; equivalence bound ±{bound:.3f})")
