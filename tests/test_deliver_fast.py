"""The delivery hot path's shortcuts give exactly what the slow, obvious code gives.

Each shortcut (issue 17) is held to the code it replaces: the header check's regular
expression to ``unicodedata``, the quoted-printable fast path to ``quoprimime``, the copied
HMAC to a fresh one, the cached IDNA domain to the idna package.
"""

from __future__ import annotations

import base64
import email.quoprimime as quoprimime
import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from pipeline.audience.tokens import (
    DEFAULT_TTL,
    Purpose,
    TokenMaker,
    _sign,
    make_token,
    read_token,
)
from pipeline.deliver.message import EOL, _qp, _qp_wrap, ascii_address
from pipeline.render.mime import header_problem


def _slow_header_problem(value: str) -> bool:
    return any(c != "\t" and unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


def test_the_header_rule_is_unicodes_for_every_code_point() -> None:
    every = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    wrong = [c for c in every if (header_problem(f"a{c}b") is not None)
             != _slow_header_problem(c)]
    assert wrong == []
    assert header_problem("x\u2028") is not None and "U+2028" in (header_problem("x\u2028") or "")


@given(st.text())
def test_quoted_printable_equals_the_standard_library(text: str) -> None:
    body = text.replace("\r\n", "\n").encode("utf-8", "surrogatepass").decode("latin-1")
    try:
        text.encode("utf-8")
    except UnicodeError:
        return  # lone surrogates are refused before a message is built
    assert _qp(text) == quoprimime.body_encode(body, maxlinelen=76, eol=EOL)


@given(st.text(alphabet=st.sampled_from("ab=-./:_ \t~"), max_size=400))
def test_the_wrapping_shortcut_on_link_like_text(text: str) -> None:
    expected = quoprimime.body_encode(text, maxlinelen=76, eol=EOL)
    assert _qp(text) == expected
    if "=" not in text and not text.endswith((" ", "\t")):
        assert _qp_wrap(text) == expected


@given(st.integers(1, 10**12), st.sampled_from(list(Purpose)), st.sampled_from(["*", "general"]))
def test_a_token_maker_signs_as_make_token(subscriber: int, purpose: Purpose, scope: str) -> None:
    secret = b"s" * 48
    token = TokenMaker(secret, purpose, scope).make(subscriber, now=1_800_000_000.5)
    expires = int(1_800_000_000.5 + DEFAULT_TTL[purpose])
    payload = base64.urlsafe_b64encode(f"1|{purpose.value}|{subscriber}|{scope}|{expires}"
                                       .encode()).rstrip(b"=").decode()
    assert token == f"{payload}.{_sign(secret, payload)}"  # a fresh HMAC, str all the way
    assert token == make_token(secret, purpose, subscriber, scope, now=1_800_000_000.5)
    assert read_token(secret, token, purpose, now=1_800_000_001).subscriber_id == subscriber


def test_the_cached_domain_is_the_idna_packages() -> None:
    import idna

    for address in ["a@straße.de", "b@EXAMPLE.se", "c@xn--strae-oqa.de", "d@åäö.se"]:
        domain = address.rpartition("@")[2]
        expected = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
        assert ascii_address(address) == f"{address.rpartition('@')[0]}@{expected}"
        assert ascii_address(address) == f"{address.rpartition('@')[0]}@{expected}"  # cached
    for _ in range(2):  # a failure is not remembered as an answer
        try:
            ascii_address("kim@-bindestreck-.example")
        except ValueError as exc:
            assert "IDNA" in str(exc)
        else:
            raise AssertionError("an invalid domain passed")


def test_a_sendgrid_payload_is_its_body(config, store, monkeypatch) -> None:
    """The bytes sent equal the body built the plain way, for names and values that need
    escaping, without a name, and for mail without list headers."""
    import json
    import time

    from pipeline.deliver.engine import Engine
    from pipeline.deliver.message import Envelope, MessageTemplate
    from pipeline.deliver.transports.sendgrid import SendGridTransport
    from pipeline.edition import build_edition
    from pipeline.issue import load_issue
    from pipeline.render.personalise import Reader
    from tests.conftest import EXAMPLE

    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    sendgrid = SendGridTransport("SG.test", "http://127.0.0.1:9", config.delivery.sendgrid,
                                 config, 900)
    edition = build_edition(load_issue(EXAMPLE, config), config)
    template = Engine(store, config, edition, sendgrid, b"k" * 48).envelopes.template("general")
    plain = MessageTemplate(edition.mail("general"), config, config.list_id,
                            list_headers=False)
    envelopes = [Envelope(i, f"r{i}@straße.de", name, "general", f"<{i}@x>",
                          Reader(name or "", f"https://u/{i}?a=1&b=\"2\"", "https://p/é"),
                          str(i), "7")
                 for i, name in enumerate(["Å & B <x>", None, 'Quote " \\ \u2028 end', ""])]
    for each in (template, plain):
        for batch in ("batch-1", None):
            payload = sendgrid.payload(each, batch, envelopes)
            assert json.loads(payload.data) == sendgrid.body(each, batch, envelopes)
            assert dict(payload) == sendgrid.body(each, batch, envelopes)


@given(st.text(alphabet=st.sampled_from("Aåé &<>\"'=.-"), max_size=40),
       st.sampled_from(["https://example.se/avregistrera/a.b", "https://x.se/?a=1&b=<2>"]))
def test_a_built_message_is_the_personalised_email(name: str, link: str) -> None:
    """The bodies ``build`` joins from pre-encoded pieces decode to what ``personalise``
    writes into the email for the same reader (escaped in the HTML, as is in the text)."""
    import email
    import email.policy
    from types import SimpleNamespace

    from pipeline.config import load_config
    from pipeline.deliver.message import Envelope, MessageTemplate
    from pipeline.render.personalise import Reader, personalise
    from tests.conftest import ROOT

    config = load_config(ROOT / "newsletter.toml")
    parts = SimpleNamespace(
        subject="Ämne", text="Hej {{reader_greeting}}!\nAvsluta: {{unsubscribe_url}}\n",
        html="<p>Hej {{reader_greeting}}!</p><a href=\"{{unsubscribe_url}}\">x</a>"
             "<a href=\"{{preferences_url}}\">y</a>" + "<p>" + "lång text " * 30 + "</p>")
    reader = Reader(name, link, link + "/p")
    message = MessageTemplate(parts, config, config.list_id).build(Envelope(
        1, "anna@example.se", None, "general", "<1@example.se>", reader, "1", "1"))
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    text, markup = (part.get_content() for part in parsed.iter_parts())
    assert text.replace("\r\n", "\n") == personalise(parts.text, reader, is_html=False)
    assert markup == personalise(parts.html, reader, is_html=True)
