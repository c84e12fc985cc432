"""Reference data in ``data/reference``: unchanged (checksums), documented, and what they claim to be.

The files were copied into the project once (sources in data/reference/README.md); the tests
here read only the repository.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import moderndid
import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
CHECKSUMS = REFERENCE / "SHA256SUMS"
README = REFERENCE / "README.md"
NOT_DATA = {"README.md", "SHA256SUMS"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listed_checksums() -> dict[str, str]:
    listed: dict[str, str] = {}
    for number, line in enumerate(CHECKSUMS.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        assert sep and len(digest) == 64 and name, f"SHA256SUMS line {number} malformed: {line!r}"
        assert name not in listed, f"SHA256SUMS lists {name} twice"
        listed[name] = digest
    return listed


def data_files() -> set[str]:
    return {path.relative_to(REFERENCE).as_posix() for path in REFERENCE.rglob("*")
            if path.is_file() and path.relative_to(REFERENCE).as_posix() not in NOT_DATA}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "did" / "mpdta.csv")


@pytest.fixture(scope="module")
def chilean() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "tfp" / "prodest_chilean.csv")


# -- integrity ----------------------------------------------------------------------------------
def test_checksum_file_is_sorted_and_lists_the_expected_files():
    listed = listed_checksums()
    assert list(listed) == sorted(listed), "SHA256SUMS must be sorted by path"
    assert set(listed) >= {"did/mpdta.csv", "did/reference_mpdta.json",
                           "did/reference_mpdta_twfe_sunab_bacon.json",
                           "tfp/prodest_chilean.csv", "tfp/reference_chilean.json"}


@pytest.mark.parametrize("name", sorted(listed_checksums()))
def test_listed_file_exists_with_its_checksum(name):
    path = REFERENCE / name
    assert path.is_file(), f"{name} is listed in SHA256SUMS but missing"
    assert sha256(path) == listed_checksums()[name], (
        f"{name} differs from its recorded checksum: reference files must not be edited")


def test_every_data_file_is_listed():
    unlisted = data_files() - set(listed_checksums())
    assert not unlisted, f"files in data/reference not in SHA256SUMS: {sorted(unlisted)}"


def test_readme_names_every_data_file():
    text = README.read_text(encoding="utf-8")
    missing = [name for name in sorted(data_files()) if name not in text]
    assert not missing, f"data/reference/README.md does not describe: {missing}"


# -- content ------------------------------------------------------------------------------------
def test_mpdta_is_500_counties_over_5_years(mpdta):
    assert list(mpdta.columns) == ["year", "countyreal", "lpop", "lemp", "first.treat", "treat"]
    assert len(mpdta) == 2500
    assert not mpdta.isna().any().any()
    assert not mpdta.duplicated(["countyreal", "year"]).any()
    assert mpdta["countyreal"].nunique() == 500
    assert sorted(mpdta["year"].unique()) == [2003, 2004, 2005, 2006, 2007]
    assert (mpdta.groupby("countyreal")["year"].nunique() == 5).all()
    cohorts = mpdta.groupby("first.treat")["countyreal"].nunique().to_dict()
    assert cohorts == {0: 309, 2004: 20, 2006: 40, 2007: 131}
    assert (mpdta["treat"] == (mpdta["first.treat"] > 0)).all()
    per_county = mpdta.groupby("countyreal")[["lpop", "first.treat"]].nunique()
    assert (per_county == 1).all().all(), "lpop and first.treat are time-invariant"


def test_mpdta_equals_the_copy_shipped_by_moderndid(mpdta):
    theirs = moderndid.load_mpdta().to_pandas()
    assert set(theirs.columns) == set(mpdta.columns)
    keys = ["countyreal", "year"]
    ours = mpdta.sort_values(keys).reset_index(drop=True)
    theirs = theirs[list(mpdta.columns)].sort_values(keys).reset_index(drop=True)
    assert len(ours) == len(theirs)
    for column in ["year", "countyreal", "first.treat", "treat"]:
        assert (ours[column].to_numpy() == theirs[column].to_numpy()).all(), column
    # moderndid stores R's doubles rounded to about 15 significant digits; our CSV holds them
    # exactly (17 digits), so the two agree to a few units in the last place.
    for column in ["lpop", "lemp"]:
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-14, atol=0,
                                   err_msg=column)


def test_chilean_is_2544_plant_years_of_497_plants(chilean):
    assert list(chilean.columns) == ["Y", "sX", "fX1", "fX2", "pX", "cX", "inv", "idvar",
                                     "timevar"]
    assert len(chilean) == 2544
    assert chilean["idvar"].nunique() == 497
    assert (chilean["timevar"].min(), chilean["timevar"].max()) == (1996, 2006)
    assert not chilean.isna().any().any()
    assert not chilean.duplicated(["idvar", "timevar"]).any()
    assert (chilean["inv"] == chilean["cX"]).all()
    span = chilean.groupby("idvar")["timevar"].agg(["min", "max", "count"])
    assert int(((span["max"] - span["min"] + 1) != span["count"]).sum()) == 90
    present = set(zip(chilean["idvar"], chilean["timevar"], strict=True))
    assert sum((plant, year - 1) in present for plant, year in present) == 1944
