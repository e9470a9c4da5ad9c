"""Transactional mails ("letters"): confirmation requests, the welcome mail, and notices to the
board and the editors.

A ``Letter`` is what to say (paragraphs, a button, a list of links); ``render_letter`` lays it
out with the issue's own partials (masthead with the logotype, button, footer with the privacy
notice) from ``templates/service/mail/``, in the reader's language, as a responsive HTML part
and a text part. ``lint_letter`` checks the result with the issue's HTML rules (language, size,
link text, no unresolved placeholders); the tests run it on every letter, so the templates are
held to the same standard as an issue's. Letters get the issue's Swedish typography too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from pipeline.config import Config
from pipeline.errors import Problem, RenderError
from pipeline.i18n import load_translations
from pipeline.render.email import RenderedEmail
from pipeline.render.mjml import compile_mjml
from pipeline.render.variants import VariantKey
from pipeline.settings import Rule
from pipeline.typography import Nowrap, typeset

HTML_TEMPLATE = "service/mail/letter.mjml.j2"
TEXT_TEMPLATE = "service/mail/letter.txt.j2"


@dataclass(frozen=True)
class Link:
    text: str
    url: str = ""  # "": a plain list item


@dataclass(frozen=True)
class Letter:
    """What a transactional mail says; the layout is the templates'.

    ``blocks`` are shown in order: a ``str`` is a paragraph, a ``Link`` a button (the
    mail's one call to action), a ``tuple`` of ``Link`` a bulleted list.
    """

    subject: str
    title: str
    blocks: tuple[str | Link | tuple[Link, ...], ...]
    reason: str                 # the footer's first line: why this mail came
    language: str = "sv"
    greeting: str = ""          # "Hej Sara!"; empty: none
    preheader: str = ""
    footer_links: tuple[Link, ...] = field(default_factory=tuple)


def render_letter(config: Config, letter: Letter) -> RenderedEmail:
    context: dict[str, Any] = {
        "newsletter": config, "letter": letter, "language": letter.language,
        "issue": {"subject": letter.subject, "preheader": letter.preheader},
        "masthead_line": config.name, "masthead_title": letter.title,
        # the service sends letters and serves the logotype: it shows before any archive build
        "logo_url": service_material_url(config, config.brand.logo or ""),
        "footer_reason": letter.reason,
        "footer_links": [(link.text, link.url) for link in letter.footer_links],
    }
    mjml = _render(config, letter.language, HTML_TEMPLATE, context)
    if letter.language == "sv":  # the hyphenation dictionary is Swedish
        mjml = typeset(mjml, Nowrap.STYLE)
    html = compile_mjml(mjml, config.templates / HTML_TEMPLATE)
    text = _render(config, letter.language, TEXT_TEMPLATE, context, html=False).strip() + "\n"
    # A letter has no reader placeholders: "{{…}}" in it is text someone typed (an
    # organisation's name), which neither delivery nor SendGrid may fill in.
    return RenderedEmail(VariantKey("letter"), _inert(letter.subject), letter.preheader,
                         html.replace("{{", "{&#8203;{"), _inert(text), mjml)


def _inert(text: str) -> str:
    return text.replace("{{", "{\u200b{")


def service_material_url(config: Config, file: str) -> str:
    """Where the web service serves a brand file or download (``/material/<name>``)."""
    return f"{config.web_url}/material/{Path(file).name}"


def lint_letter(config: Config, email: RenderedEmail, language: str) -> list[Problem]:
    """The issue's rules on a rendered letter: language, layout tables, script, headings,
    size, placeholders, and link text that says where the link goes."""
    from pipeline.lint import VAGUE_LINK_TEXT, _Findings, lint_size_and_tokens
    from pipeline.lint_html import lint_html

    found = _Findings(config)
    where = (str(config.templates / HTML_TEMPLATE), 1, email.subject)
    lint_html(email.html, where, found, lang=language)
    lint_size_and_tokens(email, where, found)
    for text in _LINK_TEXT.findall(email.html):
        name = _ALT.sub(r" \1 ", text)  # a linked image is named by its alt text
        if re.sub(r"<[^>]+>|\s+", " ", name).strip().lower() in VAGUE_LINK_TEXT | {""}:
            found.add(Rule.LINK_TEXT, *where, f"link text {text!r} does not say where it goes")
    return found.problems


_LINK_TEXT = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_ALT = re.compile(r"<img\b[^>]*\balt=\"([^\"]*)\"[^>]*>")


def _render(config: Config, language: str, name: str, context: dict[str, Any],
            html: bool = True) -> str:
    try:
        return _environment(config.templates, language, html).get_template(name).render(context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"{config.templates / name}: {exc}") from None


@cache
def _environment(templates: Any, language: str, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), autoescape=html,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(  # type: ignore[attr-defined]
        load_translations(language), newstyle=True)
    return env
