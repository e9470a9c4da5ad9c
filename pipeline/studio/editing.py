"""From the studio's forms to the issue's files, and from the files to what the forms show.

Form fields are the issue's keys in plain words; empty ones leave their key out. Every save
names the digest of the file it started from (``base``), so a file edited by hand meanwhile
is a conflict to resolve, never overwritten (``files.write``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import NewsletterError, Problem, Severity
from pipeline.i18n import _
from pipeline.preview.state import PreviewState
from pipeline.studio import files

SLUG = re.compile(r"^[0-9]{4}-[0-9]{1,2}$")
NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,80}\.md$")
Form = Mapping[str, Any]


def _text(form: Form, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def latest_slug(config: Config) -> str | None:
    from pipeline.planning import latest_issue

    latest = latest_issue(config)
    return f"{latest[0]}-{latest[1]}" if latest else None


def create_issue(config: Config, today: date) -> str:
    """``newsletter new --from`` the latest issue: its recurring sections come along."""
    from pipeline.issue import load_issue
    from pipeline.planning import new_issue, recurring_sections

    recurring = []
    last = latest_slug(config)
    if last is not None:
        try:
            recurring = recurring_sections(load_issue(config.root / config.issues_dir / last,
                                                      config))
        except NewsletterError:
            recurring = []  # the last issue has problems: start without its sections
    try:
        folder, _when = new_issue(config, today, recurring)
    except FileExistsError:
        raise NewsletterError(_("the next issue already exists; open it in the list")) from None
    return folder.name


def section_path(folder: Path, name: str) -> Path:
    if not NAME.match(name) or not (folder / name).is_file():
        from starlette.exceptions import HTTPException

        raise HTTPException(404, "Det avsnittet finns inte.")
    return folder / name


# -- issue.yaml ---------------------------------------------------------------------------
def save_meta(config: Config, folder: Path, form: Form) -> str:
    path = folder / "issue.yaml"
    meta, comment = files.split_meta(files.read(path))
    for key, label in (("title", "title"), ("subject", "subject"),
                       ("preheader", "preheader"), ("summary", "summary")):
        meta[key] = _text(form, label) or None
    day, clock = _day(_text(form, "send_date")), _text(form, "send_time")
    if clock and not re.fullmatch(r"[0-2][0-9]:[0-5][0-9]", clock):
        raise NewsletterError(_("'%(value)s' is not a time: write it as 09:00") % {
            "value": clock[:20]})
    if day:
        meta["send_at"] = f"{day} {clock or config.schedule.send_time}"
    editor = {"name": _text(form, "editor_name"), "email": _text(form, "editor_email")}
    meta["editor"] = {k: v for k, v in editor.items() if v} or None
    return files.write(path, files.dump_meta(meta, comment), _text(form, "base") or None)


def reorder(folder: Path, form: Form) -> str:
    """New order from ``order`` (names, space-separated), or ``move`` a name ``up``/``down``."""
    path = folder / "issue.yaml"
    meta, comment = files.split_meta(files.read(path))
    names = [str(n) for n in meta.get("sections") or []]
    wanted = _text(form, "order").split()
    if wanted and sorted(wanted) == sorted(names):
        names = wanted
    elif (moved := _text(form, "move")) in names:
        i = names.index(moved)
        j = i - 1 if _text(form, "direction") == "up" else i + 1
        if 0 <= j < len(names):
            names[i], names[j] = names[j], names[i]
    meta["sections"] = names
    return files.write(path, files.dump_meta(meta, comment), _text(form, "base") or None)


def add_section(folder: Path, heading: str) -> str:
    heading = " ".join(heading.split())
    if not heading:
        raise NewsletterError(_("write the new section's heading first"))
    path = folder / "issue.yaml"
    meta, comment = files.split_meta(files.read(path))
    names = [str(n) for n in meta.get("sections") or []]
    name = files.section_file_name(folder, heading, len(names) + 1)
    files.write(folder / name, files.dump_section({"heading": heading}, ""), None)
    meta["sections"] = [*names, name]
    files.write(path, files.dump_meta(meta, comment), None)
    return name


# -- a section ----------------------------------------------------------------------------
def section_front(form: Form, config: Config) -> dict[str, Any]:
    """The front matter the form says; choices only among the values the form offers."""
    areas = {a.slug for a in config.focus_areas}
    audiences = {"all"} | {segment.slug for segment in config.segments}
    chosen = [str(v) for v in form.getlist("focus")] if hasattr(form, "getlist") else []
    front: dict[str, Any] = {
        "heading": _text(form, "heading") or None,
        "kind": "notice" if _text(form, "kind") == "notice" else "article",
        "until": _day(_text(form, "until")),
        "audience": a if (a := _text(form, "audience")) in audiences else "all",
        "focus": [f for f in chosen if f in areas],
        "recurring": bool(form.get("recurring")),
    }
    if front["kind"] != "notice":
        front["until"] = None
    if src := _text(form, "image_src"):
        front["image"] = {"src": src, "alt": _text(form, "image_alt")}
    if _text(form, "cta_text") or _text(form, "cta_url"):
        front["cta"] = {"text": _text(form, "cta_text"), "url": _text(form, "cta_url")}
    return front


def _day(text: str) -> str | None:
    """A date as YYYY-MM-DD, or None; anything else is a Swedish message."""
    if not text:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise NewsletterError(_("'%(value)s' is not a date: write it as 2027-03-05") % {
            "value": text[:40]}) from None


def form_text(path: Path, form: Form, config: Config) -> str:
    value = form.get("body")
    return files.dump_section(section_front(form, config),
                              value if isinstance(value, str) else "")


def save_section(path: Path, form: Form, config: Config) -> str:
    return files.write(path, form_text(path, form, config), _text(form, "base") or None)


async def attach_image(folder: Path, path: Path, form: Form) -> tuple[str, str]:
    """Store the uploaded image (alt text required) and show it in the section."""
    from pipeline.studio.images import store_image

    upload, alt = form.get("image"), _text(form, "image_alt")
    if upload is None or not hasattr(upload, "read") or not getattr(upload, "filename", ""):
        raise NewsletterError(_("choose an image file first"))
    if not alt:
        raise NewsletterError(_("describe the image in the alt text field before you upload "
                                "it: what does a reader who cannot see it need to know?"))
    stored = store_image(folder, await upload.read(), str(upload.filename))
    front, body = files.split_section(files.read(path), path.name)
    front["image"] = {"src": stored.name, "alt": alt}
    # read from disk just now and only the image changed: nothing else can be lost
    return files.write(path, files.dump_section(front, body), None), stored.name


# -- what the forms show -----------------------------------------------------------------
@dataclass
class FileProblems:
    """Problems of one file: at a form field (front matter, issue.yaml) or a body line."""

    fields: dict[str, list[Problem]] = field(default_factory=dict)
    lines: list[tuple[int, Problem]] = field(default_factory=list)
    other: list[Problem] = field(default_factory=list)


def problems_of(state: PreviewState, path: Path, body_from: int = 0) -> FileProblems:
    """``body_from``: the file line where the body starts (after the front matter)."""
    found = FileProblems()
    for problem in state.problems:
        if Path(problem.path).name != path.name:
            continue
        key = problem.key.split("[")[0].split(".")[0]
        if body_from and problem.line >= body_from:
            found.lines.append((problem.line - body_from + 1, problem))
        elif key in files.META_KEYS + files.FRONT_KEYS:
            found.fields.setdefault(key, []).append(problem)
        else:
            found.other.append(problem)
    return found


def body_start(text: str) -> int:
    """The file line of the body's first line (1 when there is no front matter)."""
    return files.body_line(text)


def errors(problems: list[Problem]) -> int:
    return sum(p.severity is Severity.ERROR for p in problems)
