"""Redaktionen in headless Debian chromium, as a communicator uses it: a new issue written,
checked, previewed, tested and saved as a version without a terminal; then `newsletter check`
passes and the files are the golden ones. axe-core finds nothing on any page at 1280 and
320 px, and the sections can be reordered from the keyboard alone."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image

from tests.conftest import ROOT, assert_accessible, loopback_only
from tests.studio_client import GIT_ENV, Studio, project, start

GOLDEN = ROOT / "tests" / "golden" / "studio" / "2027-2"
ARTIFACTS = ROOT / "test-artifacts" / "studio"
LINK = "https://www.lansstyrelsen.se/vastmanland/kalender.html"


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    running = start(project(tmp_path / "site"))
    yield running
    running.stop()


def _page(browser: Any, studio: Studio, width: int = 1280) -> Any:
    # CSP bypassed only so that axe can be injected; the policy itself is tested over HTTP
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True,
                                  locale="sv-SE")
    context.route("**/*", loopback_only)
    page = context.new_page()
    page.goto(studio.url)
    return page


def _saved(page: Any, form: str = "form[data-autosave]") -> None:
    """Until every edit in ``form`` is on disk and shown (the script's own mark, not a text
    that the next save replaces)."""
    page.wait_for_function(
        "f => document.querySelector(f).dataset.state === 'saved'", arg=form)


def _ready(page: Any) -> None:
    """Until the page's script has its handlers in place: an edit before it is not saved."""
    page.wait_for_function("() => document.body.dataset.ready === '1'")  # a function: CSP


def _follow(page: Any, link: str) -> None:
    """Follows a link as a person does, and waits for the next page to be ready."""
    with page.expect_navigation():
        page.get_by_role("link", name=link).click()
    _ready(page)


