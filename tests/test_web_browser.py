"""The web service in headless Debian chromium, served by uvicorn on 127.0.0.1: subscribing
end to end (form → confirmation mail in the outbox → link → confirmed), joining without a
focus area (the error on the field, focus on the summary), and axe-core finding no WCAG 2.1
A/AA violation on any page at 1280 and 320 px. Screenshots in test-artifacts/web/."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.audience.models import Status, Subscriber
from pipeline.audience.store import Store
from pipeline.audience.tokens import Purpose, make_token
from pipeline.config import Config
from tests.conftest import ROOT, assert_accessible, loopback_only
from tests.test_deliver import populate
from tests.webserver import SECRET, local, outbox_mails, served, settle, text_of

ARTIFACTS = ROOT / "test-artifacts" / "web"
Site = tuple[str, Store, Path]


@pytest.fixture(scope="module")
def site(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    store = Store.open(config, f"sqlite:///{root / 'web.db'}")
    populate(store, config, root)
    with served(local(config, root), store) as base:
        yield base, store, root / "outbox"
    store.close()


def new_page(browser: Any, width: int = 1280, bypass_csp: bool = False) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="sv-SE",
                                  bypass_csp=bypass_csp)
    page = context.new_page()
    page.route("**/*", loopback_only)
    return page


def subscriber_id(store: Store, address: str) -> int:
    with store.session() as session:
        found = session.scalar(select(Subscriber.id).where(Subscriber.email_key == address))
    assert found is not None
    return found


def status_of(store: Store, address: str, segment: str) -> str:
    with store.session() as session:
        person = session.get(Subscriber, subscriber_id(store, address))
        assert person is not None
        return next(s.status for s in person.subscriptions if s.segment == segment)


@pytest.mark.browser
def test_subscribe_mail_click_confirmed(browser, site: Site) -> None:
    base, store, outbox = site
    page = new_page(browser)
    page.goto(f"{base}/prenumerera")
    page.get_by_label("E-postadress", exact=True).fill("webb.lasare@example.se")
    page.get_by_label("Namn (frivilligt)").fill("Webb Läsare")
    page.get_by_label("Jag vill få nyhetsbrevet", exact=False).check()
    page.get_by_role("button", name="Prenumerera").click()
    page.wait_for_selector("h1:has-text('Bekräfta din prenumeration')")
    settle(base)  # the service mails after its answer
    [mail] = [m for m in outbox_mails(outbox)
              if m["To"].addresses[0].addr_spec == "webb.lasare@example.se"]
    link = re.search(r"https://\S+/(bekrafta/\S+)", text_of(mail))
    assert link is not None
    page.goto(f"{base}/{link.group(1)}")  # the link, on this loopback server
    assert status_of(store, "webb.lasare@example.se", "general") == Status.PENDING
    page.get_by_role("button", name="Bekräfta").click()
    page.wait_for_selector("h1:has-text('Tack!')")
    page.context.close()
    assert status_of(store, "webb.lasare@example.se", "general") == Status.CONFIRMED


@pytest.mark.browser
def test_join_without_a_focus_area_puts_the_error_on_the_field(browser, site: Site) -> None:
    base, store, _ = site
    page = new_page(browser)
    page.goto(f"{base}/anslut")
    page.get_by_label("Organisation", exact=True).fill("Fagersta kommun")
    page.locator("#org_number").fill("556000-0019")  # a valid organisation number
    page.get_by_label("Kommun", exact=True).check()
    page.locator("#contact-1-email").fill("kontakt@fagersta.example")
    page.locator("#consent").check()
    page.get_by_role("button", name="Anslut").click()
    page.wait_for_selector(".problems")
    # the summary first: `autofocus` moves there at the browser's next rendering step, which
    # a busy machine may take after the summary is in the page. (A function, not an
    # expression: the page's CSP forbids eval, and Playwright evals an expression it polls.)
    page.wait_for_function("() => document.activeElement?.id === 'fel-rubrik'")
    assert page.title().startswith("Fel i formuläret")
    described = page.locator("fieldset[aria-describedby='focus-fel']")
    assert "Välj minst ett område" in described.inner_text()
    page.locator(".problems a").click()  # the summary's link leads to the field
    assert page.evaluate("document.activeElement.id") == "focus-makt"
    assert page.locator("#organisation").input_value() == "Fagersta kommun"  # kept
    page.get_by_label("Jämställd hälsa").check()
    page.get_by_role("button", name="Anslut").click()
    page.wait_for_selector("h1:has-text('Bekräfta anslutningen via e-post')")
    page.context.close()
    assert status_of(store, "kontakt@fagersta.example", "connected") == Status.PENDING


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 320])
def test_the_logotype_loads_under_the_services_own_policy(browser, site: Site, width: int
                                                          ) -> None:
    base, _, _ = site
    page = new_page(browser, width)  # the Content-Security-Policy enforced
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{base}/anslut")
    logo = page.locator("header.site a[href='https://www.lansstyrelsen.se/vastmanland'] img")
    assert logo.get_attribute("alt") == "Länsstyrelsen Västmanland"
    assert logo.evaluate("image => image.complete && image.naturalWidth") == 400  # loaded
    box = logo.bounding_box()
    assert box is not None and box["width"] == 200 and box["x"] + box["width"] <= width
    assert page.evaluate("document.styleSheets.length") == 2  # style.css and service.css
    page.context.close()
    assert refused == []


def _goto(path: str) -> Callable[[Any, str, Store], None]:
    def go(page: Any, base: str, store: Store) -> None:
        page.goto(base + path)
    return go


def _submit_empty(path: str) -> Callable[[Any, str, Store], None]:
    def go(page: Any, base: str, store: Store) -> None:
        page.goto(base + path)
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_selector(".problems")
    return go


def _token_page(purpose: Purpose, address: str, path: str, button: str | None = None
                ) -> Callable[[Any, str, Store], None]:
    def go(page: Any, base: str, store: Store) -> None:
        token = make_token(SECRET, purpose, subscriber_id(store, address))
        page.goto(f"{base}/{path}/{token}")
        if button:
            page.get_by_role("button", name=button).click()
            page.wait_for_load_state()
    return go


def _subscribed(page: Any, base: str, store: Store) -> None:
    page.goto(f"{base}/prenumerera")
    page.locator("#email").fill("axe.lasare@example.se")
    page.locator("#consent").check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("h1:has-text('Bekräfta din prenumeration')")


PAGES: dict[str, Callable[[Any, str, Store], None]] = {
    "subscribe": _goto("/prenumerera"),
    "subscribe-errors": _submit_empty("/prenumerera"),
    "subscribed": _subscribed,
    "join": _goto("/anslut"),
    "join-errors": _submit_empty("/anslut"),
    "confirm": _token_page(Purpose.CONFIRM, "sara.ek@example.se", "bekrafta"),
    "unsubscribe": _token_page(Purpose.UNSUBSCRIBE, "maria.nilsson@koping.example",
                               "avregistrera"),
    "preferences": _token_page(Purpose.PREFERENCES, "maria.nilsson@koping.example",
                               "installningar"),
    "preferences-saved": _token_page(Purpose.PREFERENCES, "ali.hassan@folkhogskola.example",
                                     "installningar", "Spara"),
    "erase-confirm": _token_page(Purpose.PREFERENCES, "per.holm@example.se", "installningar",
                                 "Radera mina uppgifter"),
    "broken-link": _goto("/avregistrera/trasig"),
}


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 320])
@pytest.mark.parametrize("name", list(PAGES))
def test_no_accessibility_violations(browser, site: Site, name: str, width: int) -> None:
    base, store, _ = site
    page = new_page(browser, width, bypass_csp=True)
    PAGES[name](page, base, store)
    try:
        assert_accessible(page, ARTIFACTS / f"{name}-{width}.png", width)
    finally:
        page.context.close()
