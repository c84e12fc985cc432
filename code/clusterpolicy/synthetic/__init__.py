"""Seeded generators of the book's synthetic default data, their truth files and calibration.

Three datasets, each written with a ``*.truth.json`` of its true parameters beside it: the firm
panel and the cluster-membership file of study 1 (:mod:`.panel`, shaped by :mod:`.shapes`) and
the tech-firm cross-section of study 2 (:mod:`.techfirms`). :mod:`.truth` reads truth files and
says whether a run is synthetic; :mod:`.io` writes the data; :mod:`.calibration` compares data
with the published facts.
"""

from .calibration import calibration_table, members_counted
from .io import CHECKSUMS, FILES, cli_synth, write_defaults
from .panel import (
    GENERATOR_VERSION,
    MEMBERSHIP_COLUMNS,
    PANEL_COLUMNS,
    SyntheticPanel,
    generate_panel,
    panel_truth,
    round_significant,
)
from .scenarios import BASELINE, PANEL_SCENARIOS, TECH_SCENARIOS, Scenario, panel_params, tech_truth
from .shapes import (
    FLANDERS,
    OTHER,
    SHAPES,
    Cluster,
    Industry,
    PanelParams,
    PanelShape,
    get_shape,
    scaled_shape,
)
from .techfirms import (
    FORMS,
    N_REGIONS,
    TECH_INDUSTRIES,
    TECH_LATENT_COLUMNS,
    TECHFIRMS_COLUMNS,
    TRUE_FINDINGS,
    SyntheticTechFirms,
    default_tech_truth,
    default_threshold_response,
    draw_techfirms,
    generate_techfirms,
    structural_effects,
)
from .truth import Regenerated, is_synthetic, is_synthetic_run, latent_for, read_truth, regenerate, truth_path

__all__ = [
    "BASELINE",
    "CHECKSUMS",
    "FILES",
    "FLANDERS",
    "FORMS",
    "GENERATOR_VERSION",
    "MEMBERSHIP_COLUMNS",
    "N_REGIONS",
    "OTHER",
    "PANEL_COLUMNS",
    "PANEL_SCENARIOS",
    "SHAPES",
    "TECHFIRMS_COLUMNS",
    "TECH_INDUSTRIES",
    "TECH_LATENT_COLUMNS",
    "TECH_SCENARIOS",
    "TRUE_FINDINGS",
    "Cluster",
    "Industry",
    "PanelParams",
    "PanelShape",
    "Regenerated",
    "Scenario",
    "SyntheticPanel",
    "SyntheticTechFirms",
    "calibration_table",
    "cli_synth",
    "default_tech_truth",
    "default_threshold_response",
    "draw_techfirms",
    "generate_panel",
    "generate_techfirms",
    "get_shape",
    "is_synthetic",
    "is_synthetic_run",
    "latent_for",
    "members_counted",
    "panel_params",
    "panel_truth",
    "read_truth",
    "regenerate",
    "round_significant",
    "scaled_shape",
    "structural_effects",
    "tech_truth",
    "truth_path",
    "write_defaults",
]
