"""``prepare``: a raw extract made from the default synthetic data (Dutch-like column names,
euro, nominal prices, VAT-formatted identifiers, dates as text; written by
``realdata.raw_extract``, as for the book's ``prepared`` scenario) is prepared back to the
canonical data; each user-fixable problem is a clear error and leaves ``--out`` untouched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from realdata import (
    BASE_YEAR,
    MONEY,
    ROOT,
    SYNTHETIC,
    TECH_RAW,
    add_members,
    canonical_sample,
    raw_extract,
)

from clusterpolicy.book.build import load_params_file
from clusterpolicy.book.parameters import SHARED
from clusterpolicy.cli import main
from clusterpolicy.core.provenance import ABSENT, sha256_file, tracked_inputs
from clusterpolicy.data.prepare import (
    NO_TECHFIRMS,
    find_report,
    prepare,
    steps_table,
    years_of,
)
from clusterpolicy.data.read import check_file
from clusterpolicy.data.recipe import PrepareError, load_recipe
from clusterpolicy.studies.inputs import preparation
from clusterpolicy.synthetic import is_synthetic

N_FIRMS = 200


@pytest.fixture(scope="module")
def canonical() -> tuple[pd.DataFrame, pd.DataFrame]:
    return canonical_sample(N_FIRMS)


# ----------------------------------------------------------------------------------------------
# Round trip
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet", "dta", "xlsx"])
def test_prepare_recovers_the_canonical_data(tmp_path, canonical, fmt, monkeypatch):
    recipe = raw_extract(tmp_path / "raw", canonical, fmt)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths are relative to the recipe, not the shell
    out = tmp_path / "prepared"
    assert main(["prepare", str(recipe), "--out", str(out)]) == 0

    panel, members = canonical
    got = pd.read_parquet(out / "panel.parquet")
    assert list(got.columns) == list(panel.columns)
    pd.testing.assert_series_equal(got["firm_id"].astype(str), panel["firm_id"].astype(str),
                                   check_dtype=False)
    for col in ("year", "founding_year", "nace2"):
        assert (got[col].astype(str) == panel[col].astype(str)).all(), col
    for col in (*MONEY, "employment", "patents"):
        np.testing.assert_allclose(got[col].to_numpy(float), panel[col].to_numpy(float),
                                   rtol=1e-9, atol=1e-9, err_msg=col)
    got_m = pd.read_csv(out / "membership.csv", dtype={"firm_id": str})
    pd.testing.assert_frame_equal(got_m, members, check_dtype=False)

    # The files pass the schemas, and run.yml is a parameters file the build accepts as is.
    assert check_file(out / "panel.parquet", "panel")[0].ok
    assert check_file(out / "membership.csv", "membership", panel=out / "panel.parquet")[0].ok
    params = load_params_file(out / "run.yml")
    assert params["panel_path"] == str((out / "panel.parquet").resolve())
    assert params["membership_path"] == str((out / "membership.csv").resolve())
    assert "Flanders' FOOD" in params["clusters"]
    assert set(params) <= set(SHARED)  # shared parameters: every chapter that names one gets it

    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["options"]["deflators"]["base_year"] == BASE_YEAR
    assert report["options"]["membership"] == {"unknown_firms": "stop", "duplicates": "stop"}
    assert [i["input"] for i in report["inputs"]] == ["panel", "deflators", "membership"]
    assert report["inputs"][0]["format"] == {"dta": "stata", "xlsx": "excel"}.get(
        fmt, fmt.removesuffix(".gz"))
    steps = {(s["file"], s["step"]) for s in report["steps"]}
    assert {("panel", "rename"), ("panel", "ids"), ("panel", "scale"), ("panel", "deflate"),
            ("panel", "years"), ("membership", "ids"), ("membership", "years")} <= steps
    deflated = [s for s in report["steps"] if s["step"] == "deflate"]
    assert len(deflated) == len(MONEY) and all("p_" in s["detail"] for s in deflated)
    ids = next(s for s in report["steps"] if s["file"] == "membership" and s["step"] == "ids")
    assert ids["rows"] == len(members)  # every VAT string was rewritten
    assert "| panel | deflate |" in (out / "prepare_report.md").read_text(encoding="utf-8")


def test_years_of_reads_years_and_dates():
    values = pd.Series([2017, 2017.0, "2017", "2017-03-15", "15/03/2017", "15.03.2017",
                        "2017-03-15 00:00:00", pd.Timestamp("2017-12-31"), None, "soon"],
                       dtype="object")
    years, bad, dates = years_of(values)
    assert years.iloc[:8].tolist() == [2017] * 8
    assert years.iloc[8] is pd.NA
    assert bad.tolist() == [9]
    assert dates == 5


# ----------------------------------------------------------------------------------------------
# Failures: each a clear error, exit status 2, nothing written
# ----------------------------------------------------------------------------------------------
def _error(tmp_path: Path, recipe: Path, capsys) -> str:
    out = tmp_path / "prepared"
    assert main(["prepare", str(recipe), "--out", str(out)]) == 2
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".prepared")]
    return capsys.readouterr().err


def test_unknown_recipe_key_lists_the_known_ones(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"panel.money_scal": 0.001})
    err = _error(tmp_path, recipe, capsys)
    assert "panel.money_scal" in err and "unknown recipe key" in err
    assert "money_scale" in err and "deflators" in err


def test_unknown_column_key_lists_the_canonical_names(tmp_path, canonical):
    recipe = raw_extract(tmp_path, canonical, **{"panel.columns.turnover": "omzet"})
    with pytest.raises(PrepareError, match=r"panel\.columns\.turnover") as exc:
        load_recipe(recipe)
    assert "value_added" in str(exc.value)


def test_missing_required_column_mapping(tmp_path, canonical):
    recipe = raw_extract(tmp_path, canonical, **{"panel.columns.capital": None})
    with pytest.raises(PrepareError, match=r"panel\.columns\.capital.*required recipe key"):
        load_recipe(recipe)


def test_absent_column_names_both(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"panel.columns.employment": "fte"})
    err = _error(tmp_path, recipe, capsys)
    assert "accounts.csv" in err and "'fte' not found" in err
    assert "panel.columns.employment" in err


def test_absent_id_column_in_a_csv_file(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"membership.columns.firm_id": "vat"})
    err = _error(tmp_path, recipe, capsys)
    assert "members.csv" in err and "membership.columns.firm_id: 'vat' not found" in err


def test_wrong_delimiter_hints_at_the_recipe(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"panel.csv": {"encoding": "latin-1"}})
    err = _error(tmp_path, recipe, capsys)
    assert "single column" in err and "delimiter" in err


def test_options_of_another_format_are_errors(tmp_path, canonical):
    recipe = raw_extract(tmp_path, canonical, "parquet", **{"panel.sheet": "accounts",
                                                         "membership.csv": {"delimiter": ";"}})
    with pytest.raises(PrepareError) as exc:
        load_recipe(recipe)
    assert "panel.sheet applies to .xlsx files only" in str(exc.value)
    assert "membership.csv applies to .csv and .csv.gz files only" in str(exc.value)


def test_ids_merged_by_the_rule_are_an_error(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, "parquet")
    raw = pd.read_parquet(tmp_path / "accounts.parquet")
    raw["ondernemingsnummer"] = raw["ondernemingsnummer"].astype(str)
    first = raw["ondernemingsnummer"].iloc[0]
    other = raw["ondernemingsnummer"] != first
    second = raw.loc[other, "ondernemingsnummer"].iloc[0]
    raw.loc[raw["ondernemingsnummer"] == second, "ondernemingsnummer"] = "X" + first
    raw.to_parquet(tmp_path / "accounts.parquet", index=False)
    err = _error(tmp_path, recipe, capsys)
    assert "must not turn different raw identifiers of one year into one firm" in err
    assert f"'X{first}'" in err


def test_a_missing_raw_file(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical)
    (tmp_path / "members.csv").unlink()
    err = _error(tmp_path, recipe, capsys)
    assert "members.csv" in err and "the raw file must exist" in err


def test_wrong_encoding_is_named(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"panel.csv": {"delimiter": ";", "decimal": ","}})
    err = _error(tmp_path, recipe, capsys)
    assert "encoding 'utf-8'" in err and "latin-1" in err


def test_wrong_decimal_mark_is_named(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"panel.csv": {"delimiter": ";",
                                                            "encoding": "latin-1"}})
    err = _error(tmp_path, recipe, capsys)
    assert "toegevoegde_waarde" in err and "must be a number" in err and "data row 1" in err


def test_missing_industry_years_are_listed(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical)
    index = pd.read_csv(tmp_path / "deflators.csv")
    nace = int(canonical[0]["nace2"].iloc[0])
    index = index[~((index["nace2"] == nace) & index["year"].isin([2019, 2020]))]
    index.to_csv(tmp_path / "deflators.csv", index=False)
    err = _error(tmp_path, recipe, capsys)
    assert "every industry-year of the panel must have an index" in err
    assert f"nace2='{nace:02d}', year=2019" in err and f"nace2='{nace:02d}', year=2020" in err
    assert "deflators.csv" in err


def test_a_price_index_must_be_positive(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical)
    index = pd.read_csv(tmp_path / "deflators.csv")
    index.loc[3, "p_int"] = 0.0
    index.to_csv(tmp_path / "deflators.csv", index=False)
    err = _error(tmp_path, recipe, capsys)
    assert "a price index must be positive (p_int > 0)" in err and "data row 4" in err


def test_an_index_file_of_unknown_format(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"panel.deflators.path": "deflators.txt"})
    (tmp_path / "deflators.txt").write_text("nace2,year\n")
    err = _error(tmp_path, recipe, capsys)
    assert "deflators.txt" in err and "a raw file must end in one of .csv.gz, .csv" in err


def test_base_year_outside_the_index_file(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, **{"panel.deflators.base_year": 1990})
    err = _error(tmp_path, recipe, capsys)
    assert "base year 1990 must be in the index file (it holds 2010–2022)" in err


def test_unknown_member_stops_by_default(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical)
    add_members(tmp_path, [{"btw_nummer": "BE 0999.999.999", "cluster": "SIM",
                             "lid_sinds": "2017-01-01", "lid_tot": ""}])
    err = _error(tmp_path, recipe, capsys)
    assert "every member must be a firm of the panel" in err and "'0999999999'" in err
    assert "btw_nummer" in err and "unknown_firms: drop" in err


def test_unknown_member_dropped_and_reported(tmp_path, canonical):
    recipe = raw_extract(tmp_path, canonical, **{"membership.unknown_firms": "drop"})
    add_members(tmp_path, [{"btw_nummer": f"BE 0999.999.99{i}", "cluster": "SIM",
                             "lid_sinds": "2017-01-01", "lid_tot": ""} for i in range(3)])
    report = prepare(recipe, tmp_path / "prepared")
    drop = [s for s in report.steps if s.step == "drop"]
    assert len(drop) == 1 and drop[0].rows == 3 and "0999999990" in drop[0].detail
    got = pd.read_csv(tmp_path / "prepared" / "membership.csv", dtype={"firm_id": str})
    assert len(got) == len(canonical[1])


def test_duplicate_member_stops_by_default_or_keeps_the_first_join(tmp_path, canonical, capsys):
    members = canonical[1]
    first = members.iloc[0]
    vat = f"BE {first['firm_id'][:4]}.{first['firm_id'][4:7]}.{first['firm_id'][7:]}"
    later = {"btw_nummer": vat, "cluster": first["cluster"],
             "lid_sinds": f"{int(first['join_year']) + 1}-06-01", "lid_tot": ""}
    recipe = raw_extract(tmp_path, canonical)
    add_members(tmp_path, [later])
    err = _error(tmp_path, recipe, capsys)
    assert "a firm must be listed once per cluster" in err and first["firm_id"] in err

    recipe = raw_extract(tmp_path, canonical, **{"membership.duplicates": "drop"})
    add_members(tmp_path, [later])
    report = prepare(recipe, tmp_path / "prepared")
    drop = [s for s in report.steps if s.step == "drop"]
    assert len(drop) == 1 and drop[0].rows == 1 and first["firm_id"] in drop[0].detail
    got = pd.read_csv(tmp_path / "prepared" / "membership.csv", dtype={"firm_id": str})
    pd.testing.assert_frame_equal(got, members, check_dtype=False)


def test_bad_policy_is_an_error(tmp_path, canonical):
    recipe = raw_extract(tmp_path, canonical, **{"membership.duplicates": "ignore"})
    with pytest.raises(PrepareError, match="must be one of stop, drop"):
        load_recipe(recipe)


def test_a_value_that_is_no_date(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical)
    add_members(tmp_path, [{"btw_nummer": "BE 0123.000.001", "cluster": "VIL",
                             "lid_sinds": "spring", "lid_tot": ""}])
    err = _error(tmp_path, recipe, capsys)
    assert "lid_sinds" in err and "join_year must be a year or a date" in err and "'spring'" in err


def test_prepared_files_are_checked_against_the_schemas(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, clusters=["SIM", "VIL"])
    err = _error(tmp_path, recipe, capsys)
    assert "membership.csv as prepared from" in err and "members.csv" in err
    assert "cluster must be one of the run's clusters: SIM, VIL" in err and "'Catalisti'" in err


def test_excel_needs_openpyxl(tmp_path, canonical, capsys, monkeypatch):
    # openpyxl is pinned, but an environment set up without requirements.txt lacks it: the
    # message must name the file and the package (a None entry in sys.modules makes the
    # import fail although it is installed).
    recipe = raw_extract(tmp_path, canonical, "xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    err = _error(tmp_path, recipe, capsys)
    assert "needs the package openpyxl, which is not installed" in err and "accounts.xlsx" in err
    assert "pip install -r requirements.txt" in err


def test_a_sheet_that_is_not_in_the_workbook(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical, "xlsx", **{"panel.sheet": "rekeningen"})
    err = _error(tmp_path, recipe, capsys)
    assert "accounts.xlsx" in err and "the recipe's sheet 'rekeningen' must be in the workbook" in err
    assert "its sheets: 'about', 'accounts'" in err


def test_an_earlier_output_is_replaced_but_not_another_folder(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path / "raw", canonical, "parquet")
    out = tmp_path / "prepared"
    prepare(recipe, out)
    prepare(recipe, out)  # an earlier prepare output: replaced
    assert (out / "run.yml").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="new or empty folder"):
        prepare(recipe, other)
    assert (other / "notes.txt").read_text() == "mine"


def test_an_industry_without_its_base_year(tmp_path, canonical, capsys):
    recipe = raw_extract(tmp_path, canonical)
    index = pd.read_csv(tmp_path / "deflators.csv")
    nace = int(canonical[0]["nace2"].iloc[0])
    index[~((index["nace2"] == nace) & (index["year"] == BASE_YEAR))].to_csv(
        tmp_path / "deflators.csv", index=False)
    err = _error(tmp_path, recipe, capsys)
    assert f"nace2='{nace:02d}', year={BASE_YEAR} (the base year)" in err


def test_techfirms_section(tmp_path, canonical):
    recipe = raw_extract(tmp_path, canonical, techfirms=True)
    prepare(recipe, tmp_path / "prepared")
    tech = pd.read_csv(SYNTHETIC / "techfirms.csv", dtype={"firm_id": str})
    got = pd.read_csv(tmp_path / "prepared" / "techfirms.csv", dtype={"firm_id": str})
    # the identifier rule gives the firms back their width; every other value is as it was
    assert got["firm_id"].tolist() == [f[1:].zfill(10) for f in tech["firm_id"]]
    pd.testing.assert_frame_equal(got.drop(columns="firm_id"), tech.drop(columns="firm_id"))
    assert load_params_file(tmp_path / "prepared" / "run.yml")["techfirms_path"].endswith(
        "techfirms.csv")
    assert "techfirms" not in (tmp_path / "prepared" / "run.yml").read_text().split(
        "panel_path")[0]  # no comment on a default the run does not take
    report = json.loads((tmp_path / "prepared" / "prepare_report.json").read_text("utf-8"))
    rename = next(s for s in report["steps"] if s["file"] == "techfirms" and s["step"] == "rename")
    assert all(f"{raw} → {canon}" in rename["detail"] for canon, raw in TECH_RAW.items())
    assert not [s for s in report["steps"] if s["step"] == "default"]


def test_without_techfirms_run_yml_and_the_report_say_study_2_is_synthetic(tmp_path, canonical,
                                                                          capsys):
    """A recipe without tech firms leaves techfirms_path to the book's default: run.yml says
    so in a comment, the report in one step, the command line in a note; and the default
    really is the synthetic file (what the sentence claims)."""
    recipe = raw_extract(tmp_path / "raw", canonical, "parquet")
    out = tmp_path / "prepared"
    assert main(["prepare", str(recipe), "--out", str(out)]) == 0
    assert f"note: {NO_TECHFIRMS}" in capsys.readouterr().out

    text = (out / "run.yml").read_text(encoding="utf-8")
    head = text.split("panel_path:")[0]
    assert head.startswith("# no techfirms section in the recipe")
    assert " ".join(line.removeprefix("# ") for line in head.splitlines()) == NO_TECHFIRMS
    assert "techfirms_path" not in load_params_file(out / "run.yml")

    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert [s for s in report["steps"] if s["file"] == "techfirms"] == [
        {"file": "techfirms", "step": "default", "detail": NO_TECHFIRMS, "rows": 0}]
    lines = (out / "prepare_report.md").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if "no techfirms section" in line] == [
        f"| techfirms | default | {NO_TECHFIRMS} | 0 |"]

    # The book's default tech firms, as a chapter (in chapters/) resolves them, are synthetic.
    default = (ROOT / "chapters" / SHARED["techfirms_path"]).resolve()
    assert default == (SYNTHETIC / "techfirms.csv").resolve() and is_synthetic(default)


def test_the_report_travels_with_the_prepared_files(tmp_path, canonical):
    recipe = raw_extract(tmp_path / "raw", canonical, "parquet")
    out = tmp_path / "prepared"
    prepare(recipe, out)
    report = find_report(out / "panel.parquet")
    assert report is not None and report["current"] and report["changed"] == []
    table = steps_table(report)
    assert list(table.columns) == ["input", "step", "what", "rows"]
    assert (table["step"] == "deflate").sum() == len(MONEY)
    pd.read_parquet(out / "panel.parquet").head(10).to_parquet(out / "panel.parquet")
    edited = find_report(out / "panel.parquet")
    assert not edited["current"] and edited["changed"] == ["panel.parquet"]  # edited after prepare
    assert find_report(out / "membership.csv")["current"]
    assert find_report(SYNTHETIC / "panel.parquet") is None


def test_the_report_is_an_input_of_the_page_that_looks_for_it(tmp_path, canonical):
    """A page's cached result must follow the report: it is tracked whether or not it exists."""
    recipe = raw_extract(tmp_path / "raw", canonical, "parquet")
    prepare(recipe, tmp_path / "prepared")
    find_report(tmp_path / "prepared" / "panel.parquet")
    find_report(SYNTHETIC / "panel.parquet")
    tracked = tracked_inputs()
    json_file = (tmp_path / "prepared" / "prepare_report.json").resolve()
    assert tracked[str(json_file)] == sha256_file(json_file)
    assert tracked[str((SYNTHETIC / "prepare_report.json").resolve())] == ABSENT


