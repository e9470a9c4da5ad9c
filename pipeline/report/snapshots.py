"""The register counted at a moment (a ``Snapshot``): aggregates only, never a person.

    readers/<segment>        confirmed subscriptions of the segment
    organisations/connected  connected organisations
    focus/<area>             connected organisations that chose the focus area
    kind/<kind>              connected organisations of the kind (``unknown``: not given)

**Connected** organisation: one with at least one contact whose ``connected`` subscription is
confirmed. It joins on its ``joined_on`` (else the first confirmation) and departs when its
last such subscription ends (that subscription's ``status_changed_at``); the register keeps no
other departure. Both can be read from the register's timestamps, so ``backfill`` can count
every past quarter end. What timestamps cannot tell is kept by the snapshots taken as time
goes (at each send, daily from the scheduler): focus areas an organisation has since changed,
and subscriptions erased since (erasure deletes them, GDPR art. 17).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.audience.models import (
    Organisation,
    OrganisationFocus,
    Status,
    Subscriber,
    Subscription,
)
from pipeline.audience.store import Store, now
from pipeline.report.models import Snapshot, SnapshotCount
from pipeline.report.tables import next_quarter, quarter_of, quarter_start, quarters

log = logging.getLogger(__name__)
CONNECTED = "connected"
UNKNOWN_KIND = "unknown"
ZONE = ZoneInfo("Europe/Stockholm")  # the board's quarters end at midnight Swedish time


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """When a subscription was confirmed: [start, end); end None while it still is."""

    start: datetime
    end: datetime | None

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class Membership:
    """An organisation's time as a connected actor (see the module's definition)."""

    organisation: int
    kind: str
    focus: frozenset[str]
    joined: datetime
    departed: datetime | None

    def covers(self, moment: datetime) -> bool:
        return self.joined <= moment and (self.departed is None or moment < self.departed)


@dataclass(frozen=True)
class Register:
    """What the timestamps say: each subscription's confirmed period, each organisation's
    membership. Loaded once per report; only ids, slugs and times, no names or addresses."""

    readers: tuple[tuple[str, Period], ...]  # (segment, period)
    memberships: tuple[Membership, ...]

    def counts(self, moment: datetime) -> dict[tuple[str, str], int]:
        counts: Counter[tuple[str, str]] = Counter()
        for segment, period in self.readers:
            if period.covers(moment):
                counts["readers", segment] += 1
        counts["organisations", CONNECTED] += 0
        for member in self.memberships:
            if member.covers(moment):
                counts["organisations", CONNECTED] += 1
                counts["kind", member.kind] += 1
                for area in member.focus:
                    counts["focus", area] += 1
        return dict(counts)

    @property
    def first(self) -> datetime | None:
        starts = [p.start for _, p in self.readers] + [m.joined for m in self.memberships]
        return min(starts, default=None)


def load_register(session: Session) -> Register:
    rows = session.execute(select(
        Subscription.segment, Subscription.status, Subscription.confirmed_at,
        Subscription.created_at, Subscription.status_changed_at,
        Subscriber.organisation_id).join(Subscriber)).all()
    readers: list[tuple[str, Period]] = []
    by_organisation: dict[int, list[Period]] = {}
    for segment, status, confirmed_at, created_at, changed_at, organisation in rows:
        if status == Status.CONFIRMED:
            period = Period(aware(confirmed_at or created_at), None)
        elif status != Status.PENDING and confirmed_at is not None:
            period = Period(aware(confirmed_at), aware(changed_at))
        else:
            continue  # never confirmed
        readers.append((segment, period))
        if segment == CONNECTED and organisation is not None:
            by_organisation.setdefault(organisation, []).append(period)
    focus: dict[int, set[str]] = {}
    for organisation, area in session.execute(select(OrganisationFocus.organisation_id,
                                                     OrganisationFocus.focus)):
        focus.setdefault(organisation, set()).add(area)
    memberships = []
    for id_, kind, joined_on in session.execute(select(
            Organisation.id, Organisation.kind, Organisation.joined_on)):
        periods = by_organisation.get(id_)
        if not periods:
            continue  # no contact ever confirmed: it never joined
        first = min(p.start for p in periods)
        joined = min(first, _midnight(joined_on)) if joined_on else first
        ends = [p.end for p in periods]
        departed = None if None in ends else max(e for e in ends if e is not None)
        memberships.append(Membership(id_, kind or UNKNOWN_KIND,
                                      frozenset(focus.get(id_, ())), joined, departed))
    return Register(tuple(readers), tuple(memberships))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), ZONE).astimezone(UTC)


def quarter_end(quarter: tuple[int, int]) -> datetime:
    """The quarter's last moment, Swedish time: what counts "at the quarter's end"."""
    return _midnight(quarter_start(next_quarter(quarter))) - timedelta(microseconds=1)


