"""The reader-facing service, first part: unsubscribing (RFC 8058 one-click and by hand).

    POST /avregistrera/<token>  body List-Unsubscribe=One-Click: unsubscribe at once, no
                                cookies or CSRF (RFC 8058; mail providers send exactly this)
    GET  /avregistrera/<token>  a page with buttons; a GET never changes anything, so link
                                scanners cannot unsubscribe anyone
    POST /avregistrera/<token>  the page's form (CSRF token bound to the link): this newsletter
                                segment or everything

Every answer carries strict security headers. Tokens come from ``audience.tokens``: signed,
expiring, never holding the address.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from pipeline.audience.gdpr import unsubscribe
from pipeline.audience.models import ALL_SEGMENTS
from pipeline.audience.store import Store
from pipeline.audience.tokens import Purpose, TokenError, read_token
from pipeline.config import Config

MAX_BODY = 4096
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; base-uri 'none'; "
                               "object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint
                       ) -> Response:
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response


def create_app(config: Config, store: Store, secret: bytes) -> Starlette:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(config.templates),
                             autoescape=True, undefined=jinja2.StrictUndefined)

    def page(title: str, text: list[str], status: int = 200,
             form: dict[str, Any] | None = None) -> HTMLResponse:
        html = env.get_template("service/page.html.j2").render(
            newsletter=config, title=title, text=text, form=form)
        return HTMLResponse(html, status_code=status)

    def csrf(token: str) -> str:
        return hmac.new(secret, f"csrf|{token}".encode(), hashlib.sha256).hexdigest()[:32]

    def broken() -> HTMLResponse:
        return page("Länken fungerar inte", [
            "Länken är ogiltig eller för gammal. Använd länken i det senaste nyhetsbrevet, "
            f"eller kontakta oss: {config.contact_line}."], status=400)

    async def unsubscribe_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            read_token(secret, token, Purpose.UNSUBSCRIBE)
        except TokenError:
            return broken()
        return page("Avregistrera dig", [
            f"Vill du sluta få {config.name}? Välj nedan. Inget ändras förrän du trycker "
            "på en knapp."], form={"action": f"/avregistrera/{token}", "csrf": csrf(token),
                                  "choices": [{"value": ALL_SEGMENTS,
                                               "label": "Avregistrera mig från nyhetsbrevet"}]})

    async def unsubscribe_post(request: Request) -> Response:
        token = request.path_params["token"]
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return PlainTextResponse("För stor begäran", status_code=413)
        try:
            claims = read_token(secret, token, Purpose.UNSUBSCRIBE)
        except TokenError:
            return broken()
        form = await request.form()
        one_click = form.get("List-Unsubscribe") == "One-Click"
        if not one_click and not hmac.compare_digest(str(form.get("csrf") or ""),
                                                     csrf(token)):
            return page("Något gick fel", ["Formuläret hade gått ut. Ladda om sidan och "
                                           "försök igen."], status=403)
        scope = claims.scope if one_click else str(form.get("scope") or claims.scope)
        if scope not in (ALL_SEGMENTS, claims.scope) and claims.scope != ALL_SEGMENTS:
            return broken()
        unsubscribe(store, claims.subscriber_id, scope)
        if one_click:
            return PlainTextResponse("Avregistrerad.")
        return page("Du är avregistrerad", [
            f"Du får inte fler nummer av {config.name}. Ångrar du dig kan du prenumerera "
            "igen när du vill."])

    async def stylesheet(request: Request) -> Response:
        return FileResponse(config.templates / "archive" / "style.css",
                            media_type="text/css")

    return Starlette(routes=[
        Route("/avregistrera/{token}", unsubscribe_page, methods=["GET"]),
        Route("/avregistrera/{token}", unsubscribe_post, methods=["POST"]),
        Route("/style.css", stylesheet, methods=["GET"]),
    ], middleware=[Middleware(SecurityHeaders)])
