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


def write(path: Path, text: str, base: str | None, overwrite: bool = False) -> str:
    """Write ``text`` unless the file changed since ``base`` (its digest when loaded); the
    new digest. ``overwrite``: the author chose their version over the one on disk."""
    current = read(path)
    if base is not None and digest(current) != base and not overwrite and current != text:
        raise Conflict(path, current)
    temporary = path.with_name(f".{path.name}.studio")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)  # whole or not at all: check never reads half a file
    return digest(text)


def scalar(value: object) -> str:
    """One YAML value as a person writes it: plain when that reads back the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text and "\n" not in text and text == text.strip():
        try:
            if yaml.safe_load(f"k: {text}") == {"k": text}:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text, ensure_ascii=False)  # a YAML double-quoted string


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(scalar(i) for i in items) + "]"


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
    return head + (text + "\n" if text else "")


def _checked(text: str, meant: dict[str, Any]) -> str:
    read_back = yaml.safe_load(text) or {}
    for key, value in meant.items():
        if key in META_KEYS and str(read_back.get(key)) != str(value):
            raise NewsletterError(_("the studio could not write %(key)s so that it reads "
                                    "back the same; write it in issue.yaml by hand") % {
                                        "key": key})
    return text


def split_section(text: str) -> tuple[dict[str, Any], str]:
    """Front matter (as written, unchecked) and body; a file without front matter is body."""
    if text.startswith("---\n"):
        head, sep, body = text[4:].partition("\n---\n")
        if sep:
            try:
                front = yaml.safe_load(head) or {}
            except yaml.YAMLError:
                front = {}
            if isinstance(front, dict):
                return front, body
    return {}, text


def split_meta(text: str) -> tuple[dict[str, Any], str]:
    """issue.yaml as written (unchecked), and its opening comment."""
    comment = "\n".join(line for line in text.splitlines()[:10] if line.startswith("#"))
    try:
        meta = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), comment


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