def take_snapshot(store: Store, reason: str, at: datetime | None = None) -> int:
    """Count the register now (or as its timestamps say it was ``at``) and keep the counts;
    returns the snapshot's id. ``reason``: ``daily``, ``send:<issue>`` or ``backfill``."""
    moment = aware(at) if at is not None else now()
    with store.session() as session, session.begin():
        counts = load_register(session).counts(moment)
        return _store(session, reason, moment, counts)


def _store(session: Session, reason: str, moment: datetime,
           counts: dict[tuple[str, str], int]) -> int:
    snapshot = Snapshot(taken_at=moment, reason=reason[:40])
    session.add(snapshot)
    session.flush()
    session.add_all(SnapshotCount(snapshot_id=snapshot.id, measure=measure, key=key[:60],
                                  count=count) for (measure, key), count in counts.items())
    return snapshot.id


def snapshot_at_send(store: Store, issue: str) -> None:
    """The register's counts as an issue is sent; never fails the send (logged instead)."""
    try:
        take_snapshot(store, f"send:{issue}")
    except Exception:  # a report's history must not stop a newsletter
        log.warning("could not record the register's snapshot for %s", issue, exc_info=True)


def backfill(store: Store, until: datetime | None = None) -> int:
    """One ``backfill`` snapshot per quarter end from the register's first record up to the
    last quarter end before ``until`` (now) and before the first snapshot taken live, so live
    counts are never replaced by reconstructed ones. Idempotent; returns how many it added."""
    limit = aware(until) if until is not None else now()
    added = 0
    with store.session() as session, session.begin():
        register = load_register(session)
        if register.first is None:
            return 0
        live = session.scalar(select(Snapshot.taken_at).where(Snapshot.reason != "backfill")
                              .order_by(Snapshot.taken_at).limit(1))
        if live is not None:
            limit = min(limit, aware(live))
        done = {aware(t) for t in session.scalars(select(Snapshot.taken_at).where(
            Snapshot.reason == "backfill"))}
        first = quarter_of(register.first.astimezone(ZONE).date())
        last = quarter_of(limit.astimezone(ZONE).date())
        for quarter in quarters(first, last):
            moment = quarter_end(quarter)
            if moment <= limit and moment not in done:
                _store(session, "backfill", moment, register.counts(moment))
                added += 1
    return added


def snapshots_by_quarter(store: Store) -> dict[tuple[int, int], dict[tuple[str, str], int]]:
    """Per quarter, the counts of the last snapshot taken in it (at its end at the latest)."""
    out: dict[tuple[int, int], tuple[datetime, int]] = {}
    with store.session() as session:
        for id_, taken_at in session.execute(select(Snapshot.id, Snapshot.taken_at)):
            moment = aware(taken_at)
            quarter = quarter_of(moment.astimezone(ZONE).date())
            if quarter not in out or out[quarter] < (moment, id_):
                out[quarter] = (moment, id_)
        wanted = {id_: quarter for quarter, (_, id_) in out.items()}
        counts: dict[tuple[int, int], dict[tuple[str, str], int]] = {q: {} for q in out}
        for snapshot, measure, key, count in session.execute(select(
                SnapshotCount.snapshot_id, SnapshotCount.measure, SnapshotCount.key,
                SnapshotCount.count).where(SnapshotCount.snapshot_id.in_(list(wanted)))):
            counts[wanted[snapshot]][measure, key] = count
    return counts
