"""What `newsletter new` writes from templates/new-issue/, and the `unedited` rule: text of an
issue still equal to that skeleton's placeholders (paragraphs of its sections, compared with
whitespace normalised, and the title, subject and preheader it proposes for this issue)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import jinja2

from pipeline.config import Config
from pipeline.i18n import _
from pipeline.issue import Issue, PartialIssue
from pipeline.settings import Rule
from pipeline.source import Lines, load_yaml

if TYPE_CHECKING:
    from pipeline.lint import _Findings

SKELETON_FIELDS = ("title", "subject", "preheader")  # send_at and editor are real values
_ISSUE_FOLDER = re.compile(r"(20\d\d)-[1-9]\d?")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?^(?:---|\.\.\.)[ \t]*$", re.MULTILINE | re.DOTALL)


def _unedited() -> str:
    return _("still the placeholder text from `newsletter new`; write the issue's own text")


def skeleton_issue_yaml(config: Config, year: int, number: int, send_at: str,
                        recurring: list[str] | None = None) -> str:
    """issue.yaml as `newsletter new` writes it from templates/new-issue/issue.yaml.j2;
    ``recurring`` names the section files copied from an earlier issue."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(config.templates / "new-issue"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("issue.yaml.j2").render(newsletter=config, year=year,
                                                    number=number, send_at=send_at,
                                                    recurring=recurring or [])


def lint_unedited(issue: Issue | PartialIssue, config: Config, found: _Findings) -> None:
    """Text still as `newsletter new` wrote it from the skeleton in templates/new-issue/."""
    skeleton = config.templates / "new-issue"
    if not skeleton.is_dir():
        return
    placeholders = {text for file in sorted(skeleton.glob("*.md")) if file.is_file()
                    for _, text in _paragraphs(_FRONT_MATTER.sub("", file.read_text(
                        encoding="utf-8", errors="replace"), count=1))}
    for section in issue.sections:
        for line, text in _paragraphs(section.body, section.body_line):
            if text in placeholders:
                found.add(Rule.UNEDITED, section.path, line, "body", _unedited())
    meta, lines = issue.meta, issue.lines
    for key, value in _skeleton_meta(issue, config).items():
        if meta is not None and _normalised(getattr(meta, key) or "") == value:
            found.add(Rule.UNEDITED, lines.path, lines.line((key,)), key, _unedited())


def _skeleton_meta(issue: Issue | PartialIssue, config: Config) -> dict[str, str]:
    """The placeholder title, subject and preheader `newsletter new` writes for this issue."""
    folder = _ISSUE_FOLDER.fullmatch(issue.folder.resolve().name)
    if issue.meta is None or folder is None:
        return {}
    try:
        text = skeleton_issue_yaml(config, int(folder[1]), issue.meta.number,
                                   f"{issue.meta.send_at:%Y-%m-%d %H:%M}")
    except (OSError, jinja2.TemplateError):  # no skeleton issue.yaml: nothing to compare
        return {}
    data, problems = load_yaml(text, Lines("issue.yaml.j2"))
    if problems or not isinstance(data, dict):
        return {}
    return {key: _normalised(value) for key in SKELETON_FIELDS
            if isinstance(value := data.get(key), str) and value.strip()}


def _paragraphs(text: str, first_line: int = 1) -> Iterator[tuple[int, str]]:
    """Blank-line separated paragraphs, whitespace-normalised, with the line each starts on."""
    start = first_line
    words: list[str] = []
    for number, line in enumerate(text.split("\n"), first_line):
        if line.strip():
            start = number if not words else start
            words += line.split()
        elif words:
            yield start, " ".join(words)
            words = []
    if words:
        yield start, " ".join(words)


def _normalised(text: str) -> str:
    return " ".join(text.split())
