"""The delivery hot path's shortcuts give exactly what the slow, obvious code gives.

Each shortcut (issue 17) is held to the code it replaces: the header check's regular
expression to ``unicodedata``, the quoted-printable fast path to ``quoprimime``, the copied
HMAC to a fresh one, the cached IDNA domain to the idna package.
"""

from __future__ import annotations

import email.quoprimime as quoprimime
import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from pipeline.audience.tokens import Purpose, TokenMaker, make_token, read_token
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
