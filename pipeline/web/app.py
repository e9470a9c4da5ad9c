"""The reader-facing service: one Starlette app, served by uvicorn (``newsletter serve``).

    /prenumerera, /anslut, /bekrafta/<token>   subscribing and joining (``web.signup``)
    /avregistrera/<token>, /installningar/...  unsubscribing and preferences (``web.account``)
    /sendgrid/events                           the provider's signed event webhook (``web.events``)

``Site`` holds what every page shares: the templates in the reader's language, signed form
tokens (stateless CSRF), rate limits and a bounded form reader. Every answer carries strict
security headers; a GET never changes anything.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import defaultdict, deque
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.web.i18n import LANGUAGES, Gettext, load_translations, negotiate

MAX_FORM_BYTES = 8192
MAX_FIELDS = 40
FORM_TTL = 2 * 3600  # seconds a form may stay open before it must be reloaded
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; base-uri 'none'; "
                               "object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Form = dict[str, list[str]]


class TooLarge(Exception):
    """The request body is over its limit."""


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint
                       ) -> Response:
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response


class RateLimit:
    """Sliding one-hour windows in memory, per client address and per email address."""

    WINDOW = 3600.0

    def __init__(self, per_client: int, per_address: int) -> None:
        self.limits = {"client": per_client, "address": per_address}
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, kind: str, key: str) -> bool:
        stamps, moment = self.seen[f"{kind}:{key}"], time.monotonic()
        while stamps and stamps[0] < moment - self.WINDOW:
            stamps.popleft()
        if len(stamps) >= self.limits[kind]:
            return False
        stamps.append(moment)
        return True


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes whatever Content-Length claims."""
    if int(request.headers.get("content-length") or 0) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


class Site:
    def __init__(self, config: Config, store: Store, secret: bytes) -> None:
        self.config, self.store, self.secret = config, store, secret
        self.limits = RateLimit(config.web.requests_per_client_per_hour,
                                config.web.requests_per_address_per_hour)
        self.translations = {language: load_translations(language) for language in LANGUAGES}
        self.envs = {}
        for language, translations in self.translations.items():
            env = jinja2.Environment(loader=jinja2.FileSystemLoader(config.templates),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     extensions=["jinja2.ext.i18n"])
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            self.envs[language] = env

    def language(self, request: Request) -> str:
        default = self.config.language if self.config.language in LANGUAGES else LANGUAGES[0]
        return negotiate(request.headers.get("accept-language"), default)

    def gettext(self, request: Request) -> Gettext:
        return self.translations[self.language(request)].gettext

    def render(self, request: Request, template: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        language = self.language(request)
        html = self.envs[language].get_template(template).render(
            newsletter=self.config, language=language, **context)
        return HTMLResponse(html, status_code=status,
                            headers={"Content-Language": language, "Vary": "Accept-Language"})

    def page(self, request: Request, title: str, text: list[str], status: int = 200,
             form: dict[str, Any] | None = None) -> HTMLResponse:
        return self.render(request, "service/page.html.j2", status, title=title, text=text,
                           form=form)

    def broken(self, request: Request) -> HTMLResponse:
        _ = self.gettext(request)
        return self.page(request, _("The link does not work"), [
            _("The link is not valid or too old. Use the link in the latest newsletter, or "
              "contact us: %(contact)s.") % {"contact": self.config.contact_line}], 400)

    def expired_form(self, request: Request) -> HTMLResponse:
        _ = self.gettext(request)
        return self.page(request, _("Something went wrong"), [
            _("The form had expired. Reload the page and try again.")], 403)

    def too_large(self, request: Request) -> HTMLResponse:
        _ = self.gettext(request)
        return self.page(request, _("Too much text"), [
            _("The form held more text than we accept. Shorten it and try again.")], 413)

    def sign(self, text: str) -> str:
        return hmac.new(self.secret, f"csrf|{text}".encode(), hashlib.sha256).hexdigest()[:32]

    def form_token(self, purpose: str, moment: int | None = None) -> str:
        """A CSRF token for a form that is not bound to a link: signed, expiring."""
        moment = moment or int(time.time())
        return f"{moment}.{self.sign(f'{purpose}|{moment}')}"

    def form_token_ok(self, purpose: str, value: str) -> bool:
        stamp, _, _ = value.partition(".")
        return stamp.isdigit() and time.time() - int(stamp) < FORM_TTL and \
            hmac.compare_digest(value, self.form_token(purpose, int(stamp)))

    async def read_form(self, request: Request) -> Form:
        """An urlencoded form, bounded in bytes and fields; raises TooLarge."""
        body = await read_body(request, MAX_FORM_BYTES)
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True,
                              max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise TooLarge from None
        form: Form = defaultdict(list)
        for key, value in pairs:
            form[key].append(value)
        return form

    async def checked_form(self, request: Request, purpose: str) -> Form | Response:
        """A form that is not bound to a link (subscribe, join): read within its bounds and
        carrying a valid signed token; otherwise the page to answer with."""
        try:
            form = await self.read_form(request)
        except TooLarge:
            return self.too_large(request)
        if not self.form_token_ok(purpose, one(form, "csrf")):
            return self.expired_form(request)
        return form

    def client(self, request: Request) -> str:
        return request.client.host if request.client else "-"


def one(form: Form, key: str, limit: int = 200) -> str:
    """One field's value, trimmed and cut to ``limit`` characters."""
    values = form.get(key) or [""]
    return values[0].strip()[:limit]


def create_app(config: Config, store: Store, secret: bytes) -> Starlette:
    from pipeline.web import account, events, signup

    site = Site(config, store, secret)

    async def stylesheet(request: Request) -> Response:
        return FileResponse(config.templates / "archive" / "style.css", media_type="text/css")

    return Starlette(routes=[
        *signup.routes(site), *account.routes(site), *events.routes(site),
        Route("/style.css", stylesheet, methods=["GET"]),
    ], middleware=[Middleware(SecurityHeaders)])
