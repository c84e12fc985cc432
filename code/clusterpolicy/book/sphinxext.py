"""Sphinx extension of the book: small fixes to the HTML the toolchain writes, and a render
that does not spend a third of its time collecting garbage.

Docutils writes bibliography entries as ``role="doc-biblioentry"`` items inside a
``role="list"`` container; ARIA 1.2 deprecates that role, and axe-core reports the list as
missing its required ``listitem`` children (critical). Entries are given the ``listitem`` role.
"""

from __future__ import annotations

import gc
from typing import Any

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


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx (safe for parallel reading and writing)."""
    _collect_garbage_rarely()
    app.connect("html-page-context", _fix_citation_roles)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
