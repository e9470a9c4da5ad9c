"""The web service over real HTTP (uvicorn on 127.0.0.1): RFC 8058 one-click unsubscribe,
pages that never change anything on GET, CSRF on the form, security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.audience.importer import import_audience
from pipeline.audience.models import LegalBasis, Status, Subscriber
from pipeline.audience.select import select_recipients
from pipeline.audience.store import Store
from pipeline.audience.tokens import Purpose, make_token
from pipeline.config import Config
from pipeline.issue import load_issue
from pipeline.render.variants import chooser
from tests.conftest import EXAMPLE, ROOT
from tests.webserver import SECRET, csrf_of, request, served


@pytest.fixture
def site(store: Store, config: Config) -> Iterator[tuple[str, Store]]:
    import_audience(store, config, ROOT / "examples/audience/connected.csv", "connected",
                    LegalBasis.PUBLIC_TASK)
    with served(config, store) as base:
        yield base, store


def _id(store: Store, email: str) -> int:
    from sqlalchemy import select

    with store.session() as session:
        found = session.scalar(select(Subscriber.id).where(Subscriber.email_key == email))
    assert found is not None
    return found


def _status(store: Store, email: str) -> str:
    with store.session() as session:
        person = session.get(Subscriber, _id(store, email))
        assert person is not None
        return person.subscriptions[0].status


def test_one_click_post_unsubscribes_without_cookies(site, config: Config) -> None:
    base, store = site
    anna = "anna.lindqvist@vasteras.example"
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, _id(store, anna))
    status, headers, body = request(f"{base}/avregistrera/{token}",
                                     {"List-Unsubscribe": "One-Click"})
    assert (status, body) == (200, "Avregistrerad.")
    assert _status(store, anna) == Status.UNSUBSCRIBED
    issue = load_issue(EXAMPLE, config)
    assert anna not in {r.email for r in select_recipients(
        store, config, chooser(issue, config))}
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"


def test_get_never_unsubscribes_and_the_form_needs_its_csrf_token(site) -> None:
    base, store = site
    jonas = "jonas.berg@vasteras.example"
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, _id(store, jonas))
    for _ in range(3):  # a link scanner following the link
        status, _, page = request(f"{base}/avregistrera/{token}")
        assert status == 200 and '<html lang="sv">' in page
    assert _status(store, jonas) == Status.CONFIRMED
    assert request(f"{base}/avregistrera/{token}", {"scope": "*"})[0] == 403
    assert _status(store, jonas) == Status.CONFIRMED
    status, _, done = request(f"{base}/avregistrera/{token}",
                              {"csrf": csrf_of(page), "scope": "*"})
    assert status == 200 and "Du är avregistrerad" in done
    assert _status(store, jonas) == Status.UNSUBSCRIBED


@pytest.mark.parametrize("token", ["nonsense", "eyJ4IjoxfQ.AAAA"])
def test_bad_links_get_a_swedish_page_and_change_nothing(site, token: str) -> None:
    base, store = site
    for data in (None, {"List-Unsubscribe": "One-Click"}):
        status, _, page = request(f"{base}/avregistrera/{token}", data)
        assert status == 400 and "Länken fungerar inte" in page
    assert _status(store, "anna.lindqvist@vasteras.example") == Status.CONFIRMED


def test_a_preferences_token_cannot_unsubscribe(site) -> None:
    base, store = site
    token = make_token(SECRET, Purpose.PREFERENCES, _id(store, "maria.nilsson@koping.example"))
    assert request(f"{base}/avregistrera/{token}", {"List-Unsubscribe": "One-Click"})[0] == 400


def test_serve_refuses_to_start_without_a_secret(monkeypatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'web.db'}")
    result = CliRunner().invoke(main, ["serve", "--config", str(ROOT / "newsletter.toml")])
    assert result.exit_code == 1 and "NEWSLETTER_SECRET_KEY must be set" in result.output


@pytest.fixture
def signup(store: Store, config: Config, tmp_path: Path) -> Iterator[tuple[str, Store, Path]]:
    import shutil

    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    local = config.model_copy(update={"root": tmp_path})  # the outbox lands in tmp_path
    with served(local, store) as base:
        yield base, store, tmp_path / "outbox"


def _form(base: str) -> str:
    status, _, page = request(f"{base}/prenumerera")
    assert status == 200
    return csrf_of(page)


def test_subscribe_confirm_by_link_then_confirmed(signup, config: Config) -> None:
    import email
    import email.policy

    base, store, outbox = signup
    status, _, page = request(f"{base}/prenumerera", {
        "csrf": _form(base), "email": "Ny.Lasare@Example.se", "name": "Ny", "consent": "ja"})
    assert status == 200 and "<h1>Bekräfta din prenumeration</h1>" in page
    assert "Kolla" not in page
    [mail] = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
              for p in outbox.glob("*.eml")]
    assert mail["To"].addresses[0].addr_spec == "Ny.Lasare@example.se"
    link = re.search(r"https://\S+/bekrafta/(\S+)", mail.get_body(("plain",)).get_content())
    assert link is not None
    token = link.group(1)
    assert _status(store, "ny.lasare@example.se") == Status.PENDING
    status, _, confirm_page = request(f"{base}/bekrafta/{token}")  # a scanner: no change
    assert status == 200 and _status(store, "ny.lasare@example.se") == Status.PENDING
    status, _, done = request(f"{base}/bekrafta/{token}", {"csrf": csrf_of(confirm_page)})
    assert status == 200 and "Du prenumererar nu" in done
    assert _status(store, "ny.lasare@example.se") == Status.CONFIRMED
    issue = load_issue(EXAMPLE, config)
    assert "Ny.Lasare@example.se" in {r.email for r in select_recipients(
        store, config, chooser(issue, config))}


def test_errors_are_tied_to_their_fields(signup) -> None:
    base, _, outbox = signup
    status, _, page = request(f"{base}/prenumerera", {
        "csrf": _form(base), "email": "inte en adress", "consent": ""})
    assert status == 400
    assert '<span class="error" id="email-fel">Skriv en e-postadress, till exempel ' \
        'namn@exempel.se.' \
        in page and 'aria-describedby="email-fel"' in page
    assert 'aria-describedby="consent-fel consent-hint"' in page and 'aria-invalid="true"' in page
    assert 'value="inte en adress"' in page  # what was typed is kept
    assert not outbox.exists() or not list(outbox.glob("*.eml"))
    assert request(f"{base}/prenumerera", {"email": "a@example.se", "consent": "ja"})[0] == 403


def test_the_answer_never_reveals_whether_an_address_is_known(signup, config: Config) -> None:
    base, store, outbox = signup
    import_audience(store, config, ROOT / "examples/audience/general.csv", "general",
                    LegalBasis.CONSENT)  # Sara is a confirmed subscriber
    answers = []
    for address in ("sara.ek@example.se", "helt.ny@example.se"):
        status, _, page = request(f"{base}/prenumerera", {
            "csrf": _form(base), "email": address, "consent": "ja"})
        answers.append((status, page.replace(address, "ADRESS")))
    assert answers[0] == answers[1]
    assert len(list(outbox.glob("*.eml"))) == 1  # only the new address gets a mail
