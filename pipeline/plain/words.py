"""Words to avoid: a list of stiff words and phrases, each with the plain word to write.

The list ships with the package (``pipeline/data/ord-att-undvika.txt``, drawn from
Myndigheternas skrivregler and Språkrådet's advice) and the board extends it with a file of
the same format next to newsletter.toml (``[check.plain] avoid_words``). One entry a line::

    erhålla, erhåller, erhöll, erhållit → få     # forms separated by commas
    erhåll* → få                                 # a star: every word that starts so
    i enlighet med → enligt                      # phrases may break across lines in the text

Matching ignores case and needs whole words, so ``samt`` does not match ``samtal``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.i18n import _
from pipeline.plain.prose import Block

BUILT_IN = Path(__file__).resolve().parent.parent / "data" / "ord-att-undvika.txt"
_ARROW = re.compile(r"\s*(?:→|->|=>)\s*")


@dataclass(frozen=True)
class AvoidWord:
    forms: tuple[str, ...]
    instead: str


@dataclass(frozen=True)
class WordListError:
    """A line of a word list that is not ``word → instead``."""

    path: Path
    line: int
    message: str


@dataclass(frozen=True)
class Hit:
    found: str  # as written in the text
    instead: str
    line: int


class AvoidList:
    """Compiled into one regular expression: one pass over each block finds every entry."""

    def __init__(self, entries: list[AvoidWord]) -> None:
        self.entries = entries
        alternatives = [f"(?P<e{i}>{'|'.join(_form(f) for f in entry.forms)})"
                        for i, entry in enumerate(entries)]
        self._pattern = re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])",
                                   re.IGNORECASE) if entries else None

    def find(self, block: Block) -> list[Hit]:
        if self._pattern is None:
            return []
        return [Hit(" ".join(m.group().split()), self.entries[int(str(m.lastgroup)[1:])].instead,
                    block.line_at(m.start()))
                for m in self._pattern.finditer(block.text)]


def _form(form: str) -> str:
    star = form.endswith("*")
    words = form.rstrip("*").split()
    return r"\s+".join(re.escape(w) for w in words) + (r"\w*" if star else "")


def parse_word_list(text: str, path: Path) -> tuple[list[AvoidWord], list[WordListError]]:
    entries: list[AvoidWord] = []
    errors: list[WordListError] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = _ARROW.split(line)
        forms = tuple(f.strip() for f in parts[0].split(",") if f.strip()) if parts else ()
        if len(parts) != 2 or not forms or not parts[1].strip():
            errors.append(WordListError(path, number, _(
                "write one entry a line as 'stiff word → plain word', for example "
                "'erhålla, erhöll → få'")))
            continue
        entries.append(AvoidWord(forms, parts[1].strip()))
    return entries, errors


@cache
def _load(path: Path, mtime_ns: int) -> tuple[list[AvoidWord], list[WordListError]]:
    return parse_word_list(path.read_text(encoding="utf-8", errors="replace"), path)


def load_avoid_list(project_file: Path | None) -> tuple[AvoidList, list[WordListError]]:
    """The built-in list plus the project's file, if it exists (re-read when it changes)."""
    entries, errors = _load(BUILT_IN, BUILT_IN.stat().st_mtime_ns)
    if project_file is not None and project_file.is_file():
        own, own_errors = _load(project_file, project_file.stat().st_mtime_ns)
        entries, errors = own + entries, own_errors + errors  # the board's entries first
    return _cached_list(tuple(entries)), errors


@cache
def _cached_list(entries: tuple[AvoidWord, ...]) -> AvoidList:
    return AvoidList(list(entries))
