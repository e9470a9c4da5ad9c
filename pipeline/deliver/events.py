"""The provider's events (SendGrid's event webhook) applied to the register and the ledger.

SendGrid posts events in batches and repeats them (at-least-once). Each event's id is
recorded in the same transaction as its effect, so a repeat changes nothing, and every effect
is order-free: a status or suppression only ever moves to a stronger reason, and a ledger
entry keeps the provider's strongest word about it (ties: the later event). So any replay,
in any order and with any duplicates, leaves the same state as one copy of each event.

- bounce, blocked, spamreport, unsubscribe, group_unsubscribe, and drops whose reason is
  about the address (bounced, invalid, spam reporting, unsubscribed): a suppression for every
  list, and the subscriber's subscriptions stop.
- processed, deferred, delivered, bounce, blocked, dropped, spamreport on a message we sent
  (``custom_args`` delivery and entry, checked against the ledger's address): the entry's
  ``outcome``. An entry left ``uncertain`` by a crash becomes ``sent``: the provider has it.
- those and unsubscribes on a message we sent: counted per delivery, hour and event
  (``DeliveryEventCount``, the report's timeline), new events only, so a replay adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.audience.models import ALL_SEGMENTS, Status, Subscriber, Subscription, Suppression
from pipeline.audience.rows import email_key, normalise_email
from pipeline.audience.store import Store, now
from pipeline.deliver.models import EntryState, LedgerEntry, ProviderEvent
from pipeline.report.models import DeliveryEventCount

STRENGTH: dict[str, int] = {Status.PENDING: 0, Status.CONFIRMED: 0, Status.UNSUBSCRIBED: 1,
            Status.BOUNCED: 2, Status.COMPLAINED: 3, Status.ERASED: 4}
SUPPRESSING = {"bounce": Status.BOUNCED, "blocked": Status.BOUNCED,
               "spamreport": Status.COMPLAINED, "unsubscribe": Status.UNSUBSCRIBED,
               "group_unsubscribe": Status.UNSUBSCRIBED}
DROP_REASONS = {"bounced address": Status.BOUNCED, "invalid": Status.BOUNCED,
                "spam reporting address": Status.COMPLAINED,
                "unsubscribed address": Status.UNSUBSCRIBED}
OUTCOMES = {"processed": 1, "deferred": 2, "delivered": 3, "blocked": 4, "bounce": 5,
            "dropped": 5, "spamreport": 6}
COUNTED = {*OUTCOMES, "unsubscribe", "group_unsubscribe"}  # kept per hour for the report
KEEP_IDS = timedelta(days=7)  # SendGrid retries a failed post for up to 24 hours


class BadEvents(ValueError):
    """The body is not a list of events."""


@dataclass
class EventReport:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    suppressed: int = 0
    ledger: int = 0


def _key(event: dict[str, Any]) -> str:
    if isinstance(event.get("sg_event_id"), str) and event["sg_event_id"]:
        return str(event["sg_event_id"])[:100]
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _kind(event: dict[str, Any]) -> str:
    kind = str(event.get("event") or "")
    if kind == "bounce" and event.get("type") == "blocked":
        return "blocked"
    return kind


def _suppressing(event: dict[str, Any]) -> Status | None:
    kind = _kind(event)
    if kind == "dropped":
        reason = str(event.get("reason") or "").strip().lower()
        return next((s for prefix, s in DROP_REASONS.items() if reason.startswith(prefix)),
                    None)
    return SUPPRESSING.get(kind)


def _when(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(event.get("timestamp") or 0), UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.fromtimestamp(0, UTC)


def parse_events(body: bytes) -> list[dict[str, Any]]:
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvents(f"not JSON: {exc}") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise BadEvents("expected a JSON array of event objects")
    return events


def apply_events(store: Store, events: Sequence[dict[str, Any]]) -> EventReport:
    """Apply one posted batch in one transaction; returns what it did."""
    report = EventReport(received=len(events))
    fresh: dict[str, dict[str, Any]] = {}
    for event in events:
        fresh.setdefault(_key(event), event)
    moment = now()
    with store.session() as session, session.begin():
        keys = list(fresh)
        for start in range(0, len(keys), 500):
            for seen in session.scalars(select(ProviderEvent.key).where(
                    ProviderEvent.key.in_(keys[start:start + 500]))):
                fresh.pop(seen, None)
        report.duplicates = len(events) - len(fresh)
        session.add_all(ProviderEvent(key=k, event=_kind(e)[:30], received_at=moment)
                        for k, e in fresh.items())
        report.suppressed = _suppress(session, store, fresh.values())
        ours = _ours(session, fresh.values())
        report.ledger = _outcomes(session, ours)
        _count(session, ours)
        report.applied = len(fresh)
        session.execute(delete(ProviderEvent).where(
            ProviderEvent.received_at < moment - KEEP_IDS))
    return report


def _suppress(session: Session, store: Store, events: Any) -> int:
    strongest: dict[str, Status] = {}
    for event in events:
        status = _suppressing(event)
        try:
            key = email_key(normalise_email(str(event.get("email") or "")))
        except ValueError:
            continue
        if status is not None and (key not in strongest or
                                   STRENGTH[status] > STRENGTH[strongest[key]]):
            strongest[key] = status
    for key, status in strongest.items():
        hash_ = store.email_hash(key)
        found = session.get(Suppression, (hash_, ALL_SEGMENTS))
        if found is None:
            session.add(Suppression(hash=hash_, scope=ALL_SEGMENTS, reason=status,
                                    created_at=now()))
        elif STRENGTH.get(found.reason, 0) < STRENGTH[status]:
            found.reason = status
        for subscription in session.scalars(select(Subscription).join(Subscriber).where(
                Subscriber.email_key == key)):
            if STRENGTH.get(subscription.status, 0) < STRENGTH[status]:
                subscription.status, subscription.status_changed_at = status, now()
    return len(strongest)


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ours(session: Session, events: Any) -> list[tuple[Any, dict[str, Any]]]:
    """The events about a message we sent, each with its ledger row (id, delivery, address,
    state, outcome): ``custom_args`` name the delivery and entry, checked against the ledger."""
    mine = [(int(e["entry"]), e) for e in events if _kind(e) in COUNTED and
            str(e.get("entry") or "").isdigit() and str(e.get("delivery") or "").isdigit()]
    ids = sorted({entry for entry, _ in mine})
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), 500):
        rows.update((row.id, row) for row in session.execute(select(
            LedgerEntry.id, LedgerEntry.delivery_id, LedgerEntry.email, LedgerEntry.state,
            LedgerEntry.outcome, LedgerEntry.outcome_at).where(
            LedgerEntry.id.in_(ids[start:start + 500]))))
    found = []
    for entry, event in mine:
        row = rows.get(entry)
        address = str(event.get("email") or "").strip().lower()
        if row is None or str(event["delivery"]) != str(row.delivery_id) or \
                (row.email is not None and address != row.email.lower()):
            continue  # not a message of ours, or not the one it names: ignore it
        found.append((row, event))
    return found


def _count(session: Session, ours: list[tuple[Any, dict[str, Any]]]) -> None:
    """Add the new events to their delivery's timeline (``DeliveryEventCount``, per hour)."""
    counts = Counter((row.delivery_id, _when(event).replace(minute=0, second=0, microsecond=0),
                      _kind(event)[:30]) for row, event in ours)
    if not counts:
        return
    values = [{"delivery_id": d, "hour": h, "event": e, "count": n}
              for (d, h, e), n in sorted(counts.items())]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite_insert
    statement = insert(DeliveryEventCount)
    session.execute(statement.on_conflict_do_update(
        index_elements=["delivery_id", "hour", "event"],
        set_={"count": DeliveryEventCount.count + statement.excluded.count}), values)


def _outcomes(session: Session, ours: list[tuple[Any, dict[str, Any]]]) -> int:
    rows = {row.id: row for row, _ in ours}
    # entry id → (rank, when, kind): the provider's strongest word, ties to the later event
    best: dict[int, tuple[int, datetime, str]] = {}
    for row, event in ours:
        kind = _kind(event)
        if kind in OUTCOMES:
            best[row.id] = max(best.get(row.id, (0, _aware(None), "")),
                               (OUTCOMES[kind], _when(event), kind))
    changed = 0
    for entry, new in best.items():
        row = rows[entry]
        if row.outcome is not None and \
                (OUTCOMES.get(row.outcome, 0), _aware(row.outcome_at), row.outcome) >= new:
            continue
        values: dict[str, Any] = {"outcome": new[2], "outcome_at": new[1]}
        if row.state == EntryState.UNCERTAIN:
            values["state"] = EntryState.SENT
        session.execute(update(LedgerEntry).where(LedgerEntry.id == entry).values(**values))
        changed += 1
    return changed
