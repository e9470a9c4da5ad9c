"""Author content is data: no script, event handler, dangerous URL or template code survives."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import Config
from pipeline.issue import load_issue
from pipeline.render import render_issue
from pipeline.render.markdown import render_markdown

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">länk</a>',
    "[länk](javascript:alert(1))",
    "[länk](JaVaScRiPt:alert(1))",
    "[länk](java\tscript:alert(1))",
    "[länk](&#106;avascript:alert(1))",
    "[länk](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![bild](javascript:alert(1))",
    "![bild](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<a href="#" onclick="alert(1)">klick</a>',
    "<body onload=alert(1)>",
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    "<!--<script>alert(1)</script>-->",
    "[a](vbscript:msgbox(1))",
    '<form action="https://evil.example"><input name=x></form>',
    "{{ 7*7 }}",
    "{% for x in range(3) %}loop{% endfor %}",
    "{{ config.__class__.__init__.__globals__ }}",
    "<mj-raw><script>alert(1)</script></mj-raw>",
    "</mj-text><mj-raw><script>alert(1)</script></mj-raw><mj-text>",
]


TOKENS = [*"<>\"'=/:;()[]!&# \n`*_-", "script", "onerror", "onload", "javascript", "data",
          "img", "src", "href", "a", "svg", "iframe", "style", "http", "{{", "}}", "x"]


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str | None] = []  # each <script>'s src
        self.handlers: list[str] = []
        self.bad_urls: list[str] = []
        self.frames = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs).get("src"))
        if tag in ("iframe", "object", "embed", "form", "input"):
            self.frames += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(name)
            if name in ("href", "src", "action", "style") and value and re.search(
                    r"(?i)(java|vb)script:|data:", re.sub(r"\s", "", value)):
                self.bad_urls.append(value)


def audit(html: str) -> _Audit:
    parser = _Audit()
    parser.feed(html)
    parser.close()
    return parser


def _assert_clean(html: str, layout_script: bool = False) -> None:
    """No active content; a web page only its layout's own site.js (a file beside it, as the
    page's Content-Security-Policy allows)."""
    found = audit(html)
    assert found.scripts == (["site.js"] if layout_script else [])
    assert found.handlers == []
    assert found.bad_urls == []
    assert found.frames == 0


@pytest.mark.parametrize("payload", XSS)
def test_payload_never_survives_into_email_or_web(payload: str, make_issue, config: Config
                                                  ) -> None:
    folder = make_issue({"01-intro.md": f"---\nheading: Inledning\n---\n{payload}\n\nSlut.\n"})
    rendered = render_issue(load_issue(folder, config), config)
    for mail in rendered.variants.values():
        _assert_clean(mail.html)
    _assert_clean(rendered.web_html, layout_script=True)


def test_template_syntax_in_content_renders_literally(make_issue, config: Config) -> None:
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\nSvar: {{ 7*7 }}\n"})
    rendered = render_issue(load_issue(folder, config), config)
    for mail in rendered.variants.values():
        assert "Svar: {{ 7*7 }}" in mail.html and "49" not in mail.html
        assert "Svar: {{ 7*7 }}" in mail.text
    assert "Svar: {{ 7*7 }}" in rendered.web_html


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_sanitiser_never_lets_active_content_through(source: str) -> None:
    _assert_clean(render_markdown(source, image_base="https://arkiv.example/2027/1/").html)
