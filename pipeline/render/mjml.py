"""MJML → email HTML, and the segment trick that compiles it once per segment.

``compile_mjml``: mjml-python compiles, inlining ``<mj-style inline="inline">`` with
css-inline, then minify-html with email-safe options. ``splice_focus``: the variants of a
segment differ only in the "Ert fokus" list, so the segment's MJML is compiled once with every
focus item between marker comments, and each variant keeps its own items.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.errors import RenderError

_BLOCK = re.compile(r"<!--focus-block-->(.*?)<!--/focus-block-->", re.DOTALL)
_ITEM = re.compile(r"<!--focus:([\w-]+)-->(.*?)<!--/focus:\1-->", re.DOTALL)


def splice_focus(html: str, sections: tuple[str, ...]) -> str:
    """Keep the focus items of ``sections`` (drop the block if none) and the markers."""
    if not sections:
        return _BLOCK.sub("", html)
    kept = _ITEM.sub(lambda m: m.group(2) if m.group(1) in sections else "", html)
    return kept.replace("<!--focus-block-->", "").replace("<!--/focus-block-->", "")


_MJ_TAG = re.compile(r"<mj-[\w-]+(?:\s+[\w-]+=\"[^\"<>]*\")*\s*/?>")
_MJ_VALUE = re.compile(r'="([^"]*)"')


def escape_mjml_attributes(source: str) -> str:
    """Escape ``&`` once more in the attributes of ``<mj-…>`` tags.

    mjml-python decodes entities in attribute values and writes them back raw, so the
    ``&quot;`` Jinja wrote for a ``"`` in an image's alt text would close the attribute in
    the HTML. Escaped twice, it comes out escaped once.
    """
    def tag(match: re.Match[str]) -> str:
        return _MJ_VALUE.sub(lambda v: '="' + v.group(1).replace("&", "&amp;") + '"',
                             match.group(0))

    return _MJ_TAG.sub(tag, source)


_MJ_TITLE = re.compile(r"(<mj-title>)(.*?)(</mj-title>)", re.DOTALL)
_TITLE_SLOT = "mjml-title-slot-5e0c"


def compile_mjml(source: str, template: Path) -> str:
    """MJML → HTML with inlined CSS, minified with email-safe options."""
    import minify_html
    from mjml import mjml_to_html

    # mjml-python copies the title's decoded text into the body's aria-label unescaped: give
    # it a slot and put the (Jinja-escaped) title in afterwards, in <title> and aria-label.
    title = _MJ_TITLE.search(source)
    protected = escape_mjml_attributes(source)
    if title:
        protected = _MJ_TITLE.sub(lambda m: m.group(1) + _TITLE_SLOT + m.group(3), protected, 1)
    try:
        result = mjml_to_html(protected)
    except Exception as exc:  # mjml-python raises bare exceptions on malformed MJML
        raise RenderError(f"{template}: MJML could not be compiled: {exc}") from exc
    if result.errors:
        raise RenderError(f"{template}: MJML errors: {'; '.join(result.errors)}")
    html = result.html.replace(_TITLE_SLOT, title.group(2).strip()) if title else result.html
    return str(minify_html.minify(
        html,
        keep_comments=True,            # Outlook's conditional comments live in comments
        keep_closing_tags=True,
        keep_html_and_head_opening_tags=True,
        minify_css=False,              # it rewrites media queries to range syntax clients lack
        minify_js=False,
        preserve_brace_template_syntax=True,  # keep {{placeholders}} intact
    ))
