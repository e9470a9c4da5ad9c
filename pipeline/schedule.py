"""The scheduler: APScheduler 3 wiring, nothing else. Sending is ``run_scheduled_send``.

Jobs are derived from the issues on disk and the ledger: every delivery in state
``scheduled`` gets one date job, id ``send:<issue>``, at its planned time (SendGrid: the fence
earlier, so the fenced ``send_at`` lands on the planned minute). ``sync_jobs`` runs at start
and every minute with ``replace_existing``, so editing a send time is enough. Jobs live in the
project database (SQLAlchemy job store). A send missed during downtime by less than the grace
runs once on start; older ones are reported and left alone. One scheduler per database: a lock
row with a heartbeat (``scheduler.py``, the process). A delivery paused by a temporary fault
gets a job at its ``retry_at`` for ``[schedule] retry_hours``; one whose sender vanished (its
lease expired while it was running: a crash, the database gone) is resumed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from pipeline.audience.store import Store, StoreError, database_reason
from pipeline.config import Config, load_config
from pipeline.deliver.models import Delivery, DeliveryState
from pipeline.errors import NewsletterError
from pipeline.i18n import _, ngettext
from pipeline.schedule_marks import (
    PRECHECK_OK,
    mark_prechecked,
    mark_refused,
    prechecked,
    refused,
    sources_digest,
)

if TYPE_CHECKING:
    from pipeline.lint import CheckResult

log = logging.getLogger("newsletter.scheduler")
JOB_PREFIX = "send:"
CHECK_PREFIX = "precheck:"
STOPPED = "the scheduler stopped; it resumes this delivery when it starts again"


@dataclass(frozen=True)
class PlannedJob:
    slug: str
    run_at: datetime | None     # None: missed beyond the grace, not sent automatically
    note: str
    kind: str = JOB_PREFIX      # JOB_PREFIX: the send; CHECK_PREFIX: the pre-send check
    resuming: bool = False      # a delivery already under way, not a planned send
    held: bool = False          # refused at its time (no valid approval): waits for a change


def retry_until(delivery: Delivery, config: Config) -> datetime | None:
    """Until when the scheduler resumes a delivery paused by a temporary fault (else None)."""
    if delivery.fault_since is None:
        return None
    since = delivery.fault_since
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return since + timedelta(hours=config.schedule.retry_hours)


def plan_jobs(store: Store, config: Config, now: datetime,
              starting: bool = False) -> list[PlannedJob]:
    """What should be scheduled now, from the issues on disk and the ledger.

    ``starting``: this scheduler just took the lock, so a delivery still ``running`` was
    interrupted (the scheduler was killed): resume it now.
    """
    from pipeline.deliver import deliveries
    from pipeline.errors import IssueError
    from pipeline.issue import load_issue
    from pipeline.sendtime import to_utc

    grace = timedelta(hours=config.schedule.grace_hours)
    fence = timedelta(minutes=config.delivery.fence_minutes
                      if config.delivery.transport == "sendgrid" else 0)
    jobs = []
    for folder in sorted((config.root / config.issues_dir).glob("20*-*")):
        delivery = deliveries.current_delivery(store, folder.name)
        if delivery is None:
            continue
        if (resume := _resumption(delivery, config, now, starting)) is not None:
            jobs.append(resume)
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
        elif refused(store, config, folder, planned):
            jobs.append(PlannedJob(issue.slug, start, f"planned {planned:%Y-%m-%d %H:%M} UTC;"
                                   " not sent: waiting for a valid approval", held=True))
        else:
            jobs.append(PlannedJob(issue.slug, start, f"planned {planned:%Y-%m-%d %H:%M} UTC"))
            check_at = planned - timedelta(days=config.schedule.check_days_ahead)
            if start > now and not prechecked(store, config, folder, planned):
                jobs.append(PlannedJob(issue.slug, max(check_at, now), "pre-send check",
                                       CHECK_PREFIX))
    return jobs


def _resumption(delivery: Delivery, config: Config, now: datetime,
                starting: bool) -> PlannedJob | None:
    """A job resuming a delivery under way, if it should be resumed now or later."""
    slug, state = delivery.issue, delivery.state
    if state == DeliveryState.PAUSED and delivery.pause_reason == STOPPED:
        return PlannedJob(slug, now, "resuming after a scheduler stop", resuming=True)
    if state == DeliveryState.RUNNING and (starting or _orphaned(delivery, now)):
        return PlannedJob(slug, now, "resuming an interrupted delivery", resuming=True)
    until = retry_until(delivery, config)
    if state == DeliveryState.PAUSED and delivery.retry_at is not None and until is not None:
        if now >= until:
            return PlannedJob(slug, None, f"paused since {delivery.fault_since:%Y-%m-%d %H:%M} "
                              "UTC; no more tries (newsletter resume to go on)", resuming=True)
        retry_at = delivery.retry_at if delivery.retry_at.tzinfo else \
            delivery.retry_at.replace(tzinfo=UTC)
        return PlannedJob(slug, max(retry_at, now), f"try {delivery.retries + 1} after a "
                          f"temporary fault: {delivery.pause_reason}", resuming=True)
    return None


def _orphaned(delivery: Delivery, now: datetime) -> bool:
    """Running, but its sender's lease ran out: it died or lost the database."""
    expires = delivery.lease_expires
    if expires is None:  # released without moving on: its sender failed
        return True
    return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) < now


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
    wanted = {job.kind + job.slug: job for job in planned
              if job.run_at is not None and not job.held}
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


