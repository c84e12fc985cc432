"""Synthetic data: determinism, committed defaults, calibration targets and the DGP's truth."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterpolicy import synthetic
from clusterpolicy.cli import main
from clusterpolicy.core import seeding
from clusterpolicy.data import published, read, samples, schemas

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = ROOT / "data" / "synthetic"

FACTS = published.load_study1(ROOT / "data" / "facts" / "published.yml")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def defaults():
    panel = read.load_panel(DEFAULTS / "panel.parquet")
    membership = read.load_membership(DEFAULTS / "membership.csv", panel=panel)
    tech = read.load_techfirms(DEFAULTS / "techfirms.csv")
    return {"panel": panel, "membership": membership, "techfirms": tech,
            "panel_truth": synthetic.read_truth(DEFAULTS / "panel.parquet"),
            "tech_truth": synthetic.read_truth(DEFAULTS / "techfirms.csv")}


@pytest.fixture(scope="module")
def small():
    return synthetic.generate_panel(7, firms=3000)


# -- checksums and reproducibility ------------------------------------------------------------
def test_committed_defaults_match_their_checksums():
    lines = (DEFAULTS / synthetic.CHECKSUMS).read_text(encoding="utf-8").splitlines()
    listed = {}
    for line in lines:
        digest, name = line.split("  ", 1)
        listed[name] = digest
    expected = set(synthetic.FILES.values()) | {
        synthetic.truth_path(f).name for f in synthetic.FILES.values()}
    assert set(listed) == expected
    for name, digest in listed.items():
        assert sha256(DEFAULTS / name) == digest, name
        assert (DEFAULTS / name).stat().st_size < 5_000_000, name


def test_sha256sum_accepts_the_checksum_file():
    try:
        run = subprocess.run(["sha256sum", "-c", synthetic.CHECKSUMS], cwd=DEFAULTS,
                             capture_output=True, text=True, check=False)
    except FileNotFoundError:
        pytest.skip("sha256sum not installed")
    assert run.returncode == 0, run.stdout + run.stderr


def test_regenerating_the_defaults_reproduces_them_byte_for_byte(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    for path in sorted(DEFAULTS.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in DEFAULTS.iterdir())


def test_generators_are_deterministic_and_seed_dependent():
    a = synthetic.generate_panel(11, firms=400)
    b = synthetic.generate_panel(11, firms=400)
    c = synthetic.generate_panel(12, firms=400)
    pd.testing.assert_frame_equal(a.panel, b.panel)
    pd.testing.assert_frame_equal(a.membership, b.membership)
    assert a.truth == b.truth
    assert not a.panel["value_added"].equals(c.panel["value_added"])
    t1, _ = synthetic.generate_techfirms(5, n_pairs=100)
    t2, _ = synthetic.generate_techfirms(5, n_pairs=100)
    pd.testing.assert_frame_equal(t1, t2)


def test_synth_rejects_bad_usage(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--shape", "atlantis"]) == 2
    assert "unknown shape" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["synth", "--out", str(tmp_path / "x"), "--seed", "-1"]) == 2
    assert "--seed must be between 0 and 4294967295, got -1" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("kept")
    assert main(["synth", "--out", str(tmp_path / "a-file")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "a-file").read_text() == "kept"
    assert not (tmp_path / "x").exists()


# -- calibration -----------------------------------------------------------------------------
def test_calibration_targets_hold_on_the_defaults(defaults):
    table = synthetic.calibration_table(
        defaults["panel"], defaults["membership"], defaults["techfirms"],
        panel_truth=defaults["panel_truth"], tech_truth=defaults["tech_truth"], facts=FACTS)
    failing = table[table["holds"] == "no"]
    assert failing.empty, failing.to_string()
    assert (table["holds"] == "yes").sum() >= 15
    assert set(table["status"].str.split(" ").str[0]) <= {"stated", "choice"}


def test_the_flemish_shape_is_calibrated_to_the_published_facts():
    """The generator's targets are design parameters; they must agree with the facts file."""
    shape = synthetic.FLANDERS
    assert (shape.first_year, shape.last_year) == (FACTS.first_year, FACTS.last_year)
    assert shape.policy_year == FACTS.launch_year
    assert len(shape.clusters) == FACTS.n_clusters
    assert shape.n_firms > FACTS.firms_more_than
    assert synthetic.PanelParams().theta == FACTS.headline


