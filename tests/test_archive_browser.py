"""The archive in headless Debian chromium: axe-core finds no WCAG 2.1 A/AA violation on the
start, year, issue, statement and search pages at 1280 and 320 px; search finds an issue by a
word from its body; the keyboard reaches every link. Screenshots in test-artifacts/archive/."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.archive import build_archive, publish_edition
from pipeline.config import Config
from pipeline.edition import build_edition
from pipeline.issue import load_issue
from tests.conftest import EXAMPLE, ROOT, assert_accessible, loopback_only

ARTIFACTS = ROOT / "test-artifacts" / "archive"
PAGES = {"start": "index.html", "year": "2027/index.html", "issue": "2027/1/index.html",
         "statement": "tillganglighet/index.html", "search": "sok/index.html"}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "templates", root / "templates")
    site = config.model_copy(update={"root": root})
    publish_edition(build_edition(load_issue(EXAMPLE, site), site), site)
    build_archive(site)
    handler = functools.partial(_Quiet, directory=str(root / "archive"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 320])
@pytest.mark.parametrize("name", list(PAGES))
def test_no_accessibility_violations(browser, served: str, name: str, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.route("**/*", loopback_only)
    page.goto(served + PAGES[name], wait_until="load")
    try:
        assert_accessible(page, ARTIFACTS / f"{name}-{width}.png", width)
    finally:
        context.close()


@pytest.mark.browser
def test_search_finds_an_issue_by_a_word_from_its_body(browser, served: str) -> None:
    context = browser.new_context()  # with the page's own Content-Security-Policy
    page = context.new_page()
    page.route("**/*", loopback_only)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served + "sok/index.html?q=Kvinnofridslinjen")
    page.wait_for_selector("#resultat li a", timeout=15_000)
    links = page.eval_on_selector_all("#resultat li a", "els => els.map(e => e.href)")
    status = page.inner_text("#status")
    context.close()
    assert links == [served + "2027/1/"] or links == [served + "2027/1/index.html"]
    assert status == "1 träff"
    assert errors == []


@pytest.mark.browser
def test_keyboard_reaches_every_link(browser, served: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", loopback_only)
    page.goto(served + PAGES["issue"])
    links = set(page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"))
    reached: set[str] = set()
    for _ in range(len(links) * 2 + 5):
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement && document.activeElement.href")
        if href:
            reached.add(href)
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    page.close()
    assert links - reached == set()
    assert outline != "none"  # focus is visible
