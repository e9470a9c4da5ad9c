"""The preview's HTTP server on 127.0.0.1: pages, emails, server-sent events, test sends.

Each change is one event on ``/events`` naming the variants whose email changed; the page
fetches just those and swaps them in place (static/preview.js). The only POST, ``/test-send``,
is refused unless it comes from one of this server's own pages: the Host is this server's,
the Origin is this server, and the form carries this process's token. Any web page the
communicator visits could otherwise make the browser POST to 127.0.0.1. No request is
answered for another Host, so a site whose name is rebound to 127.0.0.1 reads nothing either.
"""

from __future__ import annotations

import hmac
import json
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, unquote

from pipeline.audience.store import Store
from pipeline.deliver.testsend import send_test
from pipeline.errors import NewsletterError
from pipeline.i18n import _
from pipeline.preview import page
from pipeline.preview.state import PreviewState, Snapshot
from pipeline.render.personalise import SAMPLE_READER, personalise
from pipeline.render.variants import VariantKey

ISSUE_PREFIX = "/nummer/"
STATIC = files("pipeline.preview") / "static"
# Author text reaches every page: none of them may run anything but our own script. The
# email runs no script at all, in a sandbox, as in a mail program; it keeps our origin only so
# that our page can swap its content in place and keep its scroll position.
CSP_PAGE = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'self'")
CSP_WEB = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
CSP_EMAIL = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline' https:; "
             "img-src 'self' https: data:; font-src https:; base-uri 'none'; "
             "form-action 'none'; frame-ancestors 'self'; sandbox allow-same-origin allow-popups")
_ADDRESS_SPLIT = re.compile(r"[\s,;]+")


def split_addresses(text: str) -> list[str]:
    return [a for a in _ADDRESS_SPLIT.split(text) if a]


