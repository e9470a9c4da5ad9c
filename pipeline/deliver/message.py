"""Each recipient's MIME message, cheaply: built once per variant, filled per recipient.

Python's ``email`` package builds about 200 messages a second; a newsletter needs thousands.
So each variant's message is assembled once: headers with slots for To, Date, Message-ID and
List-Unsubscribe, and both bodies quoted-printable-encoded in pieces around the reader
placeholders. Per recipient the pieces are joined with the encoded values in between (a QP soft
line break between pieces keeps the encoding valid). The result parses as the same message the
``email`` package would build.
"""

from __future__ import annotations

import base64
import email.quoprimime as quoprimime
import functools
import html
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import NamedTuple, Protocol

from pipeline.config import Config
from pipeline.render.mime import check_header, header_problem
from pipeline.render.personalise import TOKEN, Reader

EOL = "\r\n"


class Envelope(NamedTuple):
    """One recipient's copy: who, which variant, and the per-reader values (a NamedTuple: one
    is made per reader, and a frozen dataclass costs 1 µs more)."""

    entry_id: int
    email: str
    name: str | None
    variant: str
    message_id: str
    reader: Reader
    subscriber_ref: str  # opaque: the ledger entry, never the address
    delivery_ref: str = ""


@dataclass(frozen=True)
class InlineImage:
    """An image carried in the message itself, which the HTML shows as ``cid:<content_id>``."""

    content_id: str     # without the angle brackets
    filename: str       # ASCII
    content_type: str   # image/png …
    data: bytes

    def part(self, boundary: str) -> str:
        encoded = base64.encodebytes(self.data).decode("ascii").replace("\n", EOL)
        return (f"--{boundary}{EOL}Content-Type: {self.content_type}{EOL}"
                f"Content-Transfer-Encoding: base64{EOL}Content-ID: <{self.content_id}>{EOL}"
                f'Content-Disposition: inline; filename="{self.filename}"{EOL}{EOL}{encoded}')


def ascii_address(address: str) -> str:
    """The address as mail servers take it: an internationalised domain in punycode.

    IDNA 2008 with UTS-46 mapping, non-transitional (as the register validated it): ``ß`` stays
    ``ß`` (``xn--strae-oqa``), where Python's own codec (IDNA 2003) would mail ``strasse``.
    Raises ValueError for an address that cannot be written in ASCII."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise ValueError("the address's local part is not ASCII (needs SMTPUTF8)")
    return f"{local}@{_ascii_domain(domain)}"


@functools.lru_cache(maxsize=8192)
def _ascii_domain(domain: str) -> str:
    """A domain's IDNA 2008 form, worked out once: readers share a few thousand domains, and
    the idna package's checks cost 20 µs a domain (a failure is not cached; it raises again)."""
    import idna

    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"the address's domain is not a valid IDNA name: {exc}") from None


def _qp(text: str) -> str:
    if _QP_AS_IS.fullmatch(text):  # a link or a plain greeting: only the line breaks change
        return _qp_wrap(text)
    body = text.replace("\r\n", "\n").encode("utf-8").decode("latin-1")
    return quoprimime.body_encode(body, maxlinelen=76, eol=EOL)


# printable ASCII, space and tab but no "=", not ending in white space: characters that
# quoted-printable writes as they are, on one line (tests/test_deliver_fast.py holds
# ``_qp_wrap`` to ``quoprimime.body_encode`` for such text)
_QP_AS_IS = re.compile(r"[\t\x20-\x3c\x3e-\x7e]*[\x21-\x3c\x3e-\x7e]|")


def _qp_wrap(text: str) -> str:
    """``quoprimime.body_encode(text, 76, EOL)`` for text ``_QP_AS_IS`` matches: soft line
    breaks after every 75 characters while more than 76 remain."""
    if len(text) <= 76:
        return text
    lines, start = [], 0
    while start <= len(text) - 77:
        lines.append(text[start:start + 75] + "=")
        start += 75
    lines.append(text[start:])
    return EOL.join(lines)


