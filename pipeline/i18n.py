"""The pipeline's texts: English in the code and templates, Swedish from a gettext catalogue.

One catalogue serves the web service and the command line. The web service picks a
language per request (``negotiate``); the command line sets one for the whole run
(``use_language``: ``--lang``, ``NEWSLETTER_LANG`` or newsletter.toml's ``language``), and
messages built anywhere in the pipeline go through ``_``.
``locale/<lang>/LC_MESSAGES/messages.po`` is the standard format translators' tools read
(extract new strings with ``pybabel extract -F babel.cfg``). The catalogue is compiled in
memory at start, so there is no build step and no ``.mo`` file to forget. A string missing
from the catalogue shows in English: a fallback, never an error. The language is the one the
reader's browser prefers among Swedish and English; Swedish when it says nothing.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).with_name("locale")
LANGUAGES = ("sv", "en")  # the first is the default

Gettext = Callable[[str], str]


def load_translations(language: str) -> NullTranslations:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():  # English is the source language
        return NullTranslations()
    with path.open("rb") as source:
        catalogue = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(accept_language: str | None, default: str = LANGUAGES[0]) -> str:
    """The reader's language from an Accept-Language header (RFC 9110 q-values)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    for _quality, _position, tag in sorted(ranked):
        try:
            language = Locale.parse(tag.replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LANGUAGES:
            return language
    return default


_active: list[NullTranslations] = [NullTranslations()]
_language = ["en"]


def use_language(language: str) -> None:
    """Speak ``language`` in every message built from now on (English if it has no catalogue)."""
    _language[0] = language if language in LANGUAGES else "en"
    _active[0] = load_translations(_language[0])


def current_language() -> str:
    return _language[0]


def _(message: str) -> str:
    """``message`` in the active language; ``%(name)s`` placeholders are filled in after."""
    return _active[0].gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is defined; it is translated where it is
    shown (a label kept in data, such as a kind of organisation)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    return _active[0].ngettext(singular, plural, count)


def or_list(items: list[str]) -> str:
    """"a, b or c" in the active language."""
    return _(" or ").join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 \
        else "".join(items)
