"""Releases with frozen results (clusterpolicy.book.release, `python -m clusterpolicy release`)
and the What changed page's comparison with the latest release."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from clusterpolicy import cli
from clusterpolicy.book import changes, citation, release
from conftest import ROOT

CITATION = '''cff-version: 1.2.0
# the version readers cite
title: "A book"
authors:
  - name: "A team"
version: 0.1.0
date-released: "2026-11-23"
license: CC-BY-4.0
'''

CHANGELOG = '''# Changelog

All notable changes.

## [Unreleased]

- Chapter 4 reports equivalence tests for the size claim.
- The What changed page.

## [0.1.0] - 2026-11-23

- The book's foundation.
'''


def _manifest(effect: float, verdict: str = "reproduced", commit: str = "a" * 40) -> dict:
    page = {"parameters": {"seed": 1}, "inputs": [{"path": "data/panel.csv", "sha256": "aaa"}],
            "versions": {"pandas": "3.1.1"}, "commit": commit, "seconds": 1.0,
            "executed_at": "2026-12-08T00:00:00+00:00",
            "glue": {"effect": effect, "effect_se": 0.01, "verdict_gain": verdict}}
    cite = {**page, "glue": {"cite_version": "0.1.0"}}
    return {"book": "A book", "commit": commit, "versions": {"pandas": "3.1.1"},
            "chapters": {"chapters/04": page, "chapters/appendix_cite": cite}}


@pytest.fixture()
def repo(tmp_path):
    """A clean git repository with the book's citation file and changelog."""
    (tmp_path / "CITATION.cff").write_text(CITATION, encoding="utf-8")
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG, encoding="utf-8")
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "index.json").write_text('{"releases": []}\n', encoding="utf-8")
    for args in (["init", "-q"], ["config", "user.name", "t"], ["config", "user.email", "t@t"],
                 ["add", "."], ["commit", "-qm", "start"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    return tmp_path


def _commit(repo, message="release"):
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message],
                   cwd=repo, check=True)


def _builder(manifest):
    calls = []

    def build(root, *, out=None, progress=print):
        calls.append(out)
        return copy.deepcopy(manifest)

    build.calls = calls
    return build


def test_versions_are_ordered_as_numbers_and_other_forms_are_refused():
    assert release.parse_version("0.10.0") > release.parse_version("0.9.9")
    for bad in ("1.2", "v1.2.3", "1.2.3-rc1", ""):
        with pytest.raises(ValueError, match=r"X\.Y\.Z"):
            release.parse_version(bad)


def test_the_citation_file_gets_the_version_and_date_and_keeps_everything_else():
    text = release.set_citation_version(CITATION, "0.2.0", "2026-12-08")
    assert "version: 0.2.0\n" in text and 'date-released: "2026-12-08"\n' in text
    assert "# the version readers cite" in text and "cff-version: 1.2.0" in text
    with pytest.raises(release.ReleaseError, match="exactly one top-level 'version:'"):
        release.set_citation_version(CITATION + "version: 9\n", "0.2.0", "2026-12-08")


