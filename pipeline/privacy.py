"""What may never reach the public archive: ``check_private`` finds anything personal.

Used by ``check`` (a ``privacy`` problem in the web version, so an author hears of it before
approving), by ``approve`` and by the archive on every page, feed and file it writes.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import unquote

from pipeline.config import Config
from pipeline.errors import Problem
from pipeline.i18n import _

_ADDRESS = re.compile(r"[\w.%+-]+@(?:[\w-]+\.)+[^\W\d_]{2,}")  # IDN addresses too
_PRIVATE = [
    (re.compile(r"/(?:avregistrera|installningar|bekrafta)/[\w.-]{8,}"),
     "personal link token"),
    (re.compile(r"\{\{\s*\w+\s*\}\}"), "template placeholder"),
    (re.compile(r"[?&](?:utm_[a-z]+|mc_eid|fbclid|gclid)="), "tracking parameter"),
]
_WHAT = {
    "personal link token": lambda: _("a personal link token"),
    "template placeholder": lambda: PLACEHOLDER(),
    "tracking parameter": lambda: _("a tracking parameter"),
}


def PLACEHOLDER() -> str:
    return _("a template placeholder")


# YYMMDD-NNNN, YYYYMMDD-NNNN or YYYYMMDDNNNN; a month 01-12 leaves out organisation numbers
_PERSONNUMMER = re.compile(r"(?<![\w-])(?:(?:19|20)(\d{6})[-+]?|(\d{6})[-+])(\d{4})(?![\w-])")
_PHONE = re.compile(r"(?<![\w+#/.-])(?:\+46[ -]?|0)[1-9](?:[ -]?\d){6,9}(?![\w-])")
_SERVICE_NUMBERS = ("020", "077", "09")  # free-phone, shared-cost and premium: never a person's


def _decoded(line: str) -> str:
    """The line as a browser or a search index reads it: entities and %-escapes undone, soft
    hyphens (which typography puts into long words, and a reader never sees) left out."""
    for _attempt in range(3):
        decoded = unquote(html.unescape(line))
        if decoded == line:
            break
        line = decoded
    return line.replace("\u00ad", "")


def _phone_digits(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return "0" + digits[2:] if number.startswith("+") else digits


def _personnummer(match: re.Match[str]) -> bool:
    """A real date (or a samordningsnummer's day + 60) and a valid Luhn check digit."""
    digits = (match.group(1) or match.group(2)) + match.group(3)
    month, day = int(digits[2:4]), int(digits[4:6])
    if not (1 <= month <= 12 and (1 <= day <= 31 or 61 <= day <= 91)):
        return False
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(digits[:9]))
    return (10 - total % 10) % 10 == int(digits[9])


def check_private(text: str, config: Config, path: str) -> list[Problem]:
    """Problems for anything personal in a page, feed or file of the archive.

    Lines are decoded first (HTML entities, %-escapes). Email addresses other than the
    board's, personal link tokens, placeholders, tracking parameters, personnummer and phone
    numbers are refused, except numbers newsletter.toml itself holds (the switchboard) and
    service numbers (020, 077, 09…).
    """
    allowed = {config.sender.email.lower()}
    if config.reply_to:
        allowed.add(config.reply_to.email.lower())
    board = {_phone_digits(m.group(0)) for value in _strings(config.model_dump(mode="json"))
             for m in _PHONE.finditer(value)}
    problems = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _decoded(raw)
        found = [_("an email address (%(address)s) other than the board's") % {
            "address": address} for address in _ADDRESS.findall(line)
            if address.lower() not in allowed]
        found += [_WHAT[what]() for pattern, what in _PRIVATE if pattern.search(line)]
        found += [_("a personnummer (%(number)s)") % {"number": m.group(0)}
                  for m in _PERSONNUMMER.finditer(line) if _personnummer(m)]
        found += [_("a phone number (%(number)s) other than the board's") % {
            "number": m.group(0)} for m in _PHONE.finditer(line)
            if (digits := _phone_digits(m.group(0))) not in board
            and not digits.startswith(_SERVICE_NUMBERS)]
        problems += [Problem(path, number, "privacy", what) for what in found]
    return problems


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []
