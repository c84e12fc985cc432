"""How to cite the book: BibTeX and APA generated from ``CITATION.cff`` (the one source)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import yaml

from clusterpolicy.core.provenance import track_input


@dataclass(frozen=True)
class Citation:
    """The book's citation metadata, as ``CITATION.cff`` gives it.

    ``repository`` is ``repository-code`` (the source repository: the site's repository and
    "report a problem" buttons), ``url`` the published site; either is None where the file
    names none, and then nothing links to it.
    """

    title: str
    authors: list[dict[str, str]]
    version: str
    date_released: str
    url: str | None
    doi: str | None
    licenses: list[str]
    repository: str | None = None

    @property
    def year(self) -> str:
        return self.date_released[:4]

    def _author_names(self, style: str) -> list[str]:
        names = []
        for author in self.authors:
            if "name" in author:  # an entity: kept whole, braced in BibTeX
                names.append("{" + author["name"] + "}" if style == "bibtex" else author["name"])
            elif style == "bibtex":
                names.append(f"{author['family-names']}, {author.get('given-names', '')}".strip(", "))
            else:
                initials = " ".join(f"{part[0]}." for part in author.get("given-names", "").split())
                names.append(f"{author['family-names']}, {initials}".strip(", "))
        return names

    @property
    def key(self) -> str:
        first = self.authors[0]
        words = first.get("family-names", first.get("name", "anon")).split()
        stem = next((w for w in words if w.lower() not in {"the", "a", "an"}), words[0])
        return re.sub(r"[^a-z0-9]", "", stem.lower()) + self.year

    def bibtex(self) -> str:
        fields = {
            "author": " and ".join(self._author_names("bibtex")),
            "title": "{" + self.title + "}",
            "year": self.year,
            "version": self.version,
            "note": f"Version {self.version}, released {self.date_released}",
        }
        if self.doi:
            fields["doi"] = self.doi
        if self.url:
            fields["url"] = self.url
        body = ",\n".join(f"  {name:<7} = {{{value}}}" for name, value in fields.items())
        return f"@misc{{{self.key},\n{body}\n}}"

    def apa(self) -> str:
        names = self._author_names("apa")
        authors = names[0] if len(names) == 1 else ", ".join(names[:-1]) + ", & " + names[-1]
        text = f"{authors}. ({self.year}). *{self.title}* (Version {self.version}) [Computer software]."
        if self.doi:
            text += f" https://doi.org/{self.doi}"
        elif self.url:
            text += f" {self.url}"
        return text


@dataclass(frozen=True)
class Release:
    version: str
    date: str
    changes: list[str]


_RELEASE = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})\s*$")


def read_changelog(path: str | os.PathLike[str]) -> list[Release]:
    """Releases of ``CHANGELOG.md`` (``## [version] - YYYY-MM-DD`` then ``-`` items), newest
    first."""
    releases: list[Release] = []
    for line in track_input(path).read_text(encoding="utf-8").splitlines():
        heading = _RELEASE.match(line)
        if heading:
            releases.append(Release(heading["version"], heading["date"], []))
        elif releases and line.startswith("- "):
            releases[-1].changes.append(line[2:].strip())
        elif releases and releases[-1].changes and line.startswith("  ") and line.strip():
            # a wrapped line or a sub-item of the item above: part of its text
            releases[-1].changes[-1] += " " + line.strip().removeprefix("- ")
    if not releases:
        raise ValueError(f"{path}: no release headings of the form '## [version] - YYYY-MM-DD'")
    return releases


def load_citation(path: str | os.PathLike[str]) -> Citation:
    """Read ``CITATION.cff`` (tracked as an input of the page that cites it)."""
    return parse_citation(track_input(path).read_text(encoding="utf-8"))


def parse_citation(text: str) -> Citation:
    """The citation metadata of ``CITATION.cff``'s text."""
    data: dict[str, Any] = yaml.safe_load(text)
    licenses = data.get("license", [])
    return Citation(
        title=data["title"],
        authors=list(data["authors"]),
        version=str(data["version"]),
        date_released=str(data["date-released"]),
        url=data.get("url") or data.get("repository-code"),
        doi=data.get("doi"),
        licenses=[licenses] if isinstance(licenses, str) else list(licenses),
        repository=data.get("repository-code"),
    )


@dataclass(frozen=True)
class ChapterCitation:
    """How to cite one chapter of one version of the book (the end of every chapter page)."""

    book: Citation
    title: str
    docname: str

    @property
    def address(self) -> str | None:
        """The chapter's page in the published site of this version (None without a site)."""
        if not self.book.url or self.book.url == self.book.repository:
            return None  # a repository is not the page of a chapter
        return f"{self.book.url.rstrip('/')}/v{self.book.version}/{self.docname}.html"

    def apa(self) -> str:
        names = self.book._author_names("apa")
        authors = names[0] if len(names) == 1 else ", ".join(names[:-1]) + ", & " + names[-1]
        text = (f"{authors}. ({self.book.year}). {self.title}. In *{self.book.title}* "
                f"(Version {self.book.version}, released {self.book.date_released}).")
        if self.address:
            text += f" {self.address}"
        return text

    def bibtex(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", self.docname.rsplit("/", 1)[-1].lower()).strip("_")
        fields = {
            "author": " and ".join(self.book._author_names("bibtex")),
            "title": "{" + self.title + "}",
            "booktitle": "{" + self.book.title + "}",
            "year": self.book.year,
            "version": self.book.version,
            "note": f"Version {self.book.version}, released {self.book.date_released}",
        }
        if self.book.doi:
            fields["doi"] = self.book.doi
        if self.address:
            fields["url"] = self.address
        body = ",\n".join(f"  {name:<9} = {{{value}}}" for name, value in fields.items())
        return f"@incollection{{{self.book.key}_{slug},\n{body}\n}}"


def site_config(config: dict[str, Any], citation: Citation, edition: str) -> dict[str, Any]:
    """The Jupyter Book configuration with what ``CITATION.cff`` says about the repository,
    and the edition line in every page's footer.

    The repository (``repository-code``) is configured in that one place: with one, the site
    has the repository and "open an issue" buttons; with none, both are left out (never an
    invented address).

    Parameters
    ----------
    config : dict
        ``_config.yml`` as read (not changed).
    citation : Citation
        The book's citation metadata.
    edition : str
        The line that says which version and build a page belongs to (:func:`edition_line`).

    Returns
    -------
    dict
        A new configuration.
    """
    config = {**config, "html": dict(config.get("html") or {})}
    html = config["html"]
    footer = str(html.get("extra_footer") or "").rstrip()
    html["extra_footer"] = (footer + "\n" if footer else "") + f"<p>{edition}</p>\n"
    has_repository = bool(citation.repository)
    if has_repository:
        config["repository"] = {"url": citation.repository, "branch": "main"}
    else:
        config.pop("repository", None)
    html["use_repository_button"] = has_repository
    html["use_issues_button"] = has_repository
    html["use_edit_page_button"] = False  # a page is an executed notebook, not its source
    return config


def edition_line(citation: Citation, commit: str | None, computed: str | None) -> str:
    """Which version a page belongs to and when its numbers were computed, for every footer.

    Parameters
    ----------
    citation : Citation
    commit : str or None
        The commit the book was built from (``+dirty`` when it had uncommitted changes).
    computed : str or None
        When the newest of the pages' numbers were computed (ISO date or time).
    """
    parts = [f"Version {citation.version} (released {citation.date_released})"]
    if commit:
        text = str(commit)
        parts.append(f"built from commit {text.removesuffix('+dirty')[:12]}"
                     + (" with uncommitted changes" if text.endswith("+dirty") else ""))
    if computed:
        parts.append(f"numbers computed {computed[:10]}")
    return " · ".join(parts)
