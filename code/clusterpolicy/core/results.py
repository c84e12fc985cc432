"""The one results shape shared by every estimator of the package.

Users of linearmodels and statsmodels know it: ``params`` and ``std_errors`` are pandas Series
indexed by term, ``cov`` their covariance matrix (a DataFrame indexed and columned by term),
``conf_int()`` a DataFrame with ``lower``/``upper``, ``pvalues`` a Series, ``nobs`` an int,
``summary`` a printable table, ``tidy()`` the DataFrame every chapter table is made from,
``notes`` the sentences the estimation had to tell the reader (library warnings kept as data,
see :mod:`clusterpolicy.core.notes`) and ``inference`` a dict that states how the standard
errors were obtained (clustering, small-sample correction, bootstrap replications, seed, failed
replications) and which reference distribution the intervals and p-values use.

Reference distribution
    ``inference["distribution"]`` is ``"normal"`` (the default) or ``"t"``; with ``"t"``,
    ``inference["df"]`` holds its degrees of freedom. Each estimator follows the software it
    reproduces: R fixest's clustered regressions use t with G - 1 degrees of freedom (G the
    number of clusters), R did, HonestDiD, prodest and statsmodels' maximum-likelihood models
    use the normal distribution.

Covariance
    ``cov`` is the full covariance matrix wherever the estimator has one (an analytic sandwich,
    the covariance of bootstrap replicates, influence functions). Where only standard errors
    exist, ``cov`` is diagonal (the squared standard errors) with NaN off the diagonal, and
    ``inference["covariance"]`` says so (:data:`DIAGONAL_COVARIANCE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

# Kept importable from here until every caller imports it from clusterpolicy.core.notes.
from clusterpolicy.core.notes import caught_warnings

__all__ = ["DIAGONAL_COVARIANCE", "DISTRIBUTIONS", "Distribution", "EstimationResults", "caught_warnings"]

#: The type of ``inference["distribution"]``, one of :data:`DISTRIBUTIONS`.
Distribution = Literal["normal", "t"]

#: The reference distributions ``inference["distribution"]`` may name.
DISTRIBUTIONS: tuple[str, ...] = ("normal", "t")

#: ``inference["covariance"]`` of results whose ``cov`` is built from the standard errors alone.
DIAGONAL_COVARIANCE = (
    "diagonal only: the squared standard errors, covariances between terms not available (NaN)"
)


@dataclass(repr=False)
class EstimationResults:
    """Point estimates, their standard errors and covariance, and the inference behind them.

    Parameters
    ----------
    params : pandas.Series
        Point estimates indexed by term.
    std_errors : pandas.Series
        Standard errors indexed like ``params`` (NaN where not available).
    nobs : int
        Number of observations used in estimation.
    model : str
        Short name of the estimator, e.g. ``"acf"`` or ``"callaway_santanna"``.
    inference : dict, optional
        How the standard errors were computed (free-form, shown in ``summary``), plus
        ``"distribution"`` (``"normal"``, the default, or ``"t"``) and, with ``"t"``, ``"df"``
        (its degrees of freedom).
    extra : dict, optional
        Estimator-specific diagnostics (criterion values, roots, weights, ...).
    notes : list of str, optional
        What the estimation had to tell the reader: library warnings kept as sentences,
        dropped units, design choices. Shown by ``summary`` and ``_repr_html_``.
    cov : pandas.DataFrame or numpy.ndarray, optional
        Covariance matrix of ``params`` (rows and columns in the order of ``params``). Without
        it, the diagonal matrix of the squared standard errors with NaN off the diagonal (for
        one term that is the whole covariance); ``inference["covariance"]`` then says so.

    Raises
    ------
    ValueError
        ``inference["distribution"]`` is not ``"normal"`` or ``"t"``, or ``"t"`` comes without
        positive degrees of freedom, or ``cov`` does not match ``params``.

    Examples
    --------
    >>> res = EstimationResults(params=pd.Series({"b": 1.0}), std_errors=pd.Series({"b": 0.5}),
    ...                         nobs=30, model="demo", inference={"distribution": "t", "df": 9})
    >>> round(float(res.conf_int().loc["b", "upper"]), 4)
    2.1311
    """

    params: pd.Series
    std_errors: pd.Series
    nobs: int
    model: str
    inference: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cov: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        self.params = pd.Series(self.params, dtype=float)
        self.std_errors = pd.Series(self.std_errors, dtype=float).reindex(self.params.index)
        self.params.name = "estimate"
        self.std_errors.name = "std_error"
        self.inference = dict(self.inference)
        self.notes = list(self.notes)
        index = self.params.index
        if self.cov is None:
            self.cov = self._diagonal_cov(self.std_errors)
            if len(index) > 1:
                self.inference.setdefault("covariance", DIAGONAL_COVARIANCE)
        elif isinstance(self.cov, pd.DataFrame):
            self.cov = self.cov.reindex(index=index, columns=index).astype(float)
        else:
            values = np.asarray(self.cov, dtype=float)
            if values.shape != (len(index), len(index)):
                raise ValueError(f"cov must be {len(index)} x {len(index)}, got shape {values.shape}")
            self.cov = pd.DataFrame(values, index=index, columns=index)
        distribution = self.inference.setdefault("distribution", "normal")
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"inference['distribution'] must be 'normal' or 't', got {distribution!r}")
        if distribution == "t":
            df = self.inference.get("df")
            if df is None or not df > 0:
                raise ValueError(f"a t distribution needs positive degrees of freedom, got df={df!r}")

    @staticmethod
    def _diagonal_cov(std_errors: pd.Series) -> pd.DataFrame:
        """The squared standard errors on the diagonal, NaN elsewhere."""
        values = np.full((len(std_errors), len(std_errors)), np.nan)
        np.fill_diagonal(values, std_errors.to_numpy(dtype=float) ** 2)
        return pd.DataFrame(values, index=std_errors.index, columns=std_errors.index)

    # -- the reference distribution ------------------------------------------------------------

    @property
    def distribution(self) -> Distribution:
        """``"normal"`` or ``"t"``: the distribution of ``tstats`` under the null."""
        return self.inference["distribution"]

    @property
    def df(self) -> float | None:
        """Degrees of freedom of the t distribution (``None`` with the normal one)."""
        return float(self.inference["df"]) if self.distribution == "t" else None

    def _critical_value(self, level: float) -> float:
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        if self.distribution == "t":
            return float(stats.t.ppf(0.5 + level / 2, self.df))
        return float(stats.norm.ppf(0.5 + level / 2))

    # -- inference -------------------------------------------------------------------------------

    @property
    def tstats(self) -> pd.Series:
        """``params / std_errors``, named ``t`` (a z statistic with the normal distribution)."""
        return (self.params / self.std_errors).rename("t")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of ``tstats`` under the results' reference distribution."""
        t = np.abs(self.tstats.to_numpy())
        if self.distribution == "t":
            p = 2 * stats.t.sf(t, self.df)
        else:
            p = 2 * stats.norm.sf(t)
        return pd.Series(p, index=self.params.index, name="p")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals ``params -/+ q * std_errors`` at ``level``.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper``, indexed like ``params``; ``q`` is the quantile
            ``(1 + level) / 2`` of the results' reference distribution.
        """
        q = self._critical_value(level)
        return pd.DataFrame(
            {"lower": self.params - q * self.std_errors, "upper": self.params + q * self.std_errors}
        )

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per term: ``estimate, std_error, t, p, conf_low, conf_high``.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level of ``conf_low`` and ``conf_high``.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``params`` (index name ``term``).
        """
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
        if not isinstance(out.index, pd.MultiIndex):
            out.index.name = "term"
        return out

    # -- display ---------------------------------------------------------------------------------

    def _sections(self) -> list[str]:
        """Lines a subclass adds to ``summary`` between the table and the notes."""
        return []

    def _html_sections(self) -> str:
        """HTML a subclass adds to ``_repr_html_`` between the table and the notes."""
        return ""

    @property
    def summary(self) -> str:
        """The estimates as text (header, inference, table, the subclass's sections, notes)."""
        header = [f"{self.model}: {self.nobs} observations"]
        header += [f"  {key}: {value}" for key, value in self.inference.items()]
        lines = [*header, self.tidy().to_string(float_format=lambda v: f"{v:.4f}"), *self._sections()]
        if self.notes:
            lines += ["Notes:", *(f"  - {note}" for note in self.notes)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model}: {len(self.params)} terms, {self.nobs} obs>"

    def _repr_html_(self) -> str:
        caption = f"{self.model}: {self.nobs} observations"
        table = self.tidy().style.format(precision=4).set_caption(caption).to_html()
        details = "; ".join(f"{key}: {value}" for key, value in self.inference.items())
        html = table + (f"<p><small>{escape(details)}</small></p>" if details else "")
        html += self._html_sections()
        if self.notes:
            items = "".join(f"<li>{escape(note)}</li>" for note in self.notes)
            html += f"<p><small>Notes:</small></p><ul><small>{items}</small></ul>"
        return html
