"""The prose of a section: Markdown → blocks of plain text, words and sentences, with lines.

The klarspråk checks measure what a reader reads, not Markdown syntax: emphasis marks, link
targets, bare URLs, inline code, code blocks and images are left out; link text stays.
Headings and table cells are kept as blocks for the word checks but are not prose: they are
not sentences, so LIX and sentence length skip them. Each block remembers the line it starts
on and where its line breaks fall, so a word or sentence is reported at its own line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Abbreviations whose full stop does not end a sentence (lower case, as written).
_ABBREVIATIONS = """
    t.ex. bl.a. m.m. m.fl. kl. ca. c:a nr. s.k. dvs. d.v.s. osv. o.s.v. etc. p.g.a. pga.
    fr.o.m. t.o.m. jfr. resp. enl. tel. st. kap. ang. inkl. exkl. obs. f.d. ev. o.d. e.d.
    mfl. mm. fig. s. sid. mån. tis. ons. tors. fre. lör. sön. jan. feb. apr. aug. sept.
    okt. nov. dec. forts. tf. t.f. bl.a fr.a. f.ö. i.o.m. m.a.o. t.v. o.a. u.a. dr. doc. prof.
"""
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())
# Of those, the ones that often close a sentence: a capital after them starts a new one.
CLOSING = frozenset({"m.m.", "m.fl.", "osv.", "o.s.v.", "etc.", "mm.", "mfl.", "o.d.", "e.d."})

_WORD = re.compile(
    r"[^\W\d_]{1,3}\.(?:[^\W\d_]{1,3}\.)+"  # t.ex. d.v.s. fr.o.m.
    r"|\d+(?:[.,:/–-]\d+)*"                 # 13.00 2027-02-16 1,5 24/7
    r"|[^\W_]+(?:[-'’:][^\W_]+)*-?"         # ord, e-post, SVT:s, hem- (och omsorg)
)
# Each alternative starts only where its run of characters starts (the lookbehinds): tried
# from every position inside a long word, they made a 20,000-character word cost 2 s.
_URL = re.compile(  # and mail addresses, file names, domains, {{ placeholders }}, tags
    r"(?<![\w/.])(?:https?://|www\.)\S+?(?=[.,;:!?)\]”’\"]*(?:\s|$))"
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\{\{[^{}]*?\}\}"
    r"|</?[A-Za-z][^<>]*>|<!--.*?-->"  # pasted HTML: the raw-html rule's
    r"|(?<![\w.-])[\w.-]+\.(?:md|ya?ml|toml|txt|csv|json|html?|pdf|docx?|xlsx?|pptx?|jpe?g|png"
    r"|gif|webp|svg|se|nu|com|org|net|eu)\b")
_END = re.compile(r"[.!?…]+[”’\")\]]*(?=\s+[”’\"(\[–—-]?\s*[A-ZÅÄÖÉÜ])")


@dataclass(frozen=True)
class Word:
    text: str
    line: int
    start: int  # offset in the block's text


@dataclass(frozen=True)
class Sentence:
    text: str
    line: int  # where it starts
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Block:
    """A paragraph, list item, heading or table cell as plain text."""

    text: str
    line: int
    prose: bool  # paragraphs and list items; not headings or table cells

    def line_at(self, offset: int) -> int:
        return self.line + self.text.count("\n", 0, offset)

    def words(self) -> tuple[Word, ...]:
        return tuple(Word(m.group(), self.line_at(m.start()), m.start())
                     for m in _WORD.finditer(self.text))

    def sentences(self) -> Iterator[Sentence]:
        start = 0
        for end in _sentence_ends(self.text):
            if chunk := _sentence(self, start, end):
                yield chunk
            start = end
        if chunk := _sentence(self, start, len(self.text)):
            yield chunk


def _sentence_ends(text: str) -> Iterator[int]:
    for match in _END.finditer(text):
        before = text[:match.start() + 1].split()
        last = before[-1].lower().lstrip("(”’\"") if before else ""
        if last in ABBREVIATIONS and last not in CLOSING:
            continue
        yield match.end()  # after a number too: Swedish writes no ordinal dot ("den 3 maj")


def _sentence(block: Block, start: int, end: int) -> Sentence | None:
    chunk = block.text[start:end]
    words = tuple(w for w in block.words() if start <= w.start < end)
    if not words:
        return None
    lead = len(chunk) - len(chunk.lstrip())
    return Sentence(" ".join(chunk.split()), block.line_at(start + lead), words)


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "typographer": True, "quotes": "””’’"}) \
        .enable(["table", "strikethrough", "replacements", "smartquotes"])


def markdown_blocks(source: str, first_line: int = 1) -> list[Block]:
    """The readable text of a section body, block by block, at its lines in the file."""
    blocks: list[Block] = []
    tokens = _parser().parse(source)
    inside: list[str] = []
    for token in tokens:
        if token.nesting == 1:
            inside.append(token.type)
        elif token.nesting == -1 and inside:
            inside.pop()
        if token.type != "inline" or not token.map:
            continue
        text = _inline_text(token.children or [])
        if not text.strip():
            continue
        heading = "heading_open" in inside
        cell = "td_open" in inside or "th_open" in inside
        blocks.append(Block(text, token.map[0] + first_line, not (heading or cell)))
    return blocks


def _inline_text(children: list[Token]) -> str:
    parts: list[str] = []
    for child in children:
        if child.type == "text":
            parts.append(_URL.sub(" ", child.content))
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "code_inline":
            parts.append(" ")  # code is not Swedish prose
    return "".join(parts)


def plain_blocks(text: str, line: int, prose: bool = True) -> list[Block]:
    """A one-line text from YAML (a title, a preheader) as a block."""
    return [Block(_URL.sub(" ", text), line, prose)] if text.strip() else []
