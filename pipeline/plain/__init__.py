"""Klarspråk: how readable an issue's Swedish is, measured (``lix``, ``section_readability``).

LIX (läsbarhetsindex, Björnsson 1968) is words per sentence plus the share of long words
(more than six letters) in per cent. As a guide: below 30 very easy, 30–40 newspaper text,
40–50 factual prose, above 50 hard. It is computed on the prose a reader reads (see
``prose``): paragraphs and list items, not headings, tables, links' targets or code.

The API is small and typed so that ``check``, ``render``'s report.json and the preview show
the same numbers::

    lix("Vi ses i Västerås. Välkommen!")           # → 29.0 (one long word in five, 2.5 a sentence)
    section_readability(issue)                     # → [SectionReadability(...), ...]
    segment_readability(issue, config)             # → {"connected": Readability(...), ...}
    variant_readability(issue, config, rendered.variants)  # → {"connected+halsa": ..., ...}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config
from pipeline.issue import Issue, Section
from pipeline.plain.prose import Block, markdown_blocks
from pipeline.render.variants import VariantKey

LONG_WORD = 6  # letters; a word with more is long


@dataclass(frozen=True)
class Readability:
    """Counts behind a LIX value; counts add up, so sections combine into variants."""

    words: int = 0
    sentences: int = 0
    long_words: int = 0

    @property
    def lix(self) -> float:
        if not self.words:
            return 0.0
        return self.words / max(self.sentences, 1) + 100 * self.long_words / self.words

    def __add__(self, other: Readability) -> Readability:
        return Readability(self.words + other.words, self.sentences + other.sentences,
                           self.long_words + other.long_words)

    def as_dict(self) -> dict[str, float | int]:
        return {"lix": round(self.lix, 1), "words": self.words, "sentences": self.sentences,
                "long_words": self.long_words}


@dataclass(frozen=True)
class SectionReadability:
    section: str  # the section's id (its file name without .md)
    path: Path
    line: int  # the first line of its Markdown body
    segments: tuple[str, ...]  # the segments whose emails carry it
    readability: Readability

    @property
    def lix(self) -> float:
        return self.readability.lix


def is_long(word: str) -> bool:
    return sum(c.isalpha() for c in word) > LONG_WORD


def measure(blocks: Iterable[Block]) -> Readability:
    """Words, sentences and long words of the prose blocks (headings and cells skipped)."""
    total = Readability()
    for block in blocks:
        if not block.prose:
            continue
        for sentence in block.sentences():
            long_words = sum(is_long(w.text) for w in sentence.words)
            total += Readability(len(sentence.words), 1, long_words)
    return total


def lix(text: str) -> float:
    """LIX of a text (plain or Markdown); 0.0 for a text without words."""
    return measure(markdown_blocks(text)).lix


def section_blocks(section: Section) -> list[Block]:
    return markdown_blocks(section.body, section.body_line)


def section_readability(issue: Issue, config: Config | None = None) -> list[SectionReadability]:
    """Each section's readability, in reading order, with the segments that get it."""
    slugs = [s.slug for s in config.segments] if config else []
    return [SectionReadability(section.id, section.path, section.body_line,
                               tuple(s for s in slugs if section.for_segment(s)),
                               measure(section_blocks(section)))
            for section in issue.sections]


def segment_readability(issue: Issue, config: Config,
                        sections: list[SectionReadability] | None = None
                        ) -> dict[str, Readability]:
    """Readability of all a segment's sections together: what each of its variants reads
    (variants of one segment differ only in the "Ert fokus" links, not in their sections)."""
    sections = sections if sections is not None else section_readability(issue, config)
    out: dict[str, Readability] = {}
    for segment in config.segments:
        out[segment.slug] = sum((s.readability for s in sections
                                 if segment.slug in s.segments), Readability())
    return out


def issue_readability(sections: list[SectionReadability]) -> Readability:
    return sum((s.readability for s in sections), Readability())


def variant_readability(issue: Issue, config: Config, variants: Iterable[VariantKey]
                        ) -> dict[str, Readability]:
    """Variant name → its readability (that of its segment's sections)."""
    segments = segment_readability(issue, config)
    return {key.name: segments[key.segment] for key in variants}