def _database_faults(job: Callable[[str, str], str]) -> Callable[[str, str], str]:
    """A job that loses the database (a restart) is one journal line, not a traceback; the
    plan runs it again when the database is back (a send is resumed once its lease ends)."""
    @functools.wraps(job)
    def run(slug: str, config_file: str) -> str:
        try:
            return job(slug, config_file)
        except (SQLAlchemyError, StoreError) as exc:
            say(f"{job.__name__}:{slug}", logging.ERROR,
                "issue=%s job=%s action=interrupted reason=database unreachable: %s", slug,
                job.__name__, database_reason(exc))
            return "interrupted: the database is unreachable"
    return run


@_database_faults
def run_scheduled_send(slug: str, config_file: str) -> str:
    """The job: send the approved edition (publishing it first). Idempotent: a finished
    delivery is not sent again, and a delivery another process is sending is left to it."""
    from pipeline.approval import ApprovalError
    from pipeline.audience.tokens import secret_from_env
    from pipeline.deliver import deliveries
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

    before = deliveries.current_delivery(store, slug)
    try:
        report = send_issue(store, config, folder, secret_from_env(), opened)
    except ApprovalError as exc:
        log.error("issue=%s action=not-sent reason=%s", slug, exc.message)
        mark_refused(store, config, folder, planned_at(folder, config))
        tell_editors(config, slug, _("%(slug)s was not sent") % {"slug": slug}, [
            _("The newsletter %(slug)s was not sent at the planned time: %(why)s. The "
              "delivery stays scheduled.") % {"slug": slug, "why": exc.message}],
            [str(p) for p in exc.problems])
        return f"not sent: {exc.message}"  # the delivery stays scheduled
    except LeaseHeld as exc:
        log.info("issue=%s action=left-to-other-sender %s", slug, exc.message)
        return "another process is sending it"
    except deliveries.AlreadyDelivered:
        return "already delivered"
    finally:
        store.close()
    log.info("issue=%s delivery=%s state=%s sent=%s%s", slug, report.delivery_id,
             report.state, report.sent_now, f" reason={report.reason}" if report.reason else "")
    if before is not None and before.fault_since is not None and \
            report.state is DeliveryState.FINISHED:
        _healed(config, before)
    return report.state.value


def planned_at(folder: Path, config: Config) -> datetime | None:
    """The issue's planned send time in UTC, from its issue.yaml even when a section has
    problems (None: issue.yaml itself cannot be read)."""
    from pipeline.errors import IssueError
    from pipeline.issue import PartialIssue, load_issue
    from pipeline.sendtime import to_utc

    try:
        meta = load_issue(folder, config).meta
    except IssueError as exc:
        if not isinstance(exc.partial, PartialIssue) or exc.partial.meta is None:
            return None
        meta = exc.partial.meta
    return to_utc(meta.send_at.replace(tzinfo=None), config.zone)