def test_headline_calibration_numbers(defaults):
    panel, memb = defaults["panel"], defaults["membership"]
    assert (panel["year"].min(), panel["year"].max()) == (2013, 2020)
    assert panel["firm_id"].nunique() > 10_000
    assert abs(synthetic.members_counted(memb, synthetic.FLANDERS) - 1148) <= 0.15 * 1148
    share = memb["firm_id"].nunique() / panel["firm_id"].nunique()
    assert 0.05 <= share <= 0.15
    assert set(memb["cluster"].astype(str)) == set(schemas.DEFAULT_CLUSTERS)
    assert schemas.DEFAULT_CLUSTERS == tuple(synthetic.FLANDERS.cluster_names)


def test_defaults_carry_realistic_mess(defaults):
    panel = defaults["panel"]
    per_firm = panel.groupby("firm_id")["year"].agg(["min", "max", "size"])
    assert (per_firm["min"] > 2013).any(), "entry"
    assert (per_firm["max"] < 2020).any(), "exit"
    assert (per_firm["max"] - per_firm["min"] + 1 > per_firm["size"]).any(), "gaps"
    for c in ("employment", "capital", "materials"):
        assert 0 < (panel[c] == 0).sum() < 0.005 * len(panel)
    for c in ("investment", "exports", "patents"):
        assert panel[c].isna().any()
    assert (panel["exports"] == 0).mean() > 0.3
    assert (panel["patents"] > 0).mean() > 0.02


# -- the panel DGP -----------------------------------------------------------------------------
def test_truth_json_documents_the_dgp(defaults):
    truth = defaults["panel_truth"]
    assert truth["synthetic"] is True and truth["seed"] == seeding.DEFAULT_SEED
    assert truth["params"]["theta"] == 0.03
    assert 0.7 <= truth["params"]["rho"] <= 0.8
    assert "De Loecker" in truth["productivity"]["law_of_motion"]
    assert set(truth["production"]["industries"]) == set(defaults["panel"]["nace2"].cat.categories)
    assert json.loads(json.dumps(truth)) == truth


def test_latent_productivity_follows_the_stated_law_of_motion(small):
    lat = small.latent.sort_values(["firm_id", "year"])
    g = lat.groupby("firm_id")
    lag = g["omega"].shift()
    dlag = g["treated"].shift().astype(float)
    ok = lag.notna() & (g["year"].shift() == lat["year"] - 1)
    d = lat["treated"].astype(float)
    p = small.truth["params"]
    xi = lat["omega"] - p["rho"] * lag - p["theta"] * (d - p["rho"] * dlag)
    xi = xi[ok]
    assert abs(xi.mean()) < 0.01
    assert abs(xi.std() - p["sigma_xi"]) < 0.01
    # no firm effect: innovations are not serially correlated
    assert abs(np.corrcoef(xi.groupby(lat.loc[ok, "firm_id"]).shift().dropna(),
                           xi[xi.groupby(lat.loc[ok, "firm_id"]).shift().notna()])[0, 1]) < 0.05


def test_inputs_respond_to_productivity_as_acf_assumes(small):
    df = small.panel.merge(small.latent, on=["firm_id", "year"])
    df = df[(df["employment"] > 0) & (df["materials"] > 0)].sort_values(["firm_id", "year"])
    lab = np.log(df["employment"])
    g = df.groupby("firm_id")
    consecutive = g["year"].shift() == df["year"] - 1
    lag = g["omega_tilde"].shift()
    d = df[consecutive]
    x = np.column_stack([np.ones(len(d)), d["scale"], lag[consecutive], d["xi_known"],
                         d["xi_unknown"], d["theta_it"]]
                        + [(d["nace2"] == j).to_numpy(float)
                           for j in sorted(d["nace2"].unique())[1:]])
    beta = np.linalg.lstsq(x, lab[consecutive], rcond=None)[0]
    kappa = small.truth["params"]["kappa_l"]
    # labour reacts to the part of the TFP shock known at t - 1/2, not to the rest
    assert beta[3] == pytest.approx(kappa, abs=0.1)
    assert abs(beta[4]) < 0.1
    # materials are strictly increasing in omega given k and l (the proxy)
    ind = small.truth["production"]["industries"]
    bl = df["nace2"].map(lambda j: ind[j]["beta_l"])
    bk = df["nace2"].map(lambda j: ind[j]["beta_k"])
    b0 = df["nace2"].map(lambda j: ind[j]["beta_0"])
    mr = df["nace2"].map(lambda j: ind[j]["materials_ratio"])
    implied = (np.log(df["materials"]) - np.log(mr) - b0 - bl * lab
               - bk * np.log(df["capital"].where(df["capital"] > 0)))
    ok = implied.notna()
    assert np.allclose(implied[ok], df.loc[ok, "omega"], atol=2e-5)


