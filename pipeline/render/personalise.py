"""The per-recipient tokens of a rendered email, and how delivery fills them.

Rendering leaves ``{{reader_greeting}}``, ``{{unsubscribe_url}}`` and ``{{preferences_url}}``
in the HTML and text; filling them is a few string replacements per recipient, so the expensive
work (Markdown, Jinja, MJML, CSS inlining) happens once per variant.
"""

from __future__ import annotations

import html
import re
from typing import NamedTuple

PLACEHOLDERS = ("reader_greeting", "unsubscribe_url", "preferences_url")
TOKEN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


_PARTICLES = {"af", "av", "da", "de", "del", "der", "di", "du", "la", "le", "van", "von"}


def address_as(name: str | None, form: str = "first_name") -> str:
    """The name a greeting uses (``[audience] greeting``): "Sara" (first_name), "Sara Lind"
    (full_name) or "" (none, or no name). "Lind, Sara" is Sara; where the first word is not a
    given name ("Dr. Sara Lind", "von Essen Eva", an initial) the whole name is used."""
    words = (name or "").split()
    if not words or form == "none":
        return ""
    if form == "full_name":
        return " ".join(words)
    if "," in (name or ""):  # "Lind, Sara"
        given = (name or "").split(",", 1)[1].split()
        return given[0] if given else " ".join(words).rstrip(",")
    first = words[0]
    if first.endswith(".") or first.lower() in _PARTICLES or len(first.rstrip(".")) < 2:
        return " ".join(words)
    return first


def greeting(name: str) -> str:
    return f"Hej {name}!" if name else "Hej!"


def placeholder(name: str) -> str:
    assert name in PLACEHOLDERS, name
    return "{{" + name + "}}"


class Reader(NamedTuple):
    """What one recipient's copy needs. ``name`` is what the greeting says ("Sara"; see
    ``address_as``) and may be empty. (A NamedTuple: a delivery makes one per reader, and a
    frozen dataclass costs three times as much to make.)"""

    name: str
    unsubscribe_url: str
    preferences_url: str

    def values(self) -> dict[str, str]:
        return {"reader_greeting": greeting(self.name.strip()),
                "unsubscribe_url": self.unsubscribe_url, "preferences_url": self.preferences_url}


SAMPLE_READER = Reader(
    "Förnamn", "https://example.invalid/avregistrera?token=EXEMPEL",
    "https://example.invalid/installningar?token=EXEMPEL",
)


def personalise(content: str, reader: Reader, *, is_html: bool) -> str:
    values = reader.values()
    for name, value in values.items():
        content = content.replace(placeholder(name), html.escape(value) if is_html else value)
    return content


def unresolved(content: str) -> list[str]:
    """Placeholder-looking tokens that delivery does not know how to fill."""
    return sorted({m.group(0) for m in TOKEN.finditer(content) if m.group(1) not in PLACEHOLDERS})