def test_the_data_page_shows_the_preparation(tmp_path, canonical):
    """inputs.preparation: the case the page's flags show, the steps it tables, the recipe and
    the files changed since prepare wrote them (only the run's own files count)."""
    recipe = raw_extract(tmp_path / "raw", canonical, **{"membership.unknown_firms": "drop"})
    add_members(tmp_path / "raw", [{"btw_nummer": "BE 0999.999.999", "cluster": "SIM",
                                     "lid_sinds": "2017-01-01", "lid_tot": ""}])
    out = tmp_path / "prepared"
    prepare(recipe, out)
    given = preparation(SYNTHETIC / "panel.parquet", SYNTHETIC / "membership.csv",
                        SYNTHETIC / "techfirms.csv")
    assert given.case == "given" and given.steps is None and given.recipe is None

    run = (out / "panel.parquet", out / "membership.csv", SYNTHETIC / "techfirms.csv")
    prepared = preparation(*run)
    assert prepared.case == "current" and prepared.edited == ""
    assert prepared.recipe == "recipe.yml" and prepared.report_file == "prepare_report.md"
    assert prepared.steps.columns.tolist() == ["input", "step", "what", "rows"]
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert prepared.steps["what"].tolist() == [s["detail"] for s in report["steps"]]
    assert prepared.steps["rows"].tolist() == [float(s["rows"]) for s in report["steps"]]
    assert {"rename", "ids", "years", "scale", "deflate", "drop"} <= set(prepared.steps["step"])
    # the page's table says that this recipe left the tech firms to the synthetic default
    assert prepared.steps[prepared.steps["input"] == "techfirms"].values.tolist() == [
        ["techfirms", "default", NO_TECHFIRMS, 0.0]]

    members = pd.read_csv(out / "membership.csv", dtype={"firm_id": str})
    members.iloc[1:].to_csv(out / "membership.csv", index=False)
    edited = preparation(*run)
    assert edited.case == "edited" and edited.edited == "membership.csv"
    # a prepared file the run does not read is not the run's concern
    assert preparation(out / "panel.parquet", SYNTHETIC / "membership.csv",
                       SYNTHETIC / "techfirms.csv").case == "current"
