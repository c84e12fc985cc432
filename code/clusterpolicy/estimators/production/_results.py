"""Results of the production-function estimators: the package's one results shape, plus TFP."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg

from clusterpolicy.core.results import EstimationResults

__all__ = ["ProductionByResults", "ProductionResults", "dropped_frame"]


def dropped_frame(dropped: dict[str, int], stages: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows dropped, one line per reason.

    Parameters
    ----------
    dropped : dict of str to int
        Reason -> number of rows.
    stages : dict of str to str, optional
        Reason -> the stage the rows are missing from (default ``"all stages"``).

    Returns
    -------
    pandas.DataFrame
        Index ``reason``; columns ``rows`` (int) and ``stage``.
    """
    stages = stages or {}
    frame = pd.DataFrame(
        {
            "rows": pd.Series({k: int(v) for k, v in dropped.items()}, dtype="int64"),
            "stage": pd.Series({k: stages.get(k, "all stages") for k in dropped}, dtype=object),
        }
    )
    frame.index.name = "reason"
    return frame


def _dropped_lines(dropped: pd.DataFrame) -> list[str]:
    if not len(dropped):
        return ["rows dropped: none"]
    lines = [f"  {reason} ({row['stage']}): {row['rows']}" for reason, row in dropped.iterrows()]
    return ["rows dropped:", *lines]


def _dropped_html(dropped: pd.DataFrame) -> str:
    if not len(dropped):
        return ""
    text = "; ".join(f"{reason} ({row['stage']}): {row['rows']}" for reason, row in dropped.iterrows())
    return f"<p><small>rows dropped: {escape(text)}</small></p>"


@dataclass(repr=False)
class ProductionResults(EstimationResults):
    """Production-function estimates of one panel.

    See :func:`~clusterpolicy.estimators.production.estimate`.

    Everything of :class:`~clusterpolicy.core.results.EstimationResults` (``params`` indexed by
    the input names, ``std_errors``, ``cov``, ``conf_int()`` with the normal distribution as R
    prodest, ``notes`` with the messages of the warnings the estimation raised), plus the
    attributes below and :meth:`productivity`.

    Attributes
    ----------
    dropped : pandas.DataFrame
        Rows of the input left out, by reason (``rows``) and the stage they are missing from
        (``stage``: ``"all stages"`` or ``"second stage"``). Shown in ``summary``.
    """

    dropped: pd.DataFrame = field(default_factory=lambda: dropped_frame({}))
    _residual_tfp: pd.Series | None = field(default=None, repr=False)
    _fitted_tfp: pd.Series | None = field(default=None, repr=False)

    def productivity(self, kind: Literal["residual", "fitted"] = "residual") -> pd.Series:
        """Log TFP per firm-year, aligned with the input rows (NaN where not computable).

        Parameters
        ----------
        kind : {"residual", "fitted"}, default "residual"
            ``"residual"``: ``y - free b_f - state b_s`` (productivity plus the output shock,
            the usual TFP measure). ``"fitted"``: ``phi - free b_f - state b_s`` with ``phi``
            the first-stage fit, i.e. productivity without the output shock (control-function
            methods only; the constant of the first stage is included).

        Returns
        -------
        pandas.Series
            Named ``tfp``, indexed like the input data.

        Raises
        ------
        ValueError
            ``kind="fitted"`` for a method without a first stage, or an unknown ``kind``.
        """
        if kind == "residual":
            series = self._residual_tfp
        elif kind == "fitted":
            series = self._fitted_tfp
            if series is None:
                raise ValueError(f"kind='fitted' is not available for method {self.model!r}")
        else:
            raise ValueError(f"kind must be 'residual' or 'fitted', got {kind!r}")
        assert series is not None
        return series.copy()

    def _sections(self) -> list[str]:
        return _dropped_lines(self.dropped)

    def _html_sections(self) -> str:
        return _dropped_html(self.dropped)


