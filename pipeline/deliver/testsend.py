"""``newsletter send --test-to``: every variant to some addresses as test copies, no ledger.

    send_test(folder, config, transport, ["editors", "anna@example.se,bo@example.se"], store)

The addresses: each value may be a comma list; the word ``editors`` is the test group, the
same people the scheduler sends its test copies to (``[schedule] editors`` in
newsletter.toml, or the issue's editor when that list is empty). Every address is checked
before anything is sent; each bad one is named.

An approved issue's test copies are its edition (only the placeholders are filled); before
approval, or once an edit has voided it, they are a draft rendered now. Each copy's subject
says which variant it is (``[TEST · Anslutna aktörer · hälsa, våld] …``, a draft
``[TEST · UTKAST · Prenumeranter] …``). What else makes a copy a test copy (inert links, images
inside, a note on the web version) is in ``testcopy``. No secret is needed: no reader token is
ever made for a test copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from pipeline.approval import approval_state
from pipeline.audience.rows import normalise_email
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver import testcopy
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports import open_transport
from pipeline.edition import Edition, build_edition
from pipeline.errors import IssueError, NewsletterError
from pipeline.i18n import _
from pipeline.issue import load_issue
from pipeline.render.variants import variant_label

GROUP = "editors"  # --test-to editors: the test group


class SendTestError(NewsletterError):
    """The test copies cannot be sent as asked (a bad address, nobody to send to)."""


def editors_group(config: Config, folder: Path) -> list[str]:
    """Who gets test copies: ``[schedule] editors``, else the issue's editor, else the
    sender (an issue too broken to name its editor)."""
    if config.schedule.editors:
        return list(config.schedule.editors)
    try:
        return [load_issue(folder, config).meta.editor.email]
    except IssueError:
        return [config.sender.email]


def recipients_of(values: Sequence[str], config: Config, folder: Path) -> list[str]:
    """The addresses in ``values`` (comma lists, ``editors``), normalised, each once."""
    out: list[str] = []
    bad: list[str] = []
    items: list[str] = []
    for part in (part.strip() for value in values for part in value.split(",")):
        if part.lower() == GROUP:
            items += editors_group(config, folder)
        elif part:
            items.append(part)
    for item in items:
        try:
            out.append(normalise_email(item))
        except ValueError:
            bad.append(item)
    if bad:
        raise SendTestError("\n".join(
            _('--test-to: "%(address)s" is not an email address. Write the whole address, '
              "for example redaktionen@lansstyrelsen.se, or editors for the test group.")
            % {"address": item} for item in bad))
    if not out:
        raise SendTestError(_("--test-to: give at least one address, or editors for the test "
                              "group ([schedule] editors in newsletter.toml)."))
    return list(dict.fromkeys(out))


def send_test(folder: Path, config: Config, transport_name: str | None,
              addresses: Sequence[str], store: Store) -> list[str]:
    """Send every variant to ``addresses``; one line per variant, then where the web version
    will be."""
    recipients = recipients_of(addresses, config, folder)
    state = approval_state(store, config, folder)
    issue = load_issue(folder, config)
    approved = state.edition if state.valid else None
    edition = approved or build_edition(issue, config)
    draft = approved is None
    config = edition.config(config)
    web_url = issue.archive_url(config)
    published = _published(config, edition)
    transport = open_transport(transport_name or config.delivery.transport, config,
                               fence=False)  # SendGrid: now, not send_at minutes ahead
    domain = config.sender.email.rsplit("@", 1)[1]
    reader = testcopy.inert_reader(config.archive_url)
    lines = [_("Test copies of the draft of %(issue)s (not approved) to %(addresses)s:")
             if draft else _("Test copies of %(issue)s (edition %(edition)s) to "
                             "%(addresses)s:")]
    lines[0] %= {"issue": edition.issue, "edition": edition.short,
                 "addresses": ", ".join(recipients)}
    try:
        for name in edition.variants:
            label = variant_label(name, issue, config, short=True)
            marker = testcopy.subject_marker(label, draft)
            template = _template(edition, config, name, marker, web_url,
                                 testcopy.notes(label, draft, web_url, published))
            envelopes = [Envelope(-1 - n, address, None, name,
                                  f"<test.{uuid.uuid4().hex}@{domain}>", reader, "test")
                         for n, address in enumerate(recipients)]  # negative: no ledger row
            results = transport.send(template, transport.new_batch(), envelopes)
            refused = [str(r.error) for r in results if not r.accepted]
            values = {"variant": marker,
                      "sent": len(results) - len(refused), "total": len(results),
                      "errors": "; ".join(refused)}
            lines.append((_("%(variant)s: sent to %(sent)s of %(total)s (%(errors)s)")
                          if refused else _("%(variant)s: sent to %(sent)s of %(total)s"))
                         % values)
    finally:
        transport.close()
    if not published:
        lines.append(_("Not published yet: the web version will be at %(url)s when the "
                       "issue is sent (the test copies say so).") % {"url": web_url})
    return lines


def _template(edition: Edition, config: Config, name: str, marker: str, page: str,
              notes: list[str]) -> MessageTemplate:
    """The variant's test copy, built once for every address."""
    mail = edition.mail(name)
    domain = config.sender.email.rsplit("@", 1)[1]
    markup, inline = testcopy.embed_images(mail.html, page + "images/", edition.images, domain)
    brand = {name: path.read_bytes() for name, path in config.material_paths().items()
             if name == Path(config.brand.logo or "").name}  # the one image an email shows
    markup, logo = testcopy.embed_images(markup, config.material_url(""), brand, domain)
    inline += logo
    marked = testcopy.MarkedMail(mail.subject, testcopy.mark_html(markup, notes),
                                 testcopy.mark_text(mail.text, notes))
    return MessageTemplate(marked, config, config.list_id, subject_prefix=marker + " ",
                           list_headers=False, inline=inline)


def _published(config: Config, edition: Edition) -> bool:
    """Whether the issue's page is in archive/ (deployed to archive_url by the host)."""
    from pipeline.archive import issue_folder

    return (issue_folder(config, edition) / "index.html").exists()
