"""The scheduler process: one per database (a lock row with a heartbeat), APScheduler's jobs
synced every minute from the plan (``schedule.py``), and a watch that turns what ``health``
finds into alerts, once per cause.

It outlives faults it can wait out: a database that goes away (PostgreSQL restarted) is one
journal line and a retry at the next sync; the lock stays ours, the jobs stay in the
database, and a delivery whose sender lost the database is resumed when its lease runs out.
SIGTERM pauses a running delivery after its current batch, then stops. A start that finds
the lock of a scheduler that died, or a loop that dies, is an alert.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pipeline.alerts import Raised, dispatch, raise_alert
from pipeline.audience.models import Setting
from pipeline.audience.store import Store, StoreError, database_reason, database_url
from pipeline.config import Config, load_config
from pipeline.deliver.lease import process_gone
from pipeline.deliver.models import DeliveryState
from pipeline.errors import NewsletterError
from pipeline.i18n import _, use_language
from pipeline.schedule import STOPPED, say, sync_jobs, tell_editors

log = logging.getLogger("newsletter.scheduler")
LOCK_KEY = "scheduler_lock"
STALE_SECONDS = 120


def _holder(value: str) -> tuple[str, float]:
    holder, _sep, beat = value.partition("|")
    return holder, time.time() - int(beat or 0)


class SchedulerLock:
    """One scheduler per database: a settings row naming its holder, with a heartbeat."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.me = f"{socket.gethostname()}:{os.getpid()}"

    def _value(self) -> str:
        return f"{self.me}|{int(time.time())}"

    @staticmethod
    def heartbeat(store: Store) -> tuple[str, float] | None:
        """Who holds the lock and how many seconds ago it last beat (None: nobody)."""
        with store.session() as session:
            row = session.get(Setting, LOCK_KEY)
        return _holder(row.value) if row is not None else None

    def acquire(self) -> tuple[str, float] | None:
        """Take the lock; returns the dead scheduler it was taken over from, if any."""
        with self.store.session() as session, session.begin():
            current = session.get(Setting, LOCK_KEY)
            if current is None:
                session.add(Setting(key=LOCK_KEY, value=self._value()))
                try:
                    session.flush()
                except IntegrityError:
                    raise NewsletterError("another scheduler is starting against this "
                                          "database") from None
                return None
            holder, age = _holder(current.value)
            if holder != self.me and age < STALE_SECONDS and not process_gone(holder):
                raise NewsletterError(f"another scheduler ({holder}) is running against this "
                                      f"database (heartbeat {age:.0f} s ago); stop it first")
            current.value = self._value()  # ours, or a stale one taken over
            return (holder, age) if holder != self.me else None

    def beat(self) -> None:
        with self.store.session() as session, session.begin():
            session.execute(update(Setting).where(
                Setting.key == LOCK_KEY, Setting.value.startswith(self.me + "|"))
                .values(value=self._value()))

    def release(self) -> None:
        with self.store.session() as session, session.begin():
            row = session.get(Setting, LOCK_KEY)
            if row is not None and row.value.startswith(self.me + "|"):
                session.delete(row)


def pause_running(store: Store) -> int:
    """Ask running deliveries to stop after their current batch (SIGTERM)."""
    from pipeline.deliver import deliveries
    from pipeline.deliver.models import Delivery

    with store.session() as session:
        running = list(session.scalars(select(Delivery.id).where(
            Delivery.state == DeliveryState.RUNNING)))
    for delivery_id in running:
        deliveries.move(store, delivery_id, DeliveryState.PAUSED, STOPPED)
    return len(running)


def make_scheduler(config: Config) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    # pre-ping: a connection the database dropped (a restart) is replaced, not used
    engine = create_engine(database_url(config), pool_pre_ping=True)
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_jobs")},
        timezone=UTC)


def watch(store: Store, config: Config, planned: list[Any], now: datetime | None = None
          ) -> None:
    """Alerts for what ``health`` finds (once per cause), then any still to deliver."""
    from pipeline.health import check_health

    for finding in check_health(store, config, now, planned, scheduler=True).findings:
        if (alert := finding.alert()) is not None:
            raise_alert(store, alert, mail_editors(config))
    dispatch(store, config)


def routine(store: Store, config: Config, now: datetime | None = None) -> None:
    """The day's register snapshot, and the reports due to the editors."""
    from pipeline.report.routine import daily_snapshot, mail_due_reports

    now = now or datetime.now(UTC)
    daily_snapshot(store, config, now)
    try:
        mail_due_reports(store, config, now)
    except NewsletterError as exc:  # the mail path is down: tried at the next sync
        say("reports", logging.ERROR, "action=report-not-mailed reason=%s", exc.message)


def mail_editors(config: Config) -> Any:
    def mail(issue: str | None, subject: str, text: str) -> None:
        tell_editors(config, issue, subject, [text], [])
    return mail


SYNC_ENV = "NEWSLETTER_SCHEDULER_SYNC_SECONDS"


def _sync_seconds() -> float:
    """``NEWSLETTER_SCHEDULER_SYNC_SECONDS`` (60): how often the plan is synced."""
    text = os.environ.get(SYNC_ENV, "60").strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or not 0.1 <= seconds <= 3600:
        raise NewsletterError(_("%(name)s must be a number of seconds from 0.1 to 3600, "
                                "not '%(value)s'") % {"name": SYNC_ENV, "value": text[:40]})
    return seconds


def run_scheduler(config_file: Path, stop: Any = None, sync_seconds: float | None = None
                  ) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set): sync jobs, keep the lock alive."""
    import signal

    from pipeline.audience.tokens import secret_from_env

    config = load_config(config_file)
    use_language(config.language)  # what the editors' mails and the jobs' messages speak
    secret_from_env()  # every send signs links: refused now, not at each job's turn
    if sync_seconds is None:
        sync_seconds = _sync_seconds()
    store = Store.open(config)
    lock = SchedulerLock(store)
    dead = lock.acquire()
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal=%s action=stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = make_scheduler(config)
    scheduler.start()
    log.info("action=started holder=%s", lock.me)
    if dead is not None:
        raise_alert(store, Raised(f"restart:{dead[0]}", "scheduler-restarted", _(
            "the scheduler started again after %(holder)s stopped without shutting down (last "
            "heartbeat %(minutes)d minutes ago); interrupted deliveries resume now") % {
                "holder": dead[0], "minutes": dead[1] // 60}, "warning"), mail_editors(config))
        dispatch(store, config)
    starting, clean, lost = True, False, False
    try:
        while not stop.is_set():
            try:
                planned = sync_jobs(scheduler, store, config, str(config_file),
                                    starting=starting)
                starting = False
                lock.beat()
                watch(store, config, planned)
                routine(store, config)
                if lost:
                    log.info("database=reachable again")
                lost = False
            except (SQLAlchemyError, StoreError) as exc:  # the database went away: try again
                lost = True
                say("database", logging.ERROR, "database=unreachable reason=%s",
                    database_reason(exc))
            stop.wait(sync_seconds)
        clean = True
    finally:
        if not clean:  # the loop died: say so while it can
            raise_alert(store, Raised(f"crashed:{lock.me}", "scheduler-stopped", _(
                "the scheduler stopped on an unexpected error; see its journal and start "
                "it again"), "critical"), mail_editors(config))
            dispatch(store, config)
        paused = pause_running(store)
        log.info("action=stopping paused_deliveries=%s", paused)
        scheduler.shutdown(wait=True)
        lock.release()
        log.info("action=stopped")
