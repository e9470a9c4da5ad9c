"""Plain messages that are not an issue: to the editors, and confirmation requests."""

from __future__ import annotations

import html
import uuid

from pipeline.config import Config
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports import open_transport
from pipeline.render.email import RenderedEmail
from pipeline.render.personalise import Reader
from pipeline.render.variants import VariantKey


def send_notice(config: Config, addresses: list[str], subject: str, text: str,
                list_headers: bool = True) -> int:
    """A plain message (to editors, or a confirmation to a new reader) through the configured
    transport; returns how many were accepted. ``list_headers=False`` leaves out
    List-Unsubscribe and List-Unsubscribe-Post (a notice has no unsubscribe link)."""
    body_html = (f'<!DOCTYPE html><html lang="{config.language}"><body><pre>'
                 f"{html.escape(text)}</pre></body></html>")
    email = RenderedEmail(VariantKey("editors"), subject, "", body_html, text + "\n", "")
    template = MessageTemplate(email, config, config.list_id, list_headers=list_headers)
    transport = open_transport(config.delivery.transport, config)
    domain = config.sender.email.rsplit("@", 1)[1]
    reader = Reader("", f"{config.web_url}/", f"{config.web_url}/")
    envelopes = [Envelope(-1 - i, address, None, "editors",
                          f"<editors.{uuid.uuid4().hex}@{domain}>", reader, "editors")
                 for i, address in enumerate(addresses)]
    results = transport.send(template, transport.new_batch(), envelopes)
    transport.close()
    return sum(r.accepted for r in results)
