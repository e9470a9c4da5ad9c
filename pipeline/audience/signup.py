"""Subscribing and joining by double opt-in: a pending subscription with its evidence, then
confirmation.

``request_subscription`` never tells the caller whether the address was already subscribed,
suppressed or new: the web page answers the same in every case. It returns the subscriber to
send a confirmation request to, or None when no mail should go out (already confirmed, or the
address is suppressed: unsubscribed, erased, bounced). Nothing about a person already in the
register changes before they confirm: a new address gets a pending subscriber with the name
given, a known one only a pending subscription.

``request_membership`` is an organisation asking to join, identified by its (checked)
organisation number. A new organisation is created with its kind and focus areas, not yet
joined; its
contacts are asked to confirm, and each is linked to it only when they do (the confirmation
link names the organisation); the first confirmation marks it joined. An organisation already
in the register, by number or by name, is never changed by the form: its focus areas, name
and contacts stay as they are, no one is mailed a link, and the request goes to the board,
which adds contacts it has checked with the organisation (``newsletter audience import``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.audience.models import (
    ALL_SEGMENTS,
    LegalBasis,
    Organisation,
    OrganisationFocus,
    OrganisationKind,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from pipeline.audience.rows import email_key, normalise_email
from pipeline.audience.store import Store, now


def request_subscription(store: Store, address: str, name: str | None, segment: str,
                         source: str, privacy_notice: str) -> int | None:
    with store.session() as session, session.begin():
        return _request(session, store, address, name, segment, source, privacy_notice)


def _request(session: Session, store: Store, address: str, name: str | None, segment: str,
             source: str, privacy_notice: str) -> int | None:
    key = email_key(normalise_email(address))
    moment = now()
    hash_ = store.email_hash(key)
    if session.scalar(select(Suppression.hash).where(
            Suppression.hash == hash_, Suppression.scope.in_([segment, ALL_SEGMENTS]))):
        return None
    person = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    if person is None:
        person = Subscriber(email=normalise_email(address), email_key=key,
                            email_hash=hash_, name=name or None, language="sv",
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
    session.flush()
    return person.id


def organisation_key(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Contact:
    email: str
    name: str | None


@dataclass(frozen=True)
class Membership:
    """What a join request did: either created ``organisation_id`` and asks ``asked``
    (subscriber id, address) to confirm, or found ``existing`` (its name in the register)
    and changed nothing."""

    organisation_id: int | None
    asked: list[tuple[int, str]]
    existing: str | None = None


def request_membership(store: Store, organisation: str, org_number: str | None,
                       contacts: list[Contact], focus: list[str], segment: str, source: str,
                       privacy_notice: str, kind: OrganisationKind | None = None
                       ) -> Membership:
    """An organisation asks to join (see the module's text for the rules)."""
    if not focus:
        raise ValueError("an organisation joins with at least one focus area")
    with store.session() as session, session.begin():
        key = organisation_key(organisation)
        same = Organisation.name_key == key
        if org_number:
            same = same | (Organisation.org_number == org_number)
        found = session.scalars(select(Organisation).where(same)
                                .order_by(Organisation.id)).first()
        if found is not None:
            return Membership(None, [], found.name)
        created = Organisation(name=" ".join(organisation.split()), name_key=key,
                               org_number=org_number, kind=kind, created_at=now(),
                               focus=[OrganisationFocus(focus=f) for f in sorted(set(focus))])
        session.add(created)
        session.flush()
        asked = []
        for contact in contacts:
            subscriber = _request(session, store, contact.email, contact.name, segment, source,
                                  privacy_notice)
            if subscriber is not None:
                asked.append((subscriber, normalise_email(contact.email)))
        return Membership(created.id, asked)


def confirm_subscription(store: Store, subscriber_id: int, segment: str,
                         organisation_id: int | None = None
                         ) -> Literal["new", "already"] | None:
    """A pending subscription becomes confirmed: "new" if it just did, "already" if it was,
    None if there is nothing to confirm (unknown, unsubscribed, erased). A contact person
    confirming is linked to ``organisation_id`` (the organisation their request created) unless
    they already belong to one, and marks their organisation as joined."""
    with store.session() as session, session.begin():
        subscription = session.scalar(select(Subscription).where(
            Subscription.subscriber_id == subscriber_id, Subscription.segment == segment))
        if subscription is None or subscription.status not in (Status.PENDING,
                                                               Status.CONFIRMED):
            return None
        if subscription.status == Status.CONFIRMED:
            return "already"
        subscription.status = Status.CONFIRMED
        subscription.confirmed_at = subscription.status_changed_at = now()
        person = session.get(Subscriber, subscriber_id)
        if person is not None and person.organisation_id is None and organisation_id:
            person.organisation = session.get(Organisation, organisation_id)
        if person is not None and person.organisation is not None and \
                person.organisation.joined_on is None:
            person.organisation.joined_on = now().date()
        return "new"
