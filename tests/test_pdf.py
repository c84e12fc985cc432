"""The book as a PDF (xelatex) holds every chapter of the table of contents."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, require, toc_pages

pytestmark = [pytest.mark.site, pytest.mark.book]


def page_title(page: str) -> str:
    source = next(p for p in (ROOT / f"{page}.md", ROOT / f"{page}.ipynb") if p.exists())
    heading = re.search(r"^# (.+)$", source.read_text(encoding="utf-8"), flags=re.M)
    assert heading, f"{page} has no title"
    return heading.group(1).strip()


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower().replace("’", "'")


def test_pdf_contains_every_chapter_title(default_build):
    require(shutil.which("xelatex") is not None and shutil.which("pdftotext") is not None,
            "xelatex or pdftotext missing (Debian: texlive-xetex, poppler-utils)")
    result = subprocess.run([sys.executable, "-m", "clusterpolicy", "build", "--pdf"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    pdf = ROOT / "_build" / "pdf" / "book.pdf"
    text = normalise(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                                    text=True, check=True).stdout)
    missing = [page_title(p) for p in toc_pages() if normalise(page_title(p)) not in text]
    assert missing == [], f"chapter titles missing from the PDF: {missing}"
