"""SendGrid v3 mail/send with the official library: up to 1000 recipients per request.

Each request is one variant: the content once, one personalization per recipient with its
substitutions, ``List-Unsubscribe`` headers and an opaque ``custom_args`` reference (the ledger
entry, never the address). A test copy's images go along as inline attachments
(``content_id``). Tracking is off unless configured. The API key comes only from
``SENDGRID_API_KEY``; ``SENDGRID_API_HOST`` points elsewhere (tests use the contract mock).

Requests go over one keep-alive connection (urllib3, no automatic retry: a POST is never
repeated behind the engine's back) with a timeout on every request. The library's HTTP
client (python-http-client, made as ``SendGridAPIClient`` makes it) still holds the headers
and the timeout (``client.client.request_headers``, ``.timeout``) and reads the suppression
lists. A mail/send body is encoded from pieces: each variant's content once, per recipient
only its personalization (``sendgrid_mail``).

The fence: every request carries a batch id made by SendGrid and ``send_at`` a few minutes
ahead, so a request whose answer was lost can still be cancelled through the scheduled-sends
API and sent again under a new batch id: exactly once, with no uncertain recipients.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import urllib3
from urllib3.exceptions import (
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    TimeoutError,
)

from pipeline.config import Config
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports.base import (
    PermanentError,
    Result,
    TemporaryError,
    TransportError,
    UnknownOutcome,
)
from pipeline.deliver.transports.sendgrid_mail import Fence, MailBodies, Payload
from pipeline.i18n import _
from pipeline.settings import SendGridSettings

DEFAULT_HOST = "https://api.sendgrid.com"
_KEY = re.compile(r"[!-~]+")  # visible ASCII: what a header value can carry as it is
SAFETY_MARGIN = 60  # seconds before send_at after which a cancel may come too late


class _Answer:
    """What ``_call`` returns: the status, body and headers of SendGrid's answer."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self.status_code = response.status
        self.body = response.data
        self.headers = response.headers


class _ApiClient:
    """What ``sendgrid.SendGridAPIClient`` holds for us: its HTTP client (python-http-client)
    with the same default headers, made without importing the whole ``sendgrid`` package
    (its mail helpers and webhook verifier, 8 MB a sending process does not need)."""

    def __init__(self, api_key: str, host: str) -> None:
        from importlib.metadata import version

        from python_http_client import Client

        self.client = Client(host=host, version=3, request_headers={
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"sendgrid/{version('sendgrid')};python",
            "Accept": "application/json"})


