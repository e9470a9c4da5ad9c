"""Signed, expiring tokens for confirm, unsubscribe and preferences links.

A token is ``<payload>.<signature>``, both base64url: the payload names the purpose, the
subscriber's id, the scope (a segment, or ``*`` for everything) and the expiry; the signature
is HMAC-SHA256 over it with the secret from ``NEWSLETTER_SECRET_KEY``. It never holds an email
address, and without the secret no valid token can be made for any other id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from enum import StrEnum

from pipeline.errors import NewsletterError
from pipeline.i18n import _

SECRET_ENV = "NEWSLETTER_SECRET_KEY"
VERSION = "1"


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


DEFAULT_TTL = {  # seconds
    Purpose.CONFIRM: 7 * 86400,
    Purpose.UNSUBSCRIBE: 2 * 365 * 86400,   # links in old issues must keep working
    Purpose.PREFERENCES: 365 * 86400,
}


class TokenError(NewsletterError):
    """A token is malformed, forged, expired or meant for something else."""


@dataclass(frozen=True)
class Claims:
    purpose: Purpose
    subscriber_id: int
    scope: str
    expires: int


def secret_from_env() -> bytes:
    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < 32:
        raise NewsletterError(_("%(name)s must be set to a random secret of at least 32 "
                                "characters, e.g. python -c 'import secrets; "
                                "print(secrets.token_urlsafe(48))'") % {"name": SECRET_ENV})
    return secret.encode()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64_bytes(data: bytes) -> bytes:
    """base64url without padding, as bytes (a delivery signs many tokens: no str round trip)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _b64(data: bytes) -> str:
    return _b64_bytes(data).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def make_token(secret: bytes, purpose: Purpose, subscriber_id: int, scope: str = "*",
               ttl: int | None = None, now: float | None = None) -> str:
    return TokenMaker(secret, purpose, scope, ttl).make(subscriber_id, now)


class TokenMaker:
    """``make_token`` for one purpose and scope, for many readers: the keyed HMAC is set up
    once and copied for each token (setting up the key costs as much as signing a payload),
    so a delivery signs a million links in seconds. The tokens are ``make_token``'s."""

    def __init__(self, secret: bytes, purpose: Purpose, scope: str = "*",
                 ttl: int | None = None) -> None:
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)
        self._head = f"{VERSION}|{purpose.value}|"
        self._scope = f"|{scope}|"
        self._copy = self._keyed.copy
        self._ttl = ttl if ttl is not None else DEFAULT_TTL[purpose]

    def make(self, subscriber_id: int, now: float | None = None) -> str:
        expires = int((now or time.time()) + self._ttl)
        payload = _b64_bytes(f"{self._head}{subscriber_id}{self._scope}{expires}".encode())
        signer = self._copy()
        signer.update(payload)
        return (payload + b"." + _b64_bytes(signer.digest())).decode()


def read_token(secret: bytes, token: str, purpose: Purpose, now: float | None = None) -> Claims:
    payload, _, signature = token.partition(".")
    if not payload or not signature.isascii() or \
            not hmac.compare_digest(_sign(secret, payload), signature):
        raise TokenError("the link is not valid")
    try:
        version, kind, sid, scope, expires = _unb64(payload).decode().split("|")
        claims = Claims(Purpose(kind), int(sid), scope, int(expires))
    except ValueError:
        raise TokenError("the link is not valid") from None
    if version != VERSION or claims.purpose is not purpose:
        raise TokenError("the link is not valid for this")
    if claims.expires < (now or time.time()):
        raise TokenError("the link has expired")
    return claims
