"""A delivery: one issue's sending, the state it is in and what moves it.

A delivery is created once per issue (``create_delivery``; ``active_issue`` is unique, so
two processes cannot both create one) and moves through ``DeliveryState`` by ``TRANSITIONS``
only (``move``). Its rows, one per reader, are the ledger's (``ledger``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pipeline.audience.store import Store, now
from pipeline.deliver.models import TRANSITIONS, Delivery, DeliveryState, state_word
from pipeline.errors import NewsletterError
from pipeline.i18n import _


class DeliveryError(NewsletterError):
    """A delivery cannot do what was asked (wrong state, nothing to resume…)."""


class AlreadyDelivered(DeliveryError):
    """The issue's delivery is finished: sending again is a no-op, not a failure."""


def current_delivery(store: Store, issue: str) -> Delivery | None:
    with store.session() as session:
        return session.scalars(select(Delivery).where(Delivery.issue == issue)
                               .order_by(Delivery.id.desc())).first()


def get_delivery(store: Store, delivery_id: int) -> Delivery:
    with store.session() as session:
        delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise DeliveryError(f"no delivery {delivery_id}")
    return delivery


def delivery_state(store: Store, delivery_id: int) -> DeliveryState:
    """What the engine checks before every batch (another process may pause or cancel): the
    one column, without loading the delivery into a session (a millisecond a batch)."""
    with store.engine.connect() as connection:
        state = connection.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
    if state is None:
        raise DeliveryError(f"no delivery {delivery_id}")
    return DeliveryState(state)


def create_delivery(store: Store, issue: str, transport: str, edition_id: int | None = None,
                    parent: int | None = None) -> tuple[Delivery, bool]:
    """The issue's active delivery, created if there is none: (delivery, created).

    Atomic: ``active_issue`` is unique, so of two processes creating one at the same moment
    one inserts and the other gets the winner's.
    """
    for _attempt in range(3):
        active = active_delivery(store, issue)
        if active is not None:
            return active, False
        try:
            with store.session() as session, session.begin():
                delivery = Delivery(issue=issue, state=DeliveryState.DRAFT, transport=transport,
                                    parent_id=parent, created_at=now(), edition_id=edition_id,
                                    active_issue=issue)
                session.add(delivery)
            return delivery, True
        except IntegrityError:
            continue  # another process created it just now: take theirs
    raise DeliveryError(f"could not create a delivery for {issue}; try again")


def active_delivery(store: Store, issue: str) -> Delivery | None:
    """The issue's delivery that is neither finished nor cancelled, if any."""
    with store.session() as session:
        return session.scalars(select(Delivery).where(Delivery.active_issue == issue)).first()


def set_edition(store: Store, delivery_id: int, edition_id: int) -> None:
    """Give a delivery made without one (``schedule``) its edition, once."""
    with store.session() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.id == delivery_id,
                                               Delivery.edition_id.is_(None))
                        .values(edition_id=edition_id))


def switch_transport(store: Store, delivery_id: int, old: str, new: str) -> None:
    with store.session() as session, session.begin():
        delivery = session.get(Delivery, delivery_id, with_for_update=True)
        assert delivery is not None
        note = f"{old}→{new} {now():%Y-%m-%d %H:%M} UTC"
        delivery.transport = new
        delivery.transport_log = ((delivery.transport_log or "") + f"{note}; ")[-1000:]


def move(store: Store, delivery_id: int, to: DeliveryState, reason: str | None = None,
         allowed_from: Iterable[DeliveryState] | None = None,
         retry_in: float | None = None) -> Delivery:
    """Change a delivery's state if the transition is allowed; raise DeliveryError if not.

    ``retry_in``: paused by a temporary fault, so the scheduler may resume it, after this
    many seconds, doubled for every try since the fault began (at most an hour)."""
    with store.session() as session, session.begin():
        delivery = session.get(Delivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise DeliveryError(f"no delivery {delivery_id}")
        current = DeliveryState(delivery.state)
        if current is not to and (to not in TRANSITIONS[current] or (
                allowed_from is not None and current not in allowed_from)):
            raise DeliveryError(_("delivery %(delivery)d of %(issue)s is %(state)s; it cannot "
                                  "become %(to)s") % {
                                      "delivery": delivery_id, "issue": delivery.issue,
                                      "state": state_word(current), "to": state_word(to)})
        delivery.state = to
        delivery.pause_reason = reason if to is DeliveryState.PAUSED else None
        if to is DeliveryState.PAUSED and retry_in is not None:
            moment = now()
            delivery.fault_since = delivery.fault_since or moment
            delivery.retries = (delivery.retries or 0) + 1
            delivery.retry_at = moment + timedelta(
                seconds=min(retry_in * 2 ** (delivery.retries - 1), 3600))
        elif to is not DeliveryState.RUNNING:  # a person resumes it, or it is over
            delivery.fault_since, delivery.retry_at, delivery.retries = None, None, 0
        if to is DeliveryState.FINISHED:
            delivery.finished_at = now()
        if to in (DeliveryState.FINISHED, DeliveryState.CANCELLED):
            delivery.active_issue = None  # the issue may have another delivery now
    return delivery


def mended(store: Store, delivery_id: int) -> None:
    """The fault that paused the delivery is over: a batch went out."""
    with store.session() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            fault_since=None, retry_at=None, retries=0))