def test_the_first_release_freezes_the_manifest_and_records_itself(repo):
    build = _builder(_manifest(0.030))
    lines = []
    frozen = release.make_release(repo, "0.2.0", date="2026-12-08", build=build,
                                  progress=lines.append)
    assert frozen == repo / "releases" / "0.2.0" / "run_manifest.json"
    kept = json.loads(frozen.read_text())
    assert kept["release"] == {"version": "0.2.0", "date": "2026-12-08"}
    assert kept["chapters"]["chapters/04"]["glue"]["effect"] == 0.030
    cited = citation.load_citation(repo / "CITATION.cff")
    assert (cited.version, cited.date_released) == ("0.2.0", "2026-12-08")
    log = (repo / "CHANGELOG.md").read_text()
    assert "[Unreleased]" not in log  # its notes moved into the release
    newest = citation.read_changelog(repo / "CHANGELOG.md")[0]
    assert (newest.version, newest.date) == ("0.2.0", "2026-12-08")
    assert newest.changes[:2] == ["Chapter 4 reports equivalence tests for the size claim.",
                                  "The What changed page."]
    assert newest.changes[2].startswith("Results: the first release with frozen results")
    assert [r.version for r in citation.read_changelog(repo / "CHANGELOG.md")] == ["0.2.0", "0.1.0"]
    assert "git tag v0.2.0" in lines[-1]
    # the build ran from a commit that already had the version (the landing page cites it)
    log = subprocess.run(["git", "log", "--format=%s", "-2"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert log == ["Release 0.2.0: version, date and changes", "start"]
    committed = subprocess.run(["git", "show", "HEAD:CITATION.cff"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout
    assert "version: 0.2.0" in committed
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True).stdout.split() == ["M", "CHANGELOG.md", "M",
                                                        "releases/index.json", "??",
                                                        "releases/0.2.0/"]
    assert [r.version for r in release.releases(repo / "releases" / "index.json")] == ["0.2.0"]
    assert release.latest(repo / "releases" / "index.json").date == "2026-12-08"
    listed = json.loads((repo / "releases" / "index.json").read_text())["releases"]
    assert listed == [{"version": "0.2.0", "date": "2026-12-08",
                       "manifest": "0.2.0/run_manifest.json", "commit": "a" * 40}]


def test_a_later_release_records_what_moved_and_why(repo):
    release.make_release(repo, "0.2.0", date="2026-12-08", build=_builder(_manifest(0.030)),
                         progress=lambda line: None)
    _commit(repo)
    later = _manifest(0.055, "not reproduced", commit="b" * 40)
    later["chapters"]["chapters/appendix_cite"]["glue"]["cite_version"] = "0.2.0"  # not results
    release.make_release(repo, "0.10.0", date="2026-12-09", build=_builder(later),
                         progress=lambda line: None)
    newest = citation.read_changelog(repo / "CHANGELOG.md")[0]
    assert newest.version == "0.10.0"
    (results,) = newest.changes  # no Unreleased notes this time
    assert results.startswith("Results: 2 glued values moved since 0.2.0 on 1 page(s); verdicts "
                              "flipped: `verdict_gain` (reproduced -> not reproduced)")
    # the per-page lines are sub-items of the results item, read as one text
    assert results.endswith("(`releases/0.10.0/run_manifest.json`). chapters/04: 2 value(s) "
                            "moved; why: code changed: commit aaaaaaaaaaaa -> bbbbbbbbbbbb.")
    assert [r.version for r in release.releases(repo / "releases" / "index.json")] == ["0.2.0", "0.10.0"]


def test_a_release_is_refused_when_old_dirty_or_built_from_uncommitted_code(repo):
    build = _builder(_manifest(0.030))
    with pytest.raises(release.ReleaseError, match=r"not newer than 0\.1\.0"):
        release.make_release(repo, "0.1.0", build=build)
    with pytest.raises(release.ReleaseError, match=r"X\.Y\.Z"):
        release.make_release(repo, "next", build=build)
    (repo / "notes.txt").write_text("work in progress")
    with pytest.raises(release.ReleaseError, match="uncommitted changes"):
        release.make_release(repo, "0.2.0", build=build)
    (repo / "notes.txt").unlink()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout
    with pytest.raises(release.ReleaseError, match="not run from a clean commit"):
        release.make_release(repo, "0.2.0", build=_builder(_manifest(0.03, commit="a+dirty")))
    # the version commit made before the build is undone
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout == head
    assert build.calls == []  # refused before any build
    assert not (repo / "releases" / "0.2.0").exists()
    assert release.releases(repo / "releases" / "index.json") == []
    assert (repo / "CITATION.cff").read_text() == CITATION
    assert (repo / "CHANGELOG.md").read_text() == CHANGELOG


def test_the_command_line_reports_a_refused_release(repo, capsys):
    assert cli.main(["release", "0.0.9", "--book", str(repo)]) == 2
    assert "not newer than 0.1.0" in capsys.readouterr().err


def test_since_the_latest_release_nothing_moved_or_what_moved(repo):
    assert release.since_latest(repo / "releases" / "index.json", _manifest(0.030)).release is None
    empty = release.since_latest(repo / "releases" / "index.json", _manifest(0.030))
    assert empty.numbers == {"n_moved": 0, "n_flipped": 0, "n_unchanged": 0, "n_pages_moved": 0}
    assert empty.pages_table().empty and empty.moved_table().empty
    release.make_release(repo, "0.2.0", date="2026-12-08", build=_builder(_manifest(0.030)),
                         progress=lambda line: None)
    same = _manifest(0.030, commit="c" * 40)
    same["chapters"]["chapters/appendix_cite"]["glue"]["cite_version"] = "0.2.0"
    since = release.since_latest(repo / "releases" / "index.json", same)
    assert since.release.version == "0.2.0" and since.changes.nothing_moved
    assert since.numbers["n_unchanged"] == 3  # the citation page is not compared
    moved = release.since_latest(repo / "releases" / "index.json", _manifest(0.045, "not reproduced"))
    assert moved.numbers == {"n_moved": 2, "n_flipped": 1, "n_unchanged": 1, "n_pages_moved": 1}
    pages = moved.pages_table()
    assert pages.loc["chapters/04", "values moved"] == 2
    assert pages.loc["chapters/04", "why"] == (
        "no recorded cause: inputs, parameters, versions and code are the same")
    assert moved.flipped_table().to_dict("records") == [
        {"page": "chapters/04", "verdict": "verdict_gain", "in the release": "reproduced",
         "in this run": "not reproduced"}]
    table = moved.moved_table()
    assert list(table.columns) == ["page", "name", "kind", "in the release", "in this run",
                                   "difference", "in SE"]
    assert table.set_index("name").loc["effect", "in SE"] == pytest.approx(1.5)


def test_pages_that_are_not_results_are_declared_once_and_exist():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    for page in changes.NOT_COMPARED:
        assert f"file: {page}\n" in toc, page
        assert (ROOT / f"{page}.md").is_file()


def test_the_site_is_published_only_after_the_tests_and_each_release_keeps_its_address():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"] and triggers["push"]["tags"] == ["v*.*.*"]
    jobs = workflow["jobs"]
    assert [step.get("run") for step in jobs["test"]["steps"] if "run" in step] == ["bash .ci/run"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # the README's test command
    assert jobs["publish"]["needs"] == "test"
    steps = {step.get("name", step.get("uses")): step for step in jobs["publish"]["steps"]}
    assert steps["Build the book (same command as the README)"]["run"].startswith("make book")
    where = steps["Where this build goes in the site"]["run"]
    assert 'refs/tags/v*' in where and "GITHUB_REF_NAME" in where
    deploy = next(s for s in jobs["publish"]["steps"] if "gh-pages" in s.get("uses", ""))
    assert deploy["with"]["keep_files"] is True  # earlier releases stay where they are
    assert deploy["with"]["destination_dir"] == "${{ steps.where.outputs.dir }}"


def test_a_damaged_releases_index_is_named(tmp_path):
    index = tmp_path / "index.json"
    index.write_text('{"versions": []}')
    with pytest.raises(ValueError, match="not a releases index"):
        release.releases(index)
    index.write_text('{"releases": [{"version": "0.2.0", "manifest": "0.2.0/run_manifest.json"}]}')
    with pytest.raises(ValueError, match=r"the manifest of release 0\.2\.0 is missing"):
        release.releases(index)
