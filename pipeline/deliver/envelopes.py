"""What each reader of a delivery gets: the variant's message, built once, and the reader's
own values (``Envelope``): the signed links, a unique Message-ID, the greeting.

Per reader nothing is rendered: the links are signed (a keyed HMAC made once and copied per
token) and the values go into the variant's pre-built message (``MessageTemplate``).
"""

from __future__ import annotations

import os
import time

from pipeline.audience.tokens import Purpose, TokenMaker, make_token
from pipeline.config import Config
from pipeline.deliver.ledger import Claimed
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.edition import Edition
from pipeline.render.personalise import Reader, address_as


def links(config: Config, secret: bytes, subscriber_id: int) -> tuple[str, str]:
    """A reader's unsubscribe and preferences links (the welcome mail's too)."""
    unsubscribe = make_token(secret, Purpose.UNSUBSCRIBE, subscriber_id, "*")
    preferences = make_token(secret, Purpose.PREFERENCES, subscriber_id, "*")
    return (f"{config.web_url}/avregistrera/{unsubscribe}",
            f"{config.web_url}/installningar/{preferences}")


class Envelopes:
    """One delivery's messages: each variant's template, and each reader's envelope."""

    def __init__(self, config: Config, edition: Edition, secret: bytes) -> None:
        self.config, self.edition = config, edition
        self.templates: dict[str, MessageTemplate] = {}
        self.domain = config.sender.email.rsplit("@", 1)[1]
        self._run, self._greeting = os.urandom(6).hex(), config.audience.greeting
        self._unsubscribe = TokenMaker(secret, Purpose.UNSUBSCRIBE)
        self._preferences = TokenMaker(secret, Purpose.PREFERENCES)
        self._unsubscribe_base, self._preferences_base = (f"{config.web_url}/avregistrera/",
                                                          f"{config.web_url}/installningar/")

    def template(self, variant: str) -> MessageTemplate:
        if variant not in self.templates:
            self.templates[variant] = MessageTemplate(self.edition.mail(variant), self.config,
                                                      self.config.list_id)
        return self.templates[variant]

    def envelope(self, delivery_id: int, row: Claimed) -> Envelope:
        """One reader's values: the links signed as ``links`` signs them, a unique id (the
        delivery, row and attempt make it unique in the register; the run's random part,
        across registers)."""
        moment = time.time()
        unsubscribe = self._unsubscribe_base + self._unsubscribe.make(row.subscriber_id, moment)
        preferences = self._preferences_base + self._preferences.make(row.subscriber_id, moment)
        message_id = f"<{delivery_id}.{row.id}.{row.attempts}.{self._run}@{self.domain}>"
        return Envelope(row.id, row.email, row.name, row.variant, message_id,
                        Reader(address_as(row.name, self._greeting), unsubscribe, preferences),
                        str(row.id), str(delivery_id))
