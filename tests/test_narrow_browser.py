"""What readers see on a 320 px phone, in headless Debian chromium: the archive breaks words
only at a hyphen and never inside a time, date or phone number."""

from __future__ import annotations

import functools
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.archive import build_archive, publish_edition
from pipeline.config import Config
from pipeline.edition import build_edition
from pipeline.issue import load_issue
from tests.conftest import EXAMPLE, ROOT, loopback_only, write_second_issue

ARTIFACTS = ROOT / "test-artifacts" / "narrow"

# For every run of non-space characters in a text node of <main>: where the line breaks
# inside it, and the character before each break. A .nobr element must be on one line.
BREAKS = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.querySelector("main"),
                                           NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  const top = (node, i) => {
    range.setStart(node, i); range.setEnd(node, i + 1);
    const rects = range.getClientRects();
    return rects.length ? Math.round(rects[rects.length - 1].top) : null;
  };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.getClientRects().length) continue;  // not shown
    if (node.parentElement.closest("table")) continue;  // tables: not yet
    const text = node.data;
    const nobr = node.parentElement.closest(".nobr");
    for (const run of text.matchAll(/\\S+/g)) {
      let last = null, previous = -1;
      for (let i = run.index; i < run.index + run[0].length; i++) {
        if (text[i] === "\\u00ad") continue;
        const at = top(node, i);
        if (at === null) continue;
        if (last !== null && at > last + 2) {
          found.push({run: run[0], before: text.slice(previous, i), nobr: false});
        }
        last = at; previous = i;
      }
    }
    if (nobr && nobr.getClientRects().length > 1) {
      found.push({run: nobr.textContent, before: "", nobr: true});
    }
  }
  return found;
}"""


def _bad(breaks: list[dict[str, object]]) -> list[dict[str, object]]:
    """Breaks that are neither at a soft hyphen nor after a hyphen or dash (nor in a URL)."""
    return [b for b in breaks if b["nobr"] or not (
        "\u00ad" in str(b["before"]) or str(b["before"]).endswith(("-", "–", "—", "/"))
        or re.search(r"://|@|www\.", str(b["run"])))]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("narrow")
    shutil.copytree(ROOT / "templates", root / "templates")
    site = config.model_copy(update={"root": root})
    for folder in (EXAMPLE, write_second_issue(root)):
        publish_edition(build_edition(load_issue(folder, site), site), site)
    build_archive(site)
    return site


@pytest.fixture(scope="module")
def served(site: Config) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(site.root / "archive"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _page(browser, width: int, **options: object):
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  timezone_id="Europe/Stockholm", **options)
    page = context.new_page()
    page.route("**/*", loopback_only)
    return context, page


@pytest.mark.browser
@pytest.mark.parametrize("issue", ["2027/1/", "2027/2/"])
def test_words_break_only_at_hyphens_at_320_px(browser, served: str, issue: str) -> None:
    context, page = _page(browser, 320, bypass_csp=True)
    try:
        page.goto(served + issue + "index.html")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{issue.replace('/', '-')}320.png", full_page=True)
        breaks = page.evaluate(BREAKS)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        # The measure must be able to fail: break anywhere, and it sees words broken.
        page.add_style_tag(content="main { word-break: break-all; hyphens: none; }")
        broken = _bad(page.evaluate(BREAKS))
    finally:
        context.close()
    assert _bad(breaks) == []
    assert any("\u00ad" in str(b["before"]) for b in breaks)  # soft hyphens do the breaking
    assert scroll <= 320
    assert len(broken) >= 3


@pytest.mark.browser
def test_known_words_times_and_numbers_stay_whole_at_320_px(browser, served: str) -> None:
    context, page = _page(browser, 320)
    try:
        page.goto(served + "2027/2/index.html")
        shown = page.eval_on_selector_all(".nobr", "els => els.map(e => [e.textContent, "
                                          "e.getClientRects().length])")
        text = page.inner_text("main")
    finally:
        context.close()
    whole = {content for content, lines in shown if lines == 1}
    assert {"09.00–10.30", "13.15", "010-224 90 00", "+46 10 224 90 00", "2027-03-05",
            "tisdag 9 februari 2027", "torsdag 20 maj 2027", "kl. 17.00"} <= whole
    assert all(lines == 1 for _content, lines in shown)
    for word in ("jämställdhetsintegrering", "könsuppdelad", "länsstyrelsernas"):
        assert word in text.replace("\u00ad", "").lower()
