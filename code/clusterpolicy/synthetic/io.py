"""Writing the synthetic default data to disk (inputs, truth files, checksums) and the
``synth`` command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from clusterpolicy.core.provenance import sha256_file
from clusterpolicy.core.seeding import DEFAULT_SEED
from clusterpolicy.synthetic.panel import generate_panel
from clusterpolicy.synthetic.scenarios import (
    BASELINE,
    PANEL_SCENARIOS,
    TECH_SCENARIOS,
    panel_params,
    tech_truth,
)
from clusterpolicy.synthetic.shapes import PanelShape, get_shape
from clusterpolicy.synthetic.techfirms import generate_techfirms
from clusterpolicy.synthetic.truth import truth_path

#: The file name of each default dataset in the output directory, by schema name.
FILES = {"panel": "panel.parquet", "membership": "membership.csv", "techfirms": "techfirms.csv"}


#: The name of the checksum file written beside the default data (``sha256sum`` format).
CHECKSUMS = "SHA256SUMS"


# --------------------------------------------------------------------------------------------
# Writing the defaults
# --------------------------------------------------------------------------------------------
def _write_json(path: Path, obj: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        df.to_csv(handle, index=False, lineterminator="\n")


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    """Parquet written deterministically: no pandas metadata, fixed row groups and codec."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", compression_level=9,
                   row_group_size=1 << 20, use_dictionary=["firm_id", "nace2"],
                   write_statistics=True, version="2.6")


def write_defaults(out: str | Path, seed: int = DEFAULT_SEED, firms: int | None = None,
                   shape: str | PanelShape = "flanders",
                   n_pairs: int | None = None, scenario: str = BASELINE) -> dict[str, Path]:
    """Generate the three datasets into ``out`` with truth JSONs and a ``SHA256SUMS`` file.

    ``n_pairs`` (serial innovators, each with a matched non-serial one) defaults to the shape's
    ``tech_pairs``, so another shape gets another tech-firm sample too. ``scenario`` names a
    world of :mod:`clusterpolicy.synthetic.scenarios`: a study-1 scenario changes the panel, a
    study-2 scenario the tech firms; the other dataset stays in the baseline world.
    """

    out = Path(out)
    shape = get_shape(shape)
    if scenario not in PANEL_SCENARIOS and scenario not in TECH_SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: "
                         f"{', '.join(dict.fromkeys([*PANEL_SCENARIOS, *TECH_SCENARIOS]))}")
    panel_world = scenario if scenario in PANEL_SCENARIOS else BASELINE
    tech_world = scenario if scenario in TECH_SCENARIOS else BASELINE
    out.mkdir(parents=True, exist_ok=True)
    sp = generate_panel(seed, firms=firms, shape=shape, params=panel_params(panel_world))
    tech, tech_truth_ = generate_techfirms(
        seed, n_pairs=shape.tech_pairs if n_pairs is None else n_pairs,
        truth=tech_truth(tech_world))
    panel_truth_ = dict(sp.truth, scenario=panel_world,
                        files={"panel": FILES["panel"], "membership": FILES["membership"]})
    written = {
        "panel": out / FILES["panel"],
        "membership": out / FILES["membership"],
        "techfirms": out / FILES["techfirms"],
    }
    _write_parquet(written["panel"], sp.panel)
    _write_csv(written["membership"], sp.membership)
    _write_csv(written["techfirms"], tech)
    for key, truth in (("panel", panel_truth_), ("membership", panel_truth_),
                       ("techfirms", tech_truth_)):
        tpath = truth_path(written[key])
        _write_json(tpath, truth)
        written[f"{key}_truth"] = tpath
    lines = [f"{sha256_file(p)}  {p.name}\n" for _, p in sorted(written.items(),
                                                               key=lambda kv: kv[1].name)]
    (out / CHECKSUMS).write_text("".join(lines), encoding="utf-8")
    written["checksums"] = out / CHECKSUMS
    return written


def cli_synth(out: str, seed: int | None = None, firms: int | None = None,
              shape: str = "flanders", scenario: str = BASELINE) -> int:
    """``python -m clusterpolicy synth``: write the datasets; exit status 0, 2 on bad usage."""
    import sys
    import time

    try:
        get_shape(shape)
        if firms is not None and firms < 50:
            raise ValueError("--firms must be at least 50")
        if seed is not None and not 0 <= seed < 2**32:
            raise ValueError(f"--seed must be between 0 and {2**32 - 1}, got {seed}")
        if Path(out).exists() and not Path(out).is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        if scenario not in PANEL_SCENARIOS and scenario not in TECH_SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: "
                             f"{', '.join(dict.fromkeys([*PANEL_SCENARIOS, *TECH_SCENARIOS]))}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        written = write_defaults(out, seed=DEFAULT_SEED if seed is None else seed, firms=firms,
                                 shape=shape, scenario=scenario)
    except OSError as exc:
        print(f"error: cannot write the datasets to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    for key in ("panel", "membership", "techfirms", "checksums"):
        print(f"wrote {written[key]}")
    print(f"done in {seconds:.1f} s (seed {DEFAULT_SEED if seed is None else seed}, "
          f"shape {shape}, scenario {scenario})")
    return 0
