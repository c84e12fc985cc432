"""Production functions and total factor productivity (issue 4).

:func:`estimate` fits a Cobb-Douglas production function by OLS, fixed effects, Olley-Pakes,
Levinsohn-Petrin, Ackerberg-Caves-Frazer or Wooldridge, reproducing R prodest 1.0.1 where
prodest is right, and returns a :class:`ProductionResults` (the package's results shape plus
``productivity()`` and ``dropped``). Firm-block bootstrap standard errors are reproducible from a
seed and run in parallel through joblib. ``by=`` estimates per industry, pooling small ones.

Example
-------
>>> from clusterpolicy import production
>>> res = production.estimate(df, "acf", "Y", ["fX1", "fX2"], "sX", "pX", "idvar", "timevar",
...                           bootstrap=100, seed=1)  # doctest: +SKIP
>>> res.params, res.extra["roots"], res.productivity()  # doctest: +SKIP
"""

from ._api import estimate
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
    "plan_pooling",
]
