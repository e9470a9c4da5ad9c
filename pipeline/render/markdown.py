"""Section Markdown → sanitised HTML fragment, plain text, and what the checks need.

Author content is data: raw HTML is not interpreted (markdown-it ``html=False``), the result
passes an allow-list sanitiser (nh3) so no script, event attribute or ``javascript:``/``data:``
URL survives, and nothing here is ever evaluated as a template.

A table gets ``class="stack"`` and, in every cell, its column's header as a label
(``<span class="cell-label">Datum: </span>``): hidden on wide screens, shown where a narrow
screen stacks the rows (the archive's style.css, the email's media query), so each value
still says which column it belongs to.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from functools import cache
from html import escape, unescape

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

_TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "code", "pre", "hr", "img", "table", "thead", "tbody", "tr", "th", "td",
    "s", "del", "sup", "sub",
}
_ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"},
    "th": {"style", "scope"}, "td": {"style"},
}


@dataclass(frozen=True)
class Link:
    url: str
    text: str
    line: int


@dataclass(frozen=True)
class Picture:
    src: str
    alt: str
    line: int


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    line: int


@dataclass(frozen=True)
class Body:
    html: str
    text: str
    links: tuple[Link, ...]
    images: tuple[Picture, ...]
    headings: tuple[Heading, ...]
    bare_urls: tuple[Link, ...] = field(default=())


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "typographer": True, "quotes": "””’’"})
    return md.enable(["table", "strikethrough", "replacements", "smartquotes"])


def sanitise(html: str) -> str:
    return nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"https", "http", "mailto"},
        link_rel=None, strip_comments=True, filter_style_properties={"text-align"},
    )


def render_markdown(source: str, first_line: int = 1, image_base: str = "") -> Body:
    """Render one section body; ``image_base`` prefixes relative image paths."""
    md = _parser()
    tokens = md.parse(source)
    links: list[Link] = []
    images: list[Picture] = []
    headings: list[Heading] = []
    bare: list[Link] = []
    offset = first_line - 1
    for index, token in enumerate(tokens):
        line = (token.map[0] if token.map else 0) + 1 + offset
        if token.type == "heading_open":
            headings.append(Heading(int(token.tag[1]), tokens[index + 1].content, line))
        if token.type != "inline" or not token.children:
            continue
        children = token.children
        in_link = 0
        for pos, child in enumerate(children):
            if child.type in ("softbreak", "hardbreak"):
                line += 1  # the paragraph goes on on the next source line
            in_link += {"link_open": 1, "link_close": -1}.get(child.type, 0)
            if child.type == "link_open":
                links.append(Link(str(child.attrGet("href") or ""),
                                  _inline_text(children, pos + 1, "link_close"), line))
            elif child.type == "image":
                src = str(child.attrGet("src") or "")
                images.append(Picture(src, _plain(child.children or []), line))
                if image_base and "://" not in src and not src.startswith("mailto:"):
                    child.attrSet("src", image_base + src)
            elif child.type == "text" and not in_link:
                bare += [Link(w, w, line) for w in child.content.split()
                         if w.startswith(("http://", "https://", "www."))]
    html = label_cells(sanitise(md.renderer.render(tokens, md.options, {})))
    return Body(html, _text(tokens), tuple(links), tuple(images), tuple(headings), tuple(bare))


_TABLE = re.compile(r"<table>(.*?)</table>", re.DOTALL)
_HEADER = re.compile(r"<th[^>]*>(.*?)</th>", re.DOTALL)
_ROW = re.compile(r"<tr>.*?</tr>", re.DOTALL)
_CELL = re.compile(r"<td[^>]*>")
_TAG = re.compile(r"<[^>]*>")


def label_cells(html: str) -> str:
    """Mark sanitised tables for stacking and label each cell with its column's header
    (escaped text, as the header cell holds it)."""
    def table(match: re.Match[str]) -> str:
        head, end, rows = match.group(1).partition("</thead>")
        labels = [escape(unescape(_TAG.sub("", cell))).strip() for cell in _HEADER.findall(head)]

        def row(tr: re.Match[str]) -> str:
            names = iter(labels)
            return _CELL.sub(lambda td: td.group(0) + (
                f'<span class="cell-label">{name}: </span>' if (name := next(names, "")) else ""),
                tr.group(0))

        return f'<table class="stack">{head}{end}{_ROW.sub(row, rows)}</table>'

    return _TABLE.sub(table, html)


def _inline_text(children: list[Token], start: int, until: str) -> str:
    out = []
    for child in children[start:]:
        if child.type == until:
            break
        out.append(_plain([child]))
    return "".join(out).strip()


def _plain(children: list[Token]) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_plain(child.children or []))
    return "".join(parts)


def _inline_to_text(children: list[Token], refs: list[str]) -> str:
    out: list[str] = []
    href = ""
    for child in children:
        if child.type == "link_open":
            href = str(child.attrGet("href") or "")
            start = len(out)
        elif child.type == "link_close":
            label = "".join(out[start:]).strip()
            if href and href.removeprefix("mailto:") != label:
                refs.append(href)
                out.append(f" [{len(refs)}]")
        elif child.type == "image":
            out.append(f"[Bild: {_plain(child.children or [])}]")
        elif child.type == "hardbreak":
            out.append("\n")
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type in ("text", "code_inline"):
            out.append(child.content)
    return "".join(out)


def _text(tokens: list[Token]) -> str:
    """Plain text for the text/plain part: wrapped paragraphs, lists, numbered link list."""
    blocks: list[tuple[str, str]] = []  # (text, group: tight runs join with one newline)
    refs: list[str] = []
    prefix: list[str] = []
    ordinal: list[int] = []
    row: list[str] = []
    for index, token in enumerate(tokens):
        kind = token.type
        before = tokens[index - 1].type if index else ""
        if kind in ("bullet_list_open", "ordered_list_open"):
            ordinal.append(int(token.attrGet("start") or 1) if kind.startswith("ordered") else 0)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            ordinal.pop()
        elif kind == "list_item_open":
            prefix.append("")
        elif kind == "list_item_close":
            prefix.pop()
        elif kind == "blockquote_open":
            prefix.append("> ")
        elif kind == "blockquote_close":
            prefix.pop()
        elif kind in ("tr_open",):
            row = []
        elif kind == "tr_close":
            blocks.append((" | ".join(row), "table"))
        elif kind in ("fence", "code_block"):
            blocks.append((textwrap.indent(token.content.rstrip("\n"), "    "), ""))
        elif kind == "hr":
            blocks.append(("-" * 20, ""))
        elif kind == "inline":
            text = _inline_to_text(token.children or [], refs)
            if row is not None and token.level and before in ("th_open", "td_open"):
                row.append(text.strip())
                continue
            if before == "heading_open":
                text = f"{text}\n{'-' * len(text)}"
            blocks.append((_wrap(text, "".join(prefix), ordinal, token), "list" if ordinal else ""))
    body = ""
    previous = ""
    for text, group in blocks:
        if text.strip():
            body += ("\n" if group and group == previous else "\n\n" if body else "") + text
            previous = group
    if refs:
        body += "\n\n" + "\n".join(f"[{n}] {url}" for n, url in enumerate(refs, start=1))
    return body


def _wrap(text: str, prefix: str, ordinal: list[int], token: Token) -> str:
    first = prefix
    if ordinal and token.level >= 2:
        marker = f"{ordinal[-1]}. " if ordinal[-1] else "- "
        if ordinal[-1]:
            ordinal[-1] += 1
        first, prefix = prefix + marker, prefix + " " * len(marker)
    lines = []
    for part in text.split("\n"):
        lines += textwrap.wrap(part, 72, initial_indent=first, subsequent_indent=prefix,
                               break_long_words=False, break_on_hyphens=False) or [first]
        first = prefix
    return "\n".join(lines)
