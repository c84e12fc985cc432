"""The built site in a real browser (Debian's headless Chromium driven by Playwright).

The book is built once per session with the repository's build command on the default data
(taken from the build cache when nothing changed), served on 127.0.0.1, and every page of the
table of contents is opened with every request to another host refused.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import require, toc_pages

pytestmark = [pytest.mark.site, pytest.mark.book]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# sphinx-thebe under Sphinx 7 declares this twice on every page; harmless (see toolchain notes).
KNOWN_CONSOLE_ERRORS = ("THEBE_JS_URL",)


@pytest.fixture(scope="session")
def site(default_build: Path) -> Path:
    return default_build


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output readable
        pass


@pytest.fixture(scope="session")
def browser():
    require(Path(CHROMIUM).exists(), "Debian chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class Visit:
    """A page opened offline: requests to any host but the local server are aborted."""

    def __init__(self, browser, base: str, path: str):
        self.context = browser.new_context()
        self.blocked: list[str] = []
        self.console_errors: list[str] = []
        self.page = self.context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.response = self.page.goto(f"{base}/{path}", wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def _route(self, route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def close(self):
        self.context.close()


@pytest.fixture(scope="session")
def visits(browser, server) -> Iterator[dict[str, Visit]]:
    opened = {page: Visit(browser, server, f"{page}.html") for page in toc_pages()}
    yield opened
    for visit in opened.values():
        visit.close()


def test_every_toc_page_loads(visits):
    for page, visit in visits.items():
        assert visit.response is not None and visit.response.status == 200, page
        assert visit.page.locator("main h1").count() >= 1, f"{page}: no title"


def test_navigation_lists_every_chapter(visits):
    nav = visits[toc_pages()[0]].page
    links = nav.eval_on_selector_all("nav.bd-docs-nav a.reference.internal",
                                     "els => els.map(e => e.getAttribute('href'))")
    targets = {href.split("#")[0].removeprefix("./") for href in links}
    for page in toc_pages()[1:]:
        assert f"{page}.html" in targets, f"navigation misses {page}: {sorted(targets)}"


def test_every_image_loads(visits):
    for page, visit in visits.items():
        broken = visit.page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert broken == [], f"{page}: images that did not load: {broken}"


def test_figures_and_tables_are_numbered_captioned_and_described(visits):
    """Every figure: an image with alt text and a numbered caption, its anchor a label that
    {numref} can cite; every table: a numbered caption."""
    figures = tables = 0
    for page, visit in visits.items():
        found = visit.page.evaluate("""() => ({
            figures: [...document.querySelectorAll('article figure')].map(f => ({
                id: f.id, alt: [...f.querySelectorAll('img')].map(i => i.alt),
                number: f.querySelector('figcaption .caption-number')?.textContent ?? '',
                text: f.querySelector('figcaption .caption-text')?.textContent ?? ''})),
            tables: [...document.querySelectorAll('article table')].map(t => ({
                number: t.querySelector('caption .caption-number')?.textContent ?? '',
                text: t.querySelector('caption .caption-text')?.textContent ?? ''})),
        })""")
        for fig in found["figures"]:
            assert fig["id"], f"{page}: a figure without a label"
            assert fig["alt"] and all(a.strip() for a in fig["alt"]), f"{page}: {fig['id']} lacks alt text"
            assert fig["number"].startswith("Fig."), f"{page}: {fig['id']} is not numbered"
            assert fig["text"].strip(), f"{page}: {fig['id']} has no caption"
        for table in found["tables"]:
            assert table["number"].startswith("Table"), f"{page}: a table without a numbered caption"
            assert table["text"].strip(), f"{page}: a table with an empty caption"
        figures += len(found["figures"])
        tables += len(found["tables"])
    assert figures >= 6 and tables >= 40, (figures, tables)


def test_no_traceback_or_error_output(visits):
    for page, visit in visits.items():
        text = visit.page.inner_text("main")
        assert "Traceback (most recent call last)" not in text, page
        errors = visit.page.locator(".output.error, .output.traceback, .output.stderr").count()
        assert errors == 0, f"{page}: {errors} error or stderr outputs"


def test_formula_renders_offline(visits):
    with_math = [(page, v) for page, v in visits.items() if v.page.locator(".math").count() > 0]
    assert with_math, "no page has a formula to check"
    for page, visit in with_math:
        visit.page.wait_for_selector("mjx-container", timeout=10_000)
        assert visit.page.locator("mjx-container").count() >= 1, page
    assert all(not url.startswith(("https://cdn", "http://cdn")) for v in visits.values()
               for url in v.blocked), "MathJax was requested from a CDN"


def test_no_console_errors_but_the_known_one(visits):
    for page, visit in visits.items():
        unexpected = [e for e in visit.console_errors
                      if not any(known in e for known in KNOWN_CONSOLE_ERRORS)]
        assert unexpected == [], f"{page}: {unexpected}"


def test_search_finds_a_word_from_a_chapter(browser, server):
    visit = Visit(browser, server, "search.html?q=reproducibility")
    try:
        visit.page.wait_for_selector("#search-results ul.search li", timeout=15_000)
        hrefs = visit.page.eval_on_selector_all("#search-results ul.search li a",
                                                "els => els.map(e => e.getAttribute('href'))")
        assert any("appendix_reproducibility" in h for h in hrefs), hrefs
    finally:
        visit.close()


def test_no_serious_accessibility_violation_from_our_content(visits):
    import axe_playwright_python

    axe_js = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
    findings = []
    for page, visit in visits.items():
        visit.page.evaluate(axe_js)
        # Only the article: the theme's chrome (header buttons, sidebars) is not ours to fix.
        result = visit.page.evaluate(
            "async () => await axe.run({include: [['main article']]}, {resultTypes: ['violations']})")
        for violation in result["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]]
                findings.append(f"{page}: {violation['id']} ({violation['impact']}) at {targets}")
    assert findings == [], "\n".join(findings)


def test_internal_links_and_images_resolve(server: str):
    linkchecker = Path(sys.executable).with_name("linkchecker")
    require(linkchecker.exists(), "linkchecker not installed in this environment")
    # Over HTTP, not file://: run as root, linkchecker drops to `nobody`, who may not read the
    # checkout. External links are not followed (no network); every local href and src must
    # resolve.
    result = subprocess.run([str(linkchecker), "--no-status", "--no-warnings",
                             "--recursion-level=-1", f"{server}/index.html"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_manifest_is_published_with_every_glued_name(site: Path):
    manifest = json.loads((site / "run_manifest.json").read_text())
    assert set(manifest["chapters"]) >= {"intro", "chapters/appendix_reproducibility"}
    for name, entry in manifest["chapters"].items():
        assert {"parameters", "inputs", "versions", "commit", "seconds", "glue"} <= set(entry), name
    assert manifest["chapters"]["intro"]["glue"]["book_version"]


def test_every_chapter_ends_with_its_citation_and_every_page_says_its_version(visits):
    from clusterpolicy.book.citation import load_citation
    from conftest import ROOT

    cited = load_citation(ROOT / "CITATION.cff")
    edition = f"Version {cited.version} (released {cited.date_released})"
    for page, visit in visits.items():
        assert edition in visit.page.inner_text("div.extra_footer"), page
        # no repository is configured: no button may point at one
        assert visit.page.locator("a[href*='github.com']").count() == 0, page
        if not page.startswith("chapters/"):
            continue
        section = visit.page.locator("section#cite-this-chapter")
        assert section.count() == 1, f"{page}: no 'Cite this chapter' section"
        assert section.locator("h2").inner_text().startswith("Cite this chapter"), page
        text = section.inner_text()
        assert f"(Version {cited.version}, released {cited.date_released})" in text, page
        assert f"version   = {{{cited.version}}}" in section.locator("pre").inner_text(), page
        title = visit.page.locator("main h1").first.inner_text().rstrip("#").strip()
        assert title in text, page
