"""The reader-facing service: subscribing (double opt-in) and unsubscribing.

    GET  /prenumerera           the form (email, optional name, consent with the privacy-notice
    POST /prenumerera           version); always the same answer, whatever the address's state;
                                a confirmation mail with a signed link that expires (7 days)
    GET  /bekrafta/<token>      a page with a button; POST confirms

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
import time
from collections import defaultdict, deque
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
FORM_TTL = 2 * 3600
LIMITS = {"ip": (20, 3600.0), "address": (3, 3600.0)}  # requests per window (seconds)


class RateLimit:
    """Sliding windows in memory, per client address and per email address."""

    def __init__(self) -> None:
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, kind: str, key: str) -> bool:
        limit, window = LIMITS[kind]
        stamps, moment = self.seen[f"{kind}:{key}"], time.monotonic()
        while stamps and stamps[0] < moment - window:
            stamps.popleft()
        if len(stamps) >= limit:
            return False
        stamps.append(moment)
        return True
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

    limits = RateLimit()

    def form_token(moment: int | None = None) -> str:
        moment = moment or int(time.time())
        return f"{moment}.{csrf(f'subscribe|{moment}')}"

    def form_token_ok(value: str) -> bool:
        stamp, _, _ = value.partition(".")
        return stamp.isdigit() and time.time() - int(stamp) < FORM_TTL and \
            hmac.compare_digest(value, form_token(int(stamp)))

    def subscribe_form(values: dict[str, str], errors: dict[str, str],
                       status: int = 200) -> HTMLResponse:
        html = env.get_template("service/subscribe.html.j2").render(
            newsletter=config, values=values, errors=errors, csrf=form_token(),
            privacy_notice=config.audience.privacy_notice)
        return HTMLResponse(html, status_code=status)

    async def subscribe_page(request: Request) -> Response:
        return subscribe_form({"email": "", "name": "", "consent": ""}, {})

    async def subscribe_post(request: Request) -> Response:
        from pipeline.audience.rows import normalise_email
        from pipeline.audience.signup import request_subscription
        from pipeline.audience.tokens import make_token
        from pipeline.deliver.notify import send_notice

        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return PlainTextResponse("För stor begäran", status_code=413)
        form = await request.form()
        values = {k: str(form.get(k) or "").strip()[:254] for k in ("email", "name", "consent")}
        if not form_token_ok(str(form.get("csrf") or "")):
            return page("Något gick fel", ["Formuläret hade gått ut. Ladda om sidan och "
                                           "försök igen."], status=403)
        errors: dict[str, str] = {}
        try:
            address = normalise_email(values["email"])
        except ValueError:
            errors["email"] = "Skriv en e-postadress som namn@exempel.se."
        if values["consent"] != "ja":
            errors["consent"] = "Kryssa i rutan om du vill få nyhetsbrevet."
        if errors:
            return subscribe_form(values, errors, status=400)
        client = request.client.host if request.client else "-"
        if not (limits.allow("ip", client) and limits.allow("address", address.lower())):
            return page("Vänta en stund", ["Vi har tagit emot många förfrågningar. Försök "
                                           "igen om en timme."], status=429)
        segment = next(s.slug for s in config.segments if not s.focus)
        subscriber = request_subscription(store, address, values["name"] or None, segment,
                                          f"{config.web_url}/prenumerera",
                                          config.audience.privacy_notice)
        if subscriber is not None:
            token = make_token(secret, Purpose.CONFIRM, subscriber, segment)
            send_notice(config, [address], f"Bekräfta din prenumeration på {config.name}", (
                f"Hej!\n\nBekräfta att du vill få {config.name} genom att öppna länken:\n\n"
                f"{config.web_url}/bekrafta/{token}\n\nLänken gäller i sju dagar. Har du inte "
                "bett om nyhetsbrevet behöver du inte göra något.\n\n"
                f"{config.contact_line}"))
        return page("Kolla din e-post", [
            f"Om adressen kan få nyhetsbrevet har vi skickat ett mejl till {address} med en "
            "länk. Klicka på den för att bekräfta prenumerationen."])

    async def confirm_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            read_token(secret, token, Purpose.CONFIRM)
        except TokenError:
            return broken()
        return page("Bekräfta prenumerationen", [f"Tryck på knappen för att börja få "
                                                 f"{config.name}."],
                    form={"action": f"/bekrafta/{token}", "csrf": csrf(token),
                          "choices": [{"value": "ja", "label": "Bekräfta"}]})

    async def confirm_post(request: Request) -> Response:
        from pipeline.audience.signup import confirm_subscription

        token = request.path_params["token"]
        try:
            claims = read_token(secret, token, Purpose.CONFIRM)
        except TokenError:
            return broken()
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf") or ""), csrf(token)):
            return page("Något gick fel", ["Ladda om sidan och försök igen."], status=403)
        if not confirm_subscription(store, claims.subscriber_id, claims.scope):
            return broken()
        return page("Tack!", [f"Du prenumererar nu på {config.name}. Nästa nummer kommer "
                              "till din e-post."])

    async def stylesheet(request: Request) -> Response:
        return FileResponse(config.templates / "archive" / "style.css",
                            media_type="text/css")

    return Starlette(routes=[
        Route("/prenumerera", subscribe_page, methods=["GET"]),
        Route("/prenumerera", subscribe_post, methods=["POST"]),
        Route("/bekrafta/{token}", confirm_page, methods=["GET"]),
        Route("/bekrafta/{token}", confirm_post, methods=["POST"]),
        Route("/avregistrera/{token}", unsubscribe_page, methods=["GET"]),
        Route("/avregistrera/{token}", unsubscribe_post, methods=["POST"]),
        Route("/style.css", stylesheet, methods=["GET"]),
    ], middleware=[Middleware(SecurityHeaders)])
