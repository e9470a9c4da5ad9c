"""Every email a reader gets, in headless Debian chromium: each variant of the example issue and
each transactional mail (confirmation requests, the welcome mail, the board's and the editors'
notices). axe-core finds no WCAG 2.1 A/AA violation at 600 and 375 px, nothing scrolls sideways,
and in dark mode (prefers-color-scheme: dark) the colours change and still pass axe's contrast
rule. Screenshots of each in test-artifacts/email/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AXE, AXE_TAGS, ROOT
from tests.emails import from_disk

ARTIFACTS = ROOT / "test-artifacts" / "email"


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
    page.route("**/*", from_disk)
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
    page.route("**/*", from_disk)
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