def _header(name: str, value: str) -> str:
    """``Name: value``, folded: encoded words of at most 78 characters a line whenever the
    value is not short ASCII (RFC 5322 allows 998 bytes a line; a long word cannot fold)."""
    check_header(name, value)
    if value.isascii() and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}"
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=EOL)}"


def _mailbox(name: str, box: tuple[str, str]) -> str:
    """An address header (From, To, Reply-To): a long or non-ASCII display name is folded
    into encoded words; the address itself stays whole."""
    display, address = box
    check_header(name, display)
    check_header(name, address)
    line = formataddr(box)
    if display.isascii() and len(name) + 2 + len(line) <= 78:
        return f"{name}: {line}"
    if not display:
        return f"{name}: {address}"
    encoded = Header(display, "utf-8", header_name=name).encode(linesep=EOL)
    return f"{name}: {encoded}{EOL} <{address}>"


def _list_id(value: str) -> str:
    """List-Id: the name may need encoding, the <id> part never."""
    name, _, identifier = value.rpartition("<")
    check_header("List-Id", value)
    phrase = name.strip()
    if not phrase.isascii():
        phrase = Header(phrase, "utf-8").encode()
    return f"List-Id: {phrase} <{identifier}".strip()


class _Body:
    """A body split at its placeholders: static pieces QP-encoded once, kept as bytes so that
    a message is one join of its parts (a body is tens of kilobytes: no copy to spare)."""

    def __init__(self, content: str) -> None:
        self.pieces: list[bytes] = []
        self.slots: list[str] = []
        position = 0
        for match in TOKEN.finditer(content):
            self.pieces.append(_qp(content[position:match.start()]).encode("ascii"))
            self.slots.append(match.group(1))
            position = match.end()
        self.pieces.append(_qp(content[position:]).encode("ascii"))

    def fill(self, slots: dict[str, bytes], out: list[bytes]) -> None:
        """Appends the body, with the encoded ``slots`` (``_slot``) in place, to ``out``."""
        out.append(self.pieces[0])
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            out += (slots[slot], piece)


def _slot(value: str) -> bytes:
    """A reader's value as it sits between two pieces: QP-encoded, on lines of its own."""
    return f"={EOL}{_qp(value)}={EOL}".encode("ascii")


class MailParts(Protocol):
    """What a message is made of: an edition's ``Mail``, or a rendered notice."""

    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...


