"""The mails the web service sends, as a reader gets them over real HTTP: confirmation
requests and the welcome mail are real mails (the board's masthead and button, a text part),
carry no List-Unsubscribe headers that lead nowhere, and the welcome mail greets by first name,
repeats the focus areas, delivers the welcome package's download and links to the preferences
page that opens."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta

from pipeline.config import Config
from tests.conftest import ROOT
from tests.test_web_account import join
from tests.webserver import csrf_of, outbox_mails, request, text_of


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def test_join_confirm_and_welcome_are_real_mails(web, config: Config) -> None:
    base, _store, outbox = web
    status, _page = join(base, organisation="Sala kommun", org_number="222000-0018",
                         contact_1_name="Eva Sjö Berg", contact_1_email="eva.sjo@sala.example",
                         focus=["makt", "halsa"], consent="ja")
    assert status == 200
    [ask] = outbox_mails(outbox)
    html = _html(ask)
    assert "<pre" not in html and "material/logotyp.png" in html
    link = re.search(r'href="?(https://[^"\s>]+/bekrafta/[^"\s>]+)', html)
    assert link is not None, "the confirmation link is a link (a button)"
    assert link.group(1) in text_of(ask)  # the text part has it too
    assert ask["List-Unsubscribe"] is None and ask["List-Unsubscribe-Post"] is None
    assert ask["Date"].datetime.utcoffset() in (timedelta(hours=1), timedelta(hours=2))

    path = link.group(1).split("/bekrafta/", 1)[1]
    _status, _, confirm = request(f"{base}/bekrafta/{path}")
    request(f"{base}/bekrafta/{path}", {"csrf": csrf_of(confirm)})
    [welcome] = outbox_mails(outbox)[1:]
    text, html = text_of(welcome), _html(welcome)
    assert welcome["List-Unsubscribe"] is None
    assert "Hej Eva!" in text and "Hej Eva!" in html  # the first name ([audience] greeting)
    for area in ("En jämn fördelning av makt och inflytande", "Jämställd hälsa"):
        assert area in text and area in html
    sticker = f"{config.web_url}/material/klistermarke.png"  # served by the service itself
    assert f'href="{sticker}"' in html or f"href={sticker}>" in html
    with urllib.request.urlopen(f"{base}/material/klistermarke.png") as answer:
        assert answer.read() == (ROOT / "templates" / "brand" / "klistermarke.png").read_bytes()
        assert answer.headers["Content-Type"] == "image/png"  # before any archive build
    logo = f"{config.web_url}/material/logotyp.png"
    assert f'src="{logo}"' in html or f"src={logo} " in html
    assert config.brand.privacy_url and config.brand.privacy_url in html
    preferences = re.search(r"(https://\S+/installningar/[\w.-]+)", text)
    assert preferences is not None and "längst ner i varje nummer" not in text
    status, _, page = request(base + preferences.group(1).split("/vastmanland", 1)[1])
    assert status == 200 and "Sala kommun" in page  # the link opens the preferences page


def test_typed_braces_are_never_filled_in_and_an_english_letter_says_so(
        web, config: Config) -> None:
    base, _store, outbox = web
    name = "Org {{unsubscribe_url}} {{foo}}"  # a placeholder, and one delivery does not know
    join(base, organisation=name, org_number="222000-0018", contact_1_name="Bo",
         contact_1_email="bo@org.example", focus=["makt"], consent="ja")
    [ask] = outbox_mails(outbox)
    path = re.search(r"/bekrafta/(\S+)", text_of(ask))
    assert path is not None
    _status, _, confirm = request(f"{base}/bekrafta/{path.group(1)}",
                                  headers={"Accept-Language": "en"})
    request(f"{base}/bekrafta/{path.group(1)}", {"csrf": csrf_of(confirm)},
            headers={"Accept-Language": "en"})
    [welcome] = outbox_mails(outbox)[1:]
    text = text_of(welcome)
    assert welcome["Subject"] == f"Welcome to {config.name}"
    assert welcome["Content-Language"] == "en" and ("lang=en" in _html(welcome) or
                                                    'lang="en"' in _html(welcome))
    assert "Org {\u200b{unsubscribe_url}} {\u200b{foo}}" in text  # shown, not filled in
    assert "/avregistrera/" not in text and "Hello Bo!" in text


def test_a_subscriber_confirms_from_a_button(web) -> None:
    base, _store, outbox = web
    _status, _, page = request(f"{base}/prenumerera")
    request(f"{base}/prenumerera", [("csrf", csrf_of(page)), ("email", "ny.lasare@example.se"),
                                    ("consent", "ja")])
    [ask] = outbox_mails(outbox)
    html = _html(ask)
    assert re.search(r'<a [^>]*href="?https://[^"\s>]+/bekrafta/', html)
    assert 'lang="sv"' in html or "lang=sv" in html
    assert ask["List-Unsubscribe"] is None
