"""Issue + variant key → responsive HTML email, text part, and the web version.

Markdown → sanitised HTML (markdown.py) → Jinja2 (autoescape, StrictUndefined) fills the MJML
templates → Swedish typography on the text (soft hyphens, no break inside times, dates and
phone numbers: pipeline/typography.py) → mjml-python compiles, inlining
``<mj-style inline="inline">`` with css-inline → minify-html with email-safe options
(mjml.py). The web version gets the same typography after Jinja. The text part gets none.

Compile once per segment: the variants of a segment differ only in the "Ert fokus" list, so the
segment's MJML is compiled once with every focus item between marker comments, and each variant
keeps its own items (``splice_focus``). Compiled HTML is cached by the hash of its MJML source.
Each variant still gets its own full MJML (``RenderedEmail.mjml``, typography included), which
the conformance test compiles with the reference implementation and compares pixel by pixel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from PIL import Image as PILImage

from pipeline.config import Config
from pipeline.errors import Problem, RenderError
from pipeline.i18n import _
from pipeline.issue import Issue, Section
from pipeline.render.markdown import Body, render_markdown
from pipeline.render.mjml import compile_mjml, splice_focus
from pipeline.render.personalise import placeholder
from pipeline.render.variants import VariantKey, variant_keys
from pipeline.typography import Nowrap, swedish_date, typeset

EMAIL_WIDTH = 550  # 600 px body less 2 × 25 px padding


def site_context(config: Config, root: str, canonical: str) -> dict[str, Any]:
    """What every page of the archive's layout needs: links, and the board's identity from
    [brand] (its files are published under material/, see ``material_path``)."""
    brand = config.brand
    logo = None
    if brand.logo:  # its height follows from its width (no file read: rendering stays pure)
        logo = {"src": root + material_path(brand.logo), "alt": brand.logo_alt,
                "width": brand.logo_width}
    return {"newsletter": config, "root": root, "canonical": canonical,
            "subscribe_url": f"{config.web_url}/prenumerera",
            "join_url": f"{config.web_url}/anslut", "logo": logo,
            "favicon": root + material_path(brand.favicon) if brand.favicon else None,
            "home_url": brand.home_url, "privacy_url": brand.privacy_url}


def material_path(file: str) -> str:
    """A brand file's or download's path in the archive (``Config.material_url`` less the
    archive's address)."""
    return f"material/{Path(file).name}"


@dataclass(frozen=True)
class RenderedEmail:
    key: VariantKey
    subject: str
    preheader: str
    html: str
    text: str
    mjml: str

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


@dataclass(frozen=True)
class RenderedIssue:
    issue: Issue
    variants: dict[VariantKey, RenderedEmail]
    web_html: str
    choices: dict[VariantKey, list[frozenset[str]]] = field(default_factory=dict)


class Renderer:
    """Compiles the templates once; renders any number of issues and variants."""

    def __init__(self, config: Config) -> None:
        self.config = config
        loader = jinja2.FileSystemLoader(config.templates)
        options: dict[str, Any] = {"loader": loader, "undefined": jinja2.StrictUndefined,
                                   "keep_trailing_newline": True}
        self.html_env = jinja2.Environment(autoescape=True, **options)
        self.text_env = jinja2.Environment(autoescape=False, **options)
        self._compiled: dict[str, str] = {}
        self._typeset_mjml: dict[str, str] = {}
        self._bodies: dict[tuple[Path, str, str], Body] = {}

    def body(self, section: Section, image_base: str) -> Body:
        key = (section.path, section.body, image_base)
        if key not in self._bodies:
            _bounded(self._bodies)
            self._bodies[key] = render_markdown(section.body, section.body_line, image_base)
        return self._bodies[key]

    def render_email(self, issue: Issue, key: VariantKey) -> RenderedEmail:
        context = self._email_context(issue, key)
        mjml = self._typeset(self._template(self.html_env, "email.mjml.j2", context))
        text = self._template(self.text_env, "text.txt.j2", context).strip() + "\n"
        if not key.focus_sections and self.config.segment(key.segment).empty_focus:
            html = self._compile(mjml)  # its own "Ert fokus": the line, not an empty list
        else:
            every_item = self._email_context(issue, VariantKey(key.segment, _ALL), markers=True)
            base = self._typeset(self._template(self.html_env, "email.mjml.j2", every_item))
            html = splice_focus(self._compile(base), key.focus_sections)
        return RenderedEmail(key, issue.meta.subject, issue.meta.preheader or "", html, text,
                             mjml)

    def _typeset(self, mjml: str) -> str:
        """The MJML with Swedish typography in its text, cached by the hash of its source
        (the variants of a segment share one)."""
        digest = hashlib.sha256(mjml.encode()).hexdigest()
        if digest not in self._typeset_mjml:
            _bounded(self._typeset_mjml)
            self._typeset_mjml[digest] = typeset(mjml, Nowrap.STYLE)
        return self._typeset_mjml[digest]

    def _compile(self, mjml: str) -> str:
        """Compiled HTML of ``mjml``, cached by its hash."""
        digest = hashlib.sha256(mjml.encode()).hexdigest()
        if digest not in self._compiled:
            _bounded(self._compiled)
            self._compiled[digest] = compile_mjml(mjml, self.config.templates / "email.mjml.j2")
        return self._compiled[digest]

    def render_web(self, issue: Issue, root: str = "") -> str:
        """The issue's web page (the archive's page): every section, nothing personal.

        ``root`` is the relative path to the archive's top: "../../" inside archive/.
        """
        context = self.issue_context(issue, None, image_base="")
        day = issue.meta.send_at.date()
        context |= site_context(self.config, root, issue.archive_url(self.config)) | {
            "year": issue.year, "date_iso": day.isoformat(), "date_text": swedish_date(day)}
        return typeset(self._template(self.html_env, "archive/issue.html.j2", context),
                       Nowrap.CLASS)

    def _template(self, env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
        try:
            return env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            where = Problem(str(self.config.templates / (exc.name or name)), exc.lineno,
                            "template", exc.message or "syntax error")
            raise RenderError("a template has a syntax error", [where]) from None
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"template '{exc.name}' not found in {self.config.templates}"
                              ) from None
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{self.config.templates / name}: {exc.message}") from None
        except Exception as exc:  # a template that fails while it runs: 1 + "text", a filter
            where = Problem(*_template_line(exc, self.config.templates / name), "template",
                            f"{type(exc).__name__}: {exc}")
            raise RenderError("a template failed while rendering", [where]) from None

    def issue_context(self, issue: Issue, segment: str | None, image_base: str
                      ) -> dict[str, Any]:
        """Template context of an issue: its sections for one segment (None: all)."""
        config = self.config
        sections = [self._section(issue, s, image_base) for s in issue.sections
                    if segment is None or s.for_segment(segment)]
        return {
            "newsletter": config, "issue": issue.meta, "sections": sections,
            "issue_label": issue.label,
            "archive_url": issue.archive_url(config),
            "summary": issue.summary,
        }

    def _email_context(self, issue: Issue, key: VariantKey, markers: bool = False
                       ) -> dict[str, Any]:
        image_base = issue.archive_url(self.config)
        context = self.issue_context(issue, key.segment, image_base)
        sections = context["sections"]
        if key.focus_sections is _ALL:
            chosen = [s for s in sections if s["focus"]]
        else:
            chosen = [s for s in sections if s["id"] in key.focus_sections]
        context.update(
            segment=self.config.segment(key.segment),
            focus_block=chosen if self.config.segment(key.segment).focus else [],
            focus_markers=markers,
            greeting=placeholder("reader_greeting"),
            unsubscribe_url=placeholder("unsubscribe_url"),
            preferences_url=placeholder("preferences_url"),
        )
        return context

    def _section(self, issue: Issue, section: Section, image_base: str) -> dict[str, Any]:
        front = section.front
        body = self.body(section, image_base)
        image = None
        if front.image:
            width, height = _image_size(issue.folder / front.image.src)
            shown = min(width, EMAIL_WIDTH)
            image = {"url": image_base + front.image.src, "alt": front.image.alt,
                     "width": shown, "height": round(height * shown / width)}
        audience = "" if front.audience == "all" else self.config.segment(front.audience).name
        return {
            "id": section.id, "kind": front.kind.value, "heading": front.heading,
            "until": swedish_date(front.until) if front.until else None,
            "until_iso": front.until.isoformat() if front.until else None,
            "expired": bool(front.until and front.until < issue.meta.send_at.date()),
            "image": image, "cta": front.cta, "audience": audience,
            "focus": [self.config.focus_area(f).name for f in front.focus],
            "html": Markup(body.html), "text": body.text,
        }

    def clear_cache(self) -> None:
        """Forget compiled HTML (benchmarks measure the full cost with it)."""
        self._compiled.clear()
        self._typeset_mjml.clear()


def _bounded(cache: dict[Any, Any], size: int = 256) -> None:
    """Make room in a cache: a long preview session renders thousands of edits."""
    while len(cache) >= size:
        del cache[next(iter(cache))]


def _template_line(exc: BaseException, fallback: Path) -> tuple[str, int]:
    """The template file and line where ``exc`` was raised (Jinja keeps them in the trace)."""
    found = (str(fallback), 1)
    trace = exc.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if code.co_filename.endswith(".j2"):
            found = (code.co_filename, trace.tb_lineno)
        trace = trace.tb_next
    return found


_ALL: tuple[str, ...] = ("*",)  # every focus section: the segment's shared compile


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with PILImage.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
        raise RenderError(_("%(file)s: not a JPEG, PNG, GIF or WebP image; export it as one "
                            "of those") % {"file": path}) from None


def render_issue(issue: Issue, config: Config, keys: list[VariantKey] | None = None,
                 renderer: Renderer | None = None) -> RenderedIssue:
    """Render every variant the issue needs (or ``keys``) and its web version."""
    renderer = renderer or Renderer(config)
    choices = variant_keys(issue, config)
    wanted = keys if keys is not None else list(choices)
    variants = {key: renderer.render_email(issue, key) for key in wanted}
    return RenderedIssue(issue, variants, renderer.render_web(issue),
                         {k: choices.get(k, []) for k in wanted})
