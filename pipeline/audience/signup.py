"""Subscribing by double opt-in: a pending subscription with its evidence, then confirmation.

``request_subscription`` never tells the caller whether the address was already subscribed,
suppressed or new: the web page answers the same in every case. It returns the subscriber to
send a confirmation request to, or None when no mail should go out (already confirmed, or the
address is suppressed: unsubscribed, erased, bounced).
"""

from __future__ import annotations

from sqlalchemy import select

from pipeline.audience.models import (
    ALL_SEGMENTS,
    LegalBasis,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from pipeline.audience.rows import email_key, normalise_email
from pipeline.audience.store import Store, now


def request_subscription(store: Store, address: str, name: str | None, segment: str,
                         source: str, privacy_notice: str) -> int | None:
    key = email_key(normalise_email(address))
    moment = now()
    with store.session() as session, session.begin():
        hash_ = store.email_hash(key)
        if session.scalar(select(Suppression.hash).where(
                Suppression.hash == hash_, Suppression.scope.in_([segment, ALL_SEGMENTS]))):
            return None
        person = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
        if person is None:
            person = Subscriber(email=normalise_email(address), email_key=key,
                                email_hash=hash_, name=name, language="sv",
                                created_at=moment, updated_at=moment)
            session.add(person)
            session.flush()
        current = next((s for s in person.subscriptions if s.segment == segment), None)
        if current is not None and current.status == Status.CONFIRMED:
            return None
        if current is None:
            current = Subscription(segment=segment, legal_basis=LegalBasis.CONSENT,
                                   created_at=moment)
            person.subscriptions.append(current)
        current.status, current.source = Status.PENDING, source
        current.privacy_notice, current.status_changed_at = privacy_notice, moment
        current.created_at = moment  # the consent being given now
        if name and not person.name:
            person.name = name
        session.flush()
        return person.id


def confirm_subscription(store: Store, subscriber_id: int, segment: str) -> bool:
    """A pending subscription becomes confirmed; True if it was (or already is) confirmed."""
    with store.session() as session, session.begin():
        subscription = session.scalar(select(Subscription).where(
            Subscription.subscriber_id == subscriber_id, Subscription.segment == segment))
        if subscription is None or subscription.status not in (Status.PENDING,
                                                               Status.CONFIRMED):
            return False
        if subscription.status == Status.PENDING:
            subscription.status = Status.CONFIRMED
            subscription.confirmed_at = subscription.status_changed_at = now()
        return True
