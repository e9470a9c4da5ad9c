"""A rendered variant → a complete MIME message (multipart/alternative, UTF-8, sv)."""

from __future__ import annotations

import unicodedata
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


def header_problem(value: str) -> str | None:
    """Why ``value`` cannot be written in a mail header (None: it can).

    The one rule for ``check`` and for sending: no C0 or C1 control character (CR, LF, NUL,
    VT, FF, ESC, NEL …) but tab, no DEL, no line or paragraph separator (U+2028, U+2029).
    """
    for char in value:
        if char != "\t" and unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return _("a control character (U+%(code)04X) cannot be sent in a mail header; "
                     "remove it") % {"code": ord(char)}
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
