"""What a reader may change about themselves from their signed preferences link.

The link proves the address, so choosing a list again confirms it at once, with fresh consent
evidence, and lifts the reader's own unsubscribe. Bounces, spam reports and erasure are not
theirs to lift: those lists stay off and the page says so. Only a connected organisation's
contact sees the connected list; leaving it is allowed, joining goes through the join form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.audience.gdpr import suppress
from pipeline.audience.models import (
    ALL_SEGMENTS,
    LegalBasis,
    OrganisationFocus,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from pipeline.audience.store import Store, now

LIFTABLE = frozenset({Status.UNSUBSCRIBED})


@dataclass(frozen=True)
class Profile:
    subscriber_id: int
    email: str
    name: str
    organisation: str | None
    focus: list[str]
    segments: dict[str, str]  # segment → status
    org_number: str | None = None
    kind: str | None = None  # an OrganisationKind
    joined_on: date | None = None


def profile(store: Store, subscriber_id: int) -> Profile | None:
    """The reader as the preferences page shows them; None once erased."""
    with store.session() as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None or person.email is None:
            return None
        organisation = person.organisation
        if organisation is None:
            return Profile(person.id, person.email, person.name or "", None, [],
                           {s.segment: s.status for s in person.subscriptions})
        return Profile(person.id, person.email, person.name or "", organisation.name,
                       sorted(f.focus for f in organisation.focus),
                       {s.segment: s.status for s in person.subscriptions},
                       organisation.org_number, organisation.kind, organisation.joined_on)


def _blocked(session: Session, hash_: str, segment: str) -> bool:
    reasons = session.scalars(select(Suppression.reason).where(
        Suppression.hash == hash_, Suppression.scope.in_([segment, ALL_SEGMENTS])))
    return any(reason not in LIFTABLE for reason in reasons)


def update_preferences(store: Store, subscriber_id: int, name: str, offered: list[str],
                       wanted: set[str], focus: list[str] | None, source: str,
                       privacy_notice: str) -> list[str]:
    """Apply the form: the name, each offered list on or off, the organisation's focus areas
    (None: unchanged). Returns the lists that could not be turned on (bounced, reported)."""
    blocked: list[str] = []
    moment = now()
    with store.session() as session, session.begin():
        person = session.get(Subscriber, subscriber_id)
        if person is None or person.email is None:
            return blocked
        person.name, person.updated_at = name or None, moment
        current = {s.segment: s for s in person.subscriptions}
        for segment in offered:
            subscription = current.get(segment)
            if segment not in wanted:
                if subscription is not None and subscription.status in (Status.PENDING,
                                                                        Status.CONFIRMED):
                    subscription.status, subscription.status_changed_at = (
                        Status.UNSUBSCRIBED, moment)
                    suppress(session, person.email_hash, segment, Status.UNSUBSCRIBED)
                continue
            if subscription is not None and subscription.status == Status.CONFIRMED:
                continue
            if (subscription is not None and subscription.status not in
                    (Status.PENDING, *LIFTABLE)) or _blocked(session, person.email_hash,
                                                             segment):
                blocked.append(segment)
                continue
            _lift(session, person, segment, offered, wanted)
            if subscription is None:
                subscription = Subscription(segment=segment, legal_basis=LegalBasis.CONSENT)
                person.subscriptions.append(subscription)
            subscription.status, subscription.source = Status.CONFIRMED, source
            subscription.privacy_notice = privacy_notice
            subscription.created_at = subscription.confirmed_at = moment
            subscription.status_changed_at = moment
        organisation = person.organisation
        if focus and organisation is not None and \
                set(focus) != {f.focus for f in organisation.focus}:
            organisation.focus = [OrganisationFocus(focus=slug) for slug in sorted(set(focus))]
    return blocked


def _lift(session: Session, person: Subscriber, segment: str, offered: list[str],
          wanted: set[str]) -> None:
    """Remove the reader's own unsubscribe for ``segment``. An unsubscribe from everything
    becomes one per list for the lists they still do not want."""
    everything = session.get(Suppression, (person.email_hash, ALL_SEGMENTS))
    session.execute(delete(Suppression).where(
        Suppression.hash == person.email_hash, Suppression.scope.in_([segment, ALL_SEGMENTS]),
        Suppression.reason.in_(LIFTABLE)))
    if everything is not None and everything.reason in LIFTABLE:
        others = {s.segment for s in person.subscriptions} | set(offered)
        for other in sorted(others - wanted - {segment}):
            suppress(session, person.email_hash, other, Status.UNSUBSCRIBED)
