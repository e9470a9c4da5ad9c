"""A rendered variant → a complete MIME message (multipart/alternative, UTF-8, sv)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from pipeline.config import Config, Mailbox
from pipeline.render.email import RenderedEmail
from pipeline.render.personalise import Reader, personalise

_FORBIDDEN = ("\r", "\n", "\0", "\u2028", "\u2029", "\x85")


def _address(box: Mailbox) -> Address:
    return Address(box.name, addr_spec=box.email)


def check_header(name: str, value: str) -> str:
    """Refuse header values that could split a header (CR, LF, NUL, line separators)."""
    if any(c in value for c in _FORBIDDEN):
        raise ValueError(f"{name}: line breaks and NUL are not allowed in a header value")
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
