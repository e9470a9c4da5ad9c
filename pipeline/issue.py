"""An issue folder → ``Issue``: ``issue.yaml`` plus one Markdown file per section.

    issues/2026-1/
      issue.yaml          number, title, subject, preheader, send_at, editor, sections
      01-ledare.md        optional front matter between '---' lines, then Markdown
      images/…

``load_issue`` validates everything it can without rendering and raises ``IssueError`` with
every problem found, each naming file, line and key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from pipeline.config import Config
from pipeline.errors import IssueError, Problem
from pipeline.hints import focus_hint
from pipeline.i18n import _, ngettext
from pipeline.sendtime import dst_problem
from pipeline.settings import HttpsUrl, Mailbox, Text
from pipeline.source import (
    Lines,
    image_folder_problems,
    image_problem,
    load_yaml,
    unsafe_path,
    validate,
)

_FOLDER = re.compile(r"^(?P<year>20\d\d)-(?P<number>[1-9]\d?)$")
_FRONT = re.compile(r"\A---[ \t]*\r?\n")
_FRONT_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
MAX_SECTION_BYTES = 256 * 1024


def _local_time(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        raise ValueError(_("'%(value)s' has no time of day; write it as '%(value)s 09:00' "
                           "(Swedish local time)") % {"value": value.strip()})
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(_("'%(value)s' is not a date and time; write it as "
                               "'YYYY-MM-DD HH:MM' in Swedish local time") % {
                                   "value": value}) from None
    return value


def _relative_file(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ValueError(_("'%(value)s' must be a path inside the issue folder") % {
            "value": value})
    return value


def _plain_url(value: Any) -> Any:
    if isinstance(value, str) and any(c in '"<>`' or c.isspace() or not c.isprintable()
                                      for c in value):
        raise ValueError(_("'%(value)s' must not contain quotes, angle brackets or spaces; "
                           "percent-encode them") % {"value": value})
    return value


LocalTime = Annotated[datetime, Field(json_schema_extra={"format": "local"})]
RelativeFile = Annotated[str, AfterValidator(_relative_file)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IssueMeta(_Strict):
    number: int = Field(ge=1, le=12)
    title: Text
    subject: Text
    preheader: Text | None = None
    summary: Text | None = None
    send_at: LocalTime
    editor: Mailbox
    sections: list[RelativeFile] = Field(min_length=1)

    _parse_time = field_validator("send_at", mode="before")(_local_time)


class Kind(StrEnum):
    ARTICLE = "article"
    NOTICE = "notice"


class Image(_Strict):
    src: RelativeFile
    alt: Text


class CallToAction(_Strict):
    text: Text
    url: Annotated[HttpsUrl, BeforeValidator(_plain_url)]


class SectionFront(_Strict):
    heading: Text | None = None
    kind: Kind = Kind.ARTICLE
    until: date | None = None
    image: Image | None = None
    cta: CallToAction | None = None
    audience: str = "all"
    focus: list[str] = Field(default_factory=list)
    recurring: bool = False  # `newsletter new --from` copies it into the next issue

    @field_validator("until")
    @classmethod
    def _until_only_for_notices(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value and info.data.get("kind") is not Kind.NOTICE:
            raise ValueError(_("only applies to sections with kind: notice"))
        return value


@dataclass(frozen=True)
class Section:
    id: str
    path: Path
    front: SectionFront
    body: str
    body_line: int
    lines: Lines

    def for_segment(self, segment: str) -> bool:
        return self.front.audience in ("all", segment)


@dataclass(frozen=True)
class Issue:
    folder: Path
    year: int
    meta: IssueMeta
    sections: tuple[Section, ...]
    lines: Lines

    @property
    def number(self) -> int:
        return self.meta.number

    @property
    def slug(self) -> str:
        return f"{self.year}-{self.number}"

    @property
    def label(self) -> str:
        return f"Nummer {self.number}, {self.year}"

    @property
    def summary(self) -> str:
        return self.meta.summary or self.meta.preheader or self.meta.title

    def archive_url(self, config: Config) -> str:
        return f"{config.archive_url}/{self.year}/{self.number}/"

    def focus_sections(self) -> dict[str, tuple[str, ...]]:
        """Focus-area slug → ids of the sections tagged with it."""
        out: dict[str, tuple[str, ...]] = {}
        for section in self.sections:
            for slug in section.front.focus:
                out[slug] = (*out.get(slug, ()), section.id)
        return out


@dataclass(frozen=True)
class PartialIssue:
    """What loaded from an issue with problems: enough to look for more problems."""

    folder: Path
    meta: IssueMeta | None
    sections: tuple[Section, ...]
    lines: Lines


def load_issue(folder: str | Path, config: Config) -> Issue:
    """Load and validate an issue folder; raise ``IssueError`` listing every problem."""
    folder = Path(folder)
    meta_file = folder / "issue.yaml"
    if not meta_file.is_file():
        hint = _("not found") if folder.is_dir() else _("not found (no such folder)")
        raise IssueError(_("%(file)s: %(what)s; an issue is a folder such as %(example)s "
                           "holding issue.yaml") % {"file": meta_file, "what": hint,
                                                    "example": f"{config.issues_dir}/2026-1"})
    if why := unsafe_path(folder, "issue.yaml"):
        raise IssueError(_("%(file)s: refused") % {"file": meta_file},
                         [Problem(str(meta_file), 1, "(file)", why)])
    problems: list[Problem] = []
    lines = Lines(str(meta_file))
    data, found = load_yaml(_read(meta_file, problems) or "", lines)
    problems += found
    meta, found = validate(IssueMeta, data, lines) if not found else (None, [])
    problems += found

    match = _FOLDER.match(folder.resolve().name)
    year = int(match["year"]) if match else 0
    if not match:
        problems.append(Problem(str(meta_file), 1, "folder", _(
            "folder '%(name)s' must be named <year>-<number>, e.g. 2026-1") % {
                "name": folder.name}))
    sections: list[Section] = []
    if meta and (why := dst_problem(meta.send_at.replace(tzinfo=None), config.zone)):
        problems.append(Problem(str(meta_file), lines.line(("send_at",)), "send_at", why))
    if meta and match and int(match["number"]) != meta.number:
        problems.append(Problem(str(meta_file), lines.line(("number",)), "number", _(
            "%(number)d does not match the folder name '%(name)s'") % {
                "number": meta.number, "name": folder.name}))
    listed = meta.sections if meta else _listed_sections(data, folder)
    seen: set[str] = set()
    for index, name in enumerate(listed):
        where = (str(meta_file), lines.line(("sections", index)), f"sections[{index}]")
        if name in seen:
            problems.append(Problem(*where, _("'%(name)s' is listed twice") % {"name": name}))
            continue
        seen.add(name)
        file = folder / name
        if " - " in name:
            problems.append(Problem(*where, _(
                "'%(name)s' is several list items run together: give every line of the list "
                "the same indentation, each starting with '- '") % {"name": name}))
        elif not name.endswith(".md"):
            problems.append(Problem(*where, _("'%(name)s' must be a Markdown file (.md)") % {
                "name": name}))
        elif why := unsafe_path(folder, name):
            problems.append(Problem(*where, f"'{name}' {why}"))
        elif not file.is_file():
            problems.append(Problem(*where, _("'%(name)s' not found in %(folder)s") % {
                "name": name, "folder": folder}))
        elif section := _load_section(file, folder, config, problems):
            sections.append(section)
    problems += image_folder_problems(folder, {s.front.image.src for s in sections
                                               if s.front.image})
    if problems:
        raise IssueError(ngettext("%(folder)s: %(count)d problem(s); fix them and run again",
                                  "%(folder)s: %(count)d problem(s); fix them and run again",
                                  len(problems)) % {"folder": folder, "count": len(problems)},
                         problems, PartialIssue(folder, meta, tuple(sections), lines))
    assert meta is not None
    return Issue(folder, year, meta, tuple(sections), lines)


def _listed_sections(data: Any, folder: Path) -> list[str]:
    """Section files named by an issue.yaml that failed validation, to check them too; every
    Markdown file in the folder if it names none (a broken issue.yaml hides nothing)."""
    listed = data.get("sections") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        return sorted(file.name for file in folder.glob("*.md")
                      if file.is_file() and not file.name.startswith("."))
    return [name for name in listed if isinstance(name, str) and ".." not in name
            and not name.startswith("/")]


def _read(file: Path, problems: list[Problem]) -> str | None:
    try:
        return file.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = file.read_bytes()[: exc.start].count(b"\n") + 1
        problems.append(Problem(str(file), line, "encoding", _(
            "not UTF-8 text; save the file as UTF-8")))
        return None


def _load_section(file: Path, folder: Path, config: Config, problems: list[Problem]
                  ) -> Section | None:
    text = _read(file, problems)
    if text is None:
        return None
    if (size := len(text.encode("utf-8", "surrogatepass"))) > MAX_SECTION_BYTES:
        problems.append(Problem(str(file), 1, "(file)", _(
            "%(size)d KB; a section may be at most %(max)d KB (mail programs clip an email of "
            "about 100 KB): shorten or split it") % {
                "size": round(size / 1024), "max": MAX_SECTION_BYTES // 1024}))
        return None
    lines = Lines(str(file))
    data: Any = {}
    body, body_line = text, 1
    if start := _FRONT.match(text):
        end = _FRONT_END.search(text, start.end())
        if not end:
            problems.append(Problem(str(file), 1, "front matter",
                                    _("starts with '---' but has no closing '---' line")))
            return None
        data, found = load_yaml(text[start.end():end.start()], lines, first_line=2)
        if found:
            problems += found
            return None
        data = {} if data is None else data  # '---' followed by '---': no keys
        rest = text[end.end():]
        body = rest.lstrip("\r\n")
        body_line = text.count("\n", 0, end.end()) + 2
        if body:
            body_line += rest.count("\n") - body.count("\n") - 1
    front, found = validate(SectionFront, data, lines)
    problems += found
    if front is None:
        return None
    segments = {s.slug for s in config.segments}
    if front.audience != "all" and front.audience not in segments:
        problems.append(Problem(str(file), lines.line(("audience",)), "audience", _(
            "'%(audience)s' is not 'all' or a segment (%(segments)s)") % {
                "audience": front.audience, "segments": ", ".join(sorted(segments))}))
    areas = {f.slug for f in config.focus_areas}
    for index, slug in enumerate(front.focus):
        if slug not in areas:
            problems.append(Problem(str(file), lines.line(("focus", index)), f"focus[{index}]",
                                    focus_hint(slug, config)))
    if front.image and (why := image_problem(folder, front.image.src)):
        problems.append(Problem(str(file), lines.line(("image", "src")), "image.src",
                                f"'{front.image.src}' {why}"))
    if not body.strip() and not front.heading:
        problems.append(Problem(str(file), body_line, "body", _(
            "section is empty; write Markdown or remove it from issue.yaml")))
    section_id = re.sub(r"^\d+[-_]", "", file.stem) or file.stem
    return Section(section_id, file, front, body, body_line, lines)
