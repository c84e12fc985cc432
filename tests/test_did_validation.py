"""Bad input raises a ValueError that names the column and the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.estimators.did import (
    bacon,
    callaway_santanna,
    conditional_did,
    did2s,
    honest_did,
    sun_abraham,
    twfe,
    twfe_event_study,
)

ARGS = {"y": "y", "unit": "id", "time": "year"}


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n, years = 60, np.arange(2010, 2016)
    cohort = np.select([np.arange(n) < 15, np.arange(n) < 30], [2012, 2014], 0)
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), len(years)),
            "year": np.tile(years, n),
            "g": np.repeat(cohort, len(years)),
            "x": np.repeat(rng.normal(size=n), len(years)),
        }
    )
    frame["y"] = (
        frame["x"] + rng.normal(size=len(frame)) + 0.1 * (frame["g"] > 0) * (frame["year"] >= frame["g"])
    )
    return frame


ESTIMATORS = {
    "callaway_santanna": lambda d, **kw: callaway_santanna(d, cohort="g", **ARGS, **kw),
    "conditional_did": lambda d, **kw: conditional_did(d, cohort="g", covariates=["x"], **ARGS, **kw),
    "twfe": lambda d, **kw: twfe(d, cohort="g", **ARGS, **kw),
    "twfe_event_study": lambda d, **kw: twfe_event_study(d, cohort="g", **ARGS, **kw),
    "sun_abraham": lambda d, **kw: sun_abraham(d, cohort="g", **ARGS, **kw),
    "bacon": lambda d, **kw: bacon(d, cohort="g", **ARGS, **kw),
    "did2s": lambda d, **kw: did2s(d, cohort="g", **ARGS, **kw),
}


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("column", ["y", "id", "year", "g"])
def test_missing_column_is_named(data, name, column):
    with pytest.raises(ValueError, match=rf"not found in data.*'{column}'"):
        ESTIMATORS[name](data.drop(columns=column))


def test_missing_covariate_is_named(data):
    with pytest.raises(ValueError, match=r"covariates\[1\]='size'"):
        callaway_santanna(data, cohort="g", covariates=["x", "size"], **ARGS)
    with pytest.raises(ValueError, match=r"'size'"):
        conditional_did(data, cohort="g", covariates=["size"], **ARGS)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_cohort_must_be_constant_within_unit(data, name):
    bad = data.copy()
    bad.loc[(bad["id"] == 3) & (bad["year"] == 2015), "g"] = 2014
    with pytest.raises(ValueError, match=r"cohort column 'g' must be constant within unit 'id'.*unit 3"):
        ESTIMATORS[name](bad)


def test_never_treated_required_for_never_control(data):
    no_never = data[data["g"] > 0]
    with pytest.raises(ValueError, match=r"control='never' needs never-treated units .*'g'"):
        callaway_santanna(no_never, cohort="g", control="never", **ARGS)
    with pytest.raises(ValueError, match=r"never-treated units .*'g'"):
        conditional_did(no_never, cohort="g", covariates=["x"], **ARGS)
    with pytest.raises(ValueError, match=r"never-treated units .*'g'.*control='last'"):
        sun_abraham(no_never, cohort="g", **ARGS)
    # not-yet-treated controls do without
    fit = callaway_santanna(no_never, cohort="g", control="notyet", **ARGS)
    assert len(fit.att_gt) > 0


def test_nan_cohort_means_never_treated(data):
    coded = data.assign(g=data["g"].where(data["g"] > 0))
    a = callaway_santanna(data, cohort="g", **ARGS)
    b = callaway_santanna(coded, cohort="g", **ARGS)
    pd.testing.assert_frame_equal(a.att_gt, b.att_gt)


def test_duplicate_rows_missing_values_and_unbalanced_panels(data):
    with pytest.raises(ValueError, match=r"unit-time pairs must be unique.*\('id', 'year'\)"):
        twfe(pd.concat([data, data.iloc[:1]]), cohort="g", **ARGS)
    with pytest.raises(ValueError, match=r"column 'y' \(y\) has 1 missing values"):
        twfe(data.assign(y=data["y"].mask(data.index == 5)), cohort="g", **ARGS)
    with pytest.raises(ValueError, match=r"balanced panel: 1 unit\(s\) of 'id'"):
        callaway_santanna(data.drop(index=7), cohort="g", **ARGS)
    with pytest.raises(ValueError, match=r"balanced panel"):
        bacon(data.drop(index=7), cohort="g", **ARGS)
    with pytest.raises(ValueError, match=r"outcome column 'y' must be numeric"):
        twfe(data.assign(y=data["y"].astype(str)), cohort="g", **ARGS)


def test_options_are_checked(data):
    with pytest.raises(ValueError, match=r"control must be 'never' or 'notyet'"):
        callaway_santanna(data, cohort="g", control="nevertreated", **ARGS)
    with pytest.raises(ValueError, match=r"method must be"):
        callaway_santanna(data, cohort="g", method="ols", **ARGS)
    with pytest.raises(ValueError, match=r"needs an integer seed"):
        callaway_santanna(data, cohort="g", bootstrap=True, **ARGS)
    with pytest.raises(ValueError, match=r"exactly one of treated="):
        twfe(data, **ARGS)
    with pytest.raises(ValueError, match=r"treatment column 'x' must be 0/1"):
        twfe(data, treated="x", **ARGS)
    with pytest.raises(ValueError, match=r"pre_period must end before the first cohort \(2012\)"):
        conditional_did(data, cohort="g", covariates=["x"], pre_period=[2011, 2012], **ARGS)
    fit = callaway_santanna(data, cohort="g", **ARGS)
    with pytest.raises(ValueError, match=r"base_period='universal'"):
        honest_did(fit)
    with pytest.raises(ValueError, match=r"balance_e, min_e and max_e apply to kind='dynamic'"):
        fit.aggregate("group", balance_e=1)
    with pytest.raises(ValueError, match=r"kind must be"):
        fit.aggregate("event")
