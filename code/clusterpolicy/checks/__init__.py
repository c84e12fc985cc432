"""Checks of the estimators, the appendices' counterpart of :mod:`clusterpolicy.studies`:
comparison with R reference results (:mod:`.reference`, the Validation appendix) and Monte Carlo
studies against known truth, all run by one harness (:mod:`.harness`): the book's estimators in
every synthetic world (:mod:`.grid`, stored by :mod:`.store` and shown by :mod:`.grid_summary`:
the Monte Carlo appendix) and the study-2 models and verdict rules
(:mod:`.serial_montecarlo`, chapter 05)."""