@dataclass(repr=False)
class ProductionByResults(EstimationResults):
    """Production-function estimates by group.

    See :func:`~clusterpolicy.estimators.production.estimate_by`.

    The results shape of :class:`~clusterpolicy.core.results.EstimationResults` over all
    groups: ``params`` and ``std_errors`` are stacked, indexed by ``(group, term)``; ``cov`` is
    block diagonal (the groups are estimated on disjoint sets of firms, so their estimates
    are independent; a group without standard errors has NaN in its block); ``nobs`` sums the
    groups' observations; ``notes`` holds every warning of the groups' estimations, each
    prefixed ``[<by>=<group>]``. The groups' own results are in ``results``.

    Attributes
    ----------
    results : dict of str to ProductionResults
        Estimated group label -> its results (a pooled group's label joins its industries with
        ``+``).
    table : pandas.DataFrame
        One row per industry: ``estimated_as`` (group label), ``rows`` (usable rows of the
        industry), ``nobs`` (observations of the group's estimate), ``pooled_with`` (the other
        industries of the group), ``reason``.
    by : str
        The industry column.
    dropped : pandas.DataFrame
        Rows of the input left out, by reason and stage, over all industries: those unusable
        before the industries are formed (missing values, non-positive values to be logged,
        missing industry) and those each group's estimate leaves out (e.g. no calendar lag).
    """

    results: dict[str, ProductionResults] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    by: str = ""
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_frame({}))
    _index: pd.Index = field(repr=False, default_factory=pd.Index)

    @classmethod
    def from_groups(
        cls,
        results: dict[str, ProductionResults],
        *,
        table: pd.DataFrame,
        by: str,
        model: str,
        index: pd.Index,
        notes: list[str],
        dropped: pd.DataFrame,
    ) -> ProductionByResults:
        """Stack the groups' results into one.

        Parameters
        ----------
        results : dict of str to ProductionResults
            The groups' results, in the order of the groups.
        table, by, dropped
            See the class attributes.
        model : str
            The method (e.g. ``"acf"``).
        index : pandas.Index
            Index of the input data (to align :meth:`productivity`).
        notes : list of str
            The groups' warnings, prefixed with their group.

        Returns
        -------
        ProductionByResults
        """
        names = ["group", "term"]
        if results:
            params = pd.concat({g: r.params for g, r in results.items()}, names=names)
            std_errors = pd.concat({g: r.std_errors for g, r in results.items()}, names=names)
        else:
            empty = pd.MultiIndex.from_tuples([], names=names)
            params = pd.Series(np.nan, index=empty, dtype=float)
            std_errors = params.copy()
        blocks = [r.cov.to_numpy() for r in results.values()]
        cov = linalg.block_diag(*blocks) if blocks else np.zeros((0, 0))
        kinds = {str(r.inference.get("std_errors", "")) for r in results.values()}
        inference = {
            "std_errors": kinds.pop() if len(kinds) == 1 else "by group: see results[group].inference",
            "groups": len(results),
            "covariance": (
                "block diagonal: the groups are estimated on disjoint firms, independently; each block is "
                "its group's cov"
            ),
            "distribution": "normal",
        }
        return cls(
            params=params,
            std_errors=std_errors,
            nobs=int(sum(r.nobs for r in results.values())),
            model=model,
            inference=inference,
            notes=notes,
            cov=cov,
            results=results,
            table=table,
            by=by,
            dropped=dropped,
            _index=index,
        )

    @property
    def params_by_group(self) -> pd.DataFrame:
        """Estimates as a table, one row per estimated group and one column per term."""
        return pd.DataFrame({g: r.params for g, r in self.results.items()}).T

    @property
    def std_errors_by_group(self) -> pd.DataFrame:
        """Standard errors as a table, one row per estimated group and one column per term."""
        return pd.DataFrame({g: r.std_errors for g, r in self.results.items()}).T

    def productivity(self, kind: Literal["residual", "fitted"] = "residual") -> pd.Series:
        """Log TFP per firm-year from each row's group estimate, aligned with the input rows.

        Parameters
        ----------
        kind : {"residual", "fitted"}, default "residual"
            See :meth:`ProductionResults.productivity`.

        Returns
        -------
        pandas.Series
            Named ``tfp``, indexed like the input data (NaN for rows of no estimated group).
        """
        out = pd.Series(np.nan, index=self._index, name="tfp")
        for res in self.results.values():
            tfp = res.productivity(kind)
            values = tfp.dropna()
            out.loc[values.index] = values.to_numpy()
        return out

    def _sections(self) -> list[str]:
        parts = ["", f"Per-industry estimates by {self.by!r}", self.table.to_string(),
                 *_dropped_lines(self.dropped)]
        for g, r in self.results.items():
            parts += ["", f"[{g}]", r.summary]
        return parts

    def _html_sections(self) -> str:
        return (
            self.table.to_html()
            + _dropped_html(self.dropped)
            + "".join(r._repr_html_() for r in self.results.values())
        )

    def __getitem__(self, group: str) -> ProductionResults:
        """The results of one estimated group."""
        return self.results[group]
