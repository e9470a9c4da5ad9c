"""An adversarial corpus for the web service (issue 12, web side): each attack goes through
uvicorn over real HTTP, on both databases, and must neither change what it should not nor
get a 500. The numbers are the issue's items."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from pipeline.audience.models import Organisation, Status, Suppression
from pipeline.audience.store import Store
from pipeline.audience.tokens import Purpose, make_token
from pipeline.config import Config
from pipeline.settings import WebSettings
from tests.test_web_account import join, person, statuses
from tests.test_web_events import Key, signed, with_key
from tests.webserver import (
    APPS,
    SECRET,
    csrf_of,
    local,
    outbox_mails,
    request,
    served,
    text_of,
)

SECURITY = ("content-security-policy", "x-content-type-options", "referrer-policy",
            "cache-control", "x-frame-options")
VASTERAS = "212000-2080"  # in examples/audience/connected.csv
NEW_NUMBER = "556677-8899"  # a valid organisation number nobody has


@pytest.fixture(scope="module")
def key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())




def mails(outbox: Path) -> list:
    return outbox_mails(outbox) if outbox.exists() else []


def subscribe(base: str, **fields: str) -> tuple[int, str]:
    page = request(f"{base}/prenumerera")[2]
    status, _, answer = request(f"{base}/prenumerera", {"csrf": csrf_of(page), **fields})
    return status, answer


def organisations(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Organisation)) or 0


def suppressions(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Suppression)) or 0


def assert_safe(status: int, headers: dict[str, str], body: str) -> None:
    assert status != 500 and status < 500, (status, body)
    assert all(h in headers for h in SECURITY), headers
    assert "Traceback" not in body


# -- 1, 11: control and line-separator characters are refused, bound to their field --------

POISON = ["Per\r\nX-Injected: yes", "Nul\x00l", "Esc\x1b[31m", "Bel\x07", "Del\x7f",
          "Nel\x85", "Line\u2028sep", "Para\u2029sep"]


@pytest.mark.parametrize("poison", POISON)
def test_control_characters_are_refused_in_every_text_field(web, poison: str) -> None:
    base, store, outbox = web
    status, page = subscribe(base, email="ny@example.se", name=poison, consent="ja")
    assert status == 400 and 'id="name-fel"' in page
    status, page = join(base, organisation=f"Org {poison}", org_number=NEW_NUMBER,
                        contact_1_email="ny@org.example", contact_1_name=poison,
                        focus="makt", consent="ja")
    assert status == 400
    assert 'id="organisation-fel"' in page and 'id="contact-1-name-fel"' in page
    token = make_token(SECRET, Purpose.PREFERENCES, person(store, "sara.ek@example.se").id)
    page = request(f"{base}/installningar/{token}")[2]
    status, _, answer = request(f"{base}/installningar/{token}",
                                [("csrf", csrf_of(page)), ("name", poison),
                                 ("list", "general")])
    assert status == 400 and 'id="name-fel"' in answer
    assert person(store, "sara.ek@example.se").name == "Sara Ek"
    assert organisations(store) == 3 and mails(outbox) == []


# -- 3: the join form changes no one and no organisation it does not own ----------------------

def test_joining_changes_no_existing_reader_before_they_confirm(web) -> None:
    base, store, _ = web
    status, _ = join(base, organisation="Nytt bolag", org_number=NEW_NUMBER,
                     contact_1_email="per.holm@example.se",
                     contact_1_name="Per\u00a0Mallory", focus="makt", consent="ja")
    assert status == 200
    per = person(store, "per.holm@example.se")
    assert per.name is None and per.organisation_id is None  # unchanged until he confirms
    assert statuses(store, "per.holm@example.se")["general"] == Status.CONFIRMED


@pytest.mark.parametrize(("name", "number"), [("västerås   STAD", VASTERAS),
                                              ("Västerås stad", NEW_NUMBER),
                                              ("Helt annat namn", VASTERAS)])
def test_joining_an_existing_organisation_is_a_request_that_changes_nothing(
        web, config: Config, name: str, number: str) -> None:
    base, store, outbox = web
    status, page = join(base, organisation=name, org_number=number,
                        contact_1_email="x@elsewhere.example", contact_1_name="X",
                        focus="vald", consent="ja")
    assert status == 200 and "<h1>Bekräfta anslutningen via e-post</h1>" in page
    with store.session() as session:
        vasteras = session.scalar(select(Organisation).where(
            Organisation.org_number == VASTERAS))
        assert vasteras is not None and vasteras.name == "Västerås stad"
        assert sorted(f.focus for f in vasteras.focus) == ["ekonomi", "makt"]
        stranger = session.scalar(select(func.count()).select_from(Organisation).where(
            Organisation.name_key == "västerås stad"))
        assert stranger == 1
    sent = mails(outbox)
    assert all(m["To"].addresses[0].addr_spec != "x@elsewhere.example" for m in sent)
    board = [m for m in sent if m["To"].addresses[0].addr_spec == config.sender.email]
    assert len(board) == 1 and "x@elsewhere.example" in text_of(board[0])
    assert organisations(store) == 3


# -- 4: one-click as RFC 8058 says clients send it ------------------------------------------

@pytest.mark.parametrize("kind", ["multipart", "crlf"])
def test_one_click_accepts_multipart_and_a_trailing_crlf(web, kind: str) -> None:
    base, store, _ = web
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, person(store, "sara.ek@example.se").id)
    if kind == "multipart":
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                b"One-Click\r\n--XyZ--\r\n")
        headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    else:
        body = b"List-Unsubscribe=One-Click\r\n"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, answer = request(f"{base}/avregistrera/{token}", body, headers)
    assert (status, answer) == (200, "Avregistrerad.")
    assert statuses(store, "sara.ek@example.se") == {"general": Status.UNSUBSCRIBED}


# -- 9: no attacker text in mail to unconfirmed addresses ------------------------------------

def test_confirmation_mail_carries_no_text_the_requester_typed(web) -> None:
    base, _, outbox = web
    status, _ = join(base, organisation="Vinn en iPhone på https://evil.example/x",
                     org_number=NEW_NUMBER, contact_1_email="victim@example.org",
                     contact_1_name="Offer", focus="makt", consent="ja")
    assert status == 200
    [mail] = mails(outbox)
    assert "evil" not in mail["Subject"] and "iPhone" not in mail["Subject"]
    assert "evil" not in text_of(mail) and "iPhone" not in text_of(mail)


# -- 10: no bare 500; every error answer has the security headers ----------------------------

def test_odd_tokens_and_stamps_get_a_clean_answer(web) -> None:
    base, store, _ = web
    recent = str(int(time.time()))
    confirm = make_token(SECRET, Purpose.CONFIRM, person(store, "sara.ek@example.se").id,
                         "general")
    for url, data in ((f"{base}/prenumerera", {"csrf": f"{recent}.é", "email": "a@b.se"}),
                      (f"{base}/prenumerera", {"csrf": "².abc", "email": "a@b.se"}),
                      (f"{base}/anslut", {"csrf": "١٢٣.abc"}),
                      (f"{base}/bekrafta/{confirm}", {"csrf": "é"}),
                      (f"{base}/avregistrera/x.%C3%A9", {"csrf": "é"}),
                      (f"{base}/avregistrera/x.%C3%A9", None),
                      (f"{base}/installningar/x.%C3%A9", None)):
        assert_safe(*request(url, data))


@pytest.mark.parametrize("scope", ["*", "nothing", "connected:x", ""])
def test_a_confirmation_link_for_no_list_gets_a_clean_answer(web, scope: str) -> None:
    base, store, _ = web
    token = make_token(SECRET, Purpose.CONFIRM, person(store, "sara.ek@example.se").id, scope)
    status, headers, page = request(f"{base}/bekrafta/{token}")
    assert_safe(status, headers, page)
    assert status == 200 and "Tryck på knappen" in page
    status, headers, page = request(f"{base}/bekrafta/{token}", {"csrf": csrf_of(page)})
    assert_safe(status, headers, page)
    assert status == 400 and "Länken fungerar inte" in page
    assert statuses(store, "sara.ek@example.se") == {"general": Status.CONFIRMED}


def test_webhook_odd_stamp_and_deep_json_are_400_not_500(store: Store, config: Config,
                                                         key: Key) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with served(with_key(config, key), store) as base:
        status, headers, body = request(f"{base}/sendgrid/events", deep, signed(key, deep))
        assert_safe(status, headers, body)
        assert status == 400
        headers = {**signed(key, b"[]"), "X-Twilio-Email-Event-Webhook-Timestamp": "²"}
        status, answer_headers, body = request(f"{base}/sendgrid/events", b"[]", headers)
        assert_safe(status, answer_headers, body)
        assert status == 401


def test_an_unexpected_error_still_gets_the_security_headers(web, monkeypatch) -> None:
    base, _, _ = web

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug, not the reader's fault")

    monkeypatch.setattr("pipeline.web.account.profile", broken)
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, 1)
    status, headers, body = request(f"{base}/avregistrera/{token}")
    assert status == 500 and all(h in headers for h in SECURITY)
    assert "Traceback" not in body and "RuntimeError" not in body


# -- 13: the Host header is never reflected -------------------------------------------------

def test_no_redirect_reflects_the_host_header(web) -> None:
    base, store, _ = web
    token = make_token(SECRET, Purpose.PREFERENCES, person(store, "sara.ek@example.se").id)
    for path in ("/prenumerera/", f"/installningar/{token}/"):
        ask = urllib.request.Request(f"{base}{path}", headers={"Host": "evil.example"})

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(ask, timeout=30) as answer:
                status, location = answer.status, answer.headers.get("location")
        except urllib.error.HTTPError as error:
            status, location = error.code, error.headers.get("location")
        assert status == 404 and location is None, (path, status, location)


# -- 14: rate limits that hold ----------------------------------------------------------------

def strict(config: Config, root: Path, per_client: int, per_address: int) -> Config:
    web = WebSettings(**{**config.web.model_dump(), "requests_per_client_per_hour": per_client,
                         "requests_per_address_per_hour": per_address})
    return local(config, root).model_copy(update={"web": web})


def test_address_variants_share_one_limit(store: Store, config: Config, tmp_path: Path
                                          ) -> None:
    with served(strict(config, tmp_path, 100, 2), store) as base:
        assert [subscribe(base, email=a, consent="ja")[0] for a in (
            "same@example.se", "Same+news@example.se", "SAME+x@EXAMPLE.se")] == [200, 200, 429]
        assert [subscribe(base, email=a, consent="ja")[0] for a in (
            "an.na@gmail.com", "anna+1@googlemail.com", "A.N.N.A@gmail.com")] == [200, 200, 429]


def test_an_ipv6_client_is_limited_by_its_64(store: Store, config: Config, tmp_path: Path
                                             ) -> None:
    with served(strict(config, tmp_path, 2, 100), store) as base:
        answers = []
        for n in range(3):
            page = request(f"{base}/prenumerera")[2]
            answers.append(request(f"{base}/prenumerera", {
                "csrf": csrf_of(page), "email": f"r{n}@example.se", "consent": "ja"},
                {"X-Forwarded-For": f"2001:db8:1:2::{n + 1}"})[0])
        assert answers == [200, 200, 429]


def test_the_limits_forget_old_entries(store: Store, config: Config, tmp_path: Path) -> None:
    with served(strict(config, tmp_path, 100, 100), store) as base:
        limits = APPS[base].state.site.limits
        for n in range(30):
            page = request(f"{base}/prenumerera")[2]
            request(f"{base}/prenumerera", {"csrf": csrf_of(page), "email": f"r{n}@example.se",
                                            "consent": "ja"}, {"X-Forwarded-For": f"10.0.0.{n}"})
        assert len(limits.seen) >= 60
        real = limits.clock
        limits.clock = lambda: real() + 2 * 3600  # two hours later
        page = request(f"{base}/prenumerera")[2]
        request(f"{base}/prenumerera", {"csrf": csrf_of(page), "email": "late@example.se",
                                        "consent": "ja"})
        assert len(limits.seen) <= 2


# -- 15: the answer takes as long whether or not the address is known -----------------------

def test_subscribing_answers_before_any_mail_is_sent(web, monkeypatch) -> None:
    base, _, _ = web
    sent: list[str] = []

    def slow(config: Config, addresses: list[str], letter: object) -> int:
        time.sleep(1.5)  # a provider round trip, exaggerated
        sent.extend(addresses)
        return len(addresses)

    monkeypatch.setattr("pipeline.deliver.notify.send_letter", slow)
    took = {}
    for address in ("sara.ek@example.se", "helt.ny@example.se"):  # known, new
        page = request(f"{base}/prenumerera")[2]
        body = urllib.parse.urlencode({"csrf": csrf_of(page), "email": address,
                                       "consent": "ja"}).encode()
        start = time.monotonic()
        with urllib.request.urlopen(f"{base}/prenumerera", body, timeout=30) as answer:
            assert answer.status == 200
            answer.read()
        took[address] = time.monotonic() - start
    assert max(took.values()) < 1.0, took
    request(f"{base}/prenumerera")  # waits for the queued mail
    assert sent == ["helt.ny@example.se"]


# -- 17: no broken one-click in confirmation and welcome mail ---------------------------------

def test_confirmation_and_welcome_mail_advertise_no_one_click(web) -> None:
    base, _, outbox = web
    join(base, organisation="Nytt bolag", org_number=NEW_NUMBER,
         contact_1_email="ny@bolag.example", focus="makt", consent="ja")
    [ask] = mails(outbox)
    link = text_of(ask).split("/bekrafta/")[1].split()[0]
    page = request(f"{base}/bekrafta/{link}")[2]
    assert request(f"{base}/bekrafta/{link}", {"csrf": csrf_of(page)})[0] == 200
    [_, welcome] = mails(outbox)
    assert "Välkommen" in welcome["Subject"]
    for mail in (ask, welcome):
        assert mail["List-Unsubscribe"] is None and mail["List-Unsubscribe-Post"] is None


# -- 18: the unsubscribe form takes only real scopes ------------------------------------------

@pytest.mark.parametrize("scope", ["bogus", "general\x00", "*" * 40])
def test_an_unknown_unsubscribe_scope_is_refused(web, scope: str) -> None:
    base, store, _ = web
    before = suppressions(store)
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, person(store, "sara.ek@example.se").id)
    page = request(f"{base}/avregistrera/{token}")[2]
    status, _, answer = request(f"{base}/avregistrera/{token}",
                                {"csrf": csrf_of(page), "scope": scope})
    assert status == 400 and "Du är avregistrerad" not in answer
    assert suppressions(store) == before
    assert statuses(store, "sara.ek@example.se") == {"general": Status.CONFIRMED}


# -- 19: the organisation number is checked ---------------------------------------------------

@pytest.mark.parametrize("number", ["556677-8898", "abc", "55667788", "٥٥٦٦٧٧-٨٨٩٩",
                                    "99556677-8899", "556677-88999", ""])
def test_the_organisation_number_is_validated(web, number: str) -> None:
    base, store, outbox = web
    status, page = join(base, organisation="Nytt bolag", org_number=number,
                        contact_1_email="ny@bolag.example", focus="makt", consent="ja")
    assert status == 400 and 'id="org_number-fel"' in page
    assert organisations(store) == 3 and mails(outbox) == []


def test_a_valid_number_is_kept_in_its_usual_form(web) -> None:
    base, store, _ = web
    assert join(base, organisation="Nytt bolag", org_number="5566778899",
                contact_1_email="ny@bolag.example", focus="makt", consent="ja")[0] == 200
    with store.session() as session:
        assert session.scalar(select(Organisation.org_number).where(
            Organisation.name == "Nytt bolag")) == NEW_NUMBER
