"""Planning the four sends a year: ``newsletter new``, ``schedule``, ``unschedule``.

The time rules themselves (holidays, window, DST, cadence) are in ``sendtime.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import Config
from pipeline.i18n import _
from pipeline.sendtime import propose, to_utc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipeline.audience.store import Store
    from pipeline.issue import Issue, Section
    from pipeline.lint import CheckResult


def latest_issue(config: Config) -> tuple[int, int] | None:
    """(year, number) of the newest issue folder, if any."""
    import re

    found = []
    for folder in (config.root / config.issues_dir).glob("*-*"):
        if match := re.fullmatch(r"(20\d\d)-([1-9]\d?)", folder.name):
            found.append((int(match[1]), int(match[2])))
    return max(found, default=None)


def new_issue(config: Config, today: date, recurring: Sequence[Section] = ()
               ) -> tuple[Path, datetime]:
    """Create the next issue's folder from templates/new-issue/ with a proposed send time,
    and copies of the ``recurring`` sections of an earlier issue (with their images)."""
    import shutil

    from pipeline.skeleton import skeleton_issue_yaml

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
        raise FileExistsError(str(folder))
    skeleton = config.templates / "new-issue"
    shutil.copytree(skeleton, folder, ignore=shutil.ignore_patterns("*.j2"))
    (folder / "images").mkdir(exist_ok=True)
    copied = [_copy_section(section, folder) for section in recurring
              if not (folder / section.path.name).exists()]
    (folder / "issue.yaml").write_text(skeleton_issue_yaml(
        config, year, number, f"{send_at:%Y-%m-%d %H:%M}", copied), encoding="utf-8")
    return folder, send_at


def recurring_sections(issue: Issue) -> list[Section]:
    """The sections marked ``recurring: true``, which `newsletter new --from` copies."""
    return [section for section in issue.sections if section.front.recurring]


def _copy_section(section: Section, folder: Path) -> str:
    """Copy a section and the images in its folder it shows; its file name."""
    import shutil

    from pipeline.render.markdown import render_markdown
    from pipeline.source import unsafe_path

    source = section.path.parent
    shown = [image.src for image in render_markdown(section.body).images]
    shown += [section.front.image.src] if section.front.image else []
    for name in sorted(set(shown)):
        if "://" not in name and unsafe_path(source, name) is None and (source / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, folder / name)
    shutil.copy2(section.path, folder / section.path.name)
    return section.path.name


def weekday(when: date) -> str:
    """The day of the week, in the language messages speak."""
    return (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"),
            _("Saturday"), _("Sunday"))[when.weekday()]


@dataclass(frozen=True)
class PlannedSend:
    slug: str
    local: str
    utc: str
    status: str


def planned_sends(store: Store, config: Config) -> list[PlannedSend]:
    """Every issue on disk with its send time, its delivery's state and its approval."""
    from pipeline.approval import approval_state
    from pipeline.deliver import deliveries
    from pipeline.deliver.models import state_word
    from pipeline.errors import IssueError
    from pipeline.issue import load_issue
    from pipeline.lint import check_issue

    rows = []
    for folder in sorted((config.root / config.issues_dir).glob("20*-*")):
        try:
            issue = load_issue(folder, config)
        except IssueError:  # count as `newsletter check` does: errors and warnings
            rows.append(PlannedSend(folder.name, "-", "-", _invalid(check_issue(folder, config))))
            continue
        local = issue.meta.send_at.replace(tzinfo=None)
        delivery = deliveries.current_delivery(store, issue.slug)
        state = state_word(delivery.state) if delivery else _("not scheduled")
        if delivery is None or delivery.state not in ("finished", "cancelled"):
            result = check_issue(folder, config)  # still to send: would it pass?
            state = _invalid(result) if result.errors else state
        rows.append(PlannedSend(issue.slug, f"{local:%Y-%m-%d %H:%M} ({weekday(local)})",
                                f"{to_utc(local, config.zone):%Y-%m-%d %H:%M}",
                                f"{state}; {approval_state(store, config, folder).describe()}"))
    return rows


def _invalid(result: CheckResult) -> str:
    return _("invalid (%(counts)s: newsletter check)") % {"counts": result.counts()}


def schedule_issue(store: Store, config: Config, folder: Path,
                   now: datetime | None = None) -> str:
    """Mark an issue scheduled if it passes `newsletter check` and its time lies ahead.

    Returns what to tell the user: check's warnings, one a line, then the scheduled line.
    """
    from pipeline.approval import approval_state
    from pipeline.deliver import deliveries
    from pipeline.deliver.models import DeliveryState, state_word
    from pipeline.errors import NewsletterError
    from pipeline.lint import check_issue

    result = check_issue(folder, config)
    if result.errors or result.rendered is None:
        raise NewsletterError(_("%(folder)s: `newsletter check` finds %(count)d error(s); "
                                "fix them before scheduling") % {
                                    "folder": folder, "count": len(result.errors)},
                              result.errors)
    issue = result.rendered.issue
    when = to_utc(issue.meta.send_at.replace(tzinfo=None), config.zone)
    if when <= (now or datetime.now(UTC)):
        raise NewsletterError(_("%(issue)s: the send time %(time)s has passed; set a future "
                                "send_at in issue.yaml") % {
                                    "issue": issue.slug,
                                    "time": f"{issue.meta.send_at:%Y-%m-%d %H:%M}"})
    current = deliveries.current_delivery(store, issue.slug)
    if current is not None and current.active_issue is None:
        raise NewsletterError(_("%(issue)s: its delivery is %(state)s; it cannot be scheduled "
                                "again (newsletter send --new-delivery sends it again)") % {
                                    "issue": issue.slug, "state": state_word(current.state)})
    delivery, _new = deliveries.create_delivery(store, issue.slug, config.delivery.transport)
    deliveries.move(store, delivery.id, DeliveryState.SCHEDULED,
                allowed_from={DeliveryState.DRAFT, DeliveryState.SCHEDULED})
    approval = approval_state(store, config, folder)
    return "\n".join([*(str(p) for p in result.warnings), _(
        "%(issue)s is scheduled for %(local)s %(zone)s (%(utc)s UTC); %(approval)s.") % {
            "issue": issue.slug, "local": f"{issue.meta.send_at:%Y-%m-%d %H:%M}",
            "zone": config.timezone, "utc": f"{when:%Y-%m-%d %H:%M}",
            "approval": approval.describe()}])


def unschedule_issue(store: Store, slug: str) -> str:
    from pipeline.deliver import deliveries
    from pipeline.deliver.models import DeliveryState

    delivery = deliveries.current_delivery(store, slug)
    if delivery is None:
        raise deliveries.DeliveryError(_("%(issue)s is not scheduled") % {"issue": slug})
    deliveries.move(store, delivery.id, DeliveryState.DRAFT,
                allowed_from={DeliveryState.SCHEDULED})
    return _("%(issue)s is no longer scheduled (draft).") % {"issue": slug}
