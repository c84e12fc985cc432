"""Stored cells of the Monte Carlo grid (checks/store.py): reused while their key holds, extended
by the missing replications only, recomputed when what determines them changes, and never read
once their file was altered."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pandas as pd
import pytest

from clusterpolicy.checks import grid, store
from conftest import ROOT

SETTINGS = grid.GridSettings(n_pairs=150)
CELLS = [("tech", "null")]


def _ensure(folder, replications, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return store.ensure(folder, CELLS, replications, settings=options.pop("settings", SETTINGS),
                            n_jobs=1, **options)[("tech", "null")]


def _spy(monkeypatch):
    calls = []
    real = grid.run_cell

    def run_cell(*args, **kwargs):
        calls.append(kwargs.get("first", 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(grid, "run_cell", run_cell)
    return calls


def test_a_stored_cell_is_reused_and_extended_by_the_missing_replications(tmp_path, monkeypatch):
    calls = _spy(monkeypatch)
    first = _ensure(tmp_path, 2)
    assert first.source == "computed" and calls == [0]
    again = _ensure(tmp_path, 2)
    assert again.source == "stored" and calls == [0]
    pd.testing.assert_frame_equal(again.table, first.table)
    fewer = _ensure(tmp_path, 1)
    assert fewer.source == "stored" and set(fewer.table["replication"]) == {0}
    longer = _ensure(tmp_path, 3)
    assert longer.source == "extended" and calls == [0, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at_once = grid.run_cell("tech", "null", 3, settings=SETTINGS, n_jobs=1)
    pd.testing.assert_frame_equal(longer.table, at_once)
    entry = store.read_index(tmp_path)["cells"]["tech/null"]
    assert entry["replications"] == 3 and entry["settings"] == {"n_pairs": 150, "level": 0.95}


def test_a_new_key_or_the_recompute_flag_computes_the_cell_anew(tmp_path, monkeypatch):
    _ensure(tmp_path, 2)
    calls = _spy(monkeypatch)
    assert _ensure(tmp_path, 2, settings=grid.GridSettings(n_pairs=160)).source == "computed"
    assert _ensure(tmp_path, 2, settings=grid.GridSettings(n_pairs=160),
                   recompute=True).source == "computed"
    assert calls == [0, 0]
    # the key holds what the cell depends on, not the number of replications
    assert store.cell_key("tech", "null", 1, SETTINGS) != store.cell_key("tech", "null", 2, SETTINGS)
    assert store.cell_key("tech", "null", 1, SETTINGS) != store.cell_key("tech", "linear", 1, SETTINGS)
    assert store.cell_key("tech", "null", 1, SETTINGS) == store.cell_key(
        "tech", "null", 1, grid.GridSettings(n_pairs=150, firms=5000))  # a panel setting


def test_a_cell_recorded_by_another_run_meanwhile_is_kept(tmp_path, monkeypatch):
    real = grid.run_cell

    def run_cell(*args, **kwargs):
        store._record(tmp_path, "tech/linear", {"key": "another run's"})  # finishes meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(grid, "run_cell", run_cell)
    _ensure(tmp_path, 1)
    assert set(store.read_index(tmp_path)["cells"]) == {"tech/null", "tech/linear"}


def test_an_altered_file_or_index_is_refused(tmp_path):
    _ensure(tmp_path, 1)
    (tmp_path / "tech-null.parquet").write_bytes(b"not the stored table")
    with pytest.raises(ValueError, match="checksum differs"):
        store.stored_table(tmp_path, "tech", "null")
    (tmp_path / store.INDEX).write_text(json.dumps({"format": 0, "cells": {}}))
    with pytest.raises(ValueError, match="store format 0"):
        store.read_index(tmp_path)
    (tmp_path / store.INDEX).write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        store.read_index(tmp_path)


def test_the_key_follows_the_numerical_packages_only(monkeypatch):
    from clusterpolicy.core import provenance

    before = store.cell_key("tech", "null", 1, SETTINGS)
    real = provenance.package_versions()
    monkeypatch.setattr(provenance, "package_versions",
                        lambda: {**real, "clusterpolicy": "9.9.9", "sphinx": "99"})
    assert store.cell_key("tech", "null", 1, SETTINGS) == before  # a release, a new Sphinx
    monkeypatch.setattr(provenance, "package_versions", lambda: {**real, "numpy": "0.0.1"})
    assert store.cell_key("tech", "null", 1, SETTINGS) != before


def test_the_key_follows_code_not_its_comments_docstrings_or_layout():
    source = '''"""A module."""

def f(x):
    """Twice x."""
    return 2 * x  # doubled
'''
    reworded = '''"""The module, documented anew."""
# a comment
def f(x):
    return (2 *
            x)
'''
    assert store.normalized_code(source) == store.normalized_code(reworded)
    assert store.normalized_code(source) != store.normalized_code(source.replace("2 * x", "3 * x"))
    # a string that is code, not a docstring, counts
    assert store.normalized_code("x = 1\n'a'\n") != store.normalized_code("x = 1\n'b'\n")
    only_doc = "def g():\n    \"\"\"Nothing else.\"\"\"\n"
    assert store.normalized_code(only_doc) == store.normalized_code("def g():\n    pass\n")


def test_a_page_reads_current_cells_and_computes_the_others_into_its_own_store(tmp_path,
                                                                                monkeypatch):
    repository, work = tmp_path / "repo", tmp_path / "work"
    _ensure(repository, 2)
    index_before = (repository / store.INDEX).read_bytes()
    calls = _spy(monkeypatch)

    def page(replications, **options):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return store.for_page(repository, CELLS, replications, settings=options.pop(
                "settings", SETTINGS), n_jobs=1, work=work, **options)[("tech", "null")]

    stored = page(2)
    assert stored.source == "stored" and calls == [] and not work.exists()
    # more replications than stored: the repository's two are extended, in the work store
    longer = page(3)
    assert longer.source == "extended" and calls == [2]
    assert store.read_index(work)["cells"]["tech/null"]["replications"] == 3
    assert page(3).source == "cached" and calls == [2]
    # another key (here: settings) is computed from scratch, once
    other = grid.GridSettings(n_pairs=160)
    assert page(2, settings=other).source == "computed" and calls == [2, 0]
    assert page(2, settings=other).source == "cached" and calls == [2, 0]
    assert page(2, recompute=True).source == "computed" and calls == [2, 0, 0]
    # a build never writes into the repository's store
    assert (repository / store.INDEX).read_bytes() == index_before
    pd.testing.assert_frame_equal(longer.table.query("replication < 2").reset_index(drop=True),
                                  stored.table)


def test_the_grid_cells_and_the_command(tmp_path):
    cells = store.grid_cells()
    assert cells[0] == ("panel", "baseline") and ("tech", "threshold") in cells
    assert store.grid_cells(["tech"], ["null", "baseline"]) == [("tech", "baseline"), ("tech", "null")]
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        store.grid_cells(scenarios=["nope"])
    result = subprocess.run([sys.executable, "-m", "clusterpolicy", "montecarlo", "--store",
                             str(tmp_path / "s"), "--study", "tech", "--scenario", "exits"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown scenario 'exits'" in result.stderr
    assert not (tmp_path / "s").exists()


def test_the_command_on_a_dask_cluster_stores_the_local_numbers(tmp_path):
    result = subprocess.run([sys.executable, "-m", "clusterpolicy", "montecarlo", "--store",
                             str(tmp_path / "dask"), "--study", "tech", "--scenario", "null",
                             "--replications", "2", "--n-jobs", "2", "--dask-scheduler", "local"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "replications run on Dask cluster at " in result.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = store.ensure(tmp_path / "local", CELLS, 2, n_jobs=1)[("tech", "null")]
    pd.testing.assert_frame_equal(store.stored_table(tmp_path / "dask", "tech", "null"),
                                  local.table)
    assert (store.read_index(tmp_path / "dask")["cells"]["tech/null"]["key"]
            == store.read_index(tmp_path / "local")["cells"]["tech/null"]["key"])


# -- carrying stale cells over to new code ----------------------------------------------------
def test_the_verification_sample_takes_the_ends_the_switch_to_headline_failures_and_notes():
    table = pd.DataFrame({"replication": range(500), "failed": "", "notes": 0})
    table.loc[7, "failed"] = "LinAlgError: singular"
    table.loc[[3, 250, 260], "notes"] = 1
    settings = grid.GridSettings(full=200)
    assert store.verification_sample(table, "panel", settings) == [0, 3, 7, 50, 199, 200, 250, 499]
    assert store.verification_sample(table, "tech", settings) == [0, 3, 7, 50, 100, 150, 250, 499]
    one = table.iloc[:1]
    assert store.verification_sample(one, "panel", settings) == [0]
    assert len(store.verification_sample(table, "panel", settings)) == store.VERIFY_AT_MOST


def test_a_recomputed_replication_is_the_stored_one_up_to_summation_order_only():
    stored = pd.DataFrame({"replication": [0, 0], "estimator": ["e", "e"], "estimand": ["a", "b"],
                           "estimate": [0.042768, 1.0], "se": [0.0193, float("nan")],
                           "truth": [0.03, 0.03], "nominal": [0.03, 0.03], "notes": [0, 1],
                           "failed": ["", ""]})
    assert store._difference(stored, stored.copy()) == 0.0
    ulp = stored.assign(estimate=[0.042768 * (1 + 2e-16), 1.0])
    assert 0 < store._difference(stored, ulp) <= store.CARRY_RTOL
    assert store._difference(stored, stored.assign(estimate=[0.0428, 1.0])) > store.CARRY_RTOL
    for changed in (stored.assign(notes=[0, 0]), stored.assign(failed=["", "ValueError: x"]),
                    stored.assign(se=[0.0193, 1.0]), stored.iloc[:1],
                    stored.assign(estimand=["a", "c"])):
        assert store._difference(stored, changed) == float("inf")


def _new_code(monkeypatch):
    """The grid's code changed (its digest), not what it computes."""
    real = store.code_digest
    monkeypatch.setattr(store, "code_digest", lambda module=store.CODE_MODULE: "0" + real(module)[1:])


