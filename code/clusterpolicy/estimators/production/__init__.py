"""Production functions and total factor productivity (issue 4).

:func:`estimate` fits a Cobb-Douglas production function on one panel by OLS, fixed effects,
Olley-Pakes, Levinsohn-Petrin, Ackerberg-Caves-Frazer or Wooldridge, reproducing R prodest
1.0.1 where prodest is right, and returns a :class:`ProductionResults` (the package's results
shape plus ``productivity()`` and ``dropped``). Firm-block bootstrap standard errors are
reproducible from a seed and run in parallel through joblib. :func:`estimate_by` estimates per
industry, pooling small ones, and returns a :class:`ProductionByResults`.

Example
-------
>>> from clusterpolicy.estimators import production
>>> res = production.estimate(df, "acf", y="Y", free=["fX1", "fX2"], state="sX", proxy="pX",
...                           unit="idvar", time="timevar", bootstrap=100, seed=1)  # doctest: +SKIP
>>> res.params, res.extra["roots"], res.productivity()  # doctest: +SKIP
>>> by = production.estimate_by(df, "acf", by="nace2", min_obs=300, y="Y", free=["fX1", "fX2"],
...                             state="sX", proxy="pX", unit="idvar", time="timevar")  # doctest: +SKIP
>>> by.params_by_group, by.table, by.productivity()  # doctest: +SKIP
"""

from ._api import estimate, estimate_by
from ._fit import (
    ImplausibleRootWarning,
    Method,
    MultipleRootsWarning,
    NoRootWarning,
    ProductionWarning,
    RootSelection,
    WooldridgeVariant,
)
from ._industry import plan_pooling
from ._results import ProductionByResults, ProductionResults

__all__ = [
    "ImplausibleRootWarning",
    "Method",
    "MultipleRootsWarning",
    "NoRootWarning",
    "ProductionByResults",
    "ProductionResults",
    "ProductionWarning",
    "RootSelection",
    "WooldridgeVariant",
    "estimate",
    "estimate_by",
    "plan_pooling",
]
