"""The reader-facing service: one Starlette app, served by uvicorn (``newsletter serve``).

    /prenumerera, /anslut, /bekrafta/<token>   subscribing and joining (``web.signup``)
    /avregistrera/<token>, /installningar/...  unsubscribing and preferences (``web.account``)
    /sendgrid/events                           the provider's signed event webhook (``web.events``)
    /style.css, /service.css, /material/<name> the archive's stylesheet, the service's own
                                               additions, the logotype and favicon (``web.brand``)

``Site`` holds what every page shares: the templates in the reader's language, the board's
identity and legal links (``web.brand``), signed form tokens (stateless CSRF), rate limits
(``web.guards``), the mail queue (``web.mailer``) and a bounded form reader (urlencoded or
multipart). Every answer carries strict security headers, errors included (an unexpected one
is a bare page, never a traceback); a GET never changes anything; paths are matched exactly,
so no redirect ever repeats the request's Host header.
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.parser import BytesParser
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from babel.dates import format_date
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from pipeline.audience.rows import normalise_email
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.i18n import LANGUAGES, Gettext, load_translations, negotiate
from pipeline.web.brand import brand_view
from pipeline.web.guards import RateLimit, has_control, is_stamp, same
from pipeline.web.mailer import Mailer

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


@dataclass(frozen=True)
class Choice:
    """One checkbox or radio button of a group (``field.choices`` in the templates)."""

    value: str
    label: str
    hint: str = ""


class TooLarge(Exception):
    """The request body is over its limit."""


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint
                       ) -> Response:
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response


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
        self.mailer = Mailer(config)
        self.brand = brand_view(config)
        self.translations = {language: load_translations(language) for language in LANGUAGES}
        self.envs = {}
        for language, translations in self.translations.items():
            env = jinja2.Environment(loader=jinja2.FileSystemLoader(config.templates),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     extensions=["jinja2.ext.i18n"])
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            env.filters["long_date"] = partial(format_date, format="long", locale=language)
            self.envs[language] = env

    @property
    def default_language(self) -> str:
        return self.config.language if self.config.language in LANGUAGES else LANGUAGES[0]

    def language(self, request: Request) -> str:
        return negotiate(request.headers.get("accept-language"), self.default_language)

    def gettext(self, request: Request) -> Gettext:
        return self.translations[self.language(request)].gettext

    def render(self, request: Request, template: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        language = self.language(request)
        html = self.envs[language].get_template(template).render(
            newsletter=self.config, brand=self.brand, language=language, **context)
        return HTMLResponse(html, status_code=status,
                            headers={"Content-Language": language, "Vary": "Accept-Language"})

    def page(self, request: Request, title: str, text: list[str], status: int = 200,
             form: dict[str, Any] | None = None, links: list[dict[str, str]] | None = None
             ) -> HTMLResponse:
        return self.render(request, "service/page.html.j2", status, title=title, text=text,
                           form=form, links=links or [])

    def onward(self, request: Request) -> list[dict[str, str]]:
        """Where a reader can go from a page that ends something (sent, confirmed, left): the
        archive, and the board's site when ``[brand] home_url`` names it."""
        _ = self.gettext(request)
        links = [{"href": self.brand.archive_url, "text": _(
            "Read earlier issues of %(name)s") % {"name": self.config.name}}]
        if self.brand.home_url:
            links.append({"href": self.brand.home_url, "text": _(
                "Go to the website of %(board)s") % {"board": self.config.sender.name}})
        return links

    def broken(self, request: Request) -> HTMLResponse:
        _ = self.gettext(request)
        return self.page(request, _("The link does not work"), [
            _("The link is not valid or too old. Use the link in the latest newsletter, or "
              "contact us: %(contact)s.") % {"contact": self.config.contact_line}], 400)

    def expired_form(self, request: Request) -> HTMLResponse:
        _ = self.gettext(request)
        return self.page(request, _("Something went wrong"), [
            _("The form was open too long. Reload the page and try again.")], 403)

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
        return is_stamp(stamp) and time.time() - int(stamp) < FORM_TTL and \
            same(value, self.form_token(purpose, int(stamp)))

    async def read_form(self, request: Request) -> Form:
        """An urlencoded or multipart form (RFC 8058 one-click may come as either), bounded in
        bytes and fields; raises TooLarge."""
        body = await read_body(request, MAX_FORM_BYTES)
        kind = request.headers.get("content-type", "")
        try:
            pairs = _multipart(body, kind) if kind.lower().startswith("multipart/form-data") \
                else parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except (UnicodeError, ValueError):
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

    def text(self, request: Request, form: Form, key: str, errors: dict[str, str],
             limit: int = 200) -> str:
        """A text field as ``one`` gives it; a control or line-separator character anywhere in
        what was sent is an error on that field (see ``web.guards``)."""
        _ = self.gettext(request)
        value = one(form, key, limit)
        if has_control((form.get(key) or [""])[0]):  # as sent: strip() takes NEL, U+2028
            errors[key] = _("Remove the line breaks and other invisible characters from "
                            "this field.")
        return value

    def email(self, request: Request, value: str, errors: dict[str, str], key: str
              ) -> str | None:
        """The address normalised, or None with an error on the field ``key``."""
        _ = self.gettext(request)
        try:
            return normalise_email(value)
        except ValueError:
            errors[key] = _("Enter an email address, like name@example.se.")
            return None

    def focus_choices(self) -> list[Choice]:
        """The focus areas as boxes, each described by its goal."""
        return [Choice(f.slug, f.name, f.goal) for f in self.config.focus_areas]

    def client(self, request: Request) -> str:
        return request.client.host if request.client else "-"


def one(form: Form, key: str, limit: int = 200) -> str:
    """One field's value, trimmed and cut to ``limit`` characters."""
    values = form.get(key) or [""]
    return values[0].strip()[:limit]


def one_click(form: Form) -> bool:
    """The RFC 8058 body ``List-Unsubscribe=One-Click`` (a trailing CRLF allowed)."""
    return [value.strip() for value in form.get("List-Unsubscribe", [])] == ["One-Click"]


def _multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """A multipart/form-data body's text fields (files are ignored)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        pairs.append((name, payload.decode() if isinstance(payload, bytes) else ""))
        if len(pairs) > MAX_FIELDS:
            raise ValueError("too many fields")
    return pairs


def create_app(config: Config, store: Store, secret: bytes) -> Starlette:
    from pipeline.web import account, brand, events, signup

    site = Site(config, store, secret)

    async def stylesheet(request: Request) -> Response:
        return FileResponse(config.templates / "archive" / "style.css", media_type="text/css")

    async def service_stylesheet(request: Request) -> Response:
        return FileResponse(config.templates / "service" / "service.css", media_type="text/css")

    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug (never a reader's input): a bare answer, the usual headers, no traceback.
        Starlette logs the exception after this answer is sent."""
        return PlainTextResponse("Internal Server Error", status_code=500, headers=HEADERS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        site.mailer.close()

    app = Starlette(routes=[
        *signup.routes(site), *account.routes(site), *events.routes(site),
        *brand.routes(config), Route("/style.css", stylesheet, methods=["GET"]),
        Route("/service.css", service_stylesheet, methods=["GET"]),
    ], middleware=[Middleware(SecurityHeaders)], exception_handlers={500: server_error},
        lifespan=lifespan)
    app.router.redirect_slashes = False  # the redirect would carry the Host header's name
    app.state.site = site
    return app
