"""The studio's reading and writing of an issue's files: exactly what ``check`` reads, written
the way a person would write them.

``issue.yaml`` keeps its opening comment and its keys in the usual order; a section is front
matter (only what differs from the defaults, focus areas as ``[halsa, vald]``) and Markdown. A
value is written plain unless YAML would read it as something else; every file written is
read back and must say what was meant. Each form carries the digest of the file as it was
loaded: a save over a file that changed on disk since (edited by hand) is a ``Conflict``,
never a silent overwrite.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import NewsletterError
from pipeline.i18n import _

META_KEYS = ("number", "title", "subject", "preheader", "summary", "send_at", "editor",
             "sections")
FRONT_KEYS = ("heading", "kind", "until", "audience", "focus", "image", "cta", "recurring")
DEFAULTS: dict[str, object] = {"kind": "article", "audience": "all", "focus": [],
                               "recurring": False}
_SLUG = re.compile(r"[^a-z0-9]+")
_SLUG_ITEM = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FRONT = re.compile(r"\A---[ \t]*\r?\n")  # the fences check reads (pipeline/issue.py)
_FRONT_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)


class Unreadable(NewsletterError):
    """A file the studio cannot read as check does: shown, never rewritten from a guess."""


class Conflict(NewsletterError):
    """The file changed on disk since the form was loaded; ``theirs`` is what is there now."""

    def __init__(self, path: Path, theirs: str) -> None:
        super().__init__(_("%(file)s was changed outside the studio after you opened it. "
                           "Compare the two versions below and choose which to keep.") % {
                               "file": path.name})
        self.path, self.theirs = path, theirs


def digest(text: str | None) -> str:
    return hashlib.sha256((text or "").encode()).hexdigest()[:20]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def write(path: Path, text: str, base: str | None) -> str:
    """Write ``text`` unless the file changed since ``base`` (its digest when loaded: to keep
    one's own version over a changed file, ``base`` is the digest of the version seen on the
    conflict page, so any later change conflicts again); the new digest."""
    current = read(path)
    if base is not None and digest(current) != base and current != text:
        raise Conflict(path, current)
    temporary = path.with_name(f".{path.name}.studio")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)  # whole or not at all: check never reads half a file
    return digest(text)


def scalar(value: object) -> str:
    """One YAML value as a person writes it: plain when that reads back the same, else
    quoted by PyYAML (which escapes what YAML cannot hold as it is: control characters)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text and "\n" not in text and text == text.strip() and text.isprintable():
        try:
            if yaml.safe_load(f"k: {text}") == {"k": text}:
                return text
        except (yaml.YAMLError, ValueError):
            pass
    quoted = yaml.safe_dump(text, default_style='"', allow_unicode=True, width=10**9)
    return quoted.removesuffix("\n...\n").strip()


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(str(i), ensure_ascii=False)
                           if not _SLUG_ITEM.match(str(i)) else str(i) for i in items) + "]"


def dump_meta(meta: dict[str, Any], comment: str = "") -> str:
    lines = [line for line in comment.splitlines() if line.startswith("#")]
    for key in META_KEYS:
        value = meta.get(key)
        if value in (None, "", []):
            continue
        if key == "editor" and isinstance(value, dict):
            lines += ["editor:"] + [f"  {k}: {scalar(value[k])}" for k in ("name", "email")
                                    if value.get(k)]
        elif key == "sections":
            lines += ["sections:"] + [f"  - {scalar(name)}" for name in value]
        else:
            lines.append(f"{key}: {scalar(value)}")
    return _checked("\n".join(lines) + "\n", {k: v for k, v in meta.items()
                                               if v not in (None, "", [])})


