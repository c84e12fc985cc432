"""The programme file: read with clear errors; the default documents the Flemish programme."""

from __future__ import annotations

import pytest
import yaml

from clusterpolicy.data import programme, schemas
from conftest import ROOT

DEFAULT = ROOT / "data" / "programme" / "flanders.yml"


def test_default_programme_matches_the_clusters_the_schema_knows():
    prog = programme.load_programme(DEFAULT)
    assert sorted(prog.clusters["name"]) == sorted(schemas.DEFAULT_CLUSTERS)
    assert prog.launch_year == int(prog.clusters["start_year"].min())
    assert set(prog.clusters["status"]) <= set(programme.STATUSES)
    # every source is a key of the bibliography
    bib = (ROOT / "references.bib").read_text()
    sources = set(prog.clusters["source"].dropna()) | set(prog.facts["source"].dropna())
    assert sources and all(f"{{{key}," in bib for key in sources)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("clusters"), "the file lacks clusters"),
    (lambda d: d["clusters"][0].pop("start_year"), "cluster 1 lacks start_year"),
    (lambda d: d["clusters"][1].update(status="maybe"), "status must be one of"),
    (lambda d: d["clusters"][2].update(start_year="July 2017"), "start_year must be a year"),
    (lambda d: d["clusters"].append(dict(d["clusters"][0])), "cluster names must be unique"),
    (lambda d: d["funding"][0].pop("value"), "funding entry 1 lacks value"),
])
def test_bad_programme_files_name_the_entry_and_rule(tmp_path, edit, message):
    data = yaml.safe_load(DEFAULT.read_text())
    edit(data)
    bad = tmp_path / "programme.yml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(programme.ProgrammeFileError, match=message) as info:
        programme.load_programme(bad)
    assert str(bad) in str(info.value)


def test_generated_economies_describe_their_programme():
    truth = {"shape": {"name": "other", "region": "Nowhere", "clusters": [
        {"name": "A", "label": "vehicles", "start_year": 2014},
        {"name": "B", "label": "media", "start_year": 2016}]}}
    described = programme.describe_generated(truth)
    assert described["launch_year"] == 2014
    assert [c["name"] for c in described["clusters"]] == ["A", "B"]