class PreviewHandler(BaseHTTPRequestHandler):
    state: PreviewState

    def log_message(self, format: str, *args: object) -> None:  # quiet; the CLI says where
        pass

    def _our_host(self) -> str | None:
        """The Host header if it names this server (not a name rebound to 127.0.0.1)."""
        address: tuple[str, int] = self.server.server_address  # type: ignore[assignment]
        host = self.headers.get("Host", "")
        return host if host in (f"127.0.0.1:{address[1]}", f"localhost:{address[1]}") else None

    def do_GET(self) -> None:
        if self._our_host() is None:  # DNS rebinding: another site must not read the draft
            return self._send(b"", HTTPStatus.MISDIRECTED_REQUEST, "text/plain")
        path, _sep, query = self.path.partition("?")
        path = unquote(path)
        snapshot = self.state.snapshot
        if path == "/events":
            return self._events(parse_qs(query).get("since", [""])[0])
        if path in ("/preview.css", "/preview.js"):
            kind = "text/css" if path.endswith(".css") else "text/javascript"
            return self._send((STATIC / path[1:]).read_bytes(), content_type=f"{kind}; "
                              "charset=utf-8")
        if path.startswith(ISSUE_PREFIX):
            return self._file(self.state.issue / path.removeprefix(ISSUE_PREFIX))
        if path == "/style.css" and snapshot.config:
            css = snapshot.config.templates / "archive" / "style.css"
            return self._send(css.read_bytes(), content_type="text/css; charset=utf-8")
        if path == "/site.js" and snapshot.config:
            script = snapshot.config.templates / "archive" / "site.js"
            return self._send(script.read_bytes(), content_type="text/javascript; charset=utf-8")
        if path.startswith("/material/") and snapshot.config:  # the web version's logotype
            brand = snapshot.config.brand
            shown = {Path(f).name for f in (brand.logo, brand.favicon) if f}  # nothing else
            files = {n: p for n, p in snapshot.config.material_paths().items() if n in shown}
            name = path.removeprefix("/material/")
            return self._image(files[name]) if name in files else self._not_found()
        if snapshot.rendered is None or snapshot.config is None:
            if path == "/" or path.startswith(("/variant/", "/email/")):
                return self._send(page.shell(snapshot, "Fel", page.broken_body(
                    snapshot, self.state.issue)))
            return self._not_found()
        if path == "/":
            body = page.overview_body(snapshot, snapshot.config.sender.name, self.state.issue)
            return self._send(page.shell(snapshot, "Förhandsvisning", body))
        if path == "/web":
            html = snapshot.rendered.web_html.replace('src="images/', f'src="{ISSUE_PREFIX}images/')
            html = html.replace('href="style.css"', 'href="/style.css"').replace(
                'src="site.js"', 'src="/site.js"').replace('="material/', '="/material/')
            return self._send(html.encode(), policy=CSP_WEB)
        kind, _sep, name = path[1:].partition("/")
        key = VariantKey.parse(name)
        if kind == "variant" and key not in snapshot.rendered.variants:
            return self._see_overview()  # an edit took this variant away: the others remain
        if kind not in ("variant", "email") or key not in snapshot.rendered.variants:
            return self._not_found()
        if kind == "variant":
            return self._send(self._variant_page(snapshot, key))
        email = personalise(snapshot.rendered.variants[key].html, SAMPLE_READER, is_html=True)
        base = snapshot.rendered.issue.archive_url(snapshot.config)
        email = email.replace(base, ISSUE_PREFIX)  # the issue's images, from its folder
        email = email.replace(snapshot.config.material_url(""), "/material/")  # the logotype
        self._send(email.encode(), policy=CSP_EMAIL)

    def _variant_page(self, snapshot: Snapshot, key: VariantKey, addresses: str | None = None,
                      result: str = "") -> bytes:
        assert snapshot.config is not None and snapshot.rendered is not None
        if addresses is None:
            addresses = ", ".join(snapshot.config.schedule.editors)
        form = page.send_form(self.state.token, key.name, addresses,
                              len(snapshot.rendered.variants)) + result
        body = page.variant_body(snapshot, key, snapshot.config.sender.name,
                                 self.state.issue, form)
        return page.shell(snapshot, snapshot.labels[key.name], body, key.name)

    def do_POST(self) -> None:
        if self.path != "/test-send":
            return self._not_found()
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= 10_000:
            return self._send(b"", HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "text/plain")
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(
            "utf-8", "replace")).items()}
        host = self._our_host()
        if host is None or self.headers.get("Origin") != f"http://{host}" or \
                not hmac.compare_digest(form.get("token", ""), self.state.token):
            message = _("Refused: test copies can only be sent from the preview's own page. "
                        "Reload the page and try again.")
            return self._send(message.encode(), HTTPStatus.FORBIDDEN, "text/plain; charset=utf-8")
        snapshot = self.state.snapshot
        key = VariantKey.parse(form.get("variant", ""))
        if snapshot.rendered is None or snapshot.config is None or \
                key not in snapshot.rendered.variants:
            return self._send(page.shell(snapshot, "Fel", page.broken_body(
                snapshot, self.state.issue)), HTTPStatus.CONFLICT)
        addresses = split_addresses(form.get("addresses", ""))
        config, folder = snapshot.config, self.state.issue
        try:
            if not addresses:
                raise NewsletterError(_("write at least one email address"))
            store = Store.open(config)
            try:
                lines = send_test(folder, config, None, addresses, store)
            finally:
                store.close()
            shown = [_("Test copies sent to %(addresses)s:") % {
                "addresses": ", ".join(addresses)}, *lines]
            result = page.result_box(shown, ok=True)
        except NewsletterError as exc:
            result = page.result_box([_("No test copies were sent: %(error)s") % {
                "error": exc.format_message()}], ok=False)
        self._send(self._variant_page(snapshot, key, form.get("addresses", ""), result))

    def _send(self, body: bytes, status: HTTPStatus = HTTPStatus.OK,
              content_type: str = "text/html; charset=utf-8", policy: str = CSP_PAGE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Security-Policy", policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _see_overview(self) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _not_found(self) -> None:
        self._send(b"Hittades inte", HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8")

    def _file(self, file: Path) -> None:
        root = self.state.issue.resolve()
        target = file.resolve()
        if root not in target.parents or not target.is_file():
            return self._not_found()
        self._image(target)

    def _image(self, target: Path) -> None:
        if not target.is_file():
            return self._not_found()
        kinds = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".gif": "image/gif", ".webp": "image/webp"}  # never SVG: it can hold script
        self._send(target.read_bytes(), content_type=kinds.get(target.suffix.lower(),
                                                               "application/octet-stream"))

    def _events(self, since: str) -> None:
        """One event per change: {"version", "changed": [variant names], "variants", "failed"}."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        state = self.state
        seen = int(since) if since.isdigit() else state.version
        try:
            self.wfile.write(b"retry: 500\n: ready\n\n")
            self.wfile.flush()
            while not state.closed.is_set():
                with state.changed:
                    if state.version == seen:
                        state.changed.wait(timeout=15)
                    snapshot = state.snapshot
                    changed = state.changed_since(seen)
                if snapshot.version == seen:
                    self.wfile.write(b": ping\n\n")
                else:
                    message = {"version": snapshot.version, "variants": snapshot.names,
                               "changed": snapshot.names if changed is None else sorted(changed),
                               "failed": snapshot.rendered is None}
                    self.wfile.write(f"id: {snapshot.version}\ndata: {json.dumps(message)}\n\n"
                                     .encode())
                    seen = snapshot.version
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