def _until(page: Any, condition: Any, seconds: float = 60, log: object = None) -> None:
    """Until ``condition()``, polled with the page's timer, never ``time.sleep``: every
    request of the page waits for this process's loopback guard, which runs only while
    Playwright is called (a sleeping test held the page's save back: a flaky test)."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"the change never reached the file: {log}"
        page.wait_for_timeout(50)


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2400, 1600), (120, 80, 160)).save(out, "JPEG", quality=90)
    return out.getvalue()


def _section(page: Any, heading: str, body: str, focus: list[str]) -> None:
    page.get_by_label("Det nya avsnittets rubrik").fill(heading)
    page.get_by_role("button", name="Lägg till avsnitt").click()
    page.wait_for_url("**/avsnitt/*.md")
    _ready(page)
    for area in focus:
        page.get_by_label(area, exact=True).check()
    page.get_by_label("Text (Markdown)", exact=True).fill(body)
    _saved(page)


def test_a_communicator_writes_an_issue_without_a_terminal(browser: Any, studio: Studio
                                                           ) -> None:
    page = _page(browser, studio)
    page.get_by_role("button", name="Nytt nummer").click()
    page.wait_for_url("**/nummer/2027-2")
    _ready(page)
    page.get_by_label("Rubrik", exact=True).fill("Sommar i länet: nätverk och nya siffror")
    page.get_by_label("Ämnesrad", exact=True).fill("Nätverksträff i juni och nya siffror om våld")
    assert page.locator("#subject-count").inner_text().startswith(
        "44 tecken; en telefon visar ungefär 38. En telefon visar: ”Nätverksträff i juni och "
        "nya siffror o…”")
    page.get_by_label("Förhandstext (under ämnesraden i inkorgen)").fill(
        "Välkommen till nätverksträffen och läs om länets nya kartläggning.")
    page.get_by_label("Dag", exact=True).fill("2027-05-11")
    page.get_by_label("Klockslag").fill("09:00")
    _saved(page)
    _follow(page, "Ledare")
    page.get_by_label("Text (Markdown)", exact=True).fill(
        "Sommaren närmar sig och nätverket för anslutna aktörer träffas igen. I det här "
        "numret finns också länets nya siffror.")
    # followed at once, within the autosave's pause: the last words are saved first
    _follow(page, "Nummer 2027-2")

    _section(page, "Nätverksträff i juni",
             f"Nätverket för anslutna aktörer träffas den **15 juni** i Västerås.\n\n"
             f"Läs mer och anmäl dig: [klicka här]({LINK})",
             ["En jämn fördelning av makt och inflytande", "Ekonomisk jämställdhet"])
    flagged = page.locator("[data-live=lines] li", has_text="klicka här")
    flagged.wait_for()  # the planted link text, at its line of the text
    assert flagged.get_by_role("button").inner_text() == "Rad 3"
    page.get_by_label("Text (Markdown)", exact=True).fill(
        f"Nätverket för anslutna aktörer träffas den **15 juni** i Västerås.\n\n"
        f"[Anmäl dig till nätverksträffen]({LINK})")
    _saved(page)
    fixed = page.locator("[data-live=lines] li", has_text="klicka här")
    fixed.first.wait_for(state="detached")  # check's problems follow the preview
    page.get_by_label("Bildfil (JPEG, PNG eller HEIC; släpp den här)").set_input_files(
        files=[{"name": "Nätverk juni.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    page.get_by_label("Alt-text: vad bilden visar, för läsare som inte ser den (krävs)").fill(
        "Deltagare i ett nätverksmöte sitter runt ett bord.")
    page.get_by_role("button", name="Ladda upp bilden").click()
    page.wait_for_load_state()
    assert page.url.endswith("?sparat=1"), page.locator("main").inner_text()
    _follow(page, "Nummer 2027-2")

    _section(page, "Nya siffror om våld i nära relationer",
             "Länets kartläggning visar hur många som söker stöd. Siffrorna finns i "
             "rapporten.", ["Mäns våld mot kvinnor ska upphöra"])
    _follow(page, "Nummer 2027-2")

    page.get_by_label("Till (adresser, eller editors för testgruppen)").fill("editors")
    page.get_by_role("button", name="Skicka testkopior av alla varianter").click()
    assert page.get_by_role("heading", name="Testkopior skickade").is_visible()
    assert list((studio.root / "outbox").glob("*.eml"))

    page.goto(studio.base + "/nummer/2027-2/andringar")
    assert page.get_by_text("Nätverksträff i juni").first.is_visible()  # text, not YAML
    page.get_by_label("Vad har du ändrat? (sparas med versionen)").fill(
        "Nummer 2 2027: nätverksträffen och de nya siffrorna")
    page.get_by_role("button", name="Spara version").click()
    assert page.get_by_role("heading", name="Version sparad").is_visible()
    log = subprocess.run(["git", "log", "-1", "--format=%s", "--name-only"],
                         cwd=studio.root, capture_output=True, text=True, check=True).stdout
    assert log.startswith("Nummer 2 2027: nätverksträffen och de nya siffrorna\n")
    assert "issues/2027-2/images/natverk-juni.jpg" in log

    checked = subprocess.run([sys.executable, "-m", "pipeline", "check", "issues/2027-2",
                              "--config", "newsletter.toml"], cwd=studio.root, text=True,
                             capture_output=True, env={**os.environ, **GIT_ENV})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    folder = studio.root / "issues" / "2027-2"
    if os.environ.get("NEWSLETTER_UPDATE_GOLDEN"):  # after a deliberate change, looked at
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for file in folder.glob("*.*"):
            (GOLDEN / file.name).write_text(file.read_text())
    written = sorted(p.name for p in folder.glob("*") if p.is_file())
    assert written == sorted(p.name for p in GOLDEN.glob("*")), written
    for golden in GOLDEN.glob("*"):
        assert (folder / golden.name).read_text() == golden.read_text(), golden.name
    with Image.open(folder / "images" / "natverk-juni.jpg") as image:
        assert image.size == (1200, 800)  # twice the email column, not the camera's size


@pytest.mark.parametrize("width", [1280, 320])
def test_every_page_is_accessible(browser: Any, studio: Studio, width: int) -> None:
    page = _page(browser, studio, width)
    for path in ("/", "/nummer/2027-1", "/nummer/2027-1/avsnitt/02-anmalan-konferens.md",
                 "/nummer/2027-1/andringar"):
        page.goto(studio.base + path)
        name = path.strip("/").replace("/", "_") or "list"
        assert_accessible(page, ARTIFACTS / f"{name}-{width}.png", width)
    section = studio.root / "issues" / "2027-1" / "01-ledare.md"  # the conflict page too
    page.goto(studio.base + "/nummer/2027-1/avsnitt/01-ledare.md")
    section.write_text(section.read_text() + "\nÄndrat för hand.\n")
    page.evaluate("document.querySelector('form[data-autosave]').removeAttribute"
                  "('data-autosave')")
    with page.expect_navigation():  # the form as a browser without the script sends it
        page.evaluate("document.querySelector('#section-form').submit()")
    assert page.get_by_role("heading", name="Ändrad utanför Redaktionen").is_visible()
    assert_accessible(page, ARTIFACTS / f"conflict-{width}.png", width)


def test_sections_are_reordered_from_the_keyboard(browser: Any, studio: Studio) -> None:
    import yaml

    def order() -> list[str]:
        meta = yaml.safe_load((studio.root / "issues" / "2027-1" / "issue.yaml").read_text())
        return list(meta["sections"])

    page = _page(browser, studio)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.method} {r.url}") if r.method == "POST"
            else None)
    page.on("response", lambda r: seen.append(f"{r.status} {r.url}") if r.request.method
            == "POST" else None)
    page.on("console", lambda m: seen.append(m.text))
    page.on("framenavigated", lambda f: seen.append("NAV " + f.url) if f == page.main_frame
            else None)
    page.goto(studio.base + "/nummer/2027-1")
    _ready(page)
    leader = "Ett nytt år för jämställdhet i Västmanland"
    button = page.get_by_role("button", name=f"Flytta ned {leader}")
    focused_on = "l => document.activeElement.getAttribute('aria-label') === l"
    page.wait_for_function(  # the previews loaded: a frame that loads takes the keyboard
        "() => [...document.querySelectorAll('iframe')].every(f => f.contentDocument && "
        "f.contentDocument.readyState === 'complete')")
    button.focus()
    page.wait_for_function(focused_on, arg=f"Flytta ned {leader}")
    page.keyboard.press("Enter")  # focused, then Enter: as a keyboard user does
    _until(page, lambda: order()[:2] == ["02-anmalan-konferens.md", "01-ledare.md"], 60, seen)
    page.wait_for_function("() => document.querySelector('ol[data-reorder]').dataset.saved")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == f"Flytta ned {leader}"  # the focus stays with the moved section
    page.keyboard.press("Shift+Tab")  # its Up button, now enabled
    page.wait_for_function(focused_on, arg=f"Flytta upp {leader}")
    page.keyboard.press("Enter")
    _until(page, lambda: order()[:2] == ["01-ledare.md", "02-anmalan-konferens.md"], 60, seen)


def test_a_preview_scrolled_to_later_shows_the_latest_text(browser: Any, studio: Studio
                                                            ) -> None:
    """Frames out of view are brought up to date when they come into view, not on every save."""
    page = _page(browser, studio)
    page.goto(studio.base + "/nummer/2027-1/avsnitt/01-ledare.md")
    _ready(page)
    articles = "[...document.querySelectorAll('[data-live=variants] article')]"
    loaded = page.evaluate(  # frames near the screen (the others load lazily, when scrolled to)
        f"{articles}.filter(a => a.querySelector('iframe').contentDocument.body"
        "  .childElementCount > 0).map(a => a.dataset.variant)")
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(unquote(r.url.rsplit("/", 1)[1]))
            if "/epost/" in r.url else None)
    area = page.get_by_label("Text (Markdown)", exact=True)
    area.fill(area.input_value() + " Sista meningen i ledaren.")
    _saved(page)
    shown = page.evaluate(f"{articles}.filter(a => {{ const b = a.getBoundingClientRect(); "
                          "return b.bottom > 0 && b.top < innerHeight; }).map(a => "
                          "a.dataset.variant)")
    assert set(shown) <= set(fetched), (fetched, shown)  # the frames on screen: new text
    # and no frame out of view is loaded again (moving a frame in the page reloads it)
    assert not set(fetched) & set(loaded) - set(shown), (fetched, loaded, shown)
    last = page.locator("[data-live=variants] article").last
    last.scroll_into_view_if_needed()
    frame = last.locator("iframe").first.content_frame
    frame.get_by_text("Sista meningen i ledaren.").wait_for()
