"""The code of the package, the tests, the benchmarks and the chapters passes ruff."""

from __future__ import annotations

import subprocess

import lint_chapters

from conftest import ROOT


def test_package_tests_and_benchmarks_pass_ruff():
    result = subprocess.run([str(lint_chapters.RUFF), "check", "code", "tests", "benchmarks"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_chapter_passes_ruff():
    result = lint_chapters.lint(lint_chapters.pages())
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chapter_linter_finds_what_ruff_finds(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("---\njupytext:\n  text_representation: {extension: .md, format_name: myst}\n"
                    "kernelspec: {display_name: Python 3, language: python, name: python3}\n---\n\n"
                    "# A page\n\n```{code-cell} ipython3\nimport os\nunused = [lambda: i for i in "
                    "range(3)]\n```\n", encoding="utf-8")
    result = lint_chapters.lint([page])
    assert result.returncode == 1
    assert "page.py" in result.stdout and "F401" in result.stdout and "B023" in result.stdout


def test_no_test_skips_a_pinned_package_or_expects_a_failure_loosely():
    """Every package the tests import is pinned in requirements.txt: a test that skips when one
    is missing would hide a broken environment, and a non-strict xfail can never fail."""
    offenders = []
    for source in sorted((ROOT / "tests").glob("*.py")):
        text = source.read_text(encoding="utf-8")
        for pattern in ("importorskip" + "(", "strict" + "=False"):
            if pattern in text:
                offenders.append(f"{source.name}: {pattern}")
    assert not offenders, offenders
