"""Redraw the README's screenshots: the email, the web service at 320 px, a transactional mail.

    .venv/bin/python docs/screenshots.py

docs/email-connected-desktop-mobile.png is a connected-actors variant of the example issue at
600 and 375 px; docs/welcome-mail-light-dark.png the welcome mail at 375 px in light and dark
mode (prefers-color-scheme); both rendered by the pipeline, images and logotype from disk.
docs/web-pages-mobile.png shows four pages of the web service at 320 px, side by side.
docs/report-strategy.png is the top of `newsletter report strategy --html` at 1280 px, for the
hand-built register of tests/test_report.py (its charts drawn by matplotlib).
docs/studio-issue.png and docs/studio-section.png show Redaktionen (`newsletter studio`) at
1280 px, on a copy of the project.

Serves the service on 127.0.0.1 with the example audience in a throwaway SQLite register
(as tests/test_web_browser.py does), opens it in Debian's chromium through Playwright (never a
downloaded browser; nothing but 127.0.0.1 is loaded) and draws, 1100 px of each: the
subscribe form, the join form sent empty (from its error summary down: the kind of
organisation, the contact people, the focus areas with their goals), a contact person's
preferences, and the page after a contact person confirms a new organisation.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.audience.store import Store  # noqa: E402
from pipeline.audience.tokens import Purpose, make_token  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from tests.conftest import CHROMIUM_FLAGS, loopback_only  # noqa: E402
from tests.test_deliver import populate  # noqa: E402
from tests.test_web_browser import subscriber_id  # noqa: E402
from tests.webserver import SECRET, local, outbox_mails, served, settle, text_of  # noqa: E402

WIDTH, HEIGHT, GAP = 320, 1100, 24
BACKGROUND = (217, 212, 228)
TARGET = ROOT / "docs" / "web-pages-mobile.png"


def shoot(page: Any, clip_from: str | None = None) -> Image.Image:
    """The page from its top (or from the element ``clip_from``), at most HEIGHT px of it."""
    top = 0.0
    if clip_from:
        top = max(0.0, page.locator(clip_from).first.evaluate(
            "element => element.getBoundingClientRect().top + window.scrollY") - 16)
    path = Path(tempfile.mkstemp(suffix=".png")[1])
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as whole:
        image = whole.convert("RGB").crop((0, int(top), WIDTH,
                                           min(int(top) + HEIGHT, whole.height)))
    path.unlink()
    return image


def sheet(shots: list[Image.Image], target: Path) -> None:
    height = max(shot.height for shot in shots)
    width = GAP + sum(shot.width + GAP for shot in shots)
    canvas = Image.new("RGB", (width, height + 2 * GAP), BACKGROUND)
    x = GAP
    for shot in shots:
        canvas.paste(shot, (x, GAP))
        x += shot.width + GAP
    canvas.save(target, optimize=True)
    print(f"wrote {target.relative_to(ROOT)} ({canvas.width}×{canvas.height})")


def email_shot(browser: Any, html: str, width: int, scheme: str = "light",
               height: int = 1400) -> Image.Image:
    from tests.emails import from_disk

    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.route("**/*", from_disk)
    page.set_content(html, wait_until="load")
    path = Path(tempfile.mkstemp(suffix=".png")[1])
    page.screenshot(path=str(path), full_page=True)
    page.close()
    with Image.open(path) as whole:
        image = whole.convert("RGB").crop((0, 0, width, min(height, whole.height)))
    path.unlink()
    return image


def emails(browser: Any) -> None:
    from pipeline.issue import load_issue
    from pipeline.render import VariantKey, render_issue
    from pipeline.render.letters import render_letter
    from tests.conftest import EXAMPLE
    from tests.emails import letters

    config = load_config(ROOT / "newsletter.toml")
    mail = render_issue(load_issue(EXAMPLE, config), config).variants[
        VariantKey("connected", ("makt-och-ekonomi",))]
    sheet([email_shot(browser, mail.html, 600), email_shot(browser, mail.html, 375)],
          ROOT / "docs" / "email-connected-desktop-mobile.png")
    welcome = render_letter(config, letters(config)["welcome-sv"][0]).html
    sheet([email_shot(browser, welcome, 375), email_shot(browser, welcome, 375, "dark")],
          ROOT / "docs" / "welcome-mail-light-dark.png")


def report(browser: Any) -> None:
    """The strategy report's page as the board sees it: its lead, the first charts and table."""
    from pipeline.i18n import use_language
    from pipeline.report.output import write_html
    from pipeline.report.strategy import strategy_report
    from tests.test_report import AT, strategy_register

    config = load_config(ROOT / "newsletter.toml")
    folder = Path(tempfile.mkdtemp(prefix="report-"))
    store = Store.open(config, f"sqlite:///{folder / 'register.db'}")
    strategy_register(store)
    use_language("sv")
    write_html(strategy_report(store, config, AT), folder / "html", AT, config.zone)
    store.close()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        "file://") else route.abort())
    page.goto((folder / "html" / "index.html").as_uri(), wait_until="load")
    path = Path(tempfile.mkstemp(suffix=".png")[1])
    page.screenshot(path=str(path), full_page=True)
    page.close()
    with Image.open(path) as whole:
        shot = whole.convert("RGB").crop((0, 0, 1280, min(1500, whole.height)))
    path.unlink()
    sheet([shot], ROOT / "docs" / "report-strategy.png")


