"""``newsletter health``: is the unattended pipeline well, in one line and an exit status a
monitoring system reads (0 ok, 1 warning, 2 critical), or as JSON.

It looks at what the register knows, without sending anything: whether the scheduler is alive
(its lock's heartbeat), the next planned send and whether its approval holds, and deliveries
that are paused or have recipients in doubt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from pipeline.approval import approval_state
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver import ledger
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.i18n import _
from pipeline.schedule import JOB_PREFIX, STALE_SECONDS, SchedulerLock, plan_jobs


class Level(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2


@dataclass
class Finding:
    level: Level
    what: str


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
                "findings": [{**asdict(f), "level": f.level.name.lower()}
                             for f in self.findings]}


def check_health(store: Store, config: Config, now: datetime | None = None) -> Health:
    now = now or datetime.now(UTC)
    health = Health()
    jobs = [j for j in plan_jobs(store, config, now) if j.kind == JOB_PREFIX]
    _scheduler(store, health, bool(jobs))
    for job in jobs:
        if job.run_at is None:  # missed beyond the grace: it will not go out by itself
            health.findings.append(Finding(Level.CRITICAL, f"{job.slug}: {job.note}"))
            continue
        folder = config.root / config.issues_dir / job.slug
        if health.next_send is None:
            health.next_send = _("next send %(slug)s at %(when)s UTC") % {
                "slug": job.slug, "when": f"{job.run_at:%Y-%m-%d %H:%M}"}
        if config.approval.required and not approval_state(store, config, folder).valid:
            soon = job.run_at - now < timedelta(days=config.schedule.check_days_ahead)
            health.findings.append(Finding(
                Level.CRITICAL if soon else Level.WARNING,
                _("%(slug)s is planned for %(when)s UTC but not approved") % {
                    "slug": job.slug, "when": f"{job.run_at:%Y-%m-%d %H:%M}"}))
    for folder in sorted((config.root / config.issues_dir).glob("20*-*")):
        _delivery(store, folder.name, health)
    return health


def _scheduler(store: Store, health: Health, needed: bool) -> None:
    beat = SchedulerLock.heartbeat(store)
    age = beat[1] if beat else None
    if age is None or age > STALE_SECONDS:
        what = _("the scheduler is not running") if age is None else _(
            "the scheduler's last heartbeat was %(minutes)d minutes ago") % {
                "minutes": age // 60}
        health.findings.append(Finding(Level.CRITICAL if needed else Level.WARNING, what))


def _delivery(store: Store, slug: str, health: Health) -> None:
    delivery = ledger.current_delivery(store, slug)
    if delivery is None:
        return
    if delivery.state == DeliveryState.PAUSED:
        health.findings.append(Finding(Level.CRITICAL, _(
            "%(slug)s: delivery %(id)d is paused: %(why)s") % {
                "slug": slug, "id": delivery.id, "why": delivery.pause_reason or "-"}))
    uncertain = ledger.counts(store, delivery.id).get(EntryState.UNCERTAIN, 0)
    if uncertain:
        health.findings.append(Finding(Level.WARNING, _(
            "%(slug)s: %(count)d recipients in doubt (newsletter status %(slug)s "
            "--recipients uncertain)") % {"slug": slug, "count": uncertain}))
