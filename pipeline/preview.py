"""``newsletter preview``: the variants in a browser, re-rendered whenever a file changes.

A small threaded HTTP server on 127.0.0.1. Each variant page shows the email at desktop
(600 px) and mobile (375 px) width side by side, with its text part below. A watcher thread
re-renders when the issue, the templates or newsletter.toml change, and the open pages reload
through server-sent events. Problems are shown in the page instead of stopping the server.
"""

from __future__ import annotations

import contextlib
import html
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from pipeline.config import config_path, load_config
from pipeline.errors import NewsletterError, Problem
from pipeline.lint import check_issue
from pipeline.render.email import RenderedIssue
from pipeline.render.personalise import SAMPLE_READER, personalise

_ISSUE_PREFIX = "/nummer/"

_CSS = """body { font: 15px/1.5 Arial, sans-serif; margin: 0; background: #ecebef; color: #1f1f1f; }
header { background: #3d1a5c; color: #fff; padding: 10px 16px; }
header a { color: #fff; margin-right: 14px; }
main { padding: 16px; }
.frames { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
figure { margin: 0; } figcaption { font-weight: bold; margin-bottom: 6px; }
iframe { border: 1px solid #bbb; background: #fff; height: 1600px; }
pre { background: #fff; padding: 12px; white-space: pre-wrap; max-width: 80ch; }
.problems { background: #fff4d6; border-left: 6px solid #a86b00; padding: 8px 12px; }
"""
_JS = 'new EventSource("/events").onmessage = function () { location.reload(); };\n'

_SHELL = """<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/preview.css"></head><body>
<header><strong>Förhandsvisning</strong> · {nav}</header>
<main>{body}</main>
<script src="/preview.js"></script></body></html>"""

# Author text reaches every page: none of them may run anything but our own script. The
# email itself runs no script at all, in a sandbox (a unique origin), as in a mail program.
_CSP_PAGE = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
             "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'self'")
_CSP_WEB = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
_CSP_EMAIL = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline' https:; "
              "img-src 'self' https: data:; font-src https:; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'self'; sandbox allow-popups")


@dataclass
class PreviewState:
    """The latest render and a version counter that pages wait on."""

    issue: Path
    config_file: Path | None
    rendered: RenderedIssue | None = None
    problems: list[Problem] = field(default_factory=list)
    version: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def refresh(self) -> None:
        try:
            result = check_issue(self.issue, load_config(self.config_file))
            rendered, problems = result.rendered, result.problems
        except NewsletterError as exc:
            rendered, problems = None, [*exc.problems] or [Problem("config", 1, "", exc.message)]
        with self.changed:
            self.rendered, self.problems = rendered, problems
            self.version += 1
            self.changed.notify_all()

    def watched(self) -> list[Path]:
        config = config_path(self.config_file)
        paths = [self.issue, config]
        with contextlib.suppress(NewsletterError):
            paths.append(load_config(self.config_file).templates)
        return [p for p in paths if p.exists()]


def _page(state: PreviewState, title: str, body: str) -> bytes:
    rendered = state.rendered
    links = ['<a href="/">Översikt</a>']
    if rendered:
        links += [f'<a href="/variant/{html.escape(k.name)}">{html.escape(k.name)}</a>'
                  for k in rendered.variants]
        links.append('<a href="/web">Webbversion</a>')
    problems = ""
    if state.problems:
        items = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in state.problems)
        problems = f'<section class="problems"><h2>Problem</h2><ul>{items}</ul></section>'
    return _SHELL.format(title=html.escape(title), nav=" ".join(links),
                         body=problems + body).encode()


