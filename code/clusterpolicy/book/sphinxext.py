"""Sphinx extension of the book: "Cite this chapter" at the end of every chapter, small fixes
to the HTML the toolchain writes, and a render that does not spend a third of its time
collecting garbage.

Every page under ``chapters/`` ends with a section that cites it, in APA and BibTeX, with the
version and date of ``CITATION.cff`` and, where the file names the published site, the page's
address in that version's site (:class:`clusterpolicy.book.citation.ChapterCitation`).

Docutils writes bibliography entries as ``role="doc-biblioentry"`` items inside a
``role="list"`` container; ARIA 1.2 deprecates that role, and axe-core reports the list as
missing its required ``listitem`` children (critical). Entries are given the ``listitem`` role.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from docutils import nodes

from clusterpolicy.book.citation import ChapterCitation, parse_citation

#: Pages that end with "Cite this chapter" (the chapters and appendices), by their prefix.
CITED_PAGES = "chapters/"
#: The section's title and anchor.
CITE_TITLE = "Cite this chapter"

# Sphinx keeps every page's doctree alive while it reads and writes, and unpickles a page's
# doctree again for each cross-reference into it (tables of reference results hold tens of
# thousands of nodes). With the collector's default thresholds every few hundred allocations
# start a collection that traverses that growing heap: a third of the book's render time was
# spent there. The render is one short process, and what it writes does not depend on when
# garbage is collected, so collections are made rare.
GC_THRESHOLDS = (100_000, 50, 100)


def _collect_garbage_rarely() -> None:
    gc.freeze()  # what Sphinx and the extensions allocated at start-up is never garbage
    gc.set_threshold(*GC_THRESHOLDS)


def _fix_citation_roles(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                        doctree: Any) -> None:
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def _cite_this_chapter(app: Any, doctree: nodes.document) -> None:
    docname = app.env.docname
    cff = Path(app.srcdir) / "CITATION.cff"
    if not docname.startswith(CITED_PAGES) or not cff.is_file():
        return
    page = doctree.next_node(nodes.section)
    if page is None:
        return
    cited = ChapterCitation(parse_citation(cff.read_text(encoding="utf-8")),
                            page[0].astext(), docname)
    section = nodes.section(ids=["cite-this-chapter"], names=["cite this chapter"])
    section += nodes.title(text=CITE_TITLE)
    apa = nodes.paragraph()
    for i, part in enumerate(cited.apa().split("*")):  # *book title* in italics
        apa += nodes.emphasis(text=part) if i % 2 else nodes.Text(part)
    section += apa
    block = nodes.literal_block(cited.bibtex(), cited.bibtex(), language="bibtex")
    section += block
    page += section


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx (safe for parallel reading and writing)."""
    _collect_garbage_rarely()
    app.connect("doctree-read", _cite_this_chapter)
    app.connect("html-page-context", _fix_citation_roles)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
