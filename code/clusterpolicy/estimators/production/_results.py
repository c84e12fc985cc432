"""Results of the production-function estimators: the package's one results shape, plus TFP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from clusterpolicy.core.results import EstimationResults

__all__ = ["ProductionByResults", "ProductionResults", "dropped_frame"]


def dropped_frame(dropped: dict[str, int], stages: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows dropped, one line per reason: ``rows`` and the ``stage`` they are missing from."""
    stages = stages or {}
    frame = pd.DataFrame(
        {
            "rows": pd.Series({k: int(v) for k, v in dropped.items()}, dtype="int64"),
            "stage": pd.Series({k: stages.get(k, "all stages") for k in dropped}, dtype=object),
        }
    )
    frame.index.name = "reason"
    return frame


@dataclass
class ProductionResults(EstimationResults):
    """Production-function estimates (see :func:`clusterpolicy.production.estimate`).

    Adds to :class:`~clusterpolicy.results.EstimationResults`:

    Attributes
    ----------
    dropped
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
        kind
            ``"residual"``: ``y - free b_f - state b_s`` (productivity plus the output shock,
            the usual TFP measure). ``"fitted"``: ``phi - free b_f - state b_s`` with ``phi``
            the first-stage fit, i.e. productivity without the output shock (control-function
            methods only; the constant of the first stage is included).
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

    @property
    def summary(self) -> str:
        text = super().summary
        if len(self.dropped):
            lines = ["rows dropped:"]
            for reason, row in self.dropped.iterrows():
                lines.append(f"  {reason} ({row['stage']}): {row['rows']}")
        else:
            lines = ["rows dropped: none"]
        notes = self.extra.get("notes", [])
        return "\n".join([text, *lines, *(f"note: {n}" for n in notes)])

    def _repr_html_(self) -> str:
        html = super()._repr_html_()
        if len(self.dropped):
            html += (
                "<p><small>rows dropped: "
                + "; ".join(
                    f"{reason} ({row['stage']}): {row['rows']}" for reason, row in self.dropped.iterrows()
                )
                + "</small></p>"
            )
        return html


@dataclass
class ProductionByResults:
    """Per-industry estimates (``estimate(..., by=...)``).

    Attributes
    ----------
    results
        Estimated group label -> :class:`ProductionResults` (a pooled group's label joins its
        industries with ``+``).
    table
        One row per industry: ``estimated_as`` (group label), ``rows`` (usable rows of the
        industry), ``nobs`` (observations of the group's estimate), ``pooled_with`` (the other
        industries of the group), ``reason``.
    by
        The industry column.
    dropped
        Rows of the input left out, by reason and stage, over all industries: those unusable
        before the industries are formed (missing values, non-positive values to be logged,
        missing industry) and those each group's estimate leaves out (e.g. no calendar lag).
    """

    results: dict[str, ProductionResults]
    table: pd.DataFrame
    by: str
    _index: pd.Index = field(repr=False, default_factory=pd.Index)
    warnings: list[str] = field(default_factory=list)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_frame({}))

    @property
    def params(self) -> pd.DataFrame:
        """Estimates, one row per estimated group."""
        return pd.DataFrame({g: r.params for g, r in self.results.items()}).T

    @property
    def std_errors(self) -> pd.DataFrame:
        return pd.DataFrame({g: r.std_errors for g, r in self.results.items()}).T

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The groups' ``tidy()`` tables stacked, with a ``group`` column."""
        frames = [r.tidy(level).reset_index().assign(group=g) for g, r in self.results.items()]
        return pd.concat(frames, ignore_index=True)

    def productivity(self, kind: Literal["residual", "fitted"] = "residual") -> pd.Series:
        """Log TFP per firm-year from each row's group estimate, aligned with the input rows."""
        out = pd.Series(np.nan, index=self._index, name="tfp")
        for res in self.results.values():
            tfp = res.productivity(kind)
            values = tfp.dropna()
            out.loc[values.index] = values.to_numpy()
        return out

    @property
    def summary(self) -> str:
        parts = [f"Per-industry estimates by {self.by!r}", self.table.to_string()]
        for g, r in self.results.items():
            parts += ["", f"[{g}]", r.summary]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        return self.table.to_html() + "".join(r._repr_html_() for r in self.results.values())

    def __getitem__(self, group: str) -> ProductionResults:
        return self.results[group]
