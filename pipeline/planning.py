"""Planning the four sends a year: ``newsletter new``, ``schedule``, ``unschedule``.

The time rules themselves (holidays, window, DST, cadence) are in ``sendtime.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import WEEKDAYS, Config
from pipeline.i18n import _
from pipeline.sendtime import propose, to_utc

if TYPE_CHECKING:
    from pipeline.audience.store import Store


def latest_issue(config: Config) -> tuple[int, int] | None:
    """(year, number) of the newest issue folder, if any."""
    import re

    found = []
    for folder in (config.root / config.issues_dir).glob("*-*"):
        if match := re.fullmatch(r"(20\d\d)-([1-9]\d?)", folder.name):
            found.append((int(match[1]), int(match[2])))
    return max(found, default=None)


def new_issue(config: Config, today: date) -> tuple[Path, datetime]:
    """Create the next issue's folder from templates/new-issue/ with a proposed send time."""
    import shutil

    from pipeline.lint import skeleton_issue_yaml

    latest = latest_issue(config)
    per_year = len(config.schedule.months)
    months = sorted(config.schedule.months)
    if latest is None:  # the first issue: named after the next send time from today on
        first = propose(config, today)
        year = first.year
        number = max([n for n, month in enumerate(months, 1) if month <= first.month] or [1])
    else:
        year, number = (latest[0], latest[1] + 1) if latest[1] < per_year \
            else (latest[0] + 1, 1)
    month = months[number - 1]
    send_at = propose(config, max(today, date(year, month, 1) - timedelta(days=1)))
    folder = config.root / config.issues_dir / f"{year}-{number}"
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    skeleton = config.templates / "new-issue"
    shutil.copytree(skeleton, folder, ignore=shutil.ignore_patterns("*.j2"))
    (folder / "images").mkdir(exist_ok=True)
    (folder / "issue.yaml").write_text(skeleton_issue_yaml(
        config, year, number, f"{send_at:%Y-%m-%d %H:%M}"), encoding="utf-8")
    return folder, send_at


@dataclass(frozen=True)
class PlannedSend:
    slug: str
    local: str
    utc: str
    status: str


def planned_sends(store: Store, config: Config) -> list[PlannedSend]:
    """Every issue on disk with its send time, its delivery's state and its approval."""
    from pipeline.approval import approval_state
    from pipeline.deliver import ledger
    from pipeline.errors import IssueError
    from pipeline.issue import load_issue
    from pipeline.lint import check_issue

    rows = []
    for folder in sorted((config.root / config.issues_dir).glob("20*-*")):
        try:
            issue = load_issue(folder, config)
        except IssueError:  # count as `newsletter check` does: errors and warnings
            found = check_issue(folder, config)
            rows.append(PlannedSend(folder.name, "-", "-", _(
                "invalid (%(errors)d error(s), %(warnings)d warning(s): newsletter check)") % {
                    "errors": len(found.errors), "warnings": len(found.warnings)}))
            continue
        local = issue.meta.send_at.replace(tzinfo=None)
        delivery = ledger.current_delivery(store, issue.slug)
        rows.append(PlannedSend(issue.slug, f"{local:%Y-%m-%d %H:%M} ({WEEKDAYS[local.weekday()]})",
                                f"{to_utc(local, config.zone):%Y-%m-%d %H:%M}",
                                f"{delivery.state if delivery else 'not scheduled'}; "
                                f"{approval_state(store, config, folder).describe()}"))
    return rows


def schedule_issue(store: Store, config: Config, folder: Path,
                   now: datetime | None = None) -> str:
    """Mark an issue scheduled if it passes `newsletter check` and its time lies ahead.

    Returns what to tell the user: check's warnings, one a line, then the scheduled line.
    """
    from pipeline.approval import approval_state
    from pipeline.deliver import ledger
    from pipeline.deliver.models import DeliveryState
    from pipeline.errors import NewsletterError
    from pipeline.lint import check_issue

    result = check_issue(folder, config)
    if result.errors or result.rendered is None:
        raise NewsletterError(f"{folder}: `newsletter check` finds {len(result.errors)} "
                              "error(s); fix them before scheduling", result.errors)
    issue = result.rendered.issue
    when = to_utc(issue.meta.send_at.replace(tzinfo=None), config.zone)
    if when <= (now or datetime.now(UTC)):
        raise NewsletterError(f"{issue.slug}: the send time {issue.meta.send_at:%Y-%m-%d %H:%M}"
                              " has passed; set a future send_at in issue.yaml")
    current = ledger.current_delivery(store, issue.slug)
    if current is not None and current.active_issue is None:
        raise NewsletterError(f"{issue.slug}: its delivery is {current.state}; it cannot be "
                              "scheduled again (newsletter send --new-delivery sends it again)")
    delivery, _ = ledger.create_delivery(store, issue.slug, config.delivery.transport)
    ledger.move(store, delivery.id, DeliveryState.SCHEDULED,
                allowed_from={DeliveryState.DRAFT, DeliveryState.SCHEDULED})
    approval = approval_state(store, config, folder)
    return "\n".join([*(str(p) for p in result.warnings),
                      f"{issue.slug} is scheduled for {issue.meta.send_at:%Y-%m-%d %H:%M} "
                      f"{config.timezone} ({when:%Y-%m-%d %H:%M} UTC); "
                      f"{approval.describe()}."])


def unschedule_issue(store: Store, slug: str) -> str:
    from pipeline.deliver import ledger
    from pipeline.deliver.models import DeliveryState

    delivery = ledger.current_delivery(store, slug)
    if delivery is None:
        raise ledger.DeliveryError(f"{slug} is not scheduled")
    ledger.move(store, delivery.id, DeliveryState.DRAFT,
                allowed_from={DeliveryState.SCHEDULED})
    return f"{slug} is no longer scheduled (draft)."
