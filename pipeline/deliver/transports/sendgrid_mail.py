"""A SendGrid mail/send request's body: one variant's content, one personalization per reader.

``MailBodies.body`` builds it as a dict, the obvious way; ``MailBodies.payload`` builds the same
JSON as bytes from pieces (the variant's part encoded once, per reader only its
personalization), which is what goes on the wire. tests/test_deliver_fast.py holds the two to
each other.
"""

from __future__ import annotations

import base64
import html
import json
import re
import weakref
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from json.encoder import encode_basestring_ascii as _json
from typing import Any

from pipeline.deliver.message import Envelope, MessageTemplate, ascii_address
from pipeline.render.personalise import PLACEHOLDERS, placeholder
from pipeline.render.personalise import greeting as greet
from pipeline.settings import SendGridSettings

Fence = tuple[str, int]  # (batch id, send_at): what makes an accepted request cancellable


def _html_key(name: str) -> str:
    return "{{" + name + ":html}}"


_HTML_SPECIAL = re.compile("[&<>\"']").search


def _json_html(value: str) -> str:
    """``_json(html.escape(value))``; most values (links, most names) have nothing to escape."""
    return _json(value if _HTML_SPECIAL(value) is None else html.escape(value))


class Payload(Mapping[str, Any]):
    """A mail/send body as the bytes that go on the wire, built from pre-encoded pieces; read
    as a mapping (tests, checks) it is those bytes decoded."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @cached_property
    def _decoded(self) -> dict[str, Any]:
        return dict(json.loads(self.data))

    def __getitem__(self, key: str) -> Any:
        return self._decoded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded)

    def __len__(self) -> int:
        return len(self._decoded)


class MailBodies:
    """The bodies of one transport's requests (its settings: categories, tracking, ASM)."""

    def __init__(self, settings: SendGridSettings) -> None:
        self.settings = settings
        self._static: weakref.WeakKeyDictionary[MessageTemplate, tuple[bytes, str]] = \
            weakref.WeakKeyDictionary()

    def body(self, template: MessageTemplate, envelopes: Sequence[Envelope],
             fence: Fence | None) -> dict[str, Any]:
        body = self._static_body(template)
        body["personalizations"] = [_personalization(template, e) for e in envelopes]
        if fence:
            body["batch_id"], body["send_at"] = fence
        return body

    def payload(self, template: MessageTemplate, envelopes: Sequence[Envelope],
                fence: Fence | None) -> Payload:
        """``body`` as bytes, from pre-encoded pieces."""
        if template not in self._static:
            static = json.dumps(self._static_body(template)).encode()
            self._static[template] = (static[:-1], _personalization_format(template))
        head, form = self._static[template]
        mailto = _json(template.mailto)[1:-1]  # JSON-encoding a string is per character,
        people = []                            # so encoded pieces can be joined
        for e in envelopes:
            reader = e.reader
            greeting = greet(reader.name.strip())
            unsubscribe = _json(reader.unsubscribe_url)
            name = f',"name":{_json(e.name)}' if e.name else ""
            people.append(form % (
                _json(ascii_address(e.email)), name, _json(greeting), unsubscribe,
                _json(reader.preferences_url), _json_html(greeting),
                _json_html(reader.unsubscribe_url), _json_html(reader.preferences_url),
                _json(e.delivery_ref), _json(e.subscriber_ref),
                f'"<{unsubscribe[1:-1]}>, <{mailto}>"'))
        tail = f',"batch_id":{_json(fence[0])},"send_at":{fence[1]}' if fence else ""
        return Payload(b"".join([head, b',"personalizations":[', ",".join(people).encode(),
                                 b"]", tail.encode(), b"}"]))

    def _static_body(self, template: MessageTemplate) -> dict[str, Any]:
        """Everything of a request but its personalizations and fence: the same for every
        batch of a variant."""
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
        return body


def _personalization_format(template: MessageTemplate) -> str:
    """One personalization as a %-format: to, substitutions, custom_args (and headers)."""
    keys = [_json(placeholder(k)) for k in PLACEHOLDERS] + \
        [_json(_html_key(k)) for k in PLACEHOLDERS]
    assert PLACEHOLDERS == ("reader_greeting", "unsubscribe_url", "preferences_url")
    substitutions = ",".join(f"{key}:%s" for key in keys)  # keys hold no "%"
    form = ('{"to":[{"email":%s%s}],"substitutions":{' + substitutions + '},'
            '"custom_args":{"delivery":%s,"entry":%s}')
    if template.list_headers:
        form += (',"headers":{"List-Unsubscribe":%s,'
                 '"List-Unsubscribe-Post":"List-Unsubscribe=One-Click"}')
    else:
        form += "%.0s"  # the List-Unsubscribe value, unused
    return form + "}"


def _personalization(template: MessageTemplate, envelope: Envelope) -> dict[str, Any]:
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
