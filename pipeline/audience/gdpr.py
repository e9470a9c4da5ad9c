"""What the register holds about a person, and how it lets go: export, erase, unsubscribe, prune.

Erasure deletes the address, the name, the organisation link and the consent evidence, and
keeps a suppression tombstone (a salted hash) so the address is never mailed or re-imported.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from pipeline.audience.importer import neutralise
from pipeline.audience.models import (
    ALL_SEGMENTS,
    Organisation,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from pipeline.audience.rows import email_key, normalise_email
from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.deliver.models import Delivery, LedgerEntry
from pipeline.errors import NewsletterError


def _iso(moment: datetime | None) -> str | None:
    """UTC timestamps as ISO 8601 (SQLite hands them back without the offset)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class NotFound(NewsletterError):
    """No subscriber has that address."""


def _find(session: Session, store: Store, email: str) -> Subscriber:
    try:
        key = email_key(normalise_email(email))
    except ValueError as exc:
        raise NewsletterError(f"'{email}' is not an email address: {exc}") from None
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    if subscriber is None:
        raise NotFound(f"no subscriber with the address {email}")
    return subscriber


def _suppressions(session: Session, store: Store, hash_: str) -> list[Suppression]:
    return list(session.scalars(select(Suppression).where(Suppression.hash == hash_)))


def export_person(store: Store, email: str) -> dict[str, Any]:
    """Everything held about one person (GDPR art. 15), as JSON-ready data."""
    with store.session() as session:
        person = _find(session, store, email)
        organisation = person.organisation
        return {
            "email": person.email, "name": person.name, "language": person.language,
            "created_at": _iso(person.created_at), "updated_at": _iso(person.updated_at),
            "organisation": None if organisation is None else {
                "name": organisation.name, "org_number": organisation.org_number,
                "kind": organisation.kind, "joined_on": organisation.joined_on.isoformat()
                if organisation.joined_on else None,
                "focus": sorted(f.focus for f in organisation.focus)},
            "subscriptions": [{
                "segment": s.segment, "status": s.status, "legal_basis": s.legal_basis,
                "source": s.source, "privacy_notice": s.privacy_notice,
                "created_at": _iso(s.created_at), "confirmed_at": _iso(s.confirmed_at),
                "status_changed_at": _iso(s.status_changed_at),
            } for s in sorted(person.subscriptions, key=lambda s: s.segment)],
            "suppressions": [{"scope": s.scope, "reason": s.reason,
                              "created_at": _iso(s.created_at)}
                             for s in _suppressions(session, store, person.email_hash)],
            "deliveries": [{"issue": issue, "variant": entry.variant, "state": entry.state,
                            "updated_at": _iso(entry.updated_at)}
                           for entry, issue in session.execute(
                               select(LedgerEntry, Delivery.issue)
                               .join(Delivery, Delivery.id == LedgerEntry.delivery_id)
                               .where(LedgerEntry.subscriber_id == person.id)
                               .order_by(LedgerEntry.id)).all()],
        }


def suppress(session: Session, hash_: str, scope: str, reason: str) -> None:
    if session.get(Suppression, (hash_, scope)) is None:
        session.add(Suppression(hash=hash_, scope=scope, reason=reason, created_at=now()))


def unsubscribe(store: Store, subscriber_id: int, segment: str = ALL_SEGMENTS,
                reason: str = Status.UNSUBSCRIBED) -> int:
    """Stop one segment (or all) for a subscriber; returns subscriptions changed."""
    with store.session() as session, session.begin():
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            return 0
        changed = 0
        for subscription in person.subscriptions:
            if segment in (ALL_SEGMENTS, subscription.segment) and \
                    subscription.status != reason:
                subscription.status = reason
                subscription.status_changed_at = now()
                changed += 1
        suppress(session, person.email_hash, segment, reason)
        return changed


def erase_person(store: Store, email: str) -> None:
    """Remove the personal data (GDPR art. 17); keep only the suppression tombstone."""
    with store.session() as session, session.begin():
        person = _find(session, store, email)
        suppress(session, person.email_hash, ALL_SEGMENTS, Status.ERASED)
        session.execute(delete(Subscription).where(Subscription.subscriber_id == person.id))
        session.execute(update(LedgerEntry).where(LedgerEntry.subscriber_id == person.id)
                        .values(email=None, name=None))
        person.email = person.email_key = person.name = None
        person.organisation_id = None
        person.erased_at = person.updated_at = now()


def prune_pending(store: Store, config: Config) -> int:
    """Delete pending subscriptions older than the retention; then orphaned subscribers, and
    organisations that asked to join but no contact ever confirmed."""
    cutoff = now() - timedelta(days=config.audience.pending_retention_days)
    with store.session() as session, session.begin():
        result = session.execute(delete(Subscription).where(
            Subscription.status == Status.PENDING, Subscription.created_at < cutoff))
        pruned = cast(CursorResult[Any], result).rowcount
        session.execute(delete(Subscriber).where(
            Subscriber.erased_at.is_(None),
            ~Subscriber.subscriptions.any()))
        session.execute(delete(Organisation).where(
            Organisation.joined_on.is_(None), Organisation.created_at < cutoff,
            ~select(Subscriber.id).where(Subscriber.organisation_id == Organisation.id)
            .exists()))
        return int(pruned or 0)


EXPORT_COLUMNS = ("email", "name", "organisation", "org_number", "kind", "focus", "segment",
                  "status", "legal_basis", "source", "privacy_notice", "created_at",
                  "confirmed_at")


def export_all_csv(store: Store, out: TextIO) -> int:
    """Every subscription as CSV for a spreadsheet, formulas neutralised; returns rows."""
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    with store.session() as session:
        query = select(Subscriber).where(Subscriber.email.is_not(None)).order_by(Subscriber.id)
        for person in session.scalars(query.execution_options(yield_per=1000)):
            organisation = person.organisation
            for s in sorted(person.subscriptions, key=lambda s: s.segment):
                cells = [person.email, person.name or "",
                         organisation.name if organisation else "",
                         (organisation.org_number or "") if organisation else "",
                         (organisation.kind or "") if organisation else "",
                         "|".join(sorted(f.focus for f in organisation.focus))
                         if organisation else "",
                         s.segment, s.status, s.legal_basis, s.source, s.privacy_notice or "",
                         _iso(s.created_at), _iso(s.confirmed_at)]
                writer.writerow([neutralise(str(c or "")) for c in cells])
                count += 1
    return count