def test_latent_for_regenerates_the_committed_panel(defaults):
    panel = defaults["panel"]
    lat = synthetic.latent_for(DEFAULTS / "panel.parquet", panel)
    assert lat is not None and len(lat) == len(panel)
    assert lat.index.equals(panel.index)
    assert (lat["firm_id"].astype(str).to_numpy() == panel["firm_id"].astype(str).to_numpy()).all()
    assert (lat["year"].to_numpy() == panel["year"].to_numpy()).all()
    # the true omega is the one the file's materials (the Leontief proxy) imply
    ind = defaults["panel_truth"]["production"]["industries"]
    ok = (panel[["employment", "capital", "materials"]] > 0).all(axis=1)
    d, om = panel[ok], lat.loc[ok, "omega"]
    par = {c: d["nace2"].astype(str).map(lambda j, c=c: ind[j][c]) for c in
           ("beta_0", "beta_l", "beta_k", "materials_ratio")}
    implied = (np.log(d["materials"]) - np.log(par["materials_ratio"]) - par["beta_0"]
               - par["beta_l"] * np.log(d["employment"]) - par["beta_k"] * np.log(d["capital"]))
    assert np.allclose(implied, om, atol=2e-5)
    # reading it without the loaded panel gives the same frame
    again = synthetic.latent_for(DEFAULTS / "panel.parquet")
    pd.testing.assert_frame_equal(again, lat)


def test_latent_for_real_and_edited_files(tmp_path):
    synthetic.write_defaults(tmp_path, seed=5, firms=200, n_pairs=20)
    panel_path = tmp_path / synthetic.FILES["panel"]
    assert synthetic.latent_for(panel_path) is not None
    with pytest.raises(ValueError, match=r"not clusterpolicy\.synthetic\.generate_panel"):
        synthetic.latent_for(tmp_path / synthetic.FILES["techfirms"])
    edited = pd.read_parquet(panel_path)
    edited.loc[3, "value_added"] *= 1.01
    edited.to_parquet(panel_path, index=False)
    with pytest.raises(ValueError, match="value_added differs"):
        synthetic.latent_for(panel_path)
    edited.iloc[:-1].to_parquet(panel_path, index=False)
    with pytest.raises(ValueError, match="firm-years"):
        synthetic.latent_for(panel_path)
    # real data: no truth file beside the panel
    synthetic.truth_path(panel_path).unlink()
    assert synthetic.latent_for(panel_path) is None


def test_ols_is_biased_upwards_for_labour(defaults):
    """Productivity drives input choices, so OLS overstates the labour elasticity."""
    clean, _ = samples.sample_construction(defaults["panel"])
    d = clean[clean["nace2"] == "46"]
    x = np.column_stack([np.ones(len(d)), d["log_employment"], d["log_capital"]])
    beta = np.linalg.lstsq(x, d["log_value_added"], rcond=None)[0]
    truth = defaults["panel_truth"]["production"]["industries"]["46"]
    assert beta[1] > truth["beta_l"] + 0.03


def test_selection_on_pre_period_tfp_is_a_parameter():
    base = synthetic.generate_panel(3, firms=4000)
    sel = synthetic.generate_panel(3, firms=4000, select_on_pre_tfp=4.0)
    assert sel.truth["params"]["select_on_pre_tfp"] == 4.0
    assert "fail unconditionally" in sel.truth["treatment"]["parallel_trends"]

    def gap(sp):
        lat = sp.latent[sp.latent["year"] == 2016]
        member = lat["firm_id"].isin(set(sp.membership["firm_id"]))
        return lat.loc[member, "omega_tilde"].mean() - lat.loc[~member, "omega_tilde"].mean()

    assert abs(gap(base)) < 0.03
    assert gap(sel) > 0.04


