"""The contract between pages: the names that one page glues and another page reads.

A page reads another page's results only through the run manifest and only by a name declared
here, so that renaming a result is one change in one place.
"""

from __future__ import annotations

from typing import Any

#: The glued name of the reason a page stopped early (``clusterpolicy.book.report.require``).
STOPPED = "page_stopped"


def stopped_pages(manifest: dict[str, Any]) -> dict[str, str]:
    """Pages of a run (by file stem, e.g. ``04_cluster_effects``) that stopped early, with the
    reason each gave to ``require``; read from the run manifest."""
    return {name.rsplit("/", 1)[-1]: entry["glue"][STOPPED]
            for name, entry in manifest["chapters"].items() if STOPPED in entry.get("glue", {})}
