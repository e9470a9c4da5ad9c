"""Checks on what the communicator wrote that the renderer would pass on silently.

- ``raw-html``: HTML pasted into Markdown. The renderer escapes it (author text never becomes
  markup), so ``<b>viktigt</b>`` would reach the reader as those very characters.
- ``alt-text``: alt text that tells a screen-reader user nothing: "Bild", "x", the file name.
- ``empty-focus``: focus areas no section is tagged with. A connected reader who chose only
  those gets an email without "Ert fokus", unless the segment's ``empty_focus`` line explains.
"""

from __future__ import annotations

from functools import cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt

from pipeline.config import Config
from pipeline.i18n import _
from pipeline.issue import Issue, PartialIssue
from pipeline.settings import Rule

if TYPE_CHECKING:
    from pipeline.lint import _Findings

# Alt texts that say nothing about the picture (compared without case and punctuation).
EMPTY_ALT = {
    "bild", "bilden", "en bild", "foto", "fotot", "ett foto", "fotografi", "illustration",
    "grafik", "image", "img", "picture", "photo", "pic", "figur", "logo", "logga", "alt",
    "alt-text", "alttext", "beskrivning", "bildtext", "x", "-", "...", "…",
}


@cache
def _html_parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def lint_text(issue: Issue | PartialIssue, config: Config, found: _Findings) -> None:
    for section in issue.sections:
        _raw_html(section.body, section.body_line, str(section.path), found)
        image = section.front.image
        if image is not None:
            _alt(image.alt, image.src, str(section.path),
                 section.lines.line(("image", "alt")), "image.alt", found)
    if isinstance(issue, Issue):
        _empty_focus(issue, config, found)


def lint_alt(alt: str, src: str, path: str, line: int, found: _Findings) -> None:
    """A Markdown image's alt text (the section front matter's is checked in lint_text)."""
    _alt(alt, src, path, line, "image", found)


def _alt(alt: str, src: str, path: str, line: int, key: str, found: _Findings) -> None:
    said = " ".join(alt.casefold().strip(" .:;!?\"'").split())
    name = PurePosixPath(src).name.casefold()
    stem = PurePosixPath(name).stem
    if not said:
        return  # no alt text at all is the image rule's
    if said in EMPTY_ALT or len(said) < 3 or said in (name, stem, stem.replace("-", " "),
                                                        stem.replace("_", " ")):
        found.add(Rule.ALT_TEXT, path, line, key,
                  _("the alt text '%(alt)s' does not say what the image shows; describe it "
                    "in a short sentence, as to someone who cannot see it") % {"alt": alt})


def _raw_html(body: str, first_line: int, path: str, found: _Findings) -> None:
    for token in _html_parser().parse(body):
        line = (token.map[0] if token.map else 0) + first_line
        pieces = [(line, token.content)] if token.type == "html_block" else []
        for child in token.children or []:
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type == "html_inline":
                pieces.append((line, child.content))
        for where, html in pieces:
            if html.lstrip().startswith("<!--"):
                continue  # a comment: shown as text too, but a deliberate note is rare
            found.add(Rule.RAW_HTML, path, where, "body",
                      _("HTML code (%(html)s) shows as text in the email; write it in "
                        "Markdown instead: **bold**, *italics*, [link text](https://…)") % {
                          "html": html.strip().splitlines()[0][:40]})


def _empty_focus(issue: Issue, config: Config, found: _Findings) -> None:
    tagged = {area for section in issue.sections for area in section.front.focus}
    untagged = [area for area in config.focus_areas if area.slug not in tagged]
    segments = [s for s in config.segments if s.focus and not s.empty_focus]
    if not untagged or not segments:
        return
    found.add(Rule.EMPTY_FOCUS, issue.lines.path, issue.lines.line(("sections",)), "sections",
              _("no section is tagged with %(areas)s: readers who chose only these get no "
                "'Ert fokus' block. Tag a section with one of them (focus: […]), or write "
                "empty_focus for the segment in newsletter.toml, a line that explains it in "
                "the email") % {"areas": ", ".join(a.short or a.slug for a in untagged)})
