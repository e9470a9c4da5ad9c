"""SendGrid v3 mail/send with the official library: up to 1000 recipients per request.

Each request is one variant: the content once, one personalization per recipient with its
substitutions, ``List-Unsubscribe`` headers and an opaque ``custom_args`` reference (the ledger
entry, never the address). A test copy's images go along as inline attachments
(``content_id``). Tracking is off unless configured. The API key comes only from
``SENDGRID_API_KEY``; ``SENDGRID_API_HOST`` points elsewhere (tests use the contract mock).

The fence: every request carries a batch id made by SendGrid and ``send_at`` a few minutes
ahead, so a request whose answer was lost can still be cancelled through the scheduled-sends
API and sent again under a new batch id: exactly once, with no uncertain recipients.
"""

from __future__ import annotations

import base64
import html
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.error import URLError

from pipeline.config import Config
from pipeline.deliver.message import Envelope, MessageTemplate, ascii_address
from pipeline.deliver.transports.base import (
    PermanentError,
    Result,
    TemporaryError,
    TransportError,
    UnknownOutcome,
)
from pipeline.render.personalise import PLACEHOLDERS, placeholder
from pipeline.settings import SendGridSettings

DEFAULT_HOST = "https://api.sendgrid.com"
SAFETY_MARGIN = 60  # seconds before send_at after which a cancel may come too late


def _html_key(name: str) -> str:
    return "{{" + name + ":html}}"


class SendGridTransport:
    name = "sendgrid"
    batch_size = 1000
    sequential = False

    def __init__(self, api_key: str, host: str, settings: SendGridSettings, config: Config,
                 fence_seconds: int) -> None:
        from sendgrid import SendGridAPIClient

        self.client = SendGridAPIClient(api_key=api_key, host=host)
        self.client.client.timeout = settings.timeout_seconds  # never wait forever
        self.settings, self.config = settings, config
        self.fence = fence_seconds
        self.uses_fence = fence_seconds > 0
        self.planned_send_at: int | None = None  # the scheduler's planned minute (epoch)
        self._content: dict[int, list[dict[str, str]]] = {}

    @classmethod
    def from_config(cls, config: Config, fence: bool = True) -> SendGridTransport:
        key = os.environ.get("SENDGRID_API_KEY")
        if not key:
            raise TransportError("SENDGRID_API_KEY is not set; the sendgrid transport needs "
                                 "an API key with the Mail Send permission")
        host = os.environ.get("SENDGRID_API_HOST", DEFAULT_HOST).rstrip("/")
        fence_seconds = config.delivery.fence_minutes * 60 if fence else 0
        return cls(key, host, config.delivery.sendgrid, config, fence_seconds)

    # -- requests -------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        from python_http_client import exceptions

        endpoint = self.client.client
        for part in path.strip("/").split("/"):
            endpoint = endpoint._(part)
        try:
            return getattr(endpoint, method)(request_body=body)
        except exceptions.TooManyRequestsError as exc:
            raise TemporaryError(f"SendGrid: too many requests (429); waiting "
                                 f"{_retry_after(exc.headers):.0f} s",
                                 retry_after=_retry_after(exc.headers)) from None
        except (exceptions.InternalServerError, exceptions.ServiceUnavailableError,
                exceptions.GatewayTimeoutError) as exc:
            raise UnknownOutcome(f"SendGrid answered {exc.status_code} {exc.reason}") from None
        except exceptions.HTTPError as exc:
            raise PermanentError(f"SendGrid refused the request: {exc.status_code} "
                                 f"{_errors(exc.body)}") from None
        except TimeoutError as exc:
            raise UnknownOutcome(f"SendGrid did not answer in time: {exc}") from None
        except URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError | socket.gaierror):
                raise TemporaryError(f"cannot reach SendGrid: {exc.reason}", 10) from None
            raise UnknownOutcome(f"SendGrid connection failed: {exc.reason}") from None

    def new_batch(self) -> str:
        if not self.uses_fence:
            return ""
        response = self._call("post", "mail/batch")
        return str(json.loads(response.body)["batch_id"])

    def body(self, template: MessageTemplate, batch_id: str | None,
             envelopes: Sequence[Envelope]) -> dict[str, Any]:
        config, settings = template.config, self.settings
        sender = config.sender
        text, markup = template.email.text, template.email.html
        for name in PLACEHOLDERS:
            markup = markup.replace(placeholder(name), _html_key(name))
        body: dict[str, Any] = {
            "from": {"email": ascii_address(sender.email), "name": sender.name},
            "subject": template.subject,
            "content": [{"type": "text/plain", "value": text},
                        {"type": "text/html", "value": markup}],
            "personalizations": [self._personalization(template, e) for e in envelopes],
            "headers": {"List-Id": template.list_id, "Content-Language": config.language},
            "categories": list(settings.categories),
            "tracking_settings": {
                "click_tracking": {"enable": settings.click_tracking,
                                   "enable_text": settings.click_tracking},
                "open_tracking": {"enable": settings.open_tracking},
                "subscription_tracking": {"enable": False},
            },
        }
        if template.inline:  # test copies: images inside, shown through cid: (RFC 2392)
            body["attachments"] = [
                {"content": base64.b64encode(image.data).decode("ascii"),
                 "type": image.content_type, "filename": image.filename,
                 "disposition": "inline", "content_id": image.content_id}
                for image in template.inline]
        if config.reply_to:
            body["reply_to"] = {"email": ascii_address(config.reply_to.email),
                                "name": config.reply_to.name}
        if settings.asm_group_id is not None:
            body["asm"] = {"group_id": settings.asm_group_id}
        if batch_id and self.uses_fence:
            body["batch_id"] = batch_id
            body["send_at"] = self._send_at(time.time())
        return body

    def _send_at(self, moment: float) -> int:
        """The planned minute while it is still far enough ahead to cancel; else the fence."""
        planned = self.planned_send_at
        if planned is not None and planned - moment >= SAFETY_MARGIN * 2:
            return planned
        return int(moment) + self.fence

    def _personalization(self, template: MessageTemplate, envelope: Envelope
                         ) -> dict[str, Any]:
        values = envelope.reader.values()
        substitutions = {placeholder(k): v for k, v in values.items()}
        substitutions |= {_html_key(k): html.escape(v) for k, v in values.items()}
        to: dict[str, str] = {"email": ascii_address(envelope.email)}
        if envelope.name:
            to["name"] = envelope.name
        personalization: dict[str, Any] = {
            "to": [to],
            "substitutions": substitutions,
            "custom_args": {"delivery": envelope.delivery_ref, "entry": envelope.subscriber_ref},
        }
        if template.list_headers:  # not on confirmations and notices: no list to leave
            personalization["headers"] = {
                "List-Unsubscribe": f"<{envelope.reader.unsubscribe_url}>, <{template.mailto}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        return personalization

    def send(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope],
             report: Callable[[Result], None] | None = None) -> list[Result]:
        response = self._call("post", "mail/send", self.body(template, batch_id, envelopes))
        message_id = (response.headers or {}).get("X-Message-Id")
        return [Result(e.entry_id, True, message_id or batch_id) for e in envelopes]

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
        pass


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