class _Handler(BaseHTTPRequestHandler):
    state: PreviewState

    def log_message(self, format: str, *args: object) -> None:  # quiet; the CLI says where
        pass

    def do_GET(self) -> None:
        path = unquote(self.path.split("?", 1)[0])
        state = self.state
        rendered = state.rendered
        if path == "/events":
            return self._events()
        if path == "/":
            names = [k.name for k in rendered.variants] if rendered else []
            items = "".join(f'<li><a href="/variant/{html.escape(n)}">{html.escape(n)}</a></li>'
                            for n in names)
            body = f"<h1>Varianter</h1><ul>{items}</ul>"
            return self._send(_page(state, "Förhandsvisning", body))
        if path == "/preview.css":
            return self._send(_CSS.encode(), content_type="text/css; charset=utf-8")
        if path == "/preview.js":
            return self._send(_JS.encode(), content_type="text/javascript; charset=utf-8")
        if path == "/style.css":
            css = load_config(state.config_file).templates / "archive" / "style.css"
            return self._send(css.read_bytes(), content_type="text/css; charset=utf-8")
        if path.startswith(_ISSUE_PREFIX):
            return self._file(state.issue / path.removeprefix(_ISSUE_PREFIX))
        if rendered is None:
            return self._send(_page(state, "Fel", ""), HTTPStatus.OK)
        if path == "/web":
            page = rendered.web_html.replace('src="images/', f'src="{_ISSUE_PREFIX}images/')
            page = page.replace('href="style.css"', 'href="/style.css"')
            return self._send(page.encode(), policy=_CSP_WEB)
        for key, email in rendered.variants.items():
            if path == f"/variant/{key.name}":
                body = (f"<h1>{html.escape(key.name)}</h1><div class=frames>"
                        f'<figure><figcaption>Dator, 600 px</figcaption><iframe title="Dator" '
                        f'src="/email/{html.escape(key.name)}" width="640"></iframe></figure>'
                        f'<figure><figcaption>Mobil, 375 px</figcaption><iframe title="Mobil" '
                        f'src="/email/{html.escape(key.name)}" width="375"></iframe></figure>'
                        "</div><h2>Textdel</h2><pre>"
                        f"{html.escape(personalise(email.text, SAMPLE_READER, is_html=False))}"
                        "</pre>")
                return self._send(_page(state, key.name, body))
            if path == f"/email/{key.name}":
                page = personalise(email.html, SAMPLE_READER, is_html=True)
                base = rendered.issue.archive_url(load_config(state.config_file))
                return self._send(page.replace(base, _ISSUE_PREFIX).encode(),
                                  policy=_CSP_EMAIL)
        self._send(b"Hittades inte", HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8")

    def _send(self, body: bytes, status: HTTPStatus = HTTPStatus.OK,
              content_type: str = "text/html; charset=utf-8", policy: str = _CSP_PAGE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Security-Policy", policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _file(self, file: Path) -> None:
        root = self.state.issue.resolve()
        target = file.resolve()
        if root not in target.parents or not target.is_file():
            return self._send(b"Hittades inte", HTTPStatus.NOT_FOUND, "text/plain")
        kinds = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".gif": "image/gif", ".webp": "image/webp"}  # never SVG: it can hold script
        self._send(target.read_bytes(), content_type=kinds.get(target.suffix.lower(),
                                                               "application/octet-stream"))

    def _events(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        state = self.state
        with state.changed:
            seen = state.version
            while state.version == seen:
                if not state.changed.wait(timeout=15):
                    break
        try:
            self.wfile.write(b"data: reload\n\n" if state.version != seen else b": ping\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def start_preview(issue: Path, config_file: Path | None, port: int = 0
                  ) -> tuple[ThreadingHTTPServer, PreviewState, threading.Event]:
    """Render, start serving and watching; returns the server, its state and a stop event."""
    state = PreviewState(issue, config_file)
    state.refresh()
    handler = type("PreviewHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    stop = threading.Event()

    watching = threading.Event()

    def watch() -> None:
        from watchfiles import watch as watch_files

        for changes in watch_files(*state.watched(), stop_event=stop, debounce=200,
                                   rust_timeout=200, yield_on_timeout=True):
            watching.set()  # the first (empty) yield: the watcher is in place
            if changes:
                state.refresh()

    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=watch, daemon=True).start()
    watching.wait(timeout=10)  # so no edit made right after start is missed
    return server, state, stop


def serve_preview(issue: Path, config_file: Path | None, port: int) -> None:
    import click

    server, state, stop = start_preview(issue, config_file, port)
    host, bound = server.server_address[:2]
    click.echo(f"Preview of {issue} on http://{host!s}:{bound}/ (Ctrl+C stops)")
    for problem in state.problems:
        click.echo(str(problem))
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