def test_membership_effect_and_ramp_are_parameters():
    sp = synthetic.generate_panel(4, firms=600, theta=0.05, ramp_years=2)
    lat = sp.latent
    assert lat["theta_it"].max() == pytest.approx(0.05)
    assert set(np.round(lat.loc[lat["treated"], "theta_it"], 6)) <= {0.025, 0.05}


def test_members_are_larger_older_and_more_capital_intensive(defaults):
    clean, _ = samples.sample_construction(defaults["panel"])
    cmp = samples.pre_period_comparison(clean, defaults["membership"], before=2017)
    for row in ("size: log employment (FTE)", "age (years)",
                "capital intensity: log capital per FTE"):
        assert cmp.loc[row, "difference"] > 0
        assert cmp.loc[row, "p (Welch)"] < 0.01


# -- tech firms -----------------------------------------------------------------------------
def test_techfirms_matched_design(defaults):
    tech = defaults["techfirms"]
    assert tech["serial"].sum() == 400 and (~tech["serial"]).sum() == 400
    pairs = tech.groupby("match_id").agg(n=("firm_id", "size"), s=("serial", "sum"),
                                         ind=("industry", "nunique"))
    assert (pairs["n"] == 2).all() and (pairs["s"] == 1).all() and (pairs["ind"] == 1).all()
    serial = tech[tech["serial"]]
    assert (serial["patents"] >= 15).all()
    assert ((tech["international"] == 0) == (tech["foreign_share"] == 0)).all()


def test_techfirms_show_the_published_pattern(defaults):
    """Probit and fractional logit on the defaults: signs as published (both margins)."""
    import statsmodels.api as sm

    tech = defaults["techfirms"]
    logc = np.log(tech["clustering"])
    z = (logc - logc.mean()) / logc.std(ddof=0)
    s = tech["serial"].astype(float)
    x = pd.DataFrame({"const": 1.0, "z": z, "z2": z**2, "serial": s, "serial_z": s * z,
                      "serial_z2": s * z**2, "log_age": np.log(tech["age"]),
                      "log_employees": np.log(tech["employees"]),
                      "log1p_patents": np.log1p(tech["patents"])})
    x = x.join(pd.get_dummies(tech["industry"], drop_first=True, dtype=float))
    probit = sm.Probit(tech["international"], x).fit(disp=0)
    intl = tech["international"] == 1
    frac = sm.GLM(tech.loc[intl, "foreign_share"], x[intl],
                  family=sm.families.Binomial()).fit(cov_type="HC1")
    for res in (probit, frac):
        b = res.params
        assert b["z"] > 0, "non-serial firms gain from clustering"
        assert b["z2"] < 0, "non-serial firms: decreasing returns"
        assert b["serial_z"] > 0 and res.pvalues["serial_z"] < 0.05, "serial firms gain more"
        assert abs(b["z2"] + b["serial_z2"]) < abs(b["z2"]), "serial: curvature near zero"


def test_techfirms_truth_can_be_overridden():
    truth = synthetic.default_tech_truth()
    truth["initiation"]["z"] = 0.0
    df, out = synthetic.generate_techfirms(1, n_pairs=50, truth=truth)
    assert out["initiation"]["z"] == 0.0 and len(df) == 100
    assert synthetic.default_tech_truth()["initiation"]["z"] > 0, "defaults not mutated"


# -- the other shape ---------------------------------------------------------------------------
def test_other_shape_runs_through_the_same_schemas(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--shape", "other", "--firms", "800",
                 "--seed", "3"]) == 0
    capsys.readouterr()
    panel = read.load_panel(tmp_path / "panel.parquet")
    assert (panel["year"].min(), panel["year"].max()) == (2010, 2023)
    names = synthetic.OTHER.cluster_names
    memb = read.load_membership(tmp_path / "membership.csv", clusters=names, panel=panel)
    assert set(memb["cluster"].astype(str)) == set(names)
    first = memb.groupby(memb["cluster"].astype(str))["join_year"].min()
    assert first.to_dict() == {c.name: c.start_year for c in synthetic.OTHER.clusters}
    with pytest.raises(read.DataValidationError, match="cluster must be one of"):
        read.load_membership(tmp_path / "membership.csv")
