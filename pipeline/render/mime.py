"""A rendered variant → a complete MIME message (multipart/alternative, UTF-8, sv)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from pipeline.config import Config
from pipeline.i18n import _
from pipeline.render.email import RenderedEmail
from pipeline.render.personalise import Reader, personalise
from pipeline.settings import Mailbox


def _address(box: Mailbox) -> Address:
    return Address(box.name, addr_spec=box.email)


# Unicode's Cc (C0 and C1 controls, DEL), Zl (U+2028) and Zp (U+2029), tab allowed: the same
# set as ``unicodedata.category`` gives (stable since Unicode 1.1; tests/test_deliver_fast.py holds
# the two to each other), searched in C instead of a Python loop over every character
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def header_problem(value: str) -> str | None:
    """Why ``value`` cannot be written in a mail header (None: it can).

    The one rule for ``check`` and for sending: no C0 or C1 control character (CR, LF, NUL,
    VT, FF, ESC, NEL …) but tab, no DEL, no line or paragraph separator (U+2028, U+2029).
    """
    if (found := _UNSENDABLE.search(value)) is not None:
        return _("a control character (U+%(code)04X) cannot be sent in a mail header; "
                 "remove it") % {"code": ord(found.group())}
    return None


def check_header(name: str, value: str) -> str:
    """``value``, or ValueError if ``header_problem`` finds it cannot be a header value."""
    if why := header_problem(value):
        raise ValueError(f"{name}: {why}")
    return value


def build_message(email: RenderedEmail, config: Config, reader: Reader, to: Mailbox,
                  *, subject_prefix: str = "", date: datetime | None = None) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(config.sender)
    if config.reply_to:
        message["Reply-To"] = _address(config.reply_to)
    message["To"] = _address(to)
    message["Subject"] = check_header("Subject", subject_prefix + email.subject)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=config.sender.email.rsplit("@", 1)[1])
    message.set_content(personalise(email.text, reader, is_html=False), charset="utf-8",
                        cte="quoted-printable")
    message.add_alternative(personalise(email.html, reader, is_html=True), subtype="html",
                            charset="utf-8", cte="quoted-printable")
    message["Content-Language"] = config.language  # after set_content, which drops Content-*
    return message
