"""Every expected failure of the pipeline, in one tree.

    NewsletterError            base; the CLI prints ``Error: <message>`` and exits 1
    ├── ConfigError            newsletter.toml is missing or invalid (carries Problems)
    ├── IssueError             an issue folder is missing or invalid (carries Problems)
    └── RenderError            a template failed to compile (names the template and line)

A ``Problem`` is one finding with a place: ``path:line: key: message``. Loaders collect every
problem in a file before raising, so an author sees all of them at once. Anything that is not a
``NewsletterError`` is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

import click


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    OFF = "off"


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    key: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        from pipeline.i18n import _

        prefix = _("warning: ") if self.severity is Severity.WARNING else ""
        return f"{self.path}:{self.line}: {prefix}{_place(self.key)}: {self.message}"


def _place(key: str) -> str:
    """The part of a file a problem is in: a YAML key as written, or one of the names the
    checks give (body, link…) in the active language."""
    from pipeline.i18n import _

    if key.startswith("variant "):
        return _("variant %(name)s") % {"name": key.removeprefix("variant ")}
    names = {
        "body": _("body"), "link": _("link"), "image": _("image"), "heading": _("heading"),
        "folder": _("folder"), "front matter": _("front matter"), "(file)": _("(file)"),
        "encoding": _("encoding"), "issue": _("issue"), "privacy": _("privacy"),
        "web version": _("web version"), "template": _("template"),
    }
    return names.get(key, key)


class NewsletterError(click.ClickException):
    """Base of every expected failure; click prints it as ``Error: …`` and exits 1."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems: list[Problem] = sorted(problems or [])

    def show(self, file: IO[Any] | None = None) -> None:
        from pipeline.i18n import _

        click.echo(_("Error: %(message)s") % {"message": self.format_message()},
                   file=file, err=file is None)

    def format_message(self) -> str:
        if not self.problems:
            return self.message
        return "\n".join([self.message, *(str(p) for p in self.problems)])


class ConfigError(NewsletterError):
    """newsletter.toml cannot be used."""


class IssueError(NewsletterError):
    """An issue folder cannot be loaded; ``partial`` holds what did load, for further checks."""

    def __init__(self, message: str, problems: list[Problem] | None = None,
                 partial: object = None) -> None:
        super().__init__(message, problems)
        self.partial = partial


class RenderError(NewsletterError):
    """A template could not be turned into an email."""


def database_error(exc: BaseException) -> str:
    """A database error in one line a user may see: its kind and the first line of the
    driver's message, never the statement's parameters or PostgreSQL's DETAIL (which quotes
    the conflicting values, such as an address)."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else ""
    first = first.split(" [SQL:")[0]
    return (f"the register refused the operation ({type(exc).__name__}: {first}); "
            "nothing more was changed. This is a bug: please report it with this line")
