"""SendGrid's signed event webhook: ``POST /sendgrid/events``.

SendGrid signs ``timestamp + body`` with ECDSA (P-256, SHA-256) and sends the signature and
the timestamp in the ``X-Twilio-Email-Event-Webhook-*`` headers; the verification key is the
one the account's Mail Settings show. A request is applied only when the signature verifies
(with the ``sendgrid`` library's own verifier) and the timestamp is recent, so a captured
request cannot be replayed later. Without a configured key every request is refused.

Answers: 204 applied (or all duplicates), 400 not a list of events (or nested too deep to
parse: JSON deeper than Python's recursion limit is refused, never half-read), 401 unsigned,
badly signed or too old (the timestamp must be ASCII digits), 413 too large, 503 no key
configured. SendGrid retries anything but 2xx.
"""

from __future__ import annotations

import binascii
import logging
import os
import time

from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pipeline.deliver.events import BadEvents, apply_events, parse_events
from pipeline.errors import NewsletterError
from pipeline.web.app import Site, TooLarge, read_body
from pipeline.web.guards import is_stamp

KEY_ENV = "SENDGRID_WEBHOOK_PUBLIC_KEY"
MAX_EVENTS_BYTES = 16 * 1024 * 1024
log = logging.getLogger("newsletter.events")


def verifier(key: str) -> EventWebhook | None:
    if not key:
        return None
    try:
        return EventWebhook(key.strip())
    except (ValueError, TypeError) as exc:
        raise NewsletterError(f"the SendGrid webhook key ({KEY_ENV} or [web] "
                              f"sendgrid_webhook_key) is not a base64 public key: {exc}") from None


def routes(site: Site) -> list[Route]:
    webhook = verifier(os.environ.get(KEY_ENV) or site.config.web.sendgrid_webhook_key)
    max_age = site.config.web.webhook_max_age_seconds

    def refuse(status: int, why: str) -> Response:
        log.warning("SendGrid events refused (%s): %s", status, why)
        return PlainTextResponse(why, status_code=status)

    async def events(request: Request) -> Response:
        if webhook is None:
            return refuse(503, "no webhook verification key is configured")
        signature = request.headers.get(EventWebhookHeader.SIGNATURE, "")
        stamp = request.headers.get(EventWebhookHeader.TIMESTAMP, "")
        if not signature or not is_stamp(stamp):
            return refuse(401, "unsigned")
        if abs(time.time() - int(stamp)) > max_age:
            return refuse(401, "timestamp outside the accepted age")
        try:
            body = await read_body(request, MAX_EVENTS_BYTES)
        except TooLarge:
            return refuse(413, "too large")
        try:
            good = webhook.verify_signature(body.decode(), signature, stamp)
        except (UnicodeDecodeError, ValueError, binascii.Error):
            good = False
        if not good:
            return refuse(401, "bad signature")
        try:
            events = parse_events(body)
        except BadEvents as exc:
            return refuse(400, str(exc))
        except RecursionError:
            return refuse(400, "the JSON is nested too deep")
        report = await run_in_threadpool(apply_events, site.store, events)
        log.info("SendGrid events: %s received, %s applied, %s duplicates", report.received,
                 report.applied, report.duplicates)
        return Response(status_code=204)

    return [Route("/sendgrid/events", events, methods=["POST"])]