def _healed(config: Config, delivery: Delivery) -> None:
    from pipeline.alerts import Raised, dispatch, raise_alert

    store = Store.open(config)
    try:
        since = delivery.fault_since
        raise_alert(store, Raised(f"healed:{delivery.id}:{since:%Y%m%d%H%M%S}", "healed", _(
            "delivery %(id)d of %(slug)s was delivered after the fault mended itself (the "
            "scheduler tried %(tries)d times)") % {
                "id": delivery.id, "slug": delivery.issue, "tries": delivery.retries},
            "resolved", delivery.issue))
        dispatch(store, config)
    finally:
        store.close()


def _editors(config: Config, folder: Path) -> list[str]:
    from pipeline.deliver.testsend import editors_group  # `send --test-to editors` too

    return editors_group(config, folder)


def editors_of(config: Config, issue: str | None) -> list[str]:
    """Who hears about an issue (``[schedule] editors``, else its editor)."""
    if issue is None:
        return list(config.schedule.editors)
    return _editors(config, config.root / config.issues_dir / issue)


def tell_editors(config: Config, issue: str | None, subject: str, paragraphs: list[str],
                 problems: list[str]) -> None:
    """Mail the issue's editors (or ``[schedule] editors``); a mail path that is down is a
    journal line: the alert channels do not depend on it."""
    from pipeline.deliver.notify import editors_letter, send_letter

    try:
        editors = editors_of(config, issue)
        if editors:
            send_letter(config, editors, editors_letter(config, subject, paragraphs, problems))
    except NewsletterError as exc:
        say(f"notify:{subject}", logging.ERROR, "action=notify-failed reason=%s", exc.message)


@_database_faults
def run_precheck(slug: str, config_file: str) -> str:
    """Days ahead: check the issue; send test copies of every variant, or say what is wrong.
    Errors are told once (an alert and the editors' mail), and again only after an edit."""
    config, store, folder, result = _checked(slug, config_file)
    try:
        return _precheck(config, store, folder, result)
    finally:
        store.close()


def _precheck(config: Config, store: Store, folder: Path, result: CheckResult) -> str:
    from pipeline.alerts import Raised, dispatch, raise_alert
    from pipeline.deliver.testsend import send_test

    slug = folder.name
    planned = planned_at(folder, config) or datetime.now(UTC)
    cause = f"precheck:{slug}:{planned:%Y%m%d%H%M}:{sources_digest(folder, config)}"
    if result.errors:
        log.warning("issue=%s action=precheck-failed errors=%s", slug, len(result.errors))
        what = ngettext(
            "newsletter check finds %(count)d error in %(slug)s. Fix it before the planned "
            "time, or the issue is not sent.",
            "newsletter check finds %(count)d errors in %(slug)s. Fix them before the "
            "planned time, or the issue is not sent.", len(result.errors)) % {
                "count": len(result.errors), "slug": slug}
        tell_editors(config, slug, _("%(slug)s: errors to fix before the send") % {
            "slug": slug}, [what], [str(p) for p in result.errors])
        raise_alert(store, Raised(cause, "precheck-failed", what, "critical", slug))
        outcome = "errors reported to the editors"
    else:
        try:
            lines = send_test(folder, config, None, _editors(config, folder), store)
        except NewsletterError as exc:  # the mail path is down: tried again at the next sync
            say(f"precheck:{slug}", logging.ERROR,
                "issue=%s action=precheck-not-sent reason=%s", slug, exc.message)
            raise_alert(store, Raised(cause + ":unsent", "precheck-failed", _(
                "the test copies of %(slug)s could not be sent: %(why)s") % {
                    "slug": slug, "why": exc.message}, "critical", slug))
            dispatch(store, config)
            return f"test copies not sent: {exc.message}"
        say(f"precheck:{slug}", logging.INFO, "issue=%s action=precheck-ok %s", slug,
            "; ".join(lines))
        outcome = PRECHECK_OK
    mark_prechecked(store, config, folder, planned, outcome)
    dispatch(store, config)
    return outcome
