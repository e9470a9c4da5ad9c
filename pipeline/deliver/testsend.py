"""``newsletter send --test-to``: every variant to some addresses, marked [TEST], no ledger."""

from __future__ import annotations

import uuid
from pathlib import Path

from pipeline.audience.rows import normalise_email
from pipeline.audience.tokens import secret_from_env
from pipeline.config import Config
from pipeline.deliver.engine import links
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports import open_transport
from pipeline.errors import NewsletterError
from pipeline.issue import load_issue
from pipeline.render import render_issue
from pipeline.render.personalise import Reader


def send_test(folder: Path, config: Config, transport_name: str | None,
              addresses: list[str]) -> list[str]:
    try:
        recipients = [normalise_email(a) for a in addresses]
    except ValueError as exc:
        raise NewsletterError(f"--test-to: {exc}") from None
    issue = load_issue(folder, config)
    secret = secret_from_env()
    transport = open_transport(transport_name or config.delivery.transport, config)
    unsubscribe, preferences = links(config, secret, 0)
    domain = config.sender.email.rsplit("@", 1)[1]
    lines = []
    entry = 0
    for key, email in render_issue(issue, config).variants.items():
        template = MessageTemplate(email, config, config.list_id, subject_prefix="[TEST] ")
        envelopes = []
        for address in recipients:
            entry -= 1  # negative: never a ledger row
            envelopes.append(Envelope(entry, address, None, key.name,
                                      f"<test.{uuid.uuid4().hex}@{domain}>",
                                      Reader("Testläsare", unsubscribe, preferences), "test"))
        results = transport.send(template, transport.new_batch(), envelopes)
        refused = [r.error for r in results if not r.accepted]
        lines.append(f"[TEST] {key.name}: sent to {len(results) - len(refused)} of "
                     f"{len(results)}" + (f" ({'; '.join(map(str, refused))})" if refused
                                          else ""))
    transport.close()
    return lines
