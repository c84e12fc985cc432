"""Checks of the estimators: comparison with R reference results (:mod:`.reference`) and
Monte Carlo studies against known truth (:mod:`.montecarlo`)."""
