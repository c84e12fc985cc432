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
    title: str
    authors: list[dict[str, str]]
    version: str
    date_released: str
    url: str | None
    doi: str | None
    licenses: list[str]

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
            releases[-1].changes[-1] += " " + line.strip()
    if not releases:
        raise ValueError(f"{path}: no release headings of the form '## [version] - YYYY-MM-DD'")
    return releases


def load_citation(path: str | os.PathLike[str]) -> Citation:
    """Read ``CITATION.cff`` (tracked as an input of the page that cites it)."""
    data: dict[str, Any] = yaml.safe_load(track_input(path).read_text(encoding="utf-8"))
    licenses = data.get("license", [])
    return Citation(
        title=data["title"],
        authors=list(data["authors"]),
        version=str(data["version"]),
        date_released=str(data["date-released"]),
        url=data.get("url") or data.get("repository-code"),
        doi=data.get("doi"),
        licenses=[licenses] if isinstance(licenses, str) else list(licenses),
    )
