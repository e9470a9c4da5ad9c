"""What the scheduler does for the reports as it goes: a snapshot of the register once a
day, and each issue's report mailed to its editors ``[reports] days_after_send`` after the
send finished (once: a settings row remembers it)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from pipeline.audience.models import Setting
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver.models import Delivery, DeliveryState
from pipeline.report.models import Snapshot

log = logging.getLogger("newsletter.scheduler")
LATE = timedelta(days=14)  # a report this much overdue (the scheduler was off) is not sent


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def daily_snapshot(store: Store, config: Config, now: datetime) -> bool:
    """Take today's snapshot (the board's day) unless one was taken; True if taken."""
    from pipeline.report.snapshots import take_snapshot

    local = now.astimezone(config.zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    with store.session() as session:
        taken = session.scalar(select(Snapshot.id).where(
            Snapshot.reason == "daily", Snapshot.taken_at >= midnight).limit(1))
    if taken is not None:
        return False
    take_snapshot(store, "daily", now)
    log.info("action=snapshot day=%s", f"{local:%Y-%m-%d}")
    return True


def due_reports(store: Store, config: Config, now: datetime) -> list[Delivery]:
    """Finished deliveries whose report is due and was not mailed yet."""
    after = timedelta(days=config.reports.days_after_send)
    with store.session() as session:
        finished = list(session.scalars(select(Delivery).where(
            Delivery.state == DeliveryState.FINISHED, Delivery.parent_id.is_(None),
            Delivery.finished_at >= now - after - LATE, Delivery.finished_at <= now - after)))
        return [d for d in finished if session.get(Setting, f"reported:{d.id}") is None]


def mail_due_reports(store: Store, config: Config, now: datetime) -> int:
    """Mail each due report to the issue's editors; returns how many went out."""
    from pipeline.deliver.notify import send_letter
    from pipeline.report.issue import issue_report_letter
    from pipeline.schedule import editors_of

    sent = 0
    for delivery in due_reports(store, config, now):
        send_letter(config, editors_of(config, delivery.issue),
                    issue_report_letter(config, store, delivery.issue))
        with store.session() as session, session.begin():
            session.merge(Setting(key=f"reported:{delivery.id}", value=f"{now:%Y-%m-%d}"))
        log.info("issue=%s action=report-mailed delivery=%s", delivery.issue, delivery.id)
        sent += 1
    return sent
