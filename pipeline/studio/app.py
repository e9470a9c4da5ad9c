"""The studio's web app and who may use it.

It runs on the communicator's own machine, in their clone, on 127.0.0.1. Any web page they
visit could make their browser send requests to 127.0.0.1, and another user of the machine
can connect to the port, so every request must prove it comes from the person who started
it: the launch URL carries a secret (as Jupyter's does), which is exchanged for a session
cookie (HttpOnly, SameSite=Strict) and a redirect that takes the secret out of the address
bar. A request with neither is refused (403). Every POST must also come from the studio's own
origin and carry the session's CSRF token. The Host header must be the studio's own (a name
rebound to 127.0.0.1 reads nothing). With ``--host`` the studio answers other machines only
behind a password from ``NEWSLETTER_STUDIO_PASSWORD`` (HTTP Basic). Pages run only the
studio's own script (CSP); the emails in the previews run none.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

COOKIE = "studio_session"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'self'")
REFUSED = ("Nekad: öppna Redaktionen med länken som `newsletter studio` skrev ut i "
           "terminalen (den innehåller en engångsnyckel).")


@dataclass
class Access:
    """The launch secret, the sessions it opened, and where the studio may be reached."""

    port: int = 0
    host: str = "127.0.0.1"
    password: str | None = None
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    sessions: set[str] = field(default_factory=set)

    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("127.0.0.1", "0.0.0.0", "::") else \
            f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address: bracketed
        return f"http://{shown}:{self.port}/?token={self.secret}"

    def csrf(self, session: str) -> str:
        return hmac.new(self.secret.encode(), session.encode(), "sha256").hexdigest()

    def hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def host_ok(self, host: str) -> bool:
        """Our own name; with a password (``--host``) any name the machine is reached by,
        since a page on a rebound name cannot know the password."""
        return host in self.hosts() or (self.password is not None and bool(host))

    def open_session(self) -> str:
        session = secrets.token_urlsafe(32)
        self.sessions.add(session)
        return session


class Guard(BaseHTTPMiddleware):
    """Host, launch secret or session, password, origin and CSRF; then security headers."""

    def __init__(self, app: object, access: Access) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.access = access

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint
                       ) -> Response:
        access = self.access
        host = request.headers.get("host", "")
        if not access.host_ok(host):
            return _headers(PlainTextResponse("Fel värdnamn.", 421))
        if access.password is not None and not _password_ok(request, access.password):
            refused = PlainTextResponse("Lösenord krävs.", 401)
            refused.headers["WWW-Authenticate"] = 'Basic realm="Redaktionen", charset="UTF-8"'
            return _headers(refused)
        token = request.query_params.get("token")
        if token is not None and request.method == "GET":
            if not hmac.compare_digest(token.encode(), access.secret.encode()):
                return _headers(PlainTextResponse(REFUSED, 403))
            # the secret leaves the URL; the path stays on this server ("//x" is another)
            response = RedirectResponse("/" + request.url.path.lstrip("/"), 303)
            behind_tls = request.headers.get("x-forwarded-proto") == "https" or \
                request.url.scheme == "https"
            response.set_cookie(COOKIE, access.open_session(), httponly=True,
                                samesite="strict", path="/", secure=behind_tls)
            return _headers(response)
        session = request.cookies.get(COOKIE, "")
        if session not in access.sessions:
            return _headers(PlainTextResponse(REFUSED, 403))
        request.state.session = session
        request.state.csrf = access.csrf(session)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin") or ""
            if origin not in (f"http://{host}", f"https://{host}"):
                return _headers(PlainTextResponse(
                    "Nekad: formuläret kom inte från Redaktionens egen sida.", 403))
            try:
                given = request.headers.get("x-csrf-token") or await _form_token(request)
            except Exception:  # too large, too many fields: said in Swedish, no traceback
                return _headers(PlainTextResponse(
                    "Formuläret var för stort. Spara kortare text eller en mindre bild.", 413))
            if not hmac.compare_digest((given or "").encode(), request.state.csrf.encode()):
                return _headers(PlainTextResponse(
                    "Nekad: sidan är för gammal. Ladda om den och försök igen.", 403))
        return _headers(await call_next(request))


async def _form_token(request: Request) -> str | None:
    """The form's csrf field (the body is read once and kept for the endpoint)."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    await request.body()  # read whole, so the endpoint reads the same body again
    form = await request.form(max_files=4, max_fields=200)
    value = form.get("csrf")
    return value if isinstance(value, str) else None


def _password_ok(request: Request, password: str) -> bool:
    scheme, _sep, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        _user, _colon, given = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given.encode(), password.encode())


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on its
    # own forms' POSTs, and the origin check would refuse every form sent without the script
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def make_app(root: Path, config_file: Path, access: Access) -> Starlette:
    from pipeline.studio.views import Studio

    studio = Studio(root, config_file)
    return Starlette(routes=studio.routes(),
                     middleware=[Middleware(Guard, access=access)],
                     exception_handlers=studio.error_handlers())
