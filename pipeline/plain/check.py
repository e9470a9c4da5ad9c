"""The klarspråk rules of ``newsletter check``: ``lix``, ``long-sentence``, ``plain-words``
and ``spelling``, each at the line of the Markdown or issue.yaml it concerns.

``plain_findings`` yields ``(rule, path, line, key, message)``; lint adds them like its own,
so ``[check.severity]`` applies. Thresholds and files are ``[check.plain]`` in newsletter.toml.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.config import Config
from pipeline.i18n import _, or_list
from pipeline.issue import Issue, PartialIssue
from pipeline.plain import (
    SectionReadability,
    section_readability,
    segment_readability,
)
from pipeline.plain.prose import Block, markdown_blocks, plain_blocks
from pipeline.plain.spelling import LIBRARY, DictionaryMissing, Speller, load_speller
from pipeline.plain.words import AvoidList, load_avoid_list
from pipeline.settings import Rule

Finding = tuple[Rule, Path, int, str, str]


def N_(message: str) -> str:
    """Marks a message for the catalogue; it is translated where it is used."""
    return message


HARD = N_("30–40 is newspaper text, above 50 is hard")


def plain_findings(issue: Issue | PartialIssue, config: Config) -> Iterator[Finding]:
    settings = config.check.plain
    avoid, list_errors = load_avoid_list(config.root / settings.avoid_words)
    for error in list_errors:
        yield Rule.PLAIN_WORDS, error.path, error.line, "word list", error.message
    speller: Speller | None = None
    try:
        speller = load_speller(settings.dictionary, config.root, config.root / settings.word_list)
    except DictionaryMissing as missing:
        yield Rule.SPELLING, Path(issue.lines.path), 1, "spelling", _missing(missing.args[0])
    for path, key, blocks in _texts(issue):
        yield from _check_blocks(path, key, blocks, config, avoid, speller)
    if isinstance(issue, Issue):
        yield from _lix(issue, config)


def _missing(what: str) -> str:
    if what == LIBRARY:
        return _("spelling was not checked: the Python library chunspell is missing; install "
                 "the newsletter package again (pip install -e .)")
    return _("spelling was not checked: %(what)s is missing; install Debian's hunspell-sv "
             "(./dev test does) or set dictionary under [check.plain] in newsletter.toml") % {
        "what": what}


def _texts(issue: Issue | PartialIssue) -> Iterator[tuple[Path, str, list[Block]]]:
    """Every text a reader reads, as blocks at their lines, with the key they are under."""
    lines = issue.lines
    meta_file = Path(lines.path)
    if issue.meta is not None:
        meta = issue.meta
        for key, value, prose in (("title", meta.title, False), ("subject", meta.subject, False),
                                  ("preheader", meta.preheader, True),
                                  ("summary", meta.summary, True)):
            if value:
                yield meta_file, key, plain_blocks(value, lines.line((key,)), prose)
    for section in issue.sections:
        front, at = section.front, section.lines.line
        for key, value in (("heading", front.heading),
                           ("image.alt", front.image.alt if front.image else None),
                           ("cta.text", front.cta.text if front.cta else None)):
            if value:
                yield section.path, key, plain_blocks(value, at(tuple(key.split("."))), False)
        yield section.path, "body", markdown_blocks(section.body, section.body_line)


def _check_blocks(path: Path, key: str, blocks: list[Block], config: Config,
                  avoid: AvoidList, speller: Speller | None) -> Iterator[Finding]:
    limit = config.check.plain.sentence_max_words
    reported: set[str] = set()
    for block in blocks:
        if block.prose:
            for sentence in block.sentences():
                if len(sentence.words) > limit:
                    start = " ".join(sentence.text.split()[:6])
                    yield Rule.LONG_SENTENCE, path, sentence.line, key, _(
                        "sentence of %(words)d words (over %(max)d): '%(start)s …'; split "
                        "it into shorter sentences") % {
                        "words": len(sentence.words), "max": limit, "start": start}
        for hit in avoid.find(block):
            yield Rule.PLAIN_WORDS, path, hit.line, key, _(
                "'%(word)s' is stiff; write %(instead)s instead") % {
                "word": hit.found, "instead": _alternatives(hit.instead)}
        for wrong in speller.check(block.words(), _starts(block)) if speller else []:
            if wrong.word in reported:  # once a file: the word list fixes every occurrence
                continue
            reported.add(wrong.word)
            yield Rule.SPELLING, path, wrong.line, key, _spelling_message(
                wrong.word, wrong.suggestions, config.check.plain.word_list)


def _starts(block: Block) -> frozenset[int]:
    """Offsets of the words that start a sentence (of a heading or title: the first word)."""
    if block.prose:
        return frozenset(s.words[0].start for s in block.sentences())
    words = block.words()
    return frozenset({words[0].start}) if words else frozenset()


def _alternatives(instead: str) -> str:
    """'ge, erbjuda' → "'ge' or 'erbjuda'", in the active language."""
    return or_list([f"'{word.strip()}'" for word in instead.split(",") if word.strip()])


def _spelling_message(word: str, suggestions: tuple[str, ...], word_list: str) -> str:
    values = {"word": word, "list": word_list,
              "suggestions": ", ".join(f"'{s}'" for s in suggestions)}
    if suggestions:
        return _("'%(word)s' is not in the dictionary; did you mean %(suggestions)s? If it is "
                 "right, add it to %(list)s") % values
    return _("'%(word)s' is not in the dictionary; if it is right, add it to %(list)s") % values


def _lix(issue: Issue, config: Config) -> Iterator[Finding]:
    settings = config.check.plain
    sections = section_readability(issue, config)
    for section in sections:
        if section.readability.words < settings.lix_min_words or not section.segments:
            continue
        segment = min(section.segments, key=settings.lix_target)  # the strictest reader
        target = settings.lix_target(segment)
        if section.lix > target:
            yield Rule.LIX, section.path, section.line, "body", _(
                "LIX %(lix).0f, above the target %(target).0f for %(segment)s (%(guide)s); "
                "write shorter sentences and swap long words for short ones") % {
                "lix": section.lix, "target": target,
                "segment": config.segment(segment).name, "guide": _(HARD)}
    meta_file = Path(issue.lines.path)
    for slug, readability in segment_readability(issue, config, sections).items():
        target = settings.lix_target(slug)
        if readability.words >= settings.lix_min_words and readability.lix > target:
            yield Rule.LIX, meta_file, issue.lines.line(("sections",)), "sections", _(
                "the %(segment)s email has LIX %(lix).0f, above its target %(target).0f "
                "(%(guide)s); hardest first: %(sections)s") % {
                "segment": config.segment(slug).name, "lix": readability.lix,
                "target": target, "guide": _(HARD),
                "sections": _hardest(sections, slug)}


def _hardest(sections: list[SectionReadability], slug: str) -> str:
    mine = sorted((s for s in sections if slug in s.segments and s.readability.words),
                  key=lambda s: -s.lix)
    return ", ".join(f"{s.path.name} ({s.lix:.0f})" for s in mine[:3])
