"""Bring the provider's suppression lists into the register before each send.

SendGrid keeps bounces, blocks, spam reports, invalid addresses and global unsubscribes.
Each becomes a suppression (a salted hash, for every segment) and, for a subscriber we know,
the matching status, so neither this delivery nor any later one mails the address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pipeline.audience.gdpr import suppress
from pipeline.audience.models import ALL_SEGMENTS, Setting, Status, Subscriber
from pipeline.audience.rows import email_key, normalise_email
from pipeline.audience.store import Store, now

REASONS = {"bounces": Status.BOUNCED, "blocks": Status.BOUNCED,
           "invalid_emails": Status.BOUNCED, "spam_reports": Status.COMPLAINED,
           "unsubscribes": Status.UNSUBSCRIBED}
SYNCED_AT = "suppressions_synced_at"
T = TypeVar("T")


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
    found = list(source.suppressions(since))
    count = _again_on_conflict(lambda: _apply(store, found))
    _again_on_conflict(lambda: _record(store, str(started)))
    return count


def _again_on_conflict(work: Callable[[], T]) -> T:
    """Two deliveries starting together (the scheduler sends two issues in the same minute)
    sync the same lists at once: both find a suppression or the sync time missing and insert
    it, and the second commit fails on the unique key. The work is idempotent, so it is done
    once more, and then finds the other's rows."""
    try:
        return work()
    except IntegrityError:
        return work()


def _record(store: Store, value: str) -> None:
    with store.session() as session, session.begin():
        setting = session.get(Setting, SYNCED_AT)
        if setting is None:
            session.add(Setting(key=SYNCED_AT, value=value))
        else:
            setting.value = value


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
