"""Sphinx extension of the book: small fixes to the HTML the toolchain writes.

Docutils writes bibliography entries as ``role="doc-biblioentry"`` items inside a
``role="list"`` container; ARIA 1.2 deprecates that role, and axe-core reports the list as
missing its required ``listitem`` children (critical). Entries are given the ``listitem`` role.
"""

from __future__ import annotations

from typing import Any


def _fix_citation_roles(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                        doctree: Any) -> None:
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx (safe for parallel reading and writing)."""
    app.connect("html-page-context", _fix_citation_roles)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
