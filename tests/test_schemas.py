"""Input schemas: the malformed corpus, the error report, the loaders and the sample table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterpolicy.cli import main
from clusterpolicy.data import read, samples, schemas

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "malformed"
DEFAULTS = ROOT / "data" / "synthetic"
VALID_PANEL = CORPUS / "valid_panel.csv"

# file -> (schema, column named in the report, fragment of the rule, needs --panel)
CASES: dict[str, tuple[str, str, str, bool]] = {
    "panel_missing_column.csv": ("panel", "capital", "required column is missing", False),
    "panel_wrong_type_year.csv": ("panel", "year", "year must be an integer", False),
    "panel_wrong_type_value_added.csv": ("panel", "value_added", "value_added must be a number",
                                         False),
    "panel_decimal_comma.csv": ("panel", "employment", "employment must be a number", False),
    "panel_duplicate_keys.csv": ("panel", "firm_id, year", "(firm_id, year) must be unique",
                                 False),
    "panel_null_firm_id.csv": ("panel", "firm_id", "firm_id must not be missing", False),
    "panel_null_year.csv": ("panel", "year", "year must not be missing", False),
    "panel_null_wage_bill.csv": ("panel", "wage_bill", "wage_bill must not be missing", False),
    "panel_negative_capital.csv": ("panel", "capital", "capital must be >= 0", False),
    "panel_negative_capital.parquet": ("panel", "capital", "capital must be >= 0", False),
    "panel_zero_value_added.csv": ("panel", "value_added", "value_added must be > 0", False),
    "panel_founding_after_year.csv": ("panel", "founding_year",
                                      "founding_year must not be after year", False),
    "panel_bad_nace.csv": ("panel", "nace2", "2-digit NACE Rev. 2", False),
    "panel_infinite_materials.csv": ("panel", "materials", "materials must be a finite number",
                                     False),
    "panel_fractional_patents.csv": ("panel", "patents", "patents must be a whole number",
                                     False),
    "panel_empty.csv": ("panel", "(file)", "must not be empty", False),
    "panel_header_only.csv": ("panel", "(file)", "header only", False),
    "panel_wrong_delimiter.csv": ("panel", "firm_id", "required columns are missing", False),
    "panel_ragged_row.csv": ("panel", "(row)", "as many fields as the header", False),
    "panel_spreadsheet.csv": ("panel", "(file)", "Excel workbook (.xlsx)", False),
    "panel_legacy_xls.csv": ("panel", "(file)", "legacy Excel workbook (.xls", False),
    "panel_latin1.csv": ("panel", "firm_id", "must be UTF-8 encoded", False),
    "panel_not_parquet.parquet": ("panel", "(file)", "must be in Parquet format", False),
    "membership_unknown_cluster.csv": ("membership", "cluster", "cluster must be one of", False),
    "membership_exit_before_join.csv": ("membership", "exit_year",
                                        "exit_year must be after join_year", False),
    "membership_absent_firm.csv": ("membership", "firm_id", "firm_id must appear in the panel",
                                   True),
    "membership_join_outside_panel.csv": ("membership", "join_year",
                                          "join_year must lie within the panel's years", True),
    "membership_duplicate.csv": ("membership", "firm_id, cluster",
                                 "(firm_id, cluster) must be unique", False),
    "membership_missing_join_year.csv": ("membership", "join_year", "required column is missing",
                                         False),
    "techfirms_share_above_one.csv": ("techfirms", "foreign_share", "foreign_share must be <= 1",
                                      False),
    "techfirms_share_negative.csv": ("techfirms", "foreign_share", "foreign_share must be >= 0",
                                     False),
    "techfirms_share_not_international.csv": ("techfirms", "foreign_share",
                                              "foreign_share must be 0 when international is 0",
                                              False),
    "techfirms_serial_not_bool.csv": ("techfirms", "serial", "serial must be true or false",
                                      False),
    "techfirms_zero_clustering.csv": ("techfirms", "clustering", "clustering must be > 0", False),
    "techfirms_international_two.csv": ("techfirms", "international",
                                        "international must be 0 or 1", False),
    "techfirms_unmatched.csv": ("techfirms", "match_id",
                                "at least one serial and one non-serial", False),
}


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_corpus_is_large_enough_and_complete():
    assert len(CASES) >= 20
    on_disk = {p.name for p in CORPUS.iterdir() if not p.name.startswith(("valid_", "make_"))}
    on_disk.discard("__pycache__")
    assert on_disk == set(CASES), "every corpus file has an expectation and vice versa"


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_fails_with_column_and_rule(name, capsys):
    schema, column, rule, needs_panel = CASES[name]
    path = CORPUS / name
    argv = ["validate", str(path), "--schema", schema]
    if needs_panel:
        argv += ["--panel", str(VALID_PANEL)]
    before = listing(CORPUS)
    status = main(argv)
    out = capsys.readouterr().out
    assert status == 2, out
    assert listing(CORPUS) == before, "validate must not write anything"
    assert f"file: {path}" in out
    assert f"column: {column}" in out
    assert rule in out
    # the same report is what a chapter's loader raises
    loader = {"panel": read.load_panel, "techfirms": read.load_techfirms,
              "membership": read.load_membership}[schema]
    kwargs = {"panel": str(VALID_PANEL)} if needs_panel else {}
    with pytest.raises(read.DataValidationError) as info:
        loader(path, **kwargs)
    assert str(info.value) == out.rstrip("\n")


@pytest.mark.parametrize(("name", "location"), [
    ("panel_negative_capital.csv", "line 4: capital='-830'"),
    ("panel_negative_capital.parquet", "row 5: capital=-155"),
    ("panel_duplicate_keys.csv", "line 8: firm_id='F001', year='2016'"),
    ("panel_latin1.csv", "line 4, byte offset"),
    ("panel_ragged_row.csv", "line 8: 13 fields"),
])
def test_report_gives_line_numbers(name, location):
    report, frame = read.check_file(CORPUS / name, "panel")
    assert frame is None
    assert location in report.text()


def test_hints_for_common_mistakes():
    text = read.check_file(CORPUS / "panel_wrong_delimiter.csv", "panel")[0].text()
    assert "delimited by ';'" in text
    text = read.check_file(CORPUS / "panel_decimal_comma.csv", "panel")[0].text()
    assert "decimal mark" in text


def test_every_failure_is_reported_at_once(tmp_path):
    lines = (VALID_PANEL.read_text(encoding="utf-8")).splitlines()
    lines[1] = lines[1].replace("F001,2015,25,1200.5,14.2,800", "F001,2015,25,0,14.2,-800")
    lines[4] = lines[4].replace("2010", "2030")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report, _ = read.check_file(bad, "panel")
    rules = {f.rule for f in report.failures}
    assert {"value_added must be > 0", "capital must be >= 0",
            "founding_year must not be after year"} <= rules
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_missing_file_is_a_clean_failure(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.csv"), "--schema", "panel"]) == 2
    assert "the file must exist" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("schema", "name"), [("panel", "valid_panel.csv"),
                                              ("membership", "valid_membership.csv"),
                                              ("techfirms", "valid_techfirms.csv")])
def test_valid_file_prints_one_line_and_exits_0(schema, name, capsys):
    argv = ["validate", str(CORPUS / name), "--schema", schema]
    if schema == "membership":
        argv += ["--panel", str(VALID_PANEL)]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("ok: ") and "\n" not in out


def test_cli_entry_point_end_to_end():
    """``python -m clusterpolicy validate`` as a user runs it (one subprocess each way)."""
    env = dict(os.environ, PYTHONWARNINGS="error")
    bad = subprocess.run([sys.executable, "-m", "clusterpolicy", "validate",
                          str(CORPUS / "panel_zero_value_added.csv"), "--schema", "panel"],
                         capture_output=True, text=True, env=env, check=False)
    assert bad.returncode == 2 and "value_added must be > 0" in bad.stdout
    good = subprocess.run([sys.executable, "-m", "clusterpolicy", "validate",
                           str(DEFAULTS / "membership.csv"), "--schema", "membership",
                           "--panel", str(DEFAULTS / "panel.parquet")],
                          capture_output=True, text=True, env=env, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("ok: ")


def test_clusters_parameter_changes_the_allowed_names(capsys):
    path = CORPUS / "membership_unknown_cluster.csv"
    assert main(["validate", str(path), "--schema", "membership", "--clusters", "Biopole",
                 "Flanders' FOOD"]) == 0
    capsys.readouterr()
    df = read.load_membership(path, clusters=["Biopole", "Flanders' FOOD"])
    assert list(df["cluster"].cat.categories) == ["Biopole", "Flanders' FOOD"]


def test_extra_columns_are_kept_or_dropped(tmp_path):
    df = pd.read_csv(VALID_PANEL, dtype=str)
    df["region"] = "Antwerp"
    path = tmp_path / "extra.csv"
    df.to_csv(path, index=False)
    assert "region" in read.load_panel(path).columns
    assert "region" not in read.load_panel(path, columns=False).columns
    assert "region" in read.load_panel(path, columns=["region"]).columns


def test_loaders_give_analysis_ready_dtypes():
    panel = read.load_panel(VALID_PANEL)
    assert panel["year"].dtype == np.int64 and panel["founding_year"].dtype == np.int64
    for c in ("value_added", "employment", "capital", "materials", "wage_bill", "investment",
              "exports", "patents"):
        assert panel[c].dtype == np.float64, c
    assert isinstance(panel["nace2"].dtype, pd.CategoricalDtype)
    tech = read.load_techfirms(CORPUS / "valid_techfirms.csv")
    assert tech["serial"].dtype == bool and tech["international"].dtype == np.int64
    memb = read.load_membership(CORPUS / "valid_membership.csv", panel=panel)
    assert str(memb["exit_year"].dtype) == "Int64"


def test_loaders_record_their_inputs():
    from clusterpolicy.core import provenance

    read.load_techfirms(CORPUS / "valid_techfirms.csv")
    assert str((CORPUS / "valid_techfirms.csv").resolve()) in provenance.tracked_inputs()


def test_sample_construction_counts_every_drop():
    panel = read.load_panel(DEFAULTS / "panel.parquet")
    clean, table = samples.sample_construction(panel, require_lag=True)
    dropped = table["rows dropped"].sum()
    assert table.loc["rows read", "rows remaining"] == len(panel)
    assert table.loc["used", "rows remaining"] == len(clean) == len(panel) - dropped
    for column in ("employment", "capital", "materials"):
        step = f"dropped: {column} not positive (log undefined)"
        assert table.loc[step, "rows dropped"] > 0, "the defaults carry a few zeros"
    assert (clean[["employment", "capital", "materials"]] > 0).all().all()
    assert clean["has_lag"].all()
    no_lag, table2 = samples.sample_construction(panel)
    assert len(no_lag) > len(clean) and "used" in table2.index


def test_membership_status_treats_from_first_join():
    panel = pd.DataFrame({"firm_id": ["A"] * 4 + ["B"] * 4, "year": [2016, 2017, 2018, 2019] * 2})
    memb = pd.DataFrame({"firm_id": ["A", "A", "B"], "cluster": ["SIM", "VIL", "SIM"],
                         "join_year": [2018, 2017, 2017],
                         "exit_year": pd.array([pd.NA, pd.NA, 2019], dtype="Int64")})
    status = samples.membership_status(panel, memb)
    assert status["cohort"].tolist() == [2017] * 8
    assert status["member"].tolist() == [0, 1, 1, 1, 0, 1, 1, 0]


def test_schema_tables_cover_every_column():
    for kind, specs in schemas.SPECS.items():
        table = schemas.schema_table(kind)
        assert list(table.index) == [s.name for s in specs]
        assert table.notna().all().all()


# -- files that cannot be read as they are (issue 18) ----------------------------------------
def _panel_file(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / name
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _rules(report: read.ValidationReport) -> list[str]:
    return [f.rule for f in report.failures]


def test_a_parquet_file_with_a_duplicated_column_name_is_reported_not_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["firm_id", "firm_id"]),
                   path)
    report, frame = read.check_file(path, "panel")
    assert frame is None
    assert "column names must be unique: 'firm_id' appears more than once" in _rules(report)


def test_a_parquet_file_damaged_after_its_footer_is_reported(tmp_path):
    path = _panel_file(tmp_path, "damaged.parquet", pd.DataFrame({"firm_id": range(1000),
                                                                  "year": 2015}))
    data = bytearray(path.read_bytes())
    data[4:400] = b"\xff" * 396  # the first column chunk; the footer (the schema) is intact
    path.write_bytes(bytes(data))
    report, frame = read.check_file(path, "panel", keep=["firm_id", "year"])
    assert frame is None
    (failure,) = [f for f in report.failures if f.column == "(file)"]
    assert failure.rule.startswith("the Parquet file must be readable (")
    assert failure.hint == "export the data again"


def test_a_field_over_the_csv_limit_names_its_line(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text('firm_id,cluster,join_year\n1,SIM,2017\n2,"SIM,2017\n' + "x" * 200_000 + "\n",
                    encoding="utf-8")
    report, frame = read.check_file(path, "membership")
    assert frame is None
    (failure,) = report.failures
    assert failure.rule == "every field must be shorter than 131,072 characters"
    assert failure.examples == ["the field that starts on line 3"]
    assert "unclosed quotation mark" in failure.hint


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_named_pipe_is_rejected_without_reading_it(tmp_path):
    pipe = tmp_path / "panel.csv"
    os.mkfifo(pipe)  # opening it would block until a writer came
    report, frame = read.check_file(pipe, "panel")
    assert frame is None
    assert _rules(report) == ["the path must be a regular file, not a named pipe, socket or device"]
    report, _ = read.check_file(tmp_path, "panel")
    assert _rules(report) == ["the path must be a file, not a folder"]


def test_an_unreadable_file_is_a_failure_not_a_traceback(tmp_path, monkeypatch):
    # permissions cannot be relied on (tests may run as root): the reader's open is refused
    path = CORPUS / "valid_membership.csv"

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(read, "open", refused, raising=False)
    report, frame = read.check_file(path, "membership")
    assert frame is None
    assert _rules(report) == ["the file must be readable (Permission denied)"]
    monkeypatch.undo()
    monkeypatch.setattr(Path, "read_bytes", refused)
    report, frame = read.check_file(path, "membership")
    assert _rules(report) == ["the file must be readable (Permission denied)"]
