"""``newsletter send --test-to``: every variant to some addresses, marked [TEST], no ledger.

An approved issue's test copies are its edition, byte for byte (only the placeholders are
filled). Before approval, or once an edit has voided it, they are a draft rendered now and
marked [UTKAST].
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pipeline.approval import approval_state
from pipeline.audience.rows import normalise_email
from pipeline.audience.store import Store
from pipeline.audience.tokens import secret_from_env
from pipeline.config import Config
from pipeline.deliver.engine import links
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports import open_transport
from pipeline.edition import build_edition
from pipeline.errors import NewsletterError
from pipeline.issue import load_issue
from pipeline.render.personalise import Reader


def send_test(folder: Path, config: Config, transport_name: str | None,
              addresses: list[str], store: Store) -> list[str]:
    try:
        recipients = [normalise_email(a) for a in addresses]
    except ValueError as exc:
        raise NewsletterError(f"--test-to: {exc}") from None
    state = approval_state(store, config, folder)
    if state.valid and state.edition is not None:
        edition, prefix = state.edition, "[TEST] "
    else:
        edition, prefix = build_edition(load_issue(folder, config), config), "[TEST] [UTKAST] "
    secret = secret_from_env()
    config = edition.config(config)
    transport = open_transport(transport_name or config.delivery.transport, config)
    unsubscribe, preferences = links(config, secret, 0)
    domain = config.sender.email.rsplit("@", 1)[1]
    lines = []
    entry = 0
    for name, mail in edition.variants.items():
        template = MessageTemplate(mail, config, config.list_id, subject_prefix=prefix)
        envelopes = []
        for address in recipients:
            entry -= 1  # negative: never a ledger row
            envelopes.append(Envelope(entry, address, None, name,
                                      f"<test.{uuid.uuid4().hex}@{domain}>",
                                      Reader("Testläsare", unsubscribe, preferences), "test"))
        results = transport.send(template, transport.new_batch(), envelopes)
        refused = [r.error for r in results if not r.accepted]
        lines.append(f"{prefix}{name}: sent to {len(results) - len(refused)} of "
                     f"{len(results)}" + (f" ({'; '.join(map(str, refused))})" if refused
                                          else ""))
    transport.close()
    return lines