def dump_section(front: dict[str, Any], body: str) -> str:
    lines = []
    for key in FRONT_KEYS:
        value = front.get(key)
        if value in (None, "", []) or DEFAULTS.get(key, object()) == value:
            continue
        if key == "focus":
            lines.append(f"focus: {_flow(list(value))}")
        elif isinstance(value, dict):
            parts = [f"  {k}: {scalar(v)}" for k, v in value.items() if v not in (None, "")]
            if parts:
                lines += [f"{key}:", *parts]
        else:
            lines.append(f"{key}: {scalar(value)}")
    head = "---\n" + "".join(line + "\n" for line in lines) + "---\n"
    text = body.replace("\r\n", "\n").strip("\n")
    written = head + (text + "\n" if text else "")
    read_back, _body = split_section(written, "")
    if any(str(read_back.get(k)) != str(front[k]) for k in read_back):
        raise NewsletterError(_("the studio could not write %(key)s so that it reads back the "
                                "same; write it in the file by hand") % {"key": "front matter"})
    return written


def _checked(text: str, meant: dict[str, Any]) -> str:
    try:
        read_back = yaml.safe_load(text) or {}
    except (yaml.YAMLError, ValueError):
        read_back = {}
    for key, value in meant.items():
        if key in META_KEYS and str(read_back.get(key)) != str(value):
            raise NewsletterError(_("the studio could not write %(key)s so that it reads "
                                    "back the same; write it in issue.yaml by hand") % {
                                        "key": key})
    return text


def _where(exc: Exception) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def split_section(text: str, name: str = "") -> tuple[dict[str, Any], str]:
    """Front matter (as written, unchecked) and body, found as check finds them; Unreadable
    when the front matter cannot be read (the studio must not rewrite it from a guess)."""
    start = _FRONT.match(text)
    if not start:
        return {}, text
    end = _FRONT_END.search(text, start.end())
    if end is None:
        raise Unreadable(_("%(file)s: the front matter has no closing --- line; add it in "
                           "a text editor, then open the section again") % {"file": name})
    head, body = text[start.end():end.start()], text[end.end():].removeprefix("\n")
    try:
        front = yaml.safe_load(head) if head.strip() else {}
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise Unreadable(_("%(file)s, line %(line)d: the front matter cannot be read; fix it "
                           "in a text editor (newsletter check says how), then open the section "
                           "again") % {"file": name, "line": _where(exc) + 1}) from None
    if not isinstance(front, dict):
        raise Unreadable(_("%(file)s: the front matter is not a list of keys; fix it in a "
                           "text editor") % {"file": name})
    return front, body


def body_line(text: str) -> int:
    """The file line where the body starts (1 without front matter), as check counts."""
    start = _FRONT.match(text)
    end = _FRONT_END.search(text, start.end()) if start else None
    return text[:end.end()].count("\n") + 2 if end else 1


def split_meta(text: str) -> tuple[dict[str, Any], str]:
    """issue.yaml as written (unchecked), and its opening comment; Unreadable when it cannot
    be read or its sections are not a list (the studio must not rewrite it from a guess)."""
    comment = "\n".join(line for line in text.splitlines()[:10] if line.startswith("#"))
    try:
        meta = yaml.safe_load(text) if text.strip() else {}
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise Unreadable(_("issue.yaml, line %(line)d: the file cannot be read; fix it in a "
                           "text editor (newsletter check says how), then open the issue "
                           "again") % {"line": _where(exc)}) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("sections", []), list):
        raise Unreadable(_("issue.yaml: sections must be a list of file names, one per line "
                           "starting with '  - '; fix it in a text editor"))
    return meta, comment


def section_file_name(folder: Path, heading: str, position: int) -> str:
    """``NN-slug.md`` for a new section: its place and its heading, unused in the folder."""
    plain = heading.lower().translate(str.maketrans("åäöéü", "aaoeu"))
    slug = _SLUG.sub("-", plain).strip("-")[:40].rstrip("-") or "avsnitt"
    name, n = f"{position:02d}-{slug}.md", 2
    while (folder / name).exists():
        name, n = f"{position:02d}-{slug}-{n}.md", n + 1
    return name


@dataclass(frozen=True)
class Loaded:
    """A file as the form shows it: its text and the digest a save must match."""

    path: Path
    text: str

    @property
    def base(self) -> str:
        return digest(self.text)


def load(path: Path) -> Loaded:
    return Loaded(path, read(path))
