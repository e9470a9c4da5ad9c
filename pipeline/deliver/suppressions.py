"""Bring the provider's suppression lists into the register before each send.

SendGrid keeps bounces, blocks, spam reports, invalid addresses and global unsubscribes.
Each becomes a suppression (a salted hash, for every segment) and, for a subscriber we know,
the matching status, so neither this delivery nor any later one mails the address.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from sqlalchemy import select

from pipeline.audience.gdpr import suppress
from pipeline.audience.models import ALL_SEGMENTS, Setting, Status, Subscriber
from pipeline.audience.rows import email_key, normalise_email
from pipeline.audience.store import Store, now

REASONS = {"bounces": Status.BOUNCED, "blocks": Status.BOUNCED,
           "invalid_emails": Status.BOUNCED, "spam_reports": Status.COMPLAINED,
           "unsubscribes": Status.UNSUBSCRIBED}
SYNCED_AT = "suppressions_synced_at"


@runtime_checkable
class SuppressionSource(Protocol):
    def suppressions(self, since: int) -> Iterator[tuple[str, str]]:
        """(address, list name) for everything suppressed since ``since`` (epoch seconds)."""
        ...


def sync_suppressions(store: Store, source: SuppressionSource) -> int:
    """Import the provider's suppressions since the last sync; returns how many."""
    with store.session() as session:
        since = int(session.scalar(select(Setting.value).where(Setting.key == SYNCED_AT))
                    or 0)
    started = int(now().timestamp())
    count = _apply(store, source.suppressions(since))
    with store.session() as session, session.begin():
        setting = session.get(Setting, SYNCED_AT)
        if setting is None:
            session.add(Setting(key=SYNCED_AT, value=str(started)))
        else:
            setting.value = str(started)
    return count


def _apply(store: Store, found: Iterable[tuple[str, str]]) -> int:
    count = 0
    with store.session() as session, session.begin():
        for address, kind in found:
            try:
                key = email_key(normalise_email(address))
            except ValueError:
                key = address.strip().lower()
            status = REASONS.get(kind, Status.UNSUBSCRIBED)
            hash_ = store.email_hash(key)
            suppress(session, hash_, ALL_SEGMENTS, status)
            person = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
            for subscription in person.subscriptions if person else []:
                if subscription.status in (Status.PENDING, Status.CONFIRMED):
                    subscription.status = status
                    subscription.status_changed_at = now()
            session.flush()
            count += 1
    return count
