"""Estimators: data frames in, result objects out. Production functions and TFP
(:mod:`.production`), difference-in-differences (:mod:`.did`), propensity-score matching
(:mod:`.matching`) and the margins of internationalization (:mod:`.margins`)."""
