"""Every email a reader gets, in headless Debian chromium: each variant of the example issue and
each transactional mail (confirmation requests, the welcome mail, the board's and the editors'
notices). axe-core finds no WCAG 2.1 A/AA violation at 600 and 375 px, nothing scrolls sideways,
and in dark mode (prefers-color-scheme: dark) the colours change and still pass axe's contrast
rule. Screenshots of each in test-artifacts/email/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.audience.preferences import Profile
from pipeline.audience.signup import Contact
from pipeline.config import Config
from pipeline.deliver.notify import editors_letter
from pipeline.i18n import load_translations, use_language
from pipeline.issue import load_issue
from pipeline.render import render_issue
from pipeline.render.letters import Letter, lint_letter, render_letter
from pipeline.web.letters import board_letter, confirm_letter, welcome_letter
from tests.conftest import AXE, AXE_TAGS, EXAMPLE, ROOT

ARTIFACTS = ROOT / "test-artifacts" / "email"
LINK = "https://nyhetsbrev.lansstyrelsen.se/vastmanland/bekrafta/EXEMPEL"


def letters(config: Config) -> dict[str, tuple[Letter, str]]:
    """One of each transactional mail, as the web service and the scheduler write them."""
    out: dict[str, tuple[Letter, str]] = {}
    for language in ("sv", "en"):
        t = load_translations(language)
        sara = Profile(1, "sara.lind@sala.example", "Sara Lind", "Sala kommun",
                       ["makt", "halsa"], {})
        out[f"confirm-{language}"] = (confirm_letter(config, t, language, LINK, False),
                                      language)
        out[f"confirm-join-{language}"] = (confirm_letter(config, t, language, LINK, True),
                                           language)
        out[f"welcome-{language}"] = (welcome_letter(
            config, t, language, sara, f"{config.web_url}/installningar/EXEMPEL"), language)
    t = load_translations("sv")
    out["board-sv"] = (board_letter(config, t, "sv", "Sala kommun", "sala kommun",
                                    "212000-2098", [Contact("bo.ek@sala.example", "Bo Ek")]),
                       "sv")
    use_language("sv")  # the scheduler speaks newsletter.toml's language
    try:
        out["editors-sv"] = (editors_letter(config, "2027-1: fel att rätta före utskicket",
                                            ["newsletter check hittar 1 fel i 2027-1."],
                                            ["issues/2027-1/01-ledare.md:4: länktexten säger "
                                             "inte vart länken leder [link-text]"]), "sv")
    finally:
        use_language("en")
    return out


@pytest.fixture(scope="module")
def mails(config: Config) -> dict[str, str]:
    rendered = render_issue(load_issue(EXAMPLE, config), config)
    html = {f"issue-{key.name}": mail.html for key, mail in rendered.variants.items()}
    for name, (letter, language) in letters(config).items():
        email = render_letter(config, letter)
        assert lint_letter(config, email, language) == [], name
        html[name] = email.html
    return html


def _route(route) -> None:
    """The issue's images and the brand files from disk; nothing leaves the host."""
    url = route.request.url
    name = url.rsplit("/", 1)[-1]
    for folder, marker in ((EXAMPLE / "images", "/images/"),
                           (ROOT / "templates" / "brand", "/material/")):
        if marker in url and (folder / name).is_file():
            return route.fulfill(path=folder / name)
    if url.startswith(("about:", "data:")):
        return route.continue_()
    return route.abort()


def _axe(page, rules: dict[str, object]) -> list[tuple[str, list[str]]]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("options => axe.run(document, options)", rules)
    assert result["passes"], "axe ran no checks"
    return [(v["id"], [str(n["target"]) for n in v["nodes"]][:3]) for v in result["violations"]]


@pytest.mark.browser
@pytest.mark.parametrize("width", [600, 375])
def test_every_email_is_accessible_and_fits(browser, mails: dict[str, str],
                                            width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.route("**/*", _route)
    found: dict[str, object] = {}
    try:
        for name, html in mails.items():
            page.set_content(html, wait_until="load")
            violations = _axe(page, {"runOnly": {"type": "tag", "values": AXE_TAGS}})
            scroll = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(_shot(f"{name}-{width}")), full_page=True)
            if violations or scroll > width:
                found[name] = {"violations": violations, "scroll_width": scroll}
            assert page.evaluate("document.documentElement.lang") in ("sv", "en")
            assert page.evaluate("document.documentElement.dir") == "ltr"
    finally:
        page.close()
    assert found == {}
    assert len(mails) >= 9 + 8  # every variant and every transactional mail was looked at


@pytest.mark.browser
def test_dark_mode_changes_the_colours_and_keeps_the_contrast(browser,
                                                              mails: dict[str, str]) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 900}, color_scheme="dark")
    page.route("**/*", _route)
    backgrounds: dict[str, str] = {}
    found: dict[str, object] = {}
    try:
        for name, html in mails.items():
            page.set_content(html, wait_until="load")
            backgrounds[name] = page.evaluate(
                "getComputedStyle(document.querySelector('.dm-light')).backgroundColor")
            violations = _axe(page, {"runOnly": {"type": "rule", "values": ["color-contrast"]}})
            page.screenshot(path=str(_shot(f"{name}-375-dark")), full_page=True)
            if violations:
                found[name] = violations
    finally:
        page.close()
    assert found == {}
    light = {name for name, colour in backgrounds.items() if _luminance(colour) > 0.2}
    assert light == set(), "the dark-mode styles did not apply"


def _luminance(css: str) -> float:
    red, green, blue = (int(v) / 255 for v in css[css.index("(") + 1:-1].split(",")[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _shot(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