class SendGridTransport:
    name = "sendgrid"
    batch_size = 1000
    sequential = False
    overlaps = True  # the engine prepares the next batch while this one is on the wire

    def __init__(self, api_key: str, host: str, settings: SendGridSettings, config: Config,
                 fence_seconds: int) -> None:
        self.client = _ApiClient(api_key, host)
        self.client.client.timeout = settings.timeout_seconds  # never wait forever
        self.host = host.rstrip("/")
        self.settings, self.config = settings, config
        self.fence = fence_seconds
        self.uses_fence = fence_seconds > 0
        self.planned_send_at: int | None = None  # the scheduler's planned minute (epoch)
        self._pool: urllib3.HTTPConnectionPool | None = None
        self.mail = MailBodies(settings)

    @classmethod
    def from_config(cls, config: Config, fence: bool = True) -> SendGridTransport:
        key = os.environ.get("SENDGRID_API_KEY", "").strip()  # an env file's line break too
        if not key:
            raise TransportError("SENDGRID_API_KEY is not set; the sendgrid transport needs "
                                 "an API key with the Mail Send permission")
        if not _KEY.fullmatch(key):  # it would go into a header, and from an error to a log
            raise TransportError(_(
                "%(name)s holds a character an API key cannot have (a space or a control "
                "character inside it): copy the key again from SendGrid's settings") % {
                    "name": "SENDGRID_API_KEY"})
        host = os.environ.get("SENDGRID_API_HOST", DEFAULT_HOST).strip().rstrip("/")
        try:
            parsed = urllib3.util.parse_url(host)
            usable = parsed.scheme in ("http", "https") and bool(parsed.host) and \
                parsed.path in (None, "") and parsed.query is None
        except (urllib3.exceptions.LocationParseError, ValueError):
            usable = False
        if not usable:
            raise TransportError(_(
                "%(name)s must be the API's address and nothing more, e.g. %(example)s") % {
                    "name": "SENDGRID_API_HOST", "example": DEFAULT_HOST})
        fence_seconds = config.delivery.fence_minutes * 60 if fence else 0
        return cls(key, host, config.delivery.sendgrid, config, fence_seconds)

    # -- requests -------------------------------------------------------------------------
    def _connection(self) -> urllib3.HTTPConnectionPool:
        """Keep-alive connections for the whole delivery: two, as a batch's send and the next
        batch's id are asked for at the same time (``overlaps``)."""
        if self._pool is None:
            self._pool = urllib3.connection_from_url(self.host, maxsize=2, block=False,
                                                     retries=False)
        return self._pool

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One request; SendGrid's answer, or the error the engine acts on (never retried
        here: whether a POST that got no answer went through is for the engine to settle)."""
        headers = dict(self.client.client.request_headers)
        data = None
        if body is not None:
            data = body.data if isinstance(body, Payload) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        timeout = self.client.client.timeout
        try:
            response = self._connection().urlopen(
                method.upper(), f"/v3/{path.strip('/')}", body=data, headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False,
                redirect=False, preload_content=True)
        except (NewConnectionError, NameResolutionError) as exc:
            if isinstance(exc, NameResolutionError) or \
                    isinstance(exc.__context__, ConnectionRefusedError):
                raise TemporaryError(f"cannot reach SendGrid: {exc}", 10) from None
            raise UnknownOutcome(f"SendGrid connection failed: {exc}") from None
        except TimeoutError as exc:
            raise UnknownOutcome(f"SendGrid did not answer in time: {exc}") from None
        except HTTPError as exc:  # the connection broke mid-request: it may have gone in
            self.close()
            raise UnknownOutcome(f"SendGrid connection failed: {exc}") from None
        answer = _Answer(response)
        status = answer.status_code
        if status == 429:
            raise TemporaryError(f"SendGrid: too many requests (429); waiting "
                                 f"{_retry_after(answer.headers):.0f} s",
                                 retry_after=_retry_after(answer.headers))
        if status in (500, 503, 504):
            raise UnknownOutcome(f"SendGrid answered {status} {response.reason}")
        if status >= 400:
            raise PermanentError(f"SendGrid refused the request: {status} "
                                 f"{_errors(answer.body)}")
        return answer

    def new_batch(self) -> str:
        if not self.uses_fence:
            return ""
        response = self._call("post", "mail/batch")
        return str(json.loads(response.body)["batch_id"])

    def body(self, template: MessageTemplate, batch_id: str | None,
             envelopes: Sequence[Envelope]) -> dict[str, Any]:
        return self.mail.body(template, envelopes, self._fence(batch_id))

    def payload(self, template: MessageTemplate, batch_id: str | None,
                envelopes: Sequence[Envelope]) -> Payload:
        return self.mail.payload(template, envelopes, self._fence(batch_id))

    def _fence(self, batch_id: str | None) -> Fence | None:
        if batch_id and self.uses_fence:
            return batch_id, self._send_at(time.time())
        return None

    def _send_at(self, moment: float) -> int:
        """The planned minute while it is still far enough ahead to cancel; else the fence."""
        planned = self.planned_send_at
        if planned is not None and planned - moment >= SAFETY_MARGIN * 2:
            return planned
        return int(moment) + self.fence

    def send(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope],
             report: Callable[[Result], None] | None = None) -> list[Result]:
        return self.start(template, batch_id, envelopes)()

    def start(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope]
              ) -> Callable[[], list[Result]]:
        """The request built here, on the caller's thread; the returned call sends it."""
        payload = self.payload(template, batch_id, envelopes)
        ids = [e.entry_id for e in envelopes]

        def wire() -> list[Result]:
            response = self._call("post", "mail/send", payload)
            provider = (response.headers or {}).get("X-Message-Id") or batch_id
            return [Result(entry, True, provider) for entry in ids]
        return wire

    def settle(self, batch_id: str, entry_ids: Sequence[int],
               since: datetime) -> dict[int, bool | None]:
        """Cancel a fenced batch whose answer was lost: then it certainly was not sent.

        Only while its ``send_at`` is safely ahead (a minute's margin); later, it may have
        gone out, and the recipients are uncertain.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        deadline = self._send_at(since.timestamp()) - SAFETY_MARGIN
        if not self.uses_fence or not batch_id or time.time() > deadline:
            return dict.fromkeys(entry_ids)
        for attempt in range(3):  # cancelling is idempotent: try again on a passing fault
            try:
                self._call("post", "user/scheduled_sends", {"batch_id": batch_id,
                                                            "status": "cancel"})
                return dict.fromkeys(entry_ids, False)
            except PermanentError:
                break
            except TransportError:
                if time.time() + 1 + attempt > deadline:
                    break
                time.sleep(1 + attempt)
        return dict.fromkeys(entry_ids)

    def suppressions(self, since: int) -> Iterator[tuple[str, str]]:
        """Bounces, blocks, invalid addresses, spam reports and global unsubscribes."""

        from pipeline.deliver.suppressions import REASONS

        page = 500
        for kind in REASONS:
            offset = 0
            while True:
                endpoint = self.client.client.suppression._(kind)
                try:
                    response = endpoint.get(query_params={"start_time": since, "limit": page,
                                                          "offset": offset})
                except Exception as exc:
                    raise TemporaryError(f"cannot read SendGrid's {kind}: {exc}", 30) from None
                items = json.loads(response.body or b"[]")
                for item in items:
                    yield str(item["email"]), kind
                if len(items) < page:
                    break
                offset += page

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _retry_after(headers: Any) -> float:
    headers = headers or {}
    if value := headers.get("Retry-After"):
        try:
            return max(1.0, float(value))
        except ValueError:
            pass
    if value := headers.get("X-RateLimit-Reset"):
        try:
            return min(max(1.0, float(value) - time.time()), 300.0)
        except ValueError:
            pass
    return 5.0


def _errors(body: bytes | str | None) -> str:
    """SendGrid's own words: 'field: message' for each error it lists."""
    try:
        data = json.loads(body or b"{}")
        return "; ".join(f"{e.get('field') or '(request)'}: {e.get('message')}"
                         for e in data.get("errors", [])) or str(body)
    except (ValueError, AttributeError):
        return str(body)[:500]
