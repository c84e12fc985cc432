"""clusterpolicy.checks.reference: every reference number of data/reference beside ours.

The comparison tables are the Validation appendix's; here every compared number must be within
its tolerance, every reference number of the JSON files must have a row (compared, or not
compared with a reason), and a missing reference directory must be reported clearly.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.checks import reference as validation

pytestmark = pytest.mark.reference

# prodest 1.0.1's prodestWRDG ("IV version") is not reproduced exactly yet (variant="iv" is Stata
# prodest's stacked IV; see clusterpolicy.estimators.production.estimate): its rows are tested separately.
WOOLDRIDGE_IV = {"WRDG_table1", "WRDG_inv_sec33"}


@pytest.fixture(scope="module")
def tfp(reference_dir) -> pd.DataFrame:
    return validation.tfp_comparison(reference_dir, bootstrap=20, seed=7)


@pytest.fixture(scope="module")
def did(reference_dir) -> pd.DataFrame:
    return validation.did_comparison(reference_dir, bootstrap_iters=499, seed=7)


@pytest.fixture(scope="module")
def both(tfp, did) -> pd.DataFrame:
    return pd.concat([tfp, did], ignore_index=True)


def test_table_shape(both):
    assert list(both.columns) == validation.COLUMNS
    assert set(both["check"]) == {"tight", "loose", "none"}
    assert both["ref_key"].is_unique
    # a verdict exactly where a comparison is made
    assert both.loc[both["check"] == "none", "within"].isna().all()
    assert both.loc[both["check"] != "none", "within"].notna().all()
    # every number not compared says why
    skipped = both[both["check"] == "none"]
    assert (skipped["tolerance"] == "not compared").all()
    assert skipped["note"].str.len().gt(10).all()
    assert (both.loc[both["check"] == "loose", "tolerance"] == "ratio in [0.2, 5]").all()


def test_every_compared_number_is_within_tolerance(both):
    compared = both[both["check"] != "none"]
    bad = compared[~compared["within"].astype(bool)]
    assert bad.empty, bad[["setting", "quantity", "ours", "reference", "abs_diff", "tolerance"]].to_string()


def test_verdicts_follow_the_tolerances(both):
    """The verdict is computed from the numbers, whatever they are."""
    tight = both[(both["check"] == "tight") & both["tolerance"].str.fullmatch(r"1e-\d")]
    atol = tight["tolerance"].map(float)
    expected = (tight["abs_diff"] <= atol) | (tight["ours"].isna() & tight["reference"].isna())
    assert (tight["within"].astype(bool) == expected).all()
    loose = both[both["check"] == "loose"]
    ratio = loose["ours"] / loose["reference"]
    assert (loose["within"].astype(bool) == ratio.between(*validation.RATIO)).all()


def test_wooldridge_iv_reproduces_prodest_to_the_last_digit(tfp):
    """prodestWRDG's "IV version" (variant prodest_iv): coefficients and its reported standard
    errors, on both proxies, within the tight tolerance (in fact about 1e-14)."""
    iv = tfp[tfp["setting"].isin(WOOLDRIDGE_IV) & (tfp["check"] != "none")]
    assert len(iv[iv["check"] == "tight"]) == 2 * 7
    assert iv["within"].astype(bool).all(), iv[["setting", "quantity", "abs_diff"]].to_string()
    assert (iv.loc[iv["group"] == "coefficient", "abs_diff"] < 1e-10).all()
    assert set(iv["estimator"]) == {"Wooldridge IV", "Wooldridge IV, proxy inv"}


def test_every_reference_number_has_a_row(reference_dir, both):
    numbers = validation.reference_numbers(reference_dir)
    assert len(numbers) > 1800
    missing = set(numbers["ref_key"]) - set(both["ref_key"])
    assert not missing, sorted(missing)[:20]
    # the rows carry the reference's own values
    ours = both.set_index("ref_key")["reference"].reindex(numbers["ref_key"]).to_numpy()
    np.testing.assert_array_equal(ours, numbers["value"].to_numpy())
    # rows beyond the numbers: R's NA standard errors (a key R leaves out) and one text
    extra = both[~both["ref_key"].isin(numbers["ref_key"])]
    assert (extra["reference"].isna()).all()
    assert set(extra["quantity"].str.split().str[0]) <= {"SE", "multistart", "dynamic:",
                                                        "dynamic_balance_e1:", "dynamic_min_e-2_max_e2:"}


def test_covers_every_estimate_key(reference_dir, tfp, did):
    tfp_ref = json.loads((reference_dir / "tfp" / "reference_chilean.json").read_text())
    settings = set(tfp["setting"])
    for section in ("estimates", "baselines", "checkpoints"):
        assert set(tfp_ref[section]) <= settings, section
    assert set(tfp_ref["estprod_runs_on_chilean"]["estimates"]) <= settings
    cs_ref = json.loads((reference_dir / "did" / "reference_mpdta.json").read_text())
    assert set(cs_ref["settings"]) | {"bootstrap_example"} <= set(did["setting"])
    other = json.loads((reference_dir / "did" / "reference_mpdta_twfe_sunab_bacon.json").read_text())
    expected = {f"{top}/{sub}" for top in ("twfe", "sunab", "did2s", "did_imputation") for sub in other[top]}
    assert expected | {"bacon"} <= set(did["setting"])
    for key in cs_ref["settings"]:  # every ATT(g,t) (att and se) and every aggregation
        part = did[did["setting"] == key]
        n_cells = len(cs_ref["settings"][key]["att_gt"])
        assert (part["group"] == "ATT(g,t)").sum() == n_cells
        assert (part["group"] == "SE of ATT(g,t)").sum() == n_cells
        for name in cs_ref["settings"][key]["aggte"]:
            assert part["quantity"].str.startswith(f"{name}: ").any()


def test_deliberately_not_compared(tfp, did):
    """Random or non-optimal reference numbers are not compared, and say why."""
    valley = tfp[(tfp["setting"] == "ACF_table1") & (tfp["group"] == "coefficient")]
    assert (valley["check"] == "none").all() and valley["note"].str.contains("not a root").all()
    deoptim_se = tfp[(tfp["setting"] == "LP_DEoptim_R2") & (tfp["group"] == "standard error")]
    assert (deoptim_se["check"] == "none").all()
    root = tfp[(tfp["setting"] == "ACF_DEoptim_theta0_0_R2") & (tfp["group"] == "coefficient")]
    assert (root["check"] == "tight").all() and (root["tolerance"] == "1e-6").all()
    boot = did[(did["setting"] == "bootstrap_example") & (did["group"] == "SE of ATT(g,t)")]
    assert (boot["check"] == "loose").all()
    pvalue = did[did["quantity"].str.startswith("p-value")]
    assert len(pvalue) == 16 and (pvalue["tolerance"] == "1e-6").all()


def test_summary_and_views(both):
    summary = validation.summary(both)
    assert summary["numbers"].sum() == len(both)
    assert summary["compared"].sum() + summary["not compared"].sum() == len(both)
    assert (summary["within tolerance"] <= summary["compared"]).all()
    by = validation.by_setting(both)
    assert set(by.index) == set(both["setting"])
    assert by["numbers"].astype(int).sum() == len(both)
    detail = validation.detail(both)
    assert len(detail) == len(both)
    assert set(detail["within"]) <= {"yes", "**no**", "–"}
    assert len(validation.outside(both)) == int((~both.loc[both["check"] != "none", "within"]).sum())


def test_no_bootstrap_means_not_compared(reference_dir):
    table = validation.did_comparison(reference_dir, bootstrap_iters=0)
    boot = table[table["setting"] == "bootstrap_example"]
    assert len(boot) == 42 and (boot["check"] == "none").all()


def test_missing_directory(tmp_path):
    absent = tmp_path / "nowhere"
    status = validation.reference_status(absent)
    assert status["status"] == "absent"
    with pytest.raises(validation.ReferenceNotFound, match="reference directory not found"):
        validation.tfp_comparison(absent)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        validation.did_comparison(absent)
    with pytest.raises(validation.ReferenceNotFound):
        validation.reference_numbers(absent)
    (absent / "tfp").mkdir(parents=True)
    status = validation.reference_status(absent)
    assert status["status"] == "incomplete" and "did/mpdta.csv" in status["missing"]
    with pytest.raises(validation.ReferenceNotFound, match=r"prodest_chilean\.csv"):
        validation.tfp_comparison(absent)


# ------------------------------------------------------------------------------------------------
# What the Validation appendix shows
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def comparison(tfp, did) -> validation.Comparison:
    return validation.Comparison(tfp=tfp, did=did)


def test_overview_counts_add_up(comparison, both):
    overview = validation.overview(comparison)
    n = overview.numbers
    assert n["validation_n_numbers"] == len(both) == n["validation_n_tfp"] + n["validation_n_did"]
    assert n["validation_n_compared"] + n["validation_n_not_compared"] == len(both)
    assert n["validation_n_tight"] + n["validation_n_loose"] == n["validation_n_compared"]
    assert n["validation_n_within"] + n["validation_n_outside"] == n["validation_n_compared"]
    assert n["validation_n_outside"] == len(validation.outside(both)) == len(overview.outside)
    assert overview.any_outside == (n["validation_n_outside"] > 0)
    tight_did = comparison.did[comparison.did["check"] == "tight"]
    assert n["validation_max_abs_diff_did"] == tight_did["abs_diff"].max()
    worst = tight_did.loc[tight_did["abs_diff"].idxmax()]
    where = f"{worst['estimator']}, {worst['setting']}, {worst['quantity']}"
    assert overview.texts["validation_worst_did"] == where
    pd.testing.assert_frame_equal(overview.summary, validation.summary(both))
    assert comparison.both.equals(both)


def test_tfp_findings(comparison, tfp):
    findings = validation.tfp_findings(comparison)
    n = findings.numbers
    root = tfp[(tfp["setting"] == "ACF_global_min_over_grid") & tfp["quantity"].str.endswith("(the root)")]
    assert [n["validation_acf_fx1"], n["validation_acf_fx2"], n["validation_acf_sx"]] == root["ours"].tolist()
    assert 0 <= n["validation_acf_criterion"] < 1e-20
    assert n["validation_acf_n_valley"] >= 1  # prodest's default start (ACF_table1) stops in the valley
    iv = tfp[tfp["setting"].isin(WOOLDRIDGE_IV)]
    assert n["validation_iv_n_outside"] == len(validation.outside(iv))
    assert findings.iv_within == (n["validation_iv_n_outside"] == 0)
    assert n["validation_iv_max_abs_diff"] < 5e-3
    assert n["validation_n_out_oplp"] == 0 and n["validation_n_out_checkpoints"] == 0 and findings.within
    assert len(findings.detail) == len(tfp) and set(findings.by_setting.index) == set(tfp["setting"])


def test_did_findings(comparison, did):
    findings = validation.did_findings(comparison)
    n = findings.numbers
    assert n["validation_cs_n_settings"] == 16
    assert 0 < n["validation_cs_max_abs_diff"] <= validation.TOL_EXACT
    low, high = validation.RATIO
    assert low <= n["validation_boot_ratio_min"] <= n["validation_boot_ratio_max"] <= high
    assert all(n[f"validation_n_out_{key}"] == 0 for key in validation.OTHER_DID.values())
    assert findings.others_within
    assert findings.cs_by_setting.index.name == "setting (control · covariates · method · base period)"
    assert "estimator" not in findings.cs_by_setting.columns
    assert "never treated · ~1 · dr · varying" in findings.cs_by_setting.index
    assert "bootstrap_example" in set(findings.cs_detail["setting"])
    assert len(findings.cs_detail) + len(findings.other_detail) == len(did)
    others = did.loc[~did["family"].str.startswith("Callaway"), "setting"]
    assert set(findings.other_by_setting.index) == set(others)


def test_cs_setting_label():
    key = "control=notyettreated|xformla=~lpop|est_method=ipw|base_period=universal"
    assert validation.cs_setting_label(key) == "notyet treated · ~lpop · ipw · universal"
    assert validation.cs_setting_label("bootstrap_example") == "bootstrap_example"


def test_availability_says_what_is_missing(tmp_path, reference_dir):
    assert validation.availability(reference_dir) == (True, "")
    available, reason = validation.availability(tmp_path / "nowhere")
    assert not available and "does not exist" in reason and "`reference_dir`" in reason
    (tmp_path / "ref" / "tfp").mkdir(parents=True)
    available, reason = validation.availability(tmp_path / "ref")
    assert not available and "lacks" in reason and "`did/mpdta.csv`" in reason


def test_comparison_notes():
    tfp = pd.DataFrame(columns=validation.COLUMNS)
    tfp.attrs["notes"] = ["ACF: a warning"]
    did = pd.DataFrame(columns=validation.COLUMNS)
    did.attrs["notes"] = ["twfe: another"]
    comparison = validation.Comparison(tfp=tfp, did=did)
    assert comparison.notes == ["ACF: a warning", "twfe: another"]
    assert comparison.notes_markdown == "- ACF: a warning\n- twfe: another"
    tfp.attrs["notes"], did.attrs["notes"] = [], []
    assert comparison.notes_markdown == ""
