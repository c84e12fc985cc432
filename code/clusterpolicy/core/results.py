"""The one results shape shared by every estimator of the package.

Users of linearmodels and statsmodels know it: ``params`` and ``std_errors`` are pandas Series
indexed by term, ``conf_int()`` a DataFrame with ``lower``/``upper``, ``nobs`` an int,
``summary`` a printable table, ``tidy()`` the DataFrame every chapter table is made from, and
``inference`` a dict that states how the standard errors were obtained (clustering,
small-sample correction, bootstrap replications, seed, failed replications).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class EstimationResults:
    """Point estimates, standard errors and the inference choices behind them.

    Parameters
    ----------
    params
        Point estimates indexed by term.
    std_errors
        Standard errors indexed like ``params`` (NaN where not available).
    nobs
        Number of observations used in estimation.
    model
        Short name of the estimator, e.g. ``"acf"`` or ``"callaway_santanna"``.
    inference
        How the standard errors were computed (free-form, shown in ``summary``).
    extra
        Estimator-specific diagnostics (criterion values, roots, weights, ...).
    """

    params: pd.Series
    std_errors: pd.Series
    nobs: int
    model: str
    inference: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = pd.Series(self.params, dtype=float)
        self.std_errors = pd.Series(self.std_errors, dtype=float).reindex(self.params.index)
        self.params.name = "estimate"
        self.std_errors.name = "std_error"

    @property
    def tstats(self) -> pd.Series:
        return (self.params / self.std_errors).rename("t")

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.tstats)), index=self.params.index, name="p")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Normal-approximation confidence intervals at ``level``."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        z = stats.norm.ppf(0.5 + level / 2)
        return pd.DataFrame(
            {"lower": self.params - z * self.std_errors, "upper": self.params + z * self.std_errors}
        )

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per term: estimate, std_error, t, p, conf_low, conf_high."""
        ci = self.conf_int(level)
        out = pd.DataFrame(
            {
                "estimate": self.params,
                "std_error": self.std_errors,
                "t": self.tstats,
                "p": self.pvalues,
                "conf_low": ci["lower"],
                "conf_high": ci["upper"],
            }
        )
        out.index.name = "term"
        return out

    @property
    def summary(self) -> str:
        header = [f"{self.model}: {self.nobs} observations"]
        header += [f"  {key}: {value}" for key, value in self.inference.items()]
        return "\n".join(header) + "\n" + self.tidy().to_string(float_format=lambda v: f"{v:.4f}")

    def __str__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        caption = f"{self.model}: {self.nobs} observations"
        notes = "; ".join(f"{key}: {value}" for key, value in self.inference.items())
        table = self.tidy().style.format(precision=4).set_caption(caption).to_html()
        return table + (f"<p><small>{notes}</small></p>" if notes else "")


@contextmanager
def caught_warnings() -> Iterator[list[str]]:
    """The warnings raised inside the block, as one-line messages, instead of emitted.

    A chapter may not write to stderr, and what a library warns about belongs in the results'
    ``notes``, where the reader sees it. Deprecation and future warnings concern the developers,
    not the reader, and are dropped; a repeated message is kept once. The list is filled when
    the block ends.
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for item in caught:
        if issubclass(item.category, DeprecationWarning | FutureWarning):
            continue
        message = f"{item.category.__name__}: " + " ".join(str(item.message).split())
        if message not in messages:
            messages.append(message)
