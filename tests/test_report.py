"""House-style helpers, provenance and citation: small pieces the chapters rely on."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clusterpolicy
from clusterpolicy.book import report
from clusterpolicy.book.citation import load_citation
from clusterpolicy.core import provenance
from clusterpolicy.core.results import EstimationResults
from conftest import ROOT, require


def test_markdown_table_formats_numbers_and_names_the_index():
    table = pd.DataFrame({"estimate": [0.031234, np.nan], "n": [10, 2000], "flag": [True, False]},
                         index=pd.Index(["a|b", "c"], name="term"))
    md = report.markdown_table(table, floatfmt={"estimate": ".3f"})
    lines = md.splitlines()
    assert lines[0] == "| term | estimate | n | flag |"
    assert lines[1] == "|:---|---:|---:|:---|"
    assert lines[2] == "| a\\|b | 0.031 | 10 | yes |"
    assert lines[3] == "| c | – | 2000 | no |"


def test_markdown_table_refuses_an_unnamed_index():
    with pytest.raises(ValueError, match=r"name the table.s index"):
        report.markdown_table(pd.DataFrame({"x": [1]}, index=["a"]))


def test_glue_number_rejects_non_numbers_and_unwraps_numpy():
    with pytest.raises(TypeError, match="expected a real number"):
        report.glue_number("x", "0.3")
    with pytest.raises(TypeError):
        report.glue_number("x", True)


def test_track_input_hashes_and_logs(tmp_path, monkeypatch):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(provenance.INPUT_LOG_ENV, str(log))
    assert provenance.track_input(data) == data.resolve()
    provenance.track_input(data)  # the same file twice is logged once
    records = provenance.read_input_log(log)
    assert records == [{"path": str(data.resolve()), "sha256": provenance.sha256_file(data)}]
    assert provenance.sha256_file(data) == hashlib.sha256(b"a\n1\n").hexdigest()
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv"):
        provenance.track_input(tmp_path / "nowhere.csv")
    with pytest.raises(ValueError, match="input must be a regular file"):
        provenance.track_input(tmp_path)  # a folder has no checksum
    assert provenance.read_input_log(log) == records


def test_package_digest_is_stable():
    digest = provenance.package_source_digest()
    assert len(digest) == 64 and digest == provenance.package_source_digest()
    # every layer of the package keys the caches, not only the module that computes the key
    assert provenance.PACKAGE_ROOT == Path(clusterpolicy.__file__).resolve().parent
    hashed = {f.relative_to(provenance.PACKAGE_ROOT).parts[0]
              for f in provenance.PACKAGE_ROOT.rglob("*.py")}
    assert {"core", "data", "synthetic", "estimators", "studies", "checks", "book"} <= hashed


def test_results_shape():
    res = EstimationResults(params=pd.Series({"a": 1.0, "b": 2.0}),
                            std_errors=pd.Series({"a": 0.5, "b": np.nan}), nobs=10, model="toy",
                            inference={"se": "analytic"})
    ci = res.conf_int(0.95)
    assert ci.loc["a", "lower"] == pytest.approx(1 - 1.959964 * 0.5, rel=1e-6)
    tidy = res.tidy()
    assert list(tidy.columns) == ["estimate", "std_error", "t", "p", "conf_low", "conf_high"]
    assert tidy.loc["a", "p"] == pytest.approx(0.0455003, rel=1e-5)
    assert "toy: 10 observations" in res.summary and "se: analytic" in res.summary
    assert "<table" in res._repr_html_()


def test_citation_generated_from_cff():
    citation = load_citation(ROOT / "CITATION.cff")
    assert citation.version and citation.date_released.startswith("20")
    bib = citation.bibtex()
    assert bib.startswith("@misc{clusterpolicy" + citation.year + ",")
    assert f"version = {{{citation.version}}}" in bib
    assert "{{The clusterpolicy replication team}}" in bib
    apa = citation.apa()
    assert apa.startswith("The clusterpolicy replication team. (" + citation.year + ").")
    assert f"(Version {citation.version})" in apa


def test_a_chapter_is_cited_with_the_version_and_its_page_only_where_a_site_is_named():
    from clusterpolicy.book.citation import ChapterCitation, parse_citation

    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    book = parse_citation(text)
    chapter = ChapterCitation(book, "Cluster membership and productivity",
                              "chapters/04_cluster_effects")
    assert chapter.address is None  # no site named: no invented address
    assert chapter.apa() == (f"The clusterpolicy replication team. ({book.year}). Cluster "
                             f"membership and productivity. In *{book.title}* (Version "
                             f"{book.version}, released {book.date_released}).")
    bib = chapter.bibtex()
    assert bib.startswith(f"@incollection{{{book.key}_04_cluster_effects,")
    assert f"version   = {{{book.version}}}" in bib and "url" not in bib
    sited = parse_citation(text + 'url: "https://example.org/book/"\n'
                                  'repository-code: "https://example.org/repo"\n')
    cited = ChapterCitation(sited, "T", "chapters/04_cluster_effects")
    assert cited.address == (f"https://example.org/book/v{sited.version}/"
                             "chapters/04_cluster_effects.html")
    assert cited.apa().endswith(f" {cited.address}") and f"url       = {{{cited.address}}}" in cited.bibtex()
    # the repository alone is no chapter's page
    assert ChapterCitation(parse_citation(text + 'repository-code: "https://example.org/r"\n'),
                           "T", "chapters/x").address is None


def test_the_repository_comes_from_the_citation_file_or_no_button_links_anywhere():
    import yaml

    from clusterpolicy.book.citation import edition_line, parse_citation, site_config

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "repository" not in config  # one place: CITATION.cff
    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    none = site_config(config, parse_citation(text), "Version x")
    assert "repository" not in none
    assert none["html"]["use_repository_button"] is False and none["html"]["use_issues_button"] is False
    assert none["html"]["extra_footer"].endswith("<p>Version x</p>\n")
    assert "BSD 3-Clause" in none["html"]["extra_footer"]
    assert "extra_footer" in config["html"] and "Version x" not in config["html"]["extra_footer"]
    owned = site_config(config, parse_citation(text + 'repository-code: "https://example.org/r"\n'),
                        "Version x")
    assert owned["repository"] == {"url": "https://example.org/r", "branch": "main"}
    assert owned["html"]["use_repository_button"] and owned["html"]["use_issues_button"]
    book = parse_citation(text)
    assert edition_line(book, "a" * 40 + "+dirty", "2026-12-08T01:02:03+00:00") == (
        f"Version {book.version} (released {book.date_released}) · built from commit "
        f"{'a' * 12} with uncommitted changes · numbers computed 2026-12-08")
    assert edition_line(book, None, None) == (
        f"Version {book.version} (released {book.date_released})")


def test_citation_cff_is_valid():
    cffconvert = ROOT / ".venv-cff" / "bin" / "cffconvert"
    require(cffconvert.exists(), "cffconvert not installed (`make test` installs it in .venv-cff)")
    result = subprocess.run([str(cffconvert), "--validate", "-i", str(ROOT / "CITATION.cff")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    converted = subprocess.run([str(cffconvert), "-f", "zenodo", "-i", str(ROOT / "CITATION.cff")],
                               capture_output=True, text=True, check=True)
    assert json.loads(converted.stdout)["version"] == load_citation(ROOT / "CITATION.cff").version


def test_changelog_matches_the_citation_file():
    from clusterpolicy.book.citation import read_changelog

    releases = read_changelog(ROOT / "CHANGELOG.md")
    citation = load_citation(ROOT / "CITATION.cff")
    assert releases[0].version == citation.version
    assert releases[0].date == citation.date_released
    assert all(release.changes for release in releases)


@pytest.mark.parametrize("years, approximate, expected", [
    ([2017] * 5 + [2019, 2020], [False] * 6 + [True],
     "five clusters in 2017, a sixth in 2019 and a seventh around 2020"),
    ([2012], None, "one cluster in 2012"),
    ([2014, 2012, 2014, 2012, 2014], None, "two clusters in 2012 and three more in 2014"),
    ([2010, 2011], [True, False], "one cluster around 2010 and a second in 2011"),
])
def test_a_staggered_start_in_words(years, approximate, expected):
    assert report.staggered_start(years, approximate) == expected
