"""An issue's files as text a person reads, and a line diff of two such texts.

``readable_lines`` turns ``issue.yaml`` into labelled lines ("Rubrik: …", "Ämnesrad: …",
"Avsnitt: 1. 01-ledare.md") and a section file into its front matter as labelled lines
("Rubrik", "Typ", "Gäller till", "Målgrupp", "Fokusområden", "Bild", "Alt-text", "Knapp",
"Knapplänk", "Återkommande") followed by its paragraphs, one line each. Values are shown as
the author wrote them (YAML read without type guessing); a file that cannot be read as YAML
is shown as written. ``line_diff`` compares two such texts line by line and collapses long
unchanged stretches, so the studio can show what changed since the last version without
anyone reading YAML. No git here: ``pipeline.studio.versions`` supplies the two texts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

CONTEXT = 2  # unchanged lines kept around a change; longer stretches collapse
MAX_TEXT_BYTES = 1024 * 1024
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*$\r?\n?", re.MULTILINE | re.DOTALL)
_OWN_LINE = re.compile(r"^\s*(?:[-*+>|#]|\d+[.)])")  # list items, quotes, tables, headings
_ISSUE_LABELS = {"number": "Nummer", "title": "Rubrik", "subject": "Ämnesrad",
                 "preheader": "Förhandstext", "summary": "Sammanfattning", "send_at": "Skickas",
                 "editor": "Redaktör", "sections": "Avsnitt"}
_SECTION_LABELS = {"heading": "Rubrik", "kind": "Typ", "until": "Gäller till",
                   "audience": "Målgrupp", "focus": "Fokusområden", "recurring": "Återkommande"}
_WORDS = {"article": "artikel", "notice": "Viktigt-ruta", "all": "alla", "true": "ja",
          "false": "nej", "connected": "anslutna aktörer", "general": "prenumeranter"}


@dataclass(frozen=True)
class DiffLine:
    op: Literal["same", "added", "removed"]
    text: str
    skipped: int = 0  # > 0: stands for this many unchanged lines that are not shown


def readable_lines(name: str, data: bytes, names: Mapping[str, str] | None = None
                   ) -> list[str]:
    """The file as lines a person reads: labelled fields, then paragraphs. ``names``: the
    board's Swedish names of its segments and focus areas, by slug."""
    words = {**_WORDS, **(names or {})}
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        text = None
    if text is None or len(data) > MAX_TEXT_BYTES:
        return [f"Fil: {name} ({max(1, round(len(data) / 1024))} kB)"] if data else []
    if name == "issue.yaml":
        return _fields(text, _ISSUE_LABELS, words) or text.splitlines()
    if name.endswith(".md") and "/" not in name:
        front = _FRONT.match(text)
        labelled = _fields(front.group(1), _SECTION_LABELS, words) if front else []
        if front and not labelled and front.group(1).strip():
            labelled = front.group(1).splitlines()  # unreadable front matter: as written
        return labelled + _paragraphs(text[front.end():] if front else text)
    return text.splitlines()


def _fields(text: str, labels: dict[str, str], words: Mapping[str, str]) -> list[str]:
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, yaml.BaseLoader)):
            return []  # aliases could expand without bound; show the YAML as written
        data = yaml.load(text, yaml.BaseLoader)  # every value as the author wrote it
    except yaml.YAMLError:
        return []
    if not isinstance(data, dict):
        return []
    lines = []
    for key, value in data.items():
        if key == "sections" and isinstance(value, list):
            lines += [f"Avsnitt: {n}. {_flat(v)}" for n, v in enumerate(value, 1)]
        elif key == "editor" and isinstance(value, dict):
            lines.append(f"Redaktör: {_flat(value.get('name', ''))} "
                         f"<{_flat(value.get('email', ''))}>")
        elif key in ("image", "cta") and isinstance(value, dict):
            parts = (("src", "Bild"), ("alt", "Alt-text")) if key == "image" else (
                ("text", "Knapp"), ("url", "Knapplänk"))
            lines += [f"{label}: {_flat(value[k])}" for k, label in parts if k in value]
        else:
            shown = _flat(value)
            if key in ("kind", "audience", "recurring"):
                shown = words.get(shown, shown)
            elif key == "focus" and isinstance(value, list):
                shown = ", ".join(words.get(slug, slug) for slug in map(_flat, value))
            lines.append(f"{labels.get(key, key)}: {shown}")
    return lines


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_flat(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_flat(item)}" for key, item in value.items())
    return " ".join(str(value).split())


def _paragraphs(body: str) -> list[str]:
    """Paragraphs joined into one line each; list items, table rows and headings stay apart."""
    lines: list[str] = []
    joining = False
    for line in body.splitlines():
        if not line.strip():
            joining = False
        elif joining and not _OWN_LINE.match(line):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line.strip())
            joining = not line.lstrip().startswith(("#", "|"))
    return lines


def line_diff(before: list[str], after: list[str]) -> list[DiffLine]:
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            same = [DiffLine("same", line) for line in before[i1:i2]]
            head = CONTEXT if out else 0
            tail = CONTEXT if i2 < len(before) or j2 < len(after) else 0
            if len(same) > head + tail + 1:
                hidden = len(same) - head - tail
                same = [*same[:head], DiffLine("same", f"… {hidden} rader utan ändringar …",
                                               hidden), *same[len(same) - tail:]]
            out += same
            continue
        out += [DiffLine("removed", line) for line in before[i1:i2]]
        out += [DiffLine("added", line) for line in after[j1:j2]]
    return out
