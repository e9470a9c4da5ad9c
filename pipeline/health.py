"""``newsletter health``: is the unattended pipeline well, in one line and an exit status a
monitoring system reads (0 ok, 1 warning, 2 critical), or as JSON.

It looks at what the register knows, without sending anything: whether the scheduler is alive
(its lock's heartbeat), the next planned send and whether its approval holds, deliveries that
are paused (and whether they resume by themselves), recipients in doubt, bounce and complaint
rates over ``[alerts]``'s thresholds, and alerts no channel has taken. The scheduler raises an
alert for each finding that has a ``cause`` (``alerts.py``), once per cause.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from pipeline.alerts import Raised, pending
from pipeline.approval import approval_state
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import Delivery, DeliveryState, EntryState
from pipeline.i18n import _
from pipeline.schedule import JOB_PREFIX, STOPPED, PlannedJob, plan_jobs, retry_until
from pipeline.scheduler import STALE_SECONDS, SchedulerLock

RATES_FOR = timedelta(days=14)  # a delivery's bounce and complaint rates are watched this long


class Level(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2


@dataclass
class Finding:
    level: Level
    what: str
    kind: str = ""               # what an alert calls it: missed, paused, retrying…
    cause: str | None = None     # one occurrence of the problem; None: no alert
    issue: str | None = None

    def alert(self) -> Raised | None:
        if self.cause is None:
            return None
        return Raised(self.cause, self.kind, self.what, self.level.name.lower(), self.issue)


@dataclass
class Health:
    findings: list[Finding] = field(default_factory=list)
    next_send: str | None = None

    @property
    def level(self) -> Level:
        return max((f.level for f in self.findings), default=Level.OK)

    def summary(self) -> str:
        worst = [f.what for f in self.findings if f.level == self.level and f.level]
        word = {Level.OK: "OK", Level.WARNING: "WARNING", Level.CRITICAL: "CRITICAL"}[self.level]
        return f"{word}: " + ("; ".join(worst) if worst else self.next_send or _("nothing planned"))

    def as_dict(self) -> dict[str, object]:
        return {"status": self.level.name.lower(), "summary": self.summary(),
                "next_send": self.next_send,
                "findings": [{"level": f.level.name.lower(), "what": f.what, "kind": f.kind,
                              "issue": f.issue} for f in self.findings]}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def check_health(store: Store, config: Config, now: datetime | None = None,
                 planned: list[PlannedJob] | None = None, scheduler: bool = False) -> Health:
    """``planned``: the scheduler's plan, when it has just made one; ``scheduler``: asked by
    the scheduler itself, which is alive."""
    now = now or datetime.now(UTC)
    health = Health()
    sends = [j for j in (planned if planned is not None else plan_jobs(store, config, now))
             if j.kind == JOB_PREFIX]
    if not scheduler:
        _scheduler(store, health, bool(sends))
    for job in (j for j in sends if not j.resuming):
        if job.run_at is None:  # unreadable, or missed beyond the grace: it will not go out
            kind = "unreadable" if job.note.startswith("not scheduled") else "missed"
            health.findings.append(Finding(Level.CRITICAL, f"{job.slug}: {job.note}", kind,
                                           f"{kind}:{job.slug}:{_digest(job.note)}", job.slug))
            continue
        if health.next_send is None:
            health.next_send = _("next send %(slug)s at %(when)s UTC") % {
                "slug": job.slug, "when": f"{job.run_at:%Y-%m-%d %H:%M}"}
        _approval(store, config, job, now, health)
    for folder in sorted((config.root / config.issues_dir).glob("20*-*")):
        _delivery(store, config, folder.name, now, health)
    if left := pending(store):
        health.findings.append(Finding(Level.WARNING, _(
            "%(count)d alert(s) not delivered: see the scheduler's journal") % {"count": left}))
    return health


def _approval(store: Store, config: Config, job: PlannedJob, now: datetime,
              health: Health) -> None:
    assert job.run_at is not None
    if not config.approval.required:
        return
    state = approval_state(store, config, config.root / config.issues_dir / job.slug)
    if state.valid:
        return
    soon = job.run_at - now < timedelta(days=config.schedule.check_days_ahead)
    level = Level.CRITICAL if soon else Level.WARNING
    when = {"slug": job.slug, "when": f"{job.run_at:%Y-%m-%d %H:%M}"}
    if state.edition is not None:  # approved, then edited
        health.findings.append(Finding(level, _(
            "%(slug)s is planned for %(when)s UTC but its approval no longer holds: %(files)s "
            "changed since; approve it again") % {**when, "files": ", ".join(state.changed)},
            "approval-voided", f"voided:{job.slug}:{state.edition.digest[:16]}:{level.name}",
            job.slug))
    else:
        health.findings.append(Finding(level, _(
            "%(slug)s is planned for %(when)s UTC but not approved") % when, "not-approved",
            f"unapproved:{job.slug}:{job.run_at:%Y%m%d%H%M}:{level.name}", job.slug))


def _scheduler(store: Store, health: Health, needed: bool) -> None:
    beat = SchedulerLock.heartbeat(store)
    age = beat[1] if beat else None
    if age is None or age > STALE_SECONDS:
        what = _("the scheduler is not running") if age is None else _(
            "the scheduler's last heartbeat was %(minutes)d minutes ago") % {
                "minutes": age // 60}
        health.findings.append(Finding(Level.CRITICAL if needed else Level.WARNING, what))


def _delivery(store: Store, config: Config, slug: str, now: datetime, health: Health) -> None:
    delivery = deliveries.current_delivery(store, slug)
    if delivery is None:
        return
    if delivery.state == DeliveryState.PAUSED:
        _paused(config, delivery, now, health)
    uncertain = ledger.counts(store, delivery.id).get(EntryState.UNCERTAIN, 0)
    if uncertain:
        health.findings.append(Finding(Level.WARNING, _(
            "%(slug)s: %(count)d recipients in doubt (newsletter status %(slug)s "
            "--recipients uncertain)") % {"slug": slug, "count": uncertain}, "uncertain",
            f"uncertain:{delivery.id}", slug))
    if delivery.finished_at is None or now - _utc(delivery.finished_at) < RATES_FOR:
        _rates(store, config, delivery, health)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _paused(config: Config, delivery: Delivery, now: datetime, health: Health) -> None:
    facts = {"slug": delivery.issue, "id": delivery.id, "why": delivery.pause_reason or "-"}
    if delivery.pause_reason == STOPPED:  # the scheduler resumes it when it runs
        health.findings.append(Finding(Level.WARNING, _(
            "%(slug)s: delivery %(id)d is paused: %(why)s") % facts))
        return
    until = retry_until(delivery, config)
    if until is not None and delivery.retry_at is not None and now < until:
        health.findings.append(Finding(Level.WARNING, _(
            "%(slug)s: delivery %(id)d is paused by a temporary fault (%(why)s); the scheduler "
            "tries again by itself until %(until)s UTC") % {
                **facts, "until": f"{until:%Y-%m-%d %H:%M}"},
            "retrying", f"retrying:{delivery.id}:{_utc(delivery.fault_since or now):%s}",
            delivery.issue))
    elif until is not None and delivery.retry_at is not None:
        health.findings.append(Finding(Level.CRITICAL, _(
            "%(slug)s: delivery %(id)d is still paused after %(hours)s hours of tries "
            "(%(why)s); resume it by hand when the fault is mended") % {
                **facts, "hours": f"{config.schedule.retry_hours:g}"},
            "gave-up", f"gave-up:{delivery.id}:{_utc(delivery.fault_since or now):%s}",
            delivery.issue))
    else:
        health.findings.append(Finding(Level.CRITICAL, _(
            "%(slug)s: delivery %(id)d is paused: %(why)s") % facts, "paused",
            f"paused:{delivery.id}:{_digest(delivery.pause_reason or '')}", delivery.issue))


def _rates(store: Store, config: Config, delivery: Delivery, health: Health) -> None:
    sent = ledger.counts(store, delivery.id)[EntryState.SENT]
    if sent < config.alerts.min_sent:
        return
    outcomes = ledger.outcomes(store, delivery.id)
    for kind, count, limit in (
            ("bounces", outcomes.get("bounce", 0) + outcomes.get("blocked", 0),
             config.alerts.bounce_rate),
            ("complaints", outcomes.get("spamreport", 0), config.alerts.complaint_rate)):
        if count / sent > limit:
            words = {"bounces": _("bounced"), "complaints": _("were reported as spam")}
            health.findings.append(Finding(Level.WARNING, _(
                "%(slug)s: %(count)d of %(sent)d messages of delivery %(id)d %(what)s, more "
                "than %(limit)s %%") % {
                    "slug": delivery.issue, "count": count, "sent": sent, "id": delivery.id,
                    "what": words[kind], "limit": f"{limit * 100:g}"},
                kind, f"{kind}:{delivery.id}", delivery.issue))
