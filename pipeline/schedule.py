"""The scheduler: APScheduler 3 wiring, nothing else. Sending is ``run_scheduled_send``.

Jobs are derived from the issues on disk and the ledger: every delivery in state
``scheduled`` gets one date job, id ``send:<issue>``, at its planned time (SendGrid: the fence
earlier, so the fenced ``send_at`` lands on the planned minute). ``sync_jobs`` runs at start
and every minute with ``replace_existing``, so editing a send time is enough. Jobs live in the
project database (SQLAlchemy job store). A send missed during downtime by less than the grace
runs once on start; older ones are reported and left alone. One scheduler per database: a lock
row with a heartbeat. SIGTERM pauses a running delivery after its current batch, then stops.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pipeline.audience.models import Setting
from pipeline.audience.store import Store, database_url
from pipeline.config import Config, load_config
from pipeline.deliver.lease import process_gone
from pipeline.deliver.models import DeliveryState
from pipeline.errors import NewsletterError
from pipeline.i18n import _, ngettext, use_language

if TYPE_CHECKING:
    from pipeline.lint import CheckResult

log = logging.getLogger("newsletter.scheduler")
JOB_PREFIX = "send:"
CHECK_PREFIX = "precheck:"
LOCK_KEY = "scheduler_lock"
STALE_SECONDS = 120
STOPPED = "the scheduler stopped; it resumes this delivery when it starts again"


@dataclass(frozen=True)
class PlannedJob:
    slug: str
    run_at: datetime | None     # None: missed beyond the grace, not sent automatically
    note: str
    kind: str = JOB_PREFIX      # JOB_PREFIX: the send; CHECK_PREFIX: the pre-send check


def plan_jobs(store: Store, config: Config, now: datetime,
              starting: bool = False) -> list[PlannedJob]:
    """What should be scheduled now, from the issues on disk and the ledger.

    ``starting``: this scheduler just took the lock, so a delivery still ``running`` was
    interrupted (the scheduler was killed): resume it now.
    """
    from pipeline.deliver import ledger
    from pipeline.errors import IssueError
    from pipeline.issue import load_issue
    from pipeline.sendtime import to_utc

    grace = timedelta(hours=config.schedule.grace_hours)
    fence = timedelta(minutes=config.delivery.fence_minutes
                      if config.delivery.transport == "sendgrid" else 0)
    jobs = []
    for folder in sorted((config.root / config.issues_dir).glob("20*-*")):
        delivery = ledger.current_delivery(store, folder.name)
        if delivery is None:
            continue
        if delivery.state == DeliveryState.PAUSED and delivery.pause_reason == STOPPED:
            jobs.append(PlannedJob(folder.name, now, "resuming after a scheduler stop"))
            continue
        if starting and delivery.state == DeliveryState.RUNNING:
            jobs.append(PlannedJob(folder.name, now, "resuming an interrupted delivery"))
            continue
        if delivery.state != DeliveryState.SCHEDULED:
            continue
        try:
            issue = load_issue(folder, config)
        except IssueError as exc:
            jobs.append(PlannedJob(folder.name, None, f"not scheduled: {exc.message}"))
            continue
        planned = to_utc(issue.meta.send_at.replace(tzinfo=None), config.zone)
        start = planned - fence
        if start < now - grace:
            jobs.append(PlannedJob(issue.slug, None, f"missed: planned {planned:%Y-%m-%d %H:%M}"
                                   f" UTC, more than {config.schedule.grace_hours} h ago; "
                                   "not sent automatically (newsletter send to send it)"))
        else:
            jobs.append(PlannedJob(issue.slug, start, f"planned {planned:%Y-%m-%d %H:%M} UTC"))
            check_at = planned - timedelta(days=config.schedule.check_days_ahead)
            if start > now and not _prechecked(store, issue.slug, planned):
                jobs.append(PlannedJob(issue.slug, max(check_at, now), "pre-send check",
                                       CHECK_PREFIX))
    return jobs


def _check_key(slug: str, planned: datetime) -> str:
    return f"checked:{slug}:{planned:%Y%m%d%H%M}"


def _prechecked(store: Store, slug: str, planned: datetime) -> bool:
    with store.session() as session:
        return session.get(Setting, _check_key(slug, planned)) is not None


_SAID: dict[str, str] = {}  # the last line logged about each subject


def say(subject: str, level: int, message: str, *args: object) -> None:
    """Log ``message`` unless it is what was last said about ``subject``: the journal gets a
    line when something changes, not every minute the scheduler looks again."""
    text = message % args if args else message
    if _SAID.get(subject) != text:
        _SAID[subject] = text
        log.log(level, "%s", text)


def sync_jobs(scheduler: Any, store: Store, config: Config, config_file: str,
              now: datetime | None = None, starting: bool = False) -> list[PlannedJob]:
    now = now or datetime.now(UTC)
    planned = plan_jobs(store, config, now, starting)
    wanted = {job.kind + job.slug: job for job in planned if job.run_at is not None}
    for job in scheduler.get_jobs():
        if job.id.startswith((JOB_PREFIX, CHECK_PREFIX)) and job.id not in wanted:
            scheduler.remove_job(job.id)
            log.info("job=%s action=removed", job.id)
    grace = int(config.schedule.grace_hours * 3600)
    for job_id, job in wanted.items():
        existing = scheduler.get_job(job_id)
        if existing is not None and existing.next_run_time == job.run_at:
            continue  # unchanged: leave it be
        function = run_scheduled_send if job.kind == JOB_PREFIX else run_precheck
        scheduler.add_job(function, "date", run_date=job.run_at, id=job_id,
                          args=[job.slug, config_file], replace_existing=True,
                          misfire_grace_time=grace, coalesce=True, max_instances=1)
    for job in planned:
        say(f"plan:{job.kind}{job.slug}", logging.INFO, "issue=%s run_at=%s %s", job.slug,
            job.run_at.isoformat() if job.run_at else "-", job.note)
    return planned


def _checked(slug: str, config_file: str) -> tuple[Config, Store, Path, CheckResult]:
    """What every job starts with: the config, the register, and a fresh check."""
    from pipeline.lint import check_issue

    config = load_config(config_file)
    folder = config.root / config.issues_dir / slug
    return config, Store.open(config), folder, check_issue(folder, config)


def run_scheduled_send(slug: str, config_file: str) -> str:
    """The job: send the approved edition (publishing it first). Idempotent: a finished
    delivery is not sent again, and a delivery another process is sending is left to it."""
    from pipeline.approval import ApprovalError
    from pipeline.audience.tokens import secret_from_env
    from pipeline.deliver import ledger
    from pipeline.deliver.lease import LeaseHeld
    from pipeline.deliver.run import send_issue
    from pipeline.deliver.transports import open_transport
    from pipeline.edition import Edition
    from pipeline.sendtime import to_utc

    config = load_config(config_file)
    folder = config.root / config.issues_dir / slug
    store = Store.open(config)

    def opened(name: str, edition: Edition) -> Any:
        transport = open_transport(name, config)
        if hasattr(transport, "planned_send_at"):  # SendGrid: readers get it at the minute
            planned = datetime.fromisoformat(edition.meta["send_at"]).replace(tzinfo=None)
            transport.planned_send_at = int(to_utc(planned, config.zone).timestamp())
        return transport

    try:
        report = send_issue(store, config, folder, secret_from_env(), opened)
    except ApprovalError as exc:
        log.error("issue=%s action=not-sent reason=%s", slug, exc.message)
        _tell_editors(config, folder, _("%(slug)s was not sent") % {"slug": slug}, [
            _("The newsletter %(slug)s was not sent at the planned time: %(why)s. The "
              "delivery stays scheduled.") % {"slug": slug, "why": exc.message}],
            [str(p) for p in exc.problems])
        return f"not sent: {exc.message}"  # the delivery stays scheduled
    except LeaseHeld as exc:
        log.info("issue=%s action=left-to-other-sender %s", slug, exc.message)
        return "another process is sending it"
    except ledger.AlreadyDelivered:
        return "already delivered"
    finally:
        store.close()
    log.info("issue=%s delivery=%s state=%s sent=%s%s", slug, report.delivery_id,
             report.state, report.sent_now, f" reason={report.reason}" if report.reason else "")
    return report.state.value


def _editors(config: Config, folder: Path) -> list[str]:
    from pipeline.deliver.testsend import editors_group  # `send --test-to editors` too

    return editors_group(config, folder)


def _tell_editors(config: Config, folder: Path, subject: str, paragraphs: list[str],
                  problems: list[str]) -> None:
    from pipeline.deliver.notify import editors_letter, send_letter

    try:
        send_letter(config, _editors(config, folder),
                    editors_letter(config, subject, paragraphs, problems))
    except NewsletterError as exc:
        log.error("action=notify-failed reason=%s", exc.message)


def run_precheck(slug: str, config_file: str) -> str:
    """Days ahead: check the issue; send test copies of every variant, or say what is wrong."""
    from pipeline.deliver.testsend import send_test
    from pipeline.sendtime import to_utc

    config, store, folder, result = _checked(slug, config_file)
    if result.errors:
        log.warning("issue=%s action=precheck-failed errors=%s", slug, len(result.errors))
        _tell_editors(config, folder, _("%(slug)s: errors to fix before the send") % {
            "slug": slug}, [ngettext(
                "newsletter check finds %(count)d error in %(slug)s. Fix it before the planned "
                "time, or the issue is not sent.",
                "newsletter check finds %(count)d errors in %(slug)s. Fix them before the "
                "planned time, or the issue is not sent.", len(result.errors)) % {
                    "count": len(result.errors), "slug": slug}],
            [str(p) for p in result.errors])
        outcome = "errors reported to the editors"
    else:
        try:
            lines = send_test(folder, config, None, _editors(config, folder), store)
        except NewsletterError as exc:  # the mail path is down: tried again at the next sync
            say(f"precheck:{slug}", logging.ERROR,
                "issue=%s action=precheck-not-sent reason=%s", slug, exc.message)
            return f"test copies not sent: {exc.message}"
        say(f"precheck:{slug}", logging.INFO, "issue=%s action=precheck-ok %s", slug,
            "; ".join(lines))
        outcome = "test copies sent"
    if result.rendered is not None and not result.errors:
        meta = result.rendered.issue.meta
        planned = to_utc(meta.send_at.replace(tzinfo=None), config.zone)
        with store.session() as session, session.begin():
            session.merge(Setting(key=_check_key(slug, planned), value=outcome))
    return outcome


def _holder(value: str) -> tuple[str, float]:
    holder, _, beat = value.partition("|")
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

    def acquire(self) -> None:
        with self.store.session() as session, session.begin():
            current = session.get(Setting, LOCK_KEY)
            if current is None:
                session.add(Setting(key=LOCK_KEY, value=self._value()))
                try:
                    session.flush()
                except IntegrityError:
                    raise NewsletterError("another scheduler is starting against this "
                                          "database") from None
                return
            holder, age = _holder(current.value)
            if holder != self.me and age < STALE_SECONDS and not process_gone(holder):
                raise NewsletterError(f"another scheduler ({holder}) is running against this "
                                      f"database (heartbeat {age:.0f} s ago); stop it first")
            current.value = self._value()  # ours, or a stale one taken over

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
    from pipeline.deliver import ledger
    from pipeline.deliver.models import Delivery

    with store.session() as session:
        running = list(session.scalars(select(Delivery.id).where(
            Delivery.state == DeliveryState.RUNNING)))
    for delivery_id in running:
        ledger.move(store, delivery_id, DeliveryState.PAUSED, STOPPED)
    return len(running)


def make_scheduler(config: Config) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=database_url(config),
                                                 tablename="scheduler_jobs")},
        timezone=UTC)


def run_scheduler(config_file: Path, stop: Any = None, sync_seconds: float | None = None
                  ) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set): sync jobs, keep the lock alive."""
    import signal
    import threading

    config = load_config(config_file)
    use_language(config.language)  # what the editors' mails and the jobs' messages speak
    store = Store.open(config)
    lock = SchedulerLock(store)
    lock.acquire()
    stop = stop or threading.Event()
    if sync_seconds is None:
        sync_seconds = float(os.environ.get("NEWSLETTER_SCHEDULER_SYNC_SECONDS", "60"))

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal=%s action=stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = make_scheduler(config)
    scheduler.start()
    log.info("action=started holder=%s", lock.me)
    starting = True
    try:
        while not stop.is_set():
            sync_jobs(scheduler, store, config, str(config_file), starting=starting)
            starting = False
            lock.beat()
            stop.wait(sync_seconds)
    finally:
        paused = pause_running(store)
        log.info("action=stopping paused_deliveries=%s", paused)
        scheduler.shutdown(wait=True)
        lock.release()
        log.info("action=stopped")
