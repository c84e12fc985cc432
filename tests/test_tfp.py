"""The shared TFP panel: estimated once, cached on disk by input checksums and settings."""

from __future__ import annotations

import numpy as np
import pytest

from clusterpolicy import synthetic
from clusterpolicy.core import provenance
from clusterpolicy.studies import productivity as tfp


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    return synthetic.write_defaults(out, seed=11, firms=1500, n_pairs=20)


SMALL = tfp.TFPSettings(min_obs=200)
SMALL_NO_D = tfp.TFPSettings(min_obs=200, law_of_motion="none")


def test_firm_tfp_is_cached_by_input_checksums(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv(provenance.WORK_CACHE_ENV, str(tmp_path / "work"))
    first = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL)
    assert not first.from_cache
    assert len(list((tmp_path / "work").glob("tfp-*.pkl"))) == 1
    again = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL)
    assert again.from_cache
    np.testing.assert_array_equal(again.data["log_tfp"], first.data["log_tfp"])
    # other settings: another entry
    other = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL_NO_D)
    assert not other.from_cache
    assert len(list((tmp_path / "work").glob("tfp-*.pkl"))) == 2


def test_firm_tfp_accounts_for_every_row(small_data, monkeypatch):
    monkeypatch.delenv(provenance.WORK_CACHE_ENV, raising=False)
    result = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL)
    table = result.sample
    read = int(table.loc["rows read", "rows remaining"])
    dropped = int(table["rows dropped"].sum())
    assert read - dropped == len(result.data) == int(table.loc["used", "rows remaining"])
    assert result.data["log_tfp"].notna().all()
    assert set(result.data["member"].unique()) <= {0, 1}
    # members are coded from their first join year on
    members = result.data[result.data["cohort"] > 0]
    assert (members.loc[members["year"] < members["cohort"], "member"] == 0).all()


def test_membership_in_the_law_of_motion_changes_the_estimates(small_data, monkeypatch):
    monkeypatch.delenv(provenance.WORK_CACHE_ENV, raising=False)
    with_d = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL)
    without = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL_NO_D)
    assert with_d.settings["law_of_motion"] == "member"
    assert not np.allclose(with_d.production.params.to_numpy(), without.production.params.to_numpy())


def test_firm_tfp_keys_its_cache_on_the_settings(small_data, monkeypatch):
    monkeypatch.delenv(provenance.WORK_CACHE_ENV, raising=False)
    result = tfp.firm_tfp(small_data["panel"], small_data["membership"], settings=SMALL)
    assert result.settings == {"clusters": None, "method": "acf", "law_of_motion": "member",
                               "degree": 2, "by": "nace2", "min_obs": 200}
    # the estimates are those of estimate_by with the settings' options
    options = tfp.production_options(SMALL)
    assert options["law_of_motion_controls"] == ["member"]
    assert result.production.model == "acf"
    assert set(result.production.table.index.astype(str)) == set(result.data["nace2"].astype(str))
