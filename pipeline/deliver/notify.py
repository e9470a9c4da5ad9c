"""Transactional mails through the configured transport: to the editors, to the board, and
confirmation requests and welcome mails to readers (``pipeline.render.letters``)."""

from __future__ import annotations

import uuid

from pipeline.config import Config
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports import open_transport
from pipeline.i18n import Gettext, _, current_language
from pipeline.render.letters import Letter, Link, render_letter
from pipeline.render.personalise import Reader


def send_letter(config: Config, addresses: list[str], letter: Letter) -> int:
    """Render ``letter`` and send one copy to each address; returns how many were accepted.
    A letter has no List-Unsubscribe headers: there is no list to leave."""
    email = render_letter(config, letter)
    template = MessageTemplate(email, config, config.list_id, list_headers=False,
                               language=letter.language)
    transport = open_transport(config.delivery.transport, config)
    domain = config.sender.email.rsplit("@", 1)[1]
    reader = Reader("", f"{config.web_url}/", f"{config.web_url}/")
    envelopes = [Envelope(-1 - i, address, None, "letter",
                          f"<letter.{uuid.uuid4().hex}@{domain}>", reader, "letter")
                 for i, address in enumerate(addresses)]
    try:
        results = transport.send(template, transport.new_batch(), envelopes)
    finally:
        transport.close()
    return sum(r.accepted for r in results)


def editors_letter(config: Config, subject: str, paragraphs: list[str],
                   problems: list[str] | None = None) -> Letter:
    """A notice to the editors (the scheduler's findings), in the active language: the
    scheduler speaks newsletter.toml's."""
    return Letter(subject, subject, (*paragraphs, *([tuple(Link(p) for p in problems)]
                                                   if problems else [])),
                  _("You receive this message because you are an editor of %(name)s.") % {
                      "name": config.name},
                  language=current_language(), footer_links=privacy_links(config, _))


def privacy_links(config: Config, gettext: Gettext) -> tuple[Link, ...]:
    """The footer's link to the privacy notice, when ``[brand] privacy_url`` is set."""
    url = config.brand.privacy_url
    return (Link(gettext("How we handle personal data"), url),) if url else ()
