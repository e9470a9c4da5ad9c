"""Signed links: they round-trip, expire, cannot be forged and never carry the address."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.audience.tokens import (
    Purpose,
    TokenError,
    make_token,
    read_token,
    secret_from_env,
)
from pipeline.errors import NewsletterError

SECRET = b"s" * 48
NOW = 1_800_000_000.0


def test_round_trip_with_scope() -> None:
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, 42, "general", now=NOW)
    claims = read_token(SECRET, token, Purpose.UNSUBSCRIBE, now=NOW + 10)
    assert (claims.subscriber_id, claims.scope, claims.purpose) == (42, "general",
                                                                     Purpose.UNSUBSCRIBE)


def test_expired_token_is_refused() -> None:
    token = make_token(SECRET, Purpose.CONFIRM, 1, now=NOW)
    read_token(SECRET, token, Purpose.CONFIRM, now=NOW + 7 * 86400 - 1)
    with pytest.raises(TokenError, match="expired"):
        read_token(SECRET, token, Purpose.CONFIRM, now=NOW + 7 * 86400 + 1)


def test_token_for_one_purpose_does_not_work_for_another() -> None:
    token = make_token(SECRET, Purpose.PREFERENCES, 1, now=NOW)
    with pytest.raises(TokenError, match="not valid for this"):
        read_token(SECRET, token, Purpose.UNSUBSCRIBE, now=NOW)


def test_other_secret_or_tampered_payload_is_refused() -> None:
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, 1, now=NOW)
    with pytest.raises(TokenError):
        read_token(b"t" * 48, token, Purpose.UNSUBSCRIBE, now=NOW)
    payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b"1|unsubscribe|2|*|1900000000").rstrip(b"=").decode()
    with pytest.raises(TokenError, match="not valid"):
        read_token(SECRET, f"{forged}.{signature}", Purpose.UNSUBSCRIBE, now=NOW)
    for broken in ("", ".", "abc", f"{payload}.", f".{signature}", token + "x"):
        with pytest.raises(TokenError):
            read_token(SECRET, broken, Purpose.UNSUBSCRIBE, now=NOW)


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(list(Purpose)),
       st.sampled_from(["*", "connected", "general"]))
def test_tokens_carry_no_address_and_differ_per_subscriber(sid: int, purpose: Purpose,
                                                           scope: str) -> None:
    token = make_token(SECRET, purpose, sid, scope, now=NOW)
    decoded = base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()
    assert "@" not in decoded and "@" not in token
    assert token != make_token(SECRET, purpose, sid + 1, scope, now=NOW)
    assert read_token(SECRET, token, purpose, now=NOW).subscriber_id == sid


def test_secret_must_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    with pytest.raises(NewsletterError, match="NEWSLETTER_SECRET_KEY must be set"):
        secret_from_env()
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "short")
    with pytest.raises(NewsletterError):
        secret_from_env()
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "x" * 40)
    assert secret_from_env() == b"x" * 40
