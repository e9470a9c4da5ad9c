"""A test copy of one variant: the edition's mail, marked, with inert links and its images inside.

Test copies go to editors before the issue is published, so nothing in them may depend on the
archive or on a reader:

- the unsubscribe and preferences links are *test links*: the archive's front page with a
  ``#testlank-…`` marker. No token is made, so no secret is needed and no reader's link can
  leak; the message carries no List-Unsubscribe header a mail program could act on;
- the images the HTML takes from ``<archive_url>/<year>/<n>/images/`` and the logotype from
  ``<archive_url>/material/`` are embedded as inline parts (``cid:``), so they show before the
  archive has them;
- a box at the top says it is a test copy (and a draft, before approval), that the links
  are test links, and where the web version will be once the issue is published.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from urllib.parse import unquote

from pipeline.deliver.message import InlineImage
from pipeline.i18n import _
from pipeline.render.personalise import Reader

TEST_READER_NAME = "Testläsare"
_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
          "webp": "image/webp"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")
_BODY = re.compile(r"<body[^>]*>(?:\s*<div style=\"?display:none[^>]*>[^<]*</div>)?")
_BOX = ("border:2px solid #8a5a00;background-color:#fff4d6;color:#1a1a1a;"
        "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;"
        "max-width:568px;margin:12px auto;padding:12px 16px")


@dataclass(frozen=True)
class MarkedMail:
    """What ``MessageTemplate`` needs: the marked subject and bodies (placeholders kept)."""

    subject: str
    html: str
    text: str


def inert_reader(archive_url: str) -> Reader:
    """A reader whose links lead to the archive's front page, marked as test links."""
    base = archive_url.rstrip("/")
    return Reader(TEST_READER_NAME, f"{base}/#testlank-avregistrera",
                  f"{base}/#testlank-installningar")


def subject_marker(label: str, draft: bool) -> str:
    """``[TEST · Anslutna aktörer · hälsa, våld]``; ``[TEST · UTKAST · …]`` for a draft.

    In the newsletter's own language, like the variant's name and the subject after it."""
    return f"[TEST · UTKAST · {label}]" if draft else f"[TEST · {label}]"


def notes(label: str, draft: bool, web_url: str, published: bool) -> list[str]:
    """The lines of the box at the top of a test copy."""
    lines = [_("Test copy: %(variant)s.") % {"variant": label}]
    if draft:
        lines.append(_("This is a draft: the issue is not approved, and readers get nothing "
                       "until it is."))
    lines.append(_("The links to unsubscribe and to change settings are test links: they do "
                   "nothing."))
    if published:
        lines.append(_("The web version: %(url)s") % {"url": web_url})
    else:
        lines.append(_("The web version is not published yet. It will be at %(url)s when the "
                       "issue is sent.") % {"url": web_url})
    return lines


def embed_images(markup: str, prefix: str, images: dict[str, bytes], domain: str
                 ) -> tuple[str, list[InlineImage]]:
    """``markup`` with every ``src`` that points at one of ``images`` in the archive
    (``<prefix><name>``: the issue's ``images/``, or the brand files' ``material/``) replaced
    by ``cid:``, and those images as inline parts."""
    pattern = re.compile(r"""src=(["']?)""" + re.escape(html.escape(prefix))
                         + r"""([^"'\s>]+)\1""")
    used: dict[str, InlineImage] = {}

    def swap(match: re.Match[str]) -> str:
        name = unquote(html.unescape(match.group(2)))
        data = images.get(name)
        if data is None:
            return match.group(0)
        if name not in used:
            used[name] = _inline(name, data, domain)
        return f'src="cid:{used[name].content_id}"'

    return pattern.sub(swap, markup), list(used.values())


def _inline(name: str, data: bytes, domain: str) -> InlineImage:
    digest = hashlib.sha256(data).hexdigest()[:20]
    extension = name.rsplit(".", 1)[-1].lower()
    filename = name if _SAFE_NAME.fullmatch(name) else f"bild-{digest[:8]}.{extension}"
    return InlineImage(f"bild-{digest}@{domain}", filename,
                       _TYPES.get(extension, "application/octet-stream"), data)


def mark_html(markup: str, lines: list[str]) -> str:
    """The box after ``<body>`` (and after the hidden preheader, so inboxes still show it)."""
    paragraphs = "".join(
        f'<p style="margin:0 0 6px">{"<strong>" if i == 0 else ""}{html.escape(line)}'
        f'{"</strong>" if i == 0 else ""}</p>' for i, line in enumerate(lines))
    box = f'<div role="note" style="{_BOX}">{paragraphs}</div>'
    found = _BODY.search(markup)
    if found is None:
        return box + markup
    return markup[:found.end()] + box + markup[found.end():]


def mark_text(text: str, lines: list[str]) -> str:
    rule = "=" * 72
    return "\n".join([rule, *lines, rule, "", text])