def studio(browser: Any) -> None:
    """docs/studio-issue.png: Redaktionen's issue page at 1280 px (the form, the sections,
    the check and the previews); docs/studio-section.png: a section with a link text the
    check flags at its line."""
    from tests.studio_client import project, start

    with tempfile.TemporaryDirectory() as folder:
        running = start(project(Path(folder) / "site"))
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                          locale="sv-SE")
            context.route("**/*", loopback_only)
            page = context.new_page()
            page.goto(running.url)
            page.goto(running.base + "/nummer/2027-1")
            page.wait_for_function("() => document.body.dataset.ready === '1'")
            page.wait_for_timeout(1500)  # the first previews drawn
            page.screenshot(path=str(ROOT / "docs" / "studio-issue.png"))
            page.goto(running.base + "/nummer/2027-1/avsnitt/03-strategin.md")
            area = page.get_by_label("Text (Markdown)", exact=True)
            area.fill(area.input_value() + "\n\nLäs strategin: [klicka här]"
                      "(https://www.lansstyrelsen.se/vastmanland)")
            page.locator("[data-live=lines] li", has_text="klicka här").wait_for()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ROOT / "docs" / "studio-section.png"))
        finally:
            running.stop()


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is not installed (apt-get install chromium)")
    config = load_config(ROOT / "newsletter.toml")
    root = Path(tempfile.mkdtemp(prefix="screenshots-"))
    store = Store.open(config, f"sqlite:///{root / 'web.db'}")
    populate(store, config, root)
    shots = []
    with served(local(config, root), store) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": WIDTH, "height": 900},
                                   locale="sv-SE").new_page()
        page.route("**/*", loopback_only)
        page.goto(f"{base}/prenumerera")
        shots.append(shoot(page))
        page.goto(f"{base}/anslut")
        page.locator("main form button[type=submit]").click()
        page.wait_for_selector(".problems")
        shots.append(shoot(page, ".problems"))
        token = make_token(SECRET, Purpose.PREFERENCES,
                           subscriber_id(store, "maria.nilsson@koping.example"))
        page.goto(f"{base}/installningar/{token}")
        shots.append(shoot(page))
        page.goto(f"{base}/anslut")
        page.locator("#organisation").fill("Sala kommun")
        page.locator("#org_number").fill("222000-0018")
        page.get_by_label("Kommun", exact=True).check()
        page.locator("#contact-1-email").fill("eva.sjo@sala.example")
        page.get_by_label("Jämställd hälsa").check()
        page.locator("#consent").check()
        page.get_by_role("button", name="Anslut").click()
        page.wait_for_selector("h1")
        settle(base)  # the service mails after its answer
        [mail] = outbox_mails(root / "outbox")
        link = re.search(r"/(bekrafta/\S+)", text_of(mail))
        assert link is not None
        page.goto(f"{base}/{link.group(1)}")
        page.get_by_role("button", name="Bekräfta").click()
        page.wait_for_selector("h1:has-text('Tack!')")
        shots.append(shoot(page))
        emails(browser)
        report(browser)
        studio(browser)
        browser.close()
    store.close()
    sheet(shots, TARGET)


if __name__ == "__main__":
    main()
