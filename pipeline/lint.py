"""Checks on an issue's content and rendered emails: ``lint_issue(...) -> list[Problem]``.

Content checks point at the Markdown or YAML line that caused them; checks on the rendered HTML
name the variant. Two checks compare the folder with the skeleton ``newsletter new`` copies from
``templates/new-issue/``: text still equal to its placeholders, and Markdown files that
``sections:`` does not list. Each problem carries its rule (see ``settings.Rule``), whose severity
``[check.severity]`` in newsletter.toml sets to error, warning or off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.config import Config
from pipeline.errors import IssueError, Problem, RenderError, Severity
from pipeline.i18n import _, ngettext
from pipeline.issue import Issue, PartialIssue, load_issue
from pipeline.lint_html import lint_html
from pipeline.lint_text import lint_alt, lint_text
from pipeline.render.email import RenderedEmail, RenderedIssue, Renderer, render_issue
from pipeline.render.markdown import Link
from pipeline.render.mime import header_problem
from pipeline.render.personalise import PLACEHOLDERS, placeholder, unresolved
from pipeline.sendtime import send_time_notes
from pipeline.settings import Rule
from pipeline.skeleton import lint_unedited
from pipeline.source import image_problem

VAGUE_LINK_TEXT = {
    "klicka här", "klicka", "här", "läs mer", "läs mer här", "mer", "länk", "länken",
    "click here", "here", "read more", "more", "link",
}


@dataclass
class _Findings:
    config: Config
    problems: list[Problem] = field(default_factory=list)

    def add(self, rule: Rule, path: object, line: int, key: str, message: str) -> None:
        level = self.config.check.level(rule)
        if level is not Severity.OFF:
            self.problems.append(Problem(str(path), line, key, f"{message} [{rule}]", level))


def lint_issue(issue: Issue, rendered: RenderedIssue, config: Config,
               renderer: Renderer) -> list[Problem]:
    found = _Findings(config)
    _lint_meta(issue, config, found)
    _lint_sections(issue, renderer, found)
    lint_unedited(issue, config, found)
    _lint_unlisted(issue, found)
    lint_text(issue, config, found)
    found.problems += _private(issue, config)
    _lint_plain(issue, config, found)
    meta_file = issue.lines.path
    for key, email in rendered.variants.items():
        where = (meta_file, 1, f"variant {key.name}")
        lint_size_and_tokens(email, where, found)
        for name in PLACEHOLDERS:
            if placeholder(name) not in email.html:
                found.add(Rule.PLACEHOLDER, *where, _("template lost the %(token)s "
                                                      "placeholder") % {"token": placeholder(name)})
    # Rendered structure; headings only if the Markdown checks did not already explain them.
    headings = not any(p.message.endswith(f"[{Rule.HEADING_ORDER}]") for p in found.problems)
    for key, email in rendered.variants.items():
        lint_html(email.html, (meta_file, 1, f"variant {key.name}"), found, headings)
    lint_html(rendered.web_html, (meta_file, 1, "web version"), found, headings,
              own_scripts=("site.js",))
    return sorted(found.problems)


def lint_size_and_tokens(email: RenderedEmail, where: tuple[str, int, str],
                         found: _Findings) -> None:
    """An email over the size budget, or with a ``{{…}}`` left that nothing fills in."""
    if email.html_bytes > found.config.check.html_budget_kb * 1024:
        found.add(Rule.HTML_SIZE, *where, _(
            "HTML is %(size).1f KB, over the %(budget)d KB budget (Gmail clips at about "
            "102 KB); shorten the issue or link to the web version") % {
                "size": email.html_bytes / 1024, "budget": found.config.check.html_budget_kb})
    for token in sorted(set(unresolved(email.html) + unresolved(email.text))):
        found.add(Rule.PLACEHOLDER, *where,
                  _("unresolved placeholder %(token)s") % {"token": token})


def _lint_plain(issue: Issue | PartialIssue, config: Config, found: _Findings) -> None:
    """Klarspråk: LIX, long sentences, words to avoid and spelling (pipeline/plain/)."""
    from pipeline.plain.check import plain_findings

    for finding in plain_findings(issue, config):
        found.add(*finding)


def _private(issue: Issue, config: Config) -> list[Problem]:
    """Personal data the public archive would refuse, at the line of the file it is in:
    the sections, and what issue.yaml publishes (not the editor, who is not published)."""
    from pipeline.privacy import PLACEHOLDER, check_private

    found = []
    for section in issue.sections:
        found += check_private(section.path.read_text(encoding="utf-8", errors="replace"),
                               config, str(section.path))
    meta = issue.meta
    for key, value in (("title", meta.title), ("subject", meta.subject),
                       ("preheader", meta.preheader), ("summary", meta.summary)):
        line = issue.lines.line((key,))
        found += [Problem(p.path, line, key, p.message)
                  for p in check_private(value or "", config, issue.lines.path)]
    return [Problem(p.path, p.line, p.key, _(
        "%(what)s: the archive is public, so it refuses this; remove it (a number the public "
        "may call belongs in public_phone_numbers in newsletter.toml)") % {"what": p.message})
        for p in found
            if p.message != PLACEHOLDER()]  # the placeholder rule says it


def _lint_meta(issue: Issue | PartialIssue, config: Config, found: _Findings) -> None:
    meta, lines = issue.meta, issue.lines
    if meta is None:
        return
    for key, value in (("subject", meta.subject), ("preheader", meta.preheader or ""),
                       ("editor.name", meta.editor.name)):
        if why := header_problem(value):
            found.add(Rule.HEADER, lines.path, lines.line(tuple(key.split("."))), key, why)
    if len(meta.subject) > config.check.subject_max_chars:
        found.add(Rule.SUBJECT_LENGTH, lines.path, lines.line(("subject",)), "subject", _(
            "%(count)d characters; keep it within %(max)d so phones show all of it") % {
                "count": len(meta.subject), "max": config.check.subject_max_chars})
    if not meta.preheader:
        found.add(Rule.PREHEADER, lines.path, 1, "preheader",
                  _("missing; write the line inboxes show after the subject"))
    elif len(meta.preheader) > config.check.preheader_max_chars:
        found.add(Rule.PREHEADER, lines.path, lines.line(("preheader",)), "preheader",
                  _("%(count)d characters; keep it within %(max)d") % {
                      "count": len(meta.preheader), "max": config.check.preheader_max_chars})
    for note in send_time_notes(meta.send_at.replace(tzinfo=None), config):
        found.add(Rule.SEND_TIME, lines.path, lines.line(("send_at",)), "send_at", note)
    send_day = meta.send_at.date()
    for section in issue.sections:
        until = section.front.until
        if until and until < send_day:
            found.add(Rule.NOTICE_EXPIRED, section.path, section.lines.line(("until",)), "until",
                      _("the notice ends %(until)s but the issue is sent %(sent)s") % {
                          "until": until, "sent": send_day})


def _lint_sections(issue: Issue | PartialIssue, renderer: Renderer, found: _Findings) -> None:
    folder = issue.folder
    for section in issue.sections:
        body = renderer.body(section, "")
        path = section.path
        for link in body.links:
            _lint_link(link, path, "link", found)
        if section.front.cta:
            cta = section.front.cta
            _lint_link(Link(cta.url, cta.text, section.lines.line(("cta", "text"))), path,
                       "cta.text", found)
        for bare in body.bare_urls:
            found.add(Rule.LINK_TEXT, path, bare.line, "link",
                      _("bare URL %(url)s; write [descriptive text](%(url)s)") % {"url": bare.url})
        for image in body.images:
            lint_alt(image.alt, image.src, str(path), image.line, found)
            if not image.alt.strip():
                found.add(Rule.IMAGE, path, image.line, "image", _(
                    "%(src)s has no alt text; write ![what the image shows](%(src)s)") % {
                        "src": image.src})
            if "://" in image.src:
                if not image.src.startswith("https://"):
                    found.add(Rule.IMAGE, path, image.line, "image", _(
                        "%(src)s must be https:// or a file in images/") % {"src": image.src})
            elif (why := image_problem(folder, image.src)) is not None:
                found.add(Rule.IMAGE, path, image.line, "image", f"{image.src} {why}")
        for token in (placeholder(n) for n in PLACEHOLDERS):
            if token in section.body:
                found.add(Rule.PLACEHOLDER, path, section.body_line, "body", _(
                    "%(token)s is filled in per reader by the template; remove it from the "
                    "text") % {"token": token})
        level = 2
        for heading in body.headings:
            if heading.level < 3:
                found.add(Rule.HEADING_ORDER, path, heading.line, "heading", _(
                    "'%(heading)s' is above the section heading; use ### for subheadings") % {
                        "heading": f"{'#' * heading.level} {heading.text}"})
            elif heading.level > level + 1:
                found.add(Rule.HEADING_ORDER, path, heading.line, "heading", _(
                    "'%(heading)s' skips a level; use %(marks)s") % {
                        "heading": f"{'#' * heading.level} {heading.text}",
                        "marks": "#" * (level + 1)})
            level = heading.level


def _lint_unlisted(issue: Issue | PartialIssue, found: _Findings) -> None:
    """Markdown files in the issue folder that ``sections:`` leaves out."""
    meta, lines = issue.meta, issue.lines
    if meta is None or any(p.path == lines.path and p.key.split("[")[0] == "sections"
                           for p in found.problems):  # fix those first: the file may be meant
        return
    listed = {PurePosixPath(name).as_posix() for name in meta.sections}
    for file in sorted(issue.folder.glob("*.md")):
        if file.is_file() and not file.name.startswith(".") and file.name not in listed:
            found.add(Rule.UNLISTED_SECTION, lines.path, lines.line(("sections",)), "sections",
                      _("'%(file)s' is in the issue folder but not listed; add it to "
                        "sections: or remove it") % {"file": file.name})


def _lint_link(link: Link, path: object, key: str, found: _Findings) -> None:
    line = link.line
    if not link.url.startswith(("https://", "mailto:")):
        found.add(Rule.LINK_SCHEME, path, line, key,
                  _("'%(url)s' must be an absolute https:// or mailto: link") % {"url": link.url})
    text = link.text.strip().rstrip(".!:").lower()
    if not text:
        found.add(Rule.LINK_TEXT, path, line, key,
                  _("link to %(url)s has no text") % {"url": link.url})
    elif text in VAGUE_LINK_TEXT:
        found.add(Rule.LINK_TEXT, path, line, key, _(
            "'%(text)s' does not say where the link goes; describe the target") % {
                "text": link.text})
    elif text in (link.url.lower(), link.url.lower().removeprefix("mailto:")) or \
            text.startswith(("http://", "https://", "www.")):
        found.add(Rule.LINK_TEXT, path, line, key,
                  _("link text is a bare URL; describe %(url)s in words") % {"url": link.url})


@dataclass(frozen=True)
class CheckResult:
    """Outcome of ``check_issue``: what rendered (if anything) and every problem found."""

    problems: list[Problem]
    rendered: RenderedIssue | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    def counts(self) -> str:
        """"2 error(s), 1 warning(s)" in the active language, as check and schedule say it."""
        errors, warnings = len(self.errors), len(self.warnings)
        return _("%(errors)s, %(warnings)s") % {
            "errors": ngettext("%(count)d error(s)", "%(count)d error(s)", errors) % {
                "count": errors},
            "warnings": ngettext("%(count)d warning(s)", "%(count)d warning(s)", warnings) % {
                "count": warnings}}


def check_issue(folder: Path, config: Config, renderer: Renderer | None = None) -> CheckResult:
    """Load, render and lint an issue, collecting problems instead of raising."""
    renderer = renderer or Renderer(config)
    try:
        issue = load_issue(folder, config)
        rendered = render_issue(issue, config, renderer=renderer)
    except IssueError as exc:  # still lint the sections that loaded: all problems at once
        found = _Findings(config, exc.problems or [Problem(str(folder), 1, "issue", exc.message)])
        if isinstance(exc.partial, PartialIssue):
            _lint_meta(exc.partial, config, found)
            _lint_sections(exc.partial, renderer, found)
            lint_unedited(exc.partial, config, found)
            _lint_unlisted(exc.partial, found)
            lint_text(exc.partial, config, found)
            _lint_plain(exc.partial, config, found)
        return CheckResult(sorted(found.problems))
    except RenderError as exc:
        return CheckResult(exc.problems or [Problem(str(folder), 1, "issue", exc.message)])
    return CheckResult(lint_issue(issue, rendered, config, renderer), rendered)