def test_a_stale_cell_whose_sampled_replications_are_identical_is_carried_over(tmp_path,
                                                                               monkeypatch):
    _ensure(tmp_path, 4)
    before = store.read_index(tmp_path)["cells"]["tech/null"]
    _new_code(monkeypatch)
    key = store.cell_key("tech", "null", store.seeding.DEFAULT_SEED, SETTINGS)
    assert key != before["key"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert store.carry_over(tmp_path, CELLS, settings=SETTINGS, n_jobs=1) == {
            ("tech", "null"): True}
    after = store.read_index(tmp_path)["cells"]["tech/null"]
    assert after["key"] == key
    assert after["sha256"] == before["sha256"] and after["computed_at"] == before["computed_at"]
    (record,) = after["carried"]
    assert record["from_key"] == before["key"] and record["replications"] == [0, 1, 2, 3]
    assert record["max_relative_difference"] == 0.0  # one process: the same sums
    calls = _spy(monkeypatch)
    assert _ensure(tmp_path, 4).source == "stored" and calls == []
    # a current cell is not checked again
    assert store.carry_over(tmp_path, CELLS, settings=SETTINGS, n_jobs=1) == {}


def test_a_stale_cell_with_any_difference_stays_stale_and_is_recomputed(tmp_path, monkeypatch):
    _ensure(tmp_path, 3)
    before = store.read_index(tmp_path)["cells"]["tech/null"]
    _new_code(monkeypatch)
    real = grid.run_cell

    def moved(*args, **kwargs):  # the new code moves one value of the last replication
        table = real(*args, **kwargs)
        table.loc[(table["replication"] == 2) & (table["estimand"] == "z"), "estimate"] *= 1 + 1e-9
        return table

    monkeypatch.setattr(grid, "run_cell", moved)
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert store.carry_over(tmp_path, CELLS, settings=SETTINGS, n_jobs=1,
                                progress=lines.append) == {("tech", "null"): False}
    assert store.read_index(tmp_path)["cells"]["tech/null"] == before
    assert "replication 2 differs (relative 1.0e-09): recompute" in lines[0]
    monkeypatch.setattr(grid, "run_cell", real)
    assert _ensure(tmp_path, 3).source == "computed"
    # other settings or another seed are not carried over: their numbers are other numbers
    assert store.carry_over(tmp_path, CELLS, 5, settings=SETTINGS, n_jobs=1) == {}
    assert store.carry_over(tmp_path, CELLS, settings=grid.GridSettings(n_pairs=160),
                            n_jobs=1) == {}


def test_the_command_refuses_carry_over_with_recompute(capsys, tmp_path):
    assert store.cli_montecarlo(str(tmp_path / "s"), carry=True, recompute=True) == 2
    assert "--carry-over and --recompute exclude each other" in capsys.readouterr().err


# -- the repository's store -------------------------------------------------------------------
STORE = ROOT / "data" / "montecarlo"


def _stored_cells():
    return sorted(store.read_index(STORE)["cells"].items())


def test_the_repository_store_holds_every_cell_with_the_replications_the_book_shows():
    from clusterpolicy.book.parameters import SHARED

    held = dict(_stored_cells())
    wanted = SHARED["montecarlo_replications"]
    short = [f"{study}/{scenario}" for study, scenario in store.grid_cells()
             if held.get(f"{study}/{scenario}", {}).get("replications", 0) < wanted]
    assert not short, (f"{STORE} lacks {wanted} replications of {', '.join(short)}: a build "
                       f"would compute them; run python -m clusterpolicy montecarlo "
                       f"--replications {wanted}")


@pytest.mark.parametrize("name, entry", _stored_cells(), ids=[n for n, _ in _stored_cells()])
def test_a_stored_cell_is_current_and_its_last_replication_recomputes_exactly(name, entry):
    """A stored cell cannot go stale unnoticed: its key is the one the current code gives, and
    its last replication, computed again from the stored seed, is the stored one exactly."""
    study, scenario = name.split("/")
    settings = grid.GridSettings(**entry["settings"])
    key = store.cell_key(study, scenario, entry["seed"], settings)
    assert entry["key"] == key, (
        f"{name} was computed by other code or settings: recompute it with `python -m "
        f"clusterpolicy montecarlo --study {study} --scenario {scenario} --replications "
        f"{entry['replications']}` (add --carry-over to keep it when the current code "
        f"reproduces a sample of its replications exactly)")
    table = store.stored_table(STORE, study, scenario)
    assert sorted(set(table["replication"])) == list(range(entry["replications"]))
    last = entry["replications"] - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = grid.run_cell(study, scenario, entry["replications"], entry["seed"],
                              settings=settings, first=last, n_jobs=1)
    pd.testing.assert_frame_equal(again, table[table["replication"] == last].reset_index(drop=True))