class MessageTemplate:
    """One variant's message with slots for everything that differs per recipient."""

    def __init__(self, email: MailParts, config: Config, list_id: str,
                 subject_prefix: str = "", list_headers: bool = True,
                 inline: Sequence[InlineImage] = (), language: str | None = None) -> None:
        """``list_headers=False``: no List-Unsubscribe(-Post), for mail that is not an issue
        and has no reader link to unsubscribe with (confirmation requests, welcome mail, test
        copies). ``inline``: images the HTML refers to as ``cid:``; the HTML and they then
        form a multipart/related part (RFC 2387) as the HTML alternative. ``language``: the
        Content-Language of a letter in the reader's language (default: the newsletter's)."""
        boundary = "=_" + secrets.token_hex(16)
        sender = config.sender
        fixed = [
            _mailbox("From", (sender.name, sender.email)),
            _header("Subject", subject_prefix + email.subject),
            "MIME-Version: 1.0",
            f"Content-Language: {language or config.language}",
            _list_id(list_id),
            *(["List-Unsubscribe-Post: List-Unsubscribe=One-Click"] if list_headers else []),
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
        if config.reply_to:
            box = config.reply_to
            fixed.insert(1, _mailbox("Reply-To", (box.name, box.email)))
        self.email = email
        self.config = config  # the sender, reply-to and language this message is sent with
        self._date_second, self._date_value = -1, ""
        self.list_id = list_id
        self.list_headers = list_headers
        self.subject = subject_prefix + email.subject
        self.headers = EOL.join(fixed)
        self.mailto = f"mailto:{sender.email}?subject=avregistrera"
        self.part_head = (f"--{boundary}{EOL}Content-Type: text/plain; charset=utf-8{EOL}"
                          f"Content-Transfer-Encoding: quoted-printable{EOL}{EOL}")
        self.inline = tuple(inline)
        html_type = (f"Content-Type: text/html; charset=utf-8{EOL}"
                     f"Content-Transfer-Encoding: quoted-printable{EOL}{EOL}")
        self.html_head = f"{EOL}--{boundary}{EOL}{html_type}"
        self.tail = f"{EOL}--{boundary}--{EOL}"
        if self.inline:
            related = "=_" + secrets.token_hex(16)
            self.html_head = (f"{EOL}--{boundary}{EOL}Content-Type: multipart/related; "
                              f'type="text/html"; boundary="{related}"{EOL}{EOL}'
                              f"--{related}{EOL}{html_type}")
            self.tail = (EOL + "".join(image.part(related) for image in self.inline)
                         + f"--{related}--{EOL}--{boundary}--{EOL}")
        self.text, self.html = _Body(email.text), _Body(email.html)
        self._html_head, self._tail = self.html_head.encode("ascii"), self.tail.encode("ascii")

    def problem(self, envelope: Envelope) -> str | None:
        """Why this reader's message cannot be built (their name or address), if it cannot:
        checked before a batch goes out, so one bad row fails alone instead of the batch."""
        reader = envelope.reader
        try:  # all of it at once first (almost every reader): one search, one encoding
            ascii_address(envelope.email)
            together = "\t".join((envelope.email, envelope.name or "", envelope.message_id,
                                  reader.name, reader.unsubscribe_url, reader.preferences_url))
            if header_problem(together) is None and together.encode("utf-8"):
                return None
        except (ValueError, UnicodeError):
            pass
        try:  # the name itself, as ``build`` checks it: an encoded word would hide it here
            check_header("To", ascii_address(envelope.email))
            if envelope.name:
                check_header("To", envelope.name).encode("utf-8")
            check_header("List-Unsubscribe", envelope.reader.unsubscribe_url)
            check_header("Message-ID", envelope.message_id)
            for value in envelope.reader.values().values():
                value.encode("utf-8")  # lone surrogates cannot be sent
        except (ValueError, UnicodeError) as exc:
            return f"the message could not be built for this reader: {exc}"
        return None

    def _date(self) -> str:
        """Now in the newsletter's time zone, with its real offset (+0100 or +0200 in
        Sweden), as RFC 5322 writes it; worked out once a second."""
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date_value = format_datetime(datetime.fromtimestamp(second, self.config.zone))
        return self._date_value

    def build(self, envelope: Envelope, date: str | None = None) -> bytes:
        values = envelope.reader.values()
        to = (envelope.name or "", ascii_address(envelope.email))
        unsubscribe = envelope.reader.unsubscribe_url
        check_header("List-Unsubscribe", unsubscribe)
        listed = [f"List-Unsubscribe: <{unsubscribe}>, <{self.mailto}>"] \
            if self.list_headers else []
        head = EOL.join([
            self.headers,
            _mailbox("To", to),
            f"Date: {date or self._date()}",
            _header("Message-ID", envelope.message_id),
            *listed,
            "", self.part_head,
        ])
        text = {key: _slot(value) for key, value in values.items()}
        markup = {}  # the same bytes where escaping changes nothing (a link, most names)
        for key, value in values.items():
            escaped = html.escape(value)
            markup[key] = text[key] if escaped == value else _slot(escaped)
        out = [head.encode("ascii")]
        self.text.fill(text, out)
        out.append(self._html_head)
        self.html.fill(markup, out)
        out.append(self._tail)
        return b"".join(out)
