"""When issues go out: Swedish non-working days, the send window, DST, the quarterly cadence.

Send times are written in Swedish local time. A local time that does not exist (the spring
DST gap, 02:00–03:00 on the last Sunday of March) or exists twice (the autumn fold) is refused;
a time outside the send window, on a weekend or on a non-working day is a ``send-time``
problem (a warning unless newsletter.toml makes it an error).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pipeline.config import WEEKDAYS, Config

if TYPE_CHECKING:
    from pipeline.audience.store import Store


@cache
def non_working_days(year: int) -> dict[date, str]:
    """Swedish public holidays plus the eves that are days off in practice."""
    import holidays

    days: dict[date, str] = dict(holidays.country_holidays(
        "SE", years=year, include_sundays=False, language="sv").items())
    midsummer_eve = next(date(year, 6, d) for d in range(19, 26)
                         if date(year, 6, d).weekday() == 4)
    days |= {midsummer_eve: "Midsommarafton", date(year, 12, 24): "Julafton",
             date(year, 12, 31): "Nyårsafton"}
    return days


def dst_problem(local: datetime, zone: ZoneInfo) -> str | None:
    """Why a naive local time cannot be used, if it cannot."""
    first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != local:
        return (f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks jump "
                "forward that night; choose another time")
    return (f"{local:%Y-%m-%d %H:%M} happens twice in {zone.key}: the clocks go back that "
            "night; choose another time")


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def send_time_notes(local: datetime, config: Config) -> list[str]:
    """Soft problems with a planned local send time: window, weekend, non-working day."""
    settings = config.schedule
    notes = []
    start, end = (time.fromisoformat(settings.window_start),
                  time.fromisoformat(settings.window_end))
    if not start <= local.time() <= end:
        notes.append(f"{local:%H:%M} is outside the send window "
                     f"{settings.window_start}–{settings.window_end}")
    if local.weekday() >= 5:
        notes.append(f"{local:%Y-%m-%d} is a {WEEKDAYS[local.weekday()]}")
    if name := non_working_days(local.year).get(local.date()):
        notes.append(f"{local:%Y-%m-%d} is {name}, a day off in Sweden")
    return notes


def propose(config: Config, after: date) -> datetime:
    """The next send time of the cadence strictly after ``after``, on a working day."""
    settings = config.schedule
    weekday = WEEKDAYS.index(settings.weekday)
    clock = time.fromisoformat(settings.send_time)
    for year in (after.year, after.year + 1, after.year + 2):
        for month in sorted(settings.months):
            first = date(year, month, 1)
            day = first + timedelta(days=(weekday - first.weekday()) % 7
                                    + 7 * (settings.week_of_month - 1))
            while day in non_working_days(day.year) or day.weekday() >= 5:
                day += timedelta(days=7)
            if day > after:
                return datetime.combine(day, clock)
    raise ValueError("no send date found in the cadence")


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

    import jinja2

    latest = latest_issue(config)
    per_year = len(config.schedule.months)
    if latest is None:
        year, number = today.year, 1
    else:
        year, number = (latest[0], latest[1] + 1) if latest[1] < per_year \
            else (latest[0] + 1, 1)
    month = sorted(config.schedule.months)[number - 1]
    send_at = propose(config, max(today, date(year, month, 1) - timedelta(days=1)))
    folder = config.root / config.issues_dir / f"{year}-{number}"
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    skeleton = config.templates / "new-issue"
    shutil.copytree(skeleton, folder, ignore=shutil.ignore_patterns("*.j2"))
    (folder / "images").mkdir(exist_ok=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(skeleton),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    (folder / "issue.yaml").write_text(env.get_template("issue.yaml.j2").render(
        newsletter=config, year=year, number=number,
        send_at=f"{send_at:%Y-%m-%d %H:%M}"), encoding="utf-8")
    return folder, send_at


@dataclass(frozen=True)
class PlannedSend:
    slug: str
    local: str
    utc: str
    status: str


def planned_sends(store: Store, config: Config) -> list[PlannedSend]:
    """Every issue on disk with its send time and its delivery's state."""
    from pipeline.deliver import ledger
    from pipeline.errors import IssueError
    from pipeline.issue import load_issue

    rows = []
    for folder in sorted((config.root / config.issues_dir).glob("20*-*")):
        try:
            issue = load_issue(folder, config)
        except IssueError as exc:
            rows.append(PlannedSend(folder.name, "-", "-", f"invalid ({len(exc.problems)} "
                                    "problem(s): newsletter check)"))
            continue
        local = issue.meta.send_at.replace(tzinfo=None)
        delivery = ledger.current_delivery(store, issue.slug)
        rows.append(PlannedSend(issue.slug, f"{local:%Y-%m-%d %H:%M} ({WEEKDAYS[local.weekday()]})",
                                f"{to_utc(local, config.zone):%Y-%m-%d %H:%M}",
                                delivery.state if delivery else "not scheduled"))
    return rows


def schedule_issue(store: Store, config: Config, folder: Path,
                   now: datetime | None = None) -> str:
    from pipeline.audience.models import DeliveryState
    from pipeline.deliver import ledger
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
    delivery = ledger.current_delivery(store, issue.slug)
    if delivery is None:
        delivery = ledger.create_delivery(store, issue.slug, config.delivery.transport)
    ledger.move(store, delivery.id, DeliveryState.SCHEDULED,
                allowed_from={DeliveryState.DRAFT, DeliveryState.SCHEDULED})
    return (f"{issue.slug} is scheduled for {issue.meta.send_at:%Y-%m-%d %H:%M} "
            f"{config.timezone} ({when:%Y-%m-%d %H:%M} UTC).")


def unschedule_issue(store: Store, slug: str) -> str:
    from pipeline.audience.models import DeliveryState
    from pipeline.deliver import ledger

    delivery = ledger.current_delivery(store, slug)
    if delivery is None:
        raise ledger.DeliveryError(f"{slug} is not scheduled")
    ledger.move(store, delivery.id, DeliveryState.DRAFT,
                allowed_from={DeliveryState.SCHEDULED})
    return f"{slug} is no longer scheduled (draft)."
