"""``send_issue``: what ``send``, ``resume``, ``resend`` and the scheduler's job all do.

    find or create the issue's one active delivery (atomic) with its edition
    → take the delivery's lease (or refuse: LeaseHeld, exit 3; or wait)
    → freeze the audience (first run; the register's counts are kept for the reports)
    → publish the edition's page (repaired on every run,
      before anything is sent) → the engine sends, batch by batch → release the lease

The delivery keeps its edition and its transport for life: resuming never re-renders, and a
different transport needs ``switch_transport`` (recorded on the delivery).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exists, select

from pipeline.audience.select import audience
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.engine import Engine, Progress
from pipeline.deliver.lease import Lease
from pipeline.deliver.lifecycle import DeliveryReport
from pipeline.deliver.models import Delivery, DeliveryState, EntryState, LedgerEntry, state_word
from pipeline.deliver.transports import Transport
from pipeline.edition import Edition, EditionRow, load_edition
from pipeline.i18n import _, ngettext
from pipeline.report.snapshots import snapshot_at_send


@dataclass(frozen=True)
class SendOptions:
    transport: str | None = None        # None: the delivery's own (new: [delivery] transport)
    switch_transport: bool = False
    new_delivery: bool = False
    new_subscribers: bool = False
    resume_only: bool = False
    wait: bool = False
    workers: int = 1                    # > 1: processes sharing the delivery (PostgreSQL)
    fence: bool = True                  # SendGrid: send_at the fence ahead (workers' own)


OpenTransport = Callable[[str, Edition], Transport]
Say = Callable[[str], None]


def send_issue(store: Store, config: Config, folder: Path, secret: bytes,
               open_transport: OpenTransport, options: SendOptions = SendOptions(),
               say: Say = lambda line: None, progress: Progress | None = None,
               edition_for_send: Callable[[], Edition] | None = None) -> DeliveryReport:
    """Send (or resume) the issue in ``folder``; raises DeliveryError, ApprovalError,
    LeaseHeld or AlreadyDelivered when there is nothing it may do."""
    from pipeline.deliver.workers import check_workers, run_with_workers
    from pipeline.edition import changed_sources

    check_workers(options.workers, store.engine.dialect.name)
    slug = folder.name
    delivery, edition = _delivery_and_edition(store, config, folder, options, edition_for_send)
    if delivery.frozen_at is not None and folder.is_dir() and \
            (changed := changed_sources(edition, folder, config)):
        say(ngettext("Note: %(count)d file(s) changed since edition %(edition)s was made "
                     "(%(files)s); delivery %(delivery)d goes on with the approved edition, as "
                     "every reader so far got it.",
                     "Note: %(count)d file(s) changed since edition %(edition)s was made "
                     "(%(files)s); delivery %(delivery)d goes on with the approved edition, as "
                     "every reader so far got it.", len(changed)) % {
                         "count": len(changed), "edition": edition.short,
                         "files": ", ".join(changed[:5]), "delivery": delivery.id})
    name = options.transport or delivery.transport
    if name != delivery.transport:
        if delivery.frozen_at is not None and not options.switch_transport:
            raise deliveries.DeliveryError(_(
                "the delivery of %(issue)s was started with %(old)s; resume it without "
                "--transport, or add --switch-transport to go on with %(new)s") % {
                    "issue": slug, "old": delivery.transport, "new": name})
        deliveries.switch_transport(store, delivery.id, delivery.transport, name)
        say(_("Delivery %(delivery)d now sends with %(new)s (was %(old)s).") % {
            "delivery": delivery.id, "new": name, "old": delivery.transport})
    transport = open_transport(name, edition)
    lease = Lease(store, delivery.id, config.delivery.lease_seconds)
    try:
        lease.acquire(wait=options.wait)
    except BaseException:
        transport.close()
        raise
    try:
        delivery = deliveries.get_delivery(store, delivery.id)  # as it is now that we hold it
        if DeliveryState(delivery.state) in (DeliveryState.FINISHED, DeliveryState.CANCELLED):
            transport.close()
            raise deliveries.AlreadyDelivered(_(
                "the delivery of %(issue)s is %(state)s (by another process while this one "
                "waited)") % {"issue": slug, "state": state_word(delivery.state)})
        if delivery.frozen_at is None:
            frozen = ledger.freeze(store, delivery.id, audience(
                store, config, edition.choose), exclude_delivered_of=delivery.parent_id)
            say(_("Froze the audience of %(issue)s: %(count)d recipient(s) (delivery "
                  "%(delivery)d, edition %(edition)s, %(transport)s).") % {
                      "issue": slug, "count": frozen, "delivery": delivery.id,
                      "edition": edition.short, "transport": transport.name})
            snapshot_at_send(store, slug)  # the register as this issue went out (reports)
        problem = _publish(store, config, edition)
        if problem is not None:
            deliveries.move(store, delivery.id, DeliveryState.RUNNING, allowed_from={
                DeliveryState.DRAFT, DeliveryState.SCHEDULED, DeliveryState.RUNNING,
                DeliveryState.PAUSED})
            deliveries.move(store, delivery.id, DeliveryState.PAUSED, problem)
            transport.close()
            return DeliveryReport(delivery.id, DeliveryState.PAUSED,
                                  ledger.counts(store, delivery.id), problem)
        say(_("Published %(issue)s (edition %(edition)s).") % {"issue": slug,
                                                                "edition": edition.short})
        engine = Engine(store, config, edition, transport, secret, lease=lease)
        if options.workers > 1:
            url = store.engine.url.render_as_string(hide_password=False)
            return run_with_workers(engine, delivery.id, options.workers, config, url,
                                    transport.name, options.fence)
        return engine.run(delivery.id, progress)
    finally:
        lease.release()


def _delivery_and_edition(store: Store, config: Config, folder: Path, options: SendOptions,
                          edition_for_send: Callable[[], Edition] | None
                          ) -> tuple[Delivery, Edition]:
    from pipeline.approval import edition_for_send as approved_edition

    def fresh() -> Edition:
        return edition_for_send() if edition_for_send else approved_edition(store, config,
                                                                            folder)

    slug = folder.name
    transport = options.transport or config.delivery.transport
    active = deliveries.active_delivery(store, slug)
    current = active or deliveries.current_delivery(store, slug)
    if options.new_subscribers:
        if active is not None or current is None or current.edition_id is None:
            raise deliveries.DeliveryError(_(
                "%(issue)s has no finished delivery to extend; --new-subscribers sends a "
                "finished issue to readers confirmed since") % {"issue": slug})
        root = current.parent_id or current.id
        delivery, _new = deliveries.create_delivery(store, slug, current.transport,
                                                    current.edition_id, parent=root)
        return delivery, load_edition(store, current.edition_id)
    if active is not None:
        if options.new_delivery:
            raise deliveries.DeliveryError(_(
                "%(issue)s has a delivery that is %(state)s; cancel it before starting "
                "another") % {"issue": slug, "state": state_word(active.state)})
        if active.edition_id is None:  # scheduled, never started: it sends the edition now
            deliveries.set_edition(store, active.id, _stored(fresh()).id or 0)
            active = deliveries.get_delivery(store, active.id)
        assert active.edition_id is not None
        return active, load_edition(store, active.edition_id)
    if options.resume_only:
        if current is not None and current.state == DeliveryState.FINISHED:
            raise deliveries.AlreadyDelivered(_("%(issue)s was already delivered") % {
                "issue": slug})
        raise deliveries.DeliveryError(_("%(issue)s has no delivery to resume") % {"issue": slug})
    if current is not None and not options.new_delivery:
        if current.state == DeliveryState.CANCELLED:
            raise deliveries.DeliveryError(_(
                "the delivery of %(issue)s was cancelled; start another with --new-delivery"
            ) % {"issue": slug})
        raise deliveries.AlreadyDelivered(_(
            "%(issue)s was already delivered; use --new-subscribers for readers confirmed "
            "since, or --new-delivery to send it again to everyone") % {"issue": slug})
    edition = _stored(fresh())
    delivery, _new = deliveries.create_delivery(store, slug, transport, edition.id)
    if delivery.edition_id is None:
        raise deliveries.DeliveryError(f"{slug}: a delivery without an edition appeared; try again")
    return delivery, load_edition(store, delivery.edition_id)


def _stored(edition: Edition) -> Edition:
    if edition.id is None:
        raise deliveries.DeliveryError(f"edition {edition.short} is not in the register")
    return edition


def _publish(store: Store, config: Config, edition: Edition) -> str | None:
    """Make archive/ show this edition before anything is sent; the reason if it cannot."""
    from pipeline.archive import (
        ArchiveError,
        archive_root,
        archived_edition,
        build_archive,
        publish_edition,
    )

    shown, exists_ = archived_edition(config, edition)
    force = exists_ and shown != edition.digest and not _was_sent(store, shown)
    try:
        result = publish_edition(edition, config, force=force)
        if result.status != "unchanged" or not (archive_root(config) / "index.html").exists():
            build_archive(config)
    except ArchiveError as exc:
        return _("not sent: the archive cannot show this edition (%(why)s); the web link in "
                 "every email must work, so fix it and resume") % {"why": exc.message}
    return None


def _was_sent(store: Store, digest: str | None) -> bool:
    """Has any reader been sent the edition with this digest?"""
    if digest is None:
        return False
    with store.session() as session:
        return bool(session.scalar(select(exists().where(
            EditionRow.digest == digest, Delivery.edition_id == EditionRow.id,
            LedgerEntry.delivery_id == Delivery.id,
            LedgerEntry.state.in_([EntryState.SENT, EntryState.UNCERTAIN])))))
