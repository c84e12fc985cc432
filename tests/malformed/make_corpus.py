"""Write the corpus of malformed inputs (run from anywhere: ``python make_corpus.py``).

Each file breaks one rule of one schema; ``CASES`` in ``tests/test_schemas.py`` says which
column and rule the report must name. The valid bases are tiny hand-made files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

PANEL_HEADER = ("firm_id,year,nace2,value_added,employment,capital,materials,wage_bill,"
                "investment,founding_year,exports,patents")
PANEL = PANEL_HEADER + """
F001,2015,25,1200.5,14.2,800,1500,700,60,1998,300,0
F001,2016,25,1250,14.8,820,1550,720,,1998,310,1
F001,2017,25,1300,15.1,830,1600,740,70,1998,,0
F002,2015,10,400,5,150,900,250,10,2010,0,
F002,2016,10,420,5.5,155,950,260,12,2010,0,0
F002,2017,10,450,6,160,990,270,0,2010,0,0
"""

MEMBERSHIP = """firm_id,cluster,join_year,exit_year
F001,SIM,2017,
F002,Flanders' FOOD,2017,
"""

TECH = """firm_id,serial,match_id,industry,region,clustering,international,foreign_share,employees,age,patents
T1,true,M1,Software,R01,1.2,1,0.35,40,20,22
T2,false,M1,Software,R07,0.8,0,0,45,12,1
T3,true,M2,Biotechnology,R02,2.5,1,0.6,80,25,30
T4,false,M2,Biotechnology,R02,2.5,1,0.2,70,9,0
"""


def lines(text: str) -> list[str]:
    return text.splitlines()


def replace_field(text: str, line: int, column: str, value: str) -> str:
    """Set ``column`` on ``line`` (1-based, header is line 1) to ``value``."""
    rows = lines(text)
    header = rows[0].split(",")
    # split respecting no quotes (the bases have none)
    fields = rows[line - 1].split(",")
    fields[header.index(column)] = value
    rows[line - 1] = ",".join(fields)
    return "\n".join(rows) + "\n"


def drop_column(text: str, column: str) -> str:
    rows = [r.split(",") for r in lines(text)]
    i = rows[0].index(column)
    return "\n".join(",".join(r[:i] + r[i + 1:]) for r in rows) + "\n"


def xlsx_bytes() -> bytes:
    """A minimal (but real) Office Open XML container, as Excel writes one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in (
            ("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                                    'openxmlformats.org/package/2006/content-types"/>'),
            ("xl/workbook.xml", '<?xml version="1.0"?><workbook/>'),
            ("xl/worksheets/sheet1.xml", '<?xml version="1.0"?><worksheet/>'),
        ):
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 24, 0, 0, 0))
            z.writestr(info, body)
    return buf.getvalue()


def corpus() -> dict[str, bytes]:
    files: dict[str, str | bytes] = {
        # --- panel -----------------------------------------------------------------------------
        "panel_missing_column.csv": drop_column(PANEL, "capital"),
        "panel_wrong_type_year.csv": replace_field(PANEL, 3, "year", "2016a"),
        "panel_wrong_type_value_added.csv": replace_field(PANEL, 4, "value_added", "n.a.x"),
        "panel_decimal_comma.csv": replace_field(PANEL, 2, "employment", '"14,2"'),
        "panel_duplicate_keys.csv": PANEL + "F001,2016,25,1250,14.8,820,1550,720,5,1998,310,1\n",
        "panel_null_firm_id.csv": replace_field(PANEL, 5, "firm_id", ""),
        "panel_null_year.csv": replace_field(PANEL, 6, "year", ""),
        "panel_negative_capital.csv": replace_field(PANEL, 4, "capital", "-830"),
        "panel_zero_value_added.csv": replace_field(PANEL, 5, "value_added", "0"),
        "panel_founding_after_year.csv": replace_field(PANEL, 5, "founding_year", "2019"),
        "panel_bad_nace.csv": replace_field(PANEL, 2, "nace2", "5"),
        "panel_infinite_materials.csv": replace_field(PANEL, 3, "materials", "inf"),
        "panel_fractional_patents.csv": replace_field(PANEL, 2, "patents", "1.5"),
        "panel_null_wage_bill.csv": replace_field(PANEL, 7, "wage_bill", "NA"),
        "panel_empty.csv": b"",
        "panel_header_only.csv": lines(PANEL)[0] + "\n",
        "panel_wrong_delimiter.csv": PANEL.replace(",", ";"),
        "panel_ragged_row.csv": PANEL + "F003,2016,25,1,2,3,4,5,6,2000,7,0,99\n",
        "panel_spreadsheet.csv": xlsx_bytes(),
        "panel_legacy_xls.csv": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        "panel_latin1.csv": replace_field(PANEL, 4, "firm_id", "Li\u00e8ge01").encode("latin-1"),
        "panel_not_parquet.parquet": PANEL,
        # --- membership ----------------------------------------------------------------------------
        "membership_unknown_cluster.csv": MEMBERSHIP.replace("SIM", "Biopole"),
        "membership_exit_before_join.csv": MEMBERSHIP.replace("F001,SIM,2017,",
                                                              "F001,SIM,2017,2016"),
        "membership_absent_firm.csv": MEMBERSHIP + "F999,VIL,2017,\n",
        "membership_join_outside_panel.csv": MEMBERSHIP.replace("F002,Flanders' FOOD,2017",
                                                                "F002,Flanders' FOOD,2025"),
        "membership_duplicate.csv": MEMBERSHIP + "F001,SIM,2016,\n",
        "membership_missing_join_year.csv": drop_column(MEMBERSHIP, "join_year"),
        # --- tech firms ----------------------------------------------------------------------------
        "techfirms_share_above_one.csv": replace_field(TECH, 4, "foreign_share", "1.4"),
        "techfirms_share_negative.csv": replace_field(TECH, 5, "foreign_share", "-0.1"),
        "techfirms_share_not_international.csv": replace_field(TECH, 3, "foreign_share", "0.2"),
        "techfirms_serial_not_bool.csv": replace_field(TECH, 2, "serial", "maybe"),
        "techfirms_zero_clustering.csv": replace_field(TECH, 3, "clustering", "0"),
        "techfirms_international_two.csv": replace_field(TECH, 2, "international", "2"),
        "techfirms_unmatched.csv": replace_field(TECH, 5, "serial", "true"),
    }
    return {k: v if isinstance(v, bytes) else v.encode("utf-8") for k, v in files.items()}


def parquet_negative_capital(path: Path) -> None:
    """The one Parquet case: locations are reported as row numbers (first data row = row 1)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.read_csv(io.StringIO(PANEL), dtype={"nace2": str})
    df.loc[4, "capital"] = -155.0  # row 5
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None),
                   path, compression="zstd")


def write(folder: Path = HERE) -> None:
    for name, data in corpus().items():
        (folder / name).write_bytes(data)
    parquet_negative_capital(folder / "panel_negative_capital.parquet")
    (folder / "valid_panel.csv").write_text(PANEL, encoding="utf-8")
    (folder / "valid_membership.csv").write_text(MEMBERSHIP, encoding="utf-8")
    (folder / "valid_techfirms.csv").write_text(TECH, encoding="utf-8")


if __name__ == "__main__":
    write()
