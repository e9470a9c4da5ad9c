"""Checks on the compiled HTML of every email and of the web version: the language, layout
tables a screen reader should skip, script of any kind (but the archive's own site.js in the
web version), and the heading outline."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TYPE_CHECKING

from pipeline.i18n import _
from pipeline.settings import Rule

if TYPE_CHECKING:
    from pipeline.lint import _Findings


class _Structure(HTMLParser):
    def __init__(self, own_scripts: tuple[str, ...] = ()) -> None:
        super().__init__(convert_charrefs=True)
        self.own_scripts = own_scripts
        self.lang: str | None = None
        self.headings: list[int] = []
        self.tables: list[dict[str, bool]] = []
        self.bad_tables = 0
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.scripts += [f"<{tag} {name}>" for name, value in attrs if name.startswith("on")
                         or (value or "").strip().lower().startswith("javascript:")]
        if tag in ("script", "iframe", "object", "embed") and not self._own(tag, values):
            self.scripts.append(f"<{tag}>")
        if tag == "html":
            self.lang = values.get("lang")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(int(tag[1]))
        elif tag == "table":
            self.tables.append({"presentation": values.get("role") == "presentation",
                                "header": False})
        elif tag in ("th", "caption") and self.tables:
            self.tables[-1]["header"] = True

    def _own(self, tag: str, values: dict[str, str | None]) -> bool:
        """The archive layout's own script file, beside its pages (the web version only)."""
        src = values.get("src") or ""
        return (tag == "script" and ":" not in src and not src.startswith("//")
                and src.rsplit("/", 1)[-1] in self.own_scripts)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.tables:
            table = self.tables.pop()
            if not table["presentation"] and not table["header"]:
                self.bad_tables += 1


def lint_html(html: str, where: tuple[str, int, str], found: _Findings,
               headings: bool = True, own_scripts: tuple[str, ...] = (),
               lang: str = "sv") -> None:
    """``own_scripts``: script files a page may load (the archive's site.js, which the
    page's Content-Security-Policy limits to its own folder); none in an email."""
    parser = _Structure(own_scripts)
    parser.feed(html)
    parser.close()
    if parser.lang != lang:
        found.add(Rule.LANG, *where, _('<html lang="%(lang)s"> must be lang="%(wanted)s"') % {
            "lang": parser.lang, "wanted": lang})
    if parser.bad_tables:
        found.add(Rule.LAYOUT_TABLE, *where, _(
            "%(count)d layout table(s) lack role=\"presentation\"") % {"count": parser.bad_tables})
    for what in dict.fromkeys(parser.scripts):
        found.add(Rule.SCRIPT, *where, _("%(what)s runs script in the reader's mail program; "
                                         "remove it from the template") % {"what": what})
    previous = 0
    for level in parser.headings if headings else []:
        if level > previous + 1:
            found.add(Rule.HEADING_ORDER, *where, _(
                "heading h%(level)d follows %(previous)s; headings must not skip levels") % {
                    "level": level, "previous": f"h{previous}" if previous else _("none")})
            break
        previous = level
