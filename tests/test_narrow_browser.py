"""What readers see on a 320 px phone, in headless Debian chromium: the archive breaks words
only at a hyphen and never inside a time, date or phone number; tables stack with labelled
cells and nothing scrolls sideways, in the archive and in the emails (also in a mail program
that drops the <style> block); a notice stops looking urgent the day after its last day
(the browser's clock set, no waiting); the favicon and the logotype load."""

from __future__ import annotations

import functools
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from pipeline.archive import build_archive, publish_edition
from pipeline.config import Config
from pipeline.edition import build_edition
from pipeline.issue import load_issue
from pipeline.render import VariantKey, render_issue
from tests.conftest import EXAMPLE, ROOT, loopback_only, write_second_issue

ARTIFACTS = ROOT / "test-artifacts" / "narrow"
STOCKHOLM = ZoneInfo("Europe/Stockholm")

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
    build_archive(site, today=datetime(2027, 1, 1).date())  # no notice over yet
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


@pytest.mark.browser
@pytest.mark.parametrize("issue", ["2027/1/", "2027/2/"])
def test_archive_tables_stack_with_labels_at_320_px(browser, served: str, issue: str) -> None:
    context, page = _page(browser, 320)
    try:
        page.goto(served + issue + "index.html")
        cells = page.eval_on_selector_all("table.stack td", """els => els.map(e => {
            const style = getComputedStyle(e);
            const label = e.querySelector(".cell-label");
            return [style.display, parseFloat(style.fontSize), label && label.innerText,
                    e.getBoundingClientRect().right];
        })""")
        head = page.eval_on_selector("table.stack thead", "e => getComputedStyle(e).display")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size({"width": 1280, "height": 800})
        wide = page.eval_on_selector_all(
            "table.stack .cell-label", "els => els.map(e => getComputedStyle(e).display)")
    finally:
        context.close()
    assert cells and all(display == "block" for display, *_ in cells)
    assert all(size >= 14 for _d, size, _l, _r in cells)
    assert all(label and label.strip().endswith(":") for _d, _s, label, _r in cells)
    assert all(right <= 320 for *_x, right in cells)
    assert head == "none" and scroll <= 320
    assert set(wide) == {"none"}  # a wide screen shows the header row instead


def _email_at(browser, html: str, width: int) -> dict[str, object]:
    context, page = _page(browser, width)
    try:
        page.set_content(html, wait_until="load")
        return page.evaluate("""() => ({
            scroll: document.documentElement.scrollWidth,
            sizes: [...document.querySelectorAll("table.stack td")].map(
                e => parseFloat(getComputedStyle(e).fontSize)),
            labels: [...document.querySelectorAll("table.stack .cell-label")].map(
                e => getComputedStyle(e).display),
            cells: [...document.querySelectorAll("table.stack td")].map(
                e => getComputedStyle(e).display),
        })""")
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("issue", ["2027-1", "2027-2"])
def test_emails_fit_a_320_px_phone_with_and_without_media_queries(
        browser, site: Config, issue: str) -> None:
    rendered = render_issue(load_issue(site.root / "issues" / issue, site)
                            if issue != "2027-1" else load_issue(EXAMPLE, site), site)
    html = rendered.variants[VariantKey("general")].html
    stacked = _email_at(browser, html, 320)
    assert stacked["scroll"] <= 320
    assert stacked["cells"] and set(stacked["cells"]) == {"block"}
    assert set(stacked["labels"]) == {"inline"}
    assert min(stacked["sizes"]) >= 14  # type: ignore[type-var]
    # A mail program that drops <style> (so no media queries) keeps the table: it must fit.
    bare = _email_at(browser, re.sub(r"<style[^>]*>.*?</style>", "", html, flags=re.S), 320)
    assert bare["scroll"] <= 320
    assert set(bare["labels"]) == {"none"} and set(bare["cells"]) == {"table-cell"}
    assert min(bare["sizes"]) >= 14  # type: ignore[type-var]
    desktop = _email_at(browser, html, 600)
    assert set(desktop["labels"]) == {"none"} and set(desktop["cells"]) == {"table-cell"}


def _notice(browser, served: str, when: datetime | None, script: bool = True
            ) -> dict[str, str]:
    context, page = _page(browser, 1280, java_script_enabled=script)
    try:
        if when is not None:
            page.clock.set_fixed_time(when)
        page.goto(served + "2027/2/index.html")
        return page.eval_on_selector("#anmalan", """e => ({
            label: e.querySelector(".notice-label").innerText,
            background: getComputedStyle(e).backgroundColor,
            classes: e.className})""")
    finally:
        context.close()


URGENT = "rgb(255, 244, 214)"  # #fff4d6


@pytest.mark.browser
def test_a_notice_stops_looking_urgent_the_day_after_its_last_day(browser, served: str
                                                                  ) -> None:
    last_day = _notice(browser, served, datetime(2027, 5, 20, 23, 59, tzinfo=STOCKHOLM))
    assert last_day == {"label": "VIKTIGT · GÄLLER TILL 20 MAJ 2027", "background": URGENT,
                        "classes": "notice"}
    after = _notice(browser, served, datetime(2027, 5, 21, 0, 1, tzinfo=STOCKHOLM))
    assert after["label"] == "GÄLLDE TILL 20 MAJ 2027" and after["background"] != URGENT
    assert after["classes"] == "notice expired"
    unscripted = _notice(browser, served, None, script=False)  # readable without JavaScript
    assert unscripted["label"] == "VIKTIGT · GÄLLER TILL 20 MAJ 2027"


@pytest.mark.browser
def test_after_a_build_past_the_day_the_notice_is_calm_without_javascript(
        browser, site: Config, served: str) -> None:
    build_archive(site, today=datetime(2027, 6, 1).date())
    try:
        calm = _notice(browser, served, None, script=False)
    finally:
        build_archive(site, today=datetime(2027, 1, 1).date())
    assert calm["label"] == "GÄLLER TILL 20 MAJ 2027" and calm["background"] != URGENT


@pytest.mark.browser
def test_every_page_has_a_favicon_a_logotype_and_the_privacy_notice(
        browser, site: Config, served: str) -> None:
    context, page = _page(browser, 1280)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    try:
        for path in ("index.html", "2027/index.html", "2027/1/index.html", "sok/index.html",
                     "tillganglighet/index.html"):
            page.goto(served + path)
            icon = page.eval_on_selector("link[rel=icon]", "e => e.href")
            answer = page.request.get(icon)
            assert answer.status == 200 and answer.headers["content-type"] == "image/png"
            logo = page.eval_on_selector("header.site .identity img", """e => ({
                alt: e.alt, loaded: e.complete && e.naturalWidth > 0,
                href: e.closest("a") && e.closest("a").href})""")
            assert logo == {"alt": "Länsstyrelsen Västmanland", "loaded": True,
                            "href": site.brand.home_url}
            privacy = page.get_by_role("link", name="Så behandlar vi personuppgifter")
            assert privacy.get_attribute("href") == site.brand.privacy_url
    finally:
        context.close()
    assert failed == []
