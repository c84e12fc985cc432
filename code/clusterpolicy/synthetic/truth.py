"""Truth files (``*.truth.json`` beside a synthetic input): their names, the one reader, the one
rule that says whether a run is synthetic, and regeneration of the latent quantities (true TFP,
potential outcomes) of a synthetic panel from its truth file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpolicy.core.provenance import ABSENT, track_optional
from clusterpolicy.data.read import load_panel
from clusterpolicy.synthetic.panel import GENERATOR_VERSION, SyntheticPanel, generate_panel
from clusterpolicy.synthetic.shapes import PanelParams, get_shape


def truth_path(data_path: str | Path) -> Path:
    """Where the truth JSON of a data file lives: ``panel.parquet`` -> ``panel.truth.json``."""
    p = Path(data_path)
    return p.with_name(p.name.split(".")[0] + ".truth.json")


def read_truth(data_path: str | Path) -> dict[str, Any] | None:
    """The truth JSON beside a data file, or ``None`` (real data have none).

    The truth file is recorded as an input of the running chapter whether or not it exists,
    so a cached chapter is executed again when a truth file appears or disappears.
    """

    found = track_optional(truth_path(data_path))
    return None if found is None else json.loads(found.read_text(encoding="utf-8"))


def is_synthetic_run(manifest: dict[str, Any]) -> bool:
    """Whether any page of a run (its run manifest) read a truth file: the run is synthetic.

    A truth file looked for and not found is recorded as ``absent`` and does not count.
    """

    return any(item["path"].endswith(".truth.json") and item["sha256"] != ABSENT
               for entry in manifest["chapters"].values() for item in entry["inputs"])


def is_synthetic(*data_paths: str | Path) -> bool:
    """True when any of the files has a truth JSON that declares it synthetic."""
    return any((read_truth(p) or {}).get("synthetic", False) for p in data_paths)


@dataclass(frozen=True)
class Regenerated:
    """A synthetic panel file regenerated from its truth file, checked to reproduce the file.

    ``generated`` is the file's own world; :meth:`world` generates it again with some DGP
    parameters replaced. Every block of the data comes from its own named random stream, so
    the other worlds reuse the same random numbers (common random numbers): they differ from
    the file only through the replaced parameters. :meth:`align` puts any generated frame in
    the rows of the file.
    """

    path: Path
    truth: dict[str, Any]
    panel: pd.DataFrame = field(repr=False)  # the file, as loaded
    generated: SyntheticPanel = field(repr=False)

    def world(self, **overrides: Any) -> SyntheticPanel:
        """The panel generated with the file's seed, shape and parameters, ``overrides`` replaced."""
        return _generate_like(self.truth, **overrides)

    def align(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (columns ``firm_id``, ``year``, one row per generated firm-year) in the
        file's rows and order, with the file's index; ``ValueError`` if the firm-years differ."""
        return _align_to_file(frame, self.panel, self.path.name)


def _generate_like(truth: Mapping[str, Any], **overrides: Any) -> SyntheticPanel:
    return generate_panel(int(truth["seed"]), firms=int(truth["firms"]),
                          shape=truth["shape"]["name"], params=PanelParams(**truth["params"]),
                          **overrides)


def _align_to_file(frame: pd.DataFrame, panel: pd.DataFrame, name: str) -> pd.DataFrame:
    keys = pd.MultiIndex.from_arrays(
        [panel["firm_id"].astype(str).to_numpy(), panel["year"].astype("int64").to_numpy()],
        names=["firm_id", "year"])
    indexed = frame.astype({"firm_id": str, "year": "int64"}).set_index(["firm_id", "year"])
    if len(indexed) != len(keys) or not keys.isin(indexed.index).all():
        raise ValueError(f"{name}: {len(keys)} firm-years in the file, {len(indexed)} "
                         "regenerated from its truth file, not the same firm-years: the file "
                         "was edited")
    out = indexed.loc[keys].reset_index()
    out.index = panel.index
    return out


def regenerate(panel_path: str | Path, panel: pd.DataFrame | None = None,
               *, rtol: float = 1e-5) -> Regenerated | None:
    """Regenerate a synthetic panel file from the truth JSON beside it, and check it.

    The truth file records everything the generator needs (generator version, seed, number of
    firms, shape and parameters). The regenerated panel must have the file's firm-years and,
    to ``rtol``, its value added.

    Parameters
    ----------
    panel_path
        The panel file (its ``*.truth.json`` is read through :func:`read_truth`).
    panel
        The panel as loaded by :func:`clusterpolicy.data.read.load_panel`; read from
        ``panel_path`` when not given.
    rtol
        Relative tolerance of the check of ``value_added`` (the file's floats are rounded to
        6 significant digits).

    Returns
    -------
    Regenerated or None
        ``None`` when the panel has no synthetic truth file (real data).

    Raises
    ------
    ValueError
        The truth file cannot be regenerated (unknown generator, version or shape), or the
        regenerated panel does not match the file: other firm-years or other value added (the
        file was edited, or written by another version of the generator).
    """
    truth = read_truth(panel_path)
    if truth is None or not truth.get("synthetic", False):
        return None
    name = Path(panel_path).name
    if truth.get("generator") != "clusterpolicy.synthetic.generate_panel":
        raise ValueError(f"{name}: truth file names generator {truth.get('generator')!r}, "
                         "not clusterpolicy.synthetic.generate_panel")
    if truth.get("generator_version") != GENERATOR_VERSION:
        raise ValueError(f"{name}: written by generator version {truth.get('generator_version')!r},"
                         f" this package has {GENERATOR_VERSION!r}: cannot regenerate it")
    shape = get_shape(truth["shape"]["name"])
    recorded = {k: truth["shape"][k] for k in ("first_year", "last_year", "clusters")}
    ours = {"first_year": shape.first_year, "last_year": shape.last_year,
            "clusters": [asdict(c) for c in shape.clusters]}
    if json.loads(json.dumps(ours)) != recorded:
        raise ValueError(f"{name}: the truth file's shape {shape.name!r} differs from this "
                         "package's shape of that name: cannot regenerate it")
    if panel is None:

        panel = load_panel(panel_path)
    generated = _generate_like(truth)
    same = _align_to_file(generated.panel[["firm_id", "year", "value_added"]], panel, name)
    if not np.allclose(panel["value_added"].to_numpy(dtype=float),
                       same["value_added"].to_numpy(dtype=float), rtol=rtol, atol=0):
        raise ValueError(f"{name}: value_added differs from the panel regenerated from its truth "
                         "file: the file was edited")
    return Regenerated(Path(panel_path), truth, panel, generated)


def latent_for(panel_path: str | Path, panel: pd.DataFrame | None = None,
               *, rtol: float = 1e-5) -> pd.DataFrame | None:
    """The latent variables (true log TFP ``omega``, ...) of a synthetic panel file.

    One row per firm-year of the file, in the file's order and with its index: ``firm_id``,
    ``year``, ``omega`` (true log TFP without the industry constant), ``omega_tilde`` (without
    the programme), ``treated``, ``theta_it``, ``eps`` (the output shock), ``xi_known``,
    ``xi_unknown``, ``scale`` and ``capint``. ``None`` for real data (no truth file); the
    errors and ``rtol`` are those of :func:`regenerate`.
    """
    regenerated = regenerate(panel_path, panel, rtol=rtol)
    if regenerated is None:
        return None
    return regenerated.align(regenerated.generated.latent)
