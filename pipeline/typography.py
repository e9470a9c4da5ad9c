"""Swedish typography for rendered pages and emails: dates written the Swedish way, soft
hyphens in long words, and no line break inside a time, a date or a phone number.

    swedish_date(date(2027, 3, 5))                # → "5 mars 2027"
    typeset("<p>Könsuppdelad statistik kl. 09.00</p>", Nowrap.CLASS)
    # → '<p>Könsupp\xaddelad statistik <span class="nobr">kl. 09.00</span></p>'

``typeset`` changes text between tags only: never a tag or an attribute, nor anything inside
``<head>``, ``<mj-head>``, ``<style>``, ``<script>``, ``<title>``, ``<code>``, ``<pre>`` or a
comment, nor a URL, a domain, an e-mail address or a ``{{placeholder}}`` in the text.

- **Soft hyphens** (U+00AD) go into words of at least ``MIN_LETTERS`` letters, at the points
  pyphen's Swedish dictionary (sv_SE, from LibreOffice) allows, keeping ``EDGE`` letters on each
  side. A compound that already has a hyphen is hyphenated part by part, so no soft hyphen
  sits next to the hard one. Most mail programs do not hyphenate by themselves (CSS
  ``hyphens: auto`` is set too, for those that do); a browser shows a soft hyphen only where
  it breaks the line, and copying, searching and screen readers ignore it.
- **No break** inside times (09.00, 9:00, kl. 17.00–18.00), dates (2027-03-05, 5 mars 2027,
  tisdag 9 februari) and phone numbers (010-224 90 00, +46 10 224 90 00): they are wrapped in
  a span with ``white-space: nowrap``. Not NBSP or U+2011: those change the characters, so a
  copied number would not dial, the privacy check and the search index would read a
  different text, and some mail fonts lack U+2011. Emails get an inline style (what mail
  programs keep); the archive a class (its Content-Security-Policy refuses style
  attributes). In an email's table cells nothing is kept on one line: a mail program that
  ignores media queries cannot stack the table, and a line that cannot break would widen the
  email past the screen there.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from functools import cache, lru_cache

import pyphen

SOFT_HYPHEN = "\u00ad"
MIN_LETTERS = 12  # shorter words fit a 320 px line; hyphenating them only makes text ragged
EDGE = 4          # letters kept on each side of a soft hyphen

MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
          "september", "oktober", "november", "december")
WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")


def swedish_date(day: date, weekday: bool = False) -> str:
    """'5 mars 2027', or with ``weekday`` 'fredag 5 mars 2027'."""
    text = f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    return f"{WEEKDAYS[day.weekday()]} {text}" if weekday else text


class Nowrap(Enum):
    """How a run that must stay on one line is marked up."""

    STYLE = '<span style="white-space:nowrap">'  # emails: mail programs keep inline styles
    CLASS = '<span class="nobr">'                 # the archive: style.css has .nobr


_CLOCK = r"(?:[01]?\d|2[0-3])[.:][0-5]\d"
_DAY = r"\d{1,2}(?:\s?[–-]\s?\d{1,2})?"
_NOWRAP = (
    # a time or a span of time, perhaps after "kl."
    rf"(?:kl\.\s?)?{_CLOCK}(?:\s?[–-]\s?{_CLOCK})?(?![.,:]?\d)"
    # an ISO date
    r"|\d{4}-\d{2}-\d{2}(?![\w-])"
    # a written date: "5 mars", "5 mars 2027", "tisdag 9 februari", "24–25 april"
    rf"|(?:(?:{'|'.join(WEEKDAYS)})(?:en)?(?:\s+den)?\s+)?{_DAY}\s+(?:{'|'.join(MONTHS)})"
    r"(?:\s+\d{4})?(?!\w)"
    # a Swedish phone number, as the privacy check reads one
    r"|(?:\+46[ \u00a0-]?(?:\(0\)[ \u00a0]?)?|0)[1-9](?:[ \u00a0-]?\d){6,9}(?![\w-])"
)
_TEXT = re.compile(  # each alternative tried only where a token or a word starts
    r"(?P<keep>&#?\w+;|\{\{.*?\}\}|(?<!\S)\S*?(?:://|@|www\.)\S*"
    r"|(?<![\w.-])\w[\w-]*(?:\.\w[\w-]*)*\.[^\W\d_]{2,}(?![\w-]))"
    rf"|(?<![\w.,:+#/-])(?P<nowrap>{_NOWRAP})"
    rf"|(?<![^\W\d_\u00ad])(?P<word>(?:[^\W\d_]|\u00ad){{{MIN_LETTERS},}})",
    re.IGNORECASE)

_WORK = re.compile(rf"\d|[^\W\d_]{{{MIN_LETTERS}}}")
_MARKUP = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<![^>]*>"
    r"|<(?P<close>/?)(?P<name>[A-Za-z][\w:.-]*)(?:[^>\"']|\"[^\"]*\"|'[^']*')*>",
    re.DOTALL)
_RAW_TEXT = {"script", "style", "title", "textarea"}  # content is not markup: skip to the end
_UNTOUCHED = {"head", "mj-head", "code", "pre", "kbd", "samp", "svg", "math"}
_CELLS = {"td", "th"}


@cache
def _dictionary() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="sv_SE", left=EDGE, right=EDGE)


@lru_cache(maxsize=4096)
def hyphenate(word: str) -> str:
    """The word with soft hyphens where Swedish allows a break (unchanged if it is short or
    already has one)."""
    if len(word) < MIN_LETTERS or SOFT_HYPHEN in word:
        return word
    return str(_dictionary().inserted(word, hyphen=SOFT_HYPHEN))


@lru_cache(maxsize=8192)  # the variants of an issue share nearly all their runs of text
def typeset_text(text: str, nowrap: Nowrap | None) -> str:
    """One run of text between tags (HTML-escaped, as it stands in the page)."""
    if not _WORK.search(text):  # most runs: no digit, no long word (the quick way out)
        return text

    def one(match: re.Match[str]) -> str:
        if match.group("word"):
            return hyphenate(match.group("word"))
        if match.group("nowrap") and nowrap is not None:
            return f"{nowrap.value}{match.group(0)}</span>"
        return match.group(0)

    return _TEXT.sub(one, text)


def typeset(html: str, nowrap: Nowrap) -> str:
    """Soft hyphens and unbreakable runs in the text of an HTML page or an MJML source."""
    out: list[str] = []
    untouched: list[str] = []  # open elements whose text stays as written
    cells = 0
    position = 0
    lower = html.lower()
    for match in _MARKUP.finditer(html):
        if match.start() < position:  # inside raw text already copied
            continue
        text = html[position:match.start()]
        if untouched:
            out.append(text)
        else:
            in_cell = cells > 0 and nowrap is Nowrap.STYLE
            out.append(typeset_text(text, None if in_cell else nowrap))
        out.append(match.group(0))
        position = match.end()
        name = (match.group("name") or "").lower()
        closing = bool(match.group("close"))
        if not name or match.group(0).endswith("/>"):
            continue
        if name in _RAW_TEXT and not closing:
            end = lower.find(f"</{name}", position)
            end = len(html) if end < 0 else end
            out.append(html[position:end])
            position = end
        elif name in _UNTOUCHED:
            if not closing:
                untouched.append(name)
            elif name in untouched:
                del untouched[untouched.index(name):]
        elif name in _CELLS:
            cells = max(cells + (-1 if closing else 1), 0)
    tail = html[position:]
    out.append(tail if untouched else typeset_text(tail, nowrap))
    return "".join(out)


def without_soft_hyphens(text: str) -> str:
    """The text as it reads: what search, the privacy check and the checks compare."""
    return text.replace(SOFT_HYPHEN, "").replace("&shy;", "")
