"""The send ledger: a delivery's audience frozen row by row, and every state change recorded.

Rows move ``pending → in_flight → sent | failed``; ``in_flight`` is written *before* a batch
goes to the provider and cleared only after its answer is recorded, so after any crash the
in-flight rows are exactly the ones whose fate must be settled. The delivery they belong to,
and its states, are in ``deliveries``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ARRAY,
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from pipeline.audience.models import ALL_SEGMENTS, Status, Subscriber, Subscription, Suppression
from pipeline.audience.store import Store, now
from pipeline.deliver.lease import check_lease
from pipeline.deliver.models import Delivery, EntryState, LedgerEntry

LEDGER = cast(Table, LedgerEntry.__table__)


class Claimed(NamedTuple):  # one per claimed row: a NamedTuple is 3 × cheaper to make
    id: int
    subscriber_id: int
    email: str
    name: str | None
    segment: str
    variant: str
    attempts: int


def freeze(store: Store, delivery_id: int, audience: Select[Any],
           exclude_delivered_of: int | None = None) -> int:
    """Write one pending row per reader of ``audience`` (``select.audience``); returns how many.

    One ``INSERT … SELECT``: the rows never leave the database, and in the same transaction
    ``frozen_at`` is set, so after a crash the audience is either frozen whole or not at all
    (and is frozen on the next run). ``exclude_delivered_of``: not the readers that delivery
    (or one made from it) already has.
    """
    moment = now()
    readers = audience.subquery()
    with store.engine.begin() as connection:
        query = select(literal(delivery_id), *readers.c[:5], literal(EntryState.PENDING.value),
                       literal(0), literal(moment, LEDGER.c.updated_at.type))
        if exclude_delivered_of is not None:
            family = _family(connection, exclude_delivered_of)
            query = query.where(~exists().where(LEDGER.c.delivery_id.in_(family),
                                                LEDGER.c.subscriber_id == readers.c[0]))
        written = connection.execute(  # psycopg's rowcount of an INSERT … SELECT unless asked
            insert(LEDGER).from_select(_FROZEN, query.order_by(readers.c[0])),
            execution_options={"preserve_rowcount": True}).rowcount
        connection.execute(update(Delivery).where(Delivery.id == delivery_id)
                           .values(frozen_at=moment))
    return int(written)


_FROZEN = ("delivery_id", "subscriber_id", "email", "name", "segment", "variant", "state",
           "attempts", "updated_at")


def _family(connection: Any, delivery_id: int) -> list[int]:
    """A delivery and those made from it (--new-subscribers), by parent link."""
    ids = [delivery_id]
    ids += list(connection.scalars(select(Delivery.id).where(Delivery.parent_id == delivery_id)))
    return ids


def claim(store: Store, delivery_id: int, variant: str | None, size: int,
          batch_id: str, owner: str | None = None, lease_seconds: float = 60) -> list[Claimed]:
    """Mark up to ``size`` pending rows of one variant in flight under ``batch_id``.

    Atomic across processes: on SQLite the transaction holds the write lock from its start;
    on PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``, so concurrent workers get
    disjoint batches. With ``owner``, the delivery's lease is checked (``LeaseLost``) and
    renewed in the same transaction. Rows whose address has since been suppressed or whose
    subscription is no longer confirmed are skipped: nothing goes to someone who left.
    """
    with store.writing() as connection:
        if owner is not None:
            check_lease(connection, delivery_id, owner, lease_seconds)
        if variant is None:
            variant = connection.scalar(_FIRST_VARIANT, {"delivery": delivery_id})
            if variant is None:
                return []
        rows = connection.execute(_PICK, {"delivery": delivery_id, "variant": variant,
                                          "size": size}).all()
        departed = [row[0] for row in rows if row[7]]
        moment = now()
        statements = _statements(connection.dialect.name)
        if departed:
            connection.execute(statements.skip, {"ids": statements.ids(departed),
                                                 "moment": moment})
        make = Claimed._make  # by position: a Row's names cost 3 µs a row here
        claimed = [make(row[:7]) for row in rows if not row[7]]
        if claimed:
            connection.execute(statements.take, {"ids": statements.ids([c.id for c in claimed]),
                                                 "batch": batch_id, "moment": moment})
        return claimed


def _departed() -> Any:
    """A column of the claim: whether the row's reader is no longer confirmed for its segment,
    or is now suppressed (read in the claim's own statement, so no second query)."""
    still_wanted = exists().where(and_(
        Subscription.subscriber_id == LEDGER.c.subscriber_id,
        Subscription.segment == LEDGER.c.segment,
        Subscription.status == Status.CONFIRMED))
    suppressed = exists().where(and_(
        Subscriber.id == LEDGER.c.subscriber_id,
        Suppression.hash == Subscriber.email_hash,
        or_(Suppression.scope == ALL_SEGMENTS, Suppression.scope == LEDGER.c.segment)))
    return or_(~still_wanted, suppressed).label("departed")


class _Statements(NamedTuple):
    """The hot path's statements, built once per database: building one cost more than
    running it (a sequential transport, SMTP, records every message on its own). A batch's
    ids are one parameter, written by ``ids``: a JSON array SQLite reads with ``json_each``,
    an array on PostgreSQL. (An expanding ``IN`` was written out again at every execution,
    a placeholder per id: a third of a claim's time.)"""

    ids: Callable[[Sequence[int]], Any]
    skip: Any
    take: Any
    record: Any
    record_in_batch: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    ids: Callable[[Sequence[int]], Any]
    if dialect == "postgresql":
        mine, ids = LEDGER.c.id == any_(bindparam("ids", type_=ARRAY(Integer))), list
    else:
        mine, ids = LEDGER.c.id.in_(select(literal_column("value")).select_from(
            func.json_each(bindparam("ids")))), json.dumps
    record_ = update(LEDGER).where(mine).values(
        state=bindparam("new_state"), provider_id=bindparam("new_provider"),
        last_error=bindparam("new_error"), updated_at=bindparam("moment"))
    return _Statements(
        ids=ids,
        skip=update(LEDGER).where(mine).values(
            state=EntryState.SKIPPED, updated_at=bindparam("moment"),
            last_error="unsubscribed or suppressed after the audience was frozen"),
        take=update(LEDGER).where(mine).values(
            state=EntryState.IN_FLIGHT, batch=bindparam("batch"),
            attempts=LEDGER.c.attempts + 1, updated_at=bindparam("moment")),
        record=record_,
        record_in_batch=record_.where(LEDGER.c.batch == bindparam("in_batch"),
                                      LEDGER.c.state == EntryState.IN_FLIGHT))


_PENDING = (LEDGER.c.delivery_id == bindparam("delivery")) & \
    (LEDGER.c.state == EntryState.PENDING)
_FIRST_VARIANT = select(LEDGER.c.variant).where(_PENDING).order_by(LEDGER.c.id).limit(1)
_PICK = select(LEDGER.c.id, LEDGER.c.subscriber_id, func.coalesce(LEDGER.c.email, ""),
               LEDGER.c.name, LEDGER.c.segment, LEDGER.c.variant, LEDGER.c.attempts + 1,
               _departed()) \
    .where(_PENDING, LEDGER.c.variant == bindparam("variant")).order_by(LEDGER.c.id) \
    .limit(bindparam("size")).with_for_update(skip_locked=True, of=LEDGER)


def record(store: Store, outcomes: Sequence[tuple[int, EntryState, str | None, str | None]],
           batch: str | None = None) -> None:
    """Settle rows: (entry id, new state, provider id, error).

    With ``batch``, only rows still in flight under that batch change: a sender that lost
    its lease cannot overwrite what the next holder has since decided.
    """
    if not outcomes:
        return
    groups: dict[tuple[EntryState, str | None, str | None], list[int]] = {}
    for entry, state, provider, error in outcomes:
        groups.setdefault((state, provider, error), []).append(entry)
    moment = now()
    with store.engine.begin() as connection:
        statements = _statements(connection.dialect.name)
        statement = statements.record if batch is None else statements.record_in_batch
        for (state, provider, error), ids in groups.items():  # a batch: mostly one group
            connection.execute(statement, {
                "ids": statements.ids(ids), "new_state": state, "new_provider": provider,
                "new_error": error, "moment": moment, "in_batch": batch})


def rebatch(store: Store, entry_ids: Sequence[int], batch_id: str) -> None:
    """In-flight rows moved to a new batch id (the old one was cancelled), before resending."""
    with store.session() as session, session.begin():
        session.execute(update(LedgerEntry).where(LedgerEntry.id.in_(entry_ids)).values(
            batch=batch_id, updated_at=now()).execution_options(synchronize_session=False))


def release(store: Store, entry_ids: Sequence[int], error: str | None = None) -> None:
    """In-flight rows that were certainly not sent go back to pending."""
    with store.session() as session, session.begin():
        session.execute(update(LedgerEntry).where(LedgerEntry.id.in_(entry_ids)).values(
            state=EntryState.PENDING, batch=None, last_error=error, updated_at=now())
            .execution_options(synchronize_session=False))


def in_flight(store: Store, delivery_id: int) -> dict[str, tuple[list[int], datetime]]:
    """Batch id → (entry ids, when claimed) still in flight: what a crash left behind."""
    out: dict[str, tuple[list[int], datetime]] = {}
    with store.session() as session:
        for batch, entry, claimed in session.execute(
                select(LedgerEntry.batch, LedgerEntry.id, LedgerEntry.updated_at).where(
                    LedgerEntry.delivery_id == delivery_id,
                    LedgerEntry.state == EntryState.IN_FLIGHT)):
            ids, first = out.get(batch or "", ([], claimed))
            ids.append(entry)
            out[batch or ""] = (ids, min(first, claimed))
    return out


def counts(store: Store, delivery_id: int) -> dict[EntryState, int]:
    with store.session() as session:
        found = dict(session.execute(select(LedgerEntry.state, func.count()).where(
            LedgerEntry.delivery_id == delivery_id).group_by(LedgerEntry.state)).all())
    return {state: int(found.get(state, 0)) for state in EntryState}


def outcomes(store: Store, delivery_id: int) -> dict[str, int]:
    """What the provider's events said about the delivery's messages (delivered, bounce…)."""
    with store.session() as session:
        return {str(outcome): int(n) for outcome, n in session.execute(
            select(LedgerEntry.outcome, func.count()).where(
                LedgerEntry.delivery_id == delivery_id, LedgerEntry.outcome.is_not(None))
            .group_by(LedgerEntry.outcome).order_by(func.count().desc(), LedgerEntry.outcome))}


def entries(store: Store, delivery_id: int, state: EntryState) -> list[LedgerEntry]:
    with store.session() as session:
        return list(session.scalars(select(LedgerEntry).where(
            LedgerEntry.delivery_id == delivery_id, LedgerEntry.state == state)
            .order_by(LedgerEntry.id)))


def requeue(store: Store, delivery_id: int, state: EntryState) -> int:
    """Put failed or uncertain rows back to pending (resend); returns how many."""
    with store.session() as session, session.begin():
        result = session.execute(update(LedgerEntry).where(
            LedgerEntry.delivery_id == delivery_id, LedgerEntry.state == state).values(
            state=EntryState.PENDING, batch=None, updated_at=now())
            .execution_options(synchronize_session=False))
        return int(cast(Any, result).rowcount or 0)
