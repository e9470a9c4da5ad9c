"""Time rules for send times: Swedish non-working days, the send window, DST, the cadence.

Send times are written in Swedish local time. A local time that does not exist (the spring
DST gap, 02:00–03:00 on the last Sunday of March) or exists twice (the autumn fold) is refused;
a time outside the send window, on a weekend or on a non-working day is a ``send-time``
problem (a warning unless newsletter.toml makes it an error). This module imports nothing but
the config, so loading and checking an issue never pulls in the later stages.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from pipeline.config import Config
from pipeline.i18n import _
from pipeline.settings import WEEKDAYS


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
        return _("%(time)s does not exist in %(zone)s: the clocks jump forward that night; "
                 "choose another time") % {"time": f"{local:%Y-%m-%d %H:%M}", "zone": zone.key}
    return _("%(time)s happens twice in %(zone)s: the clocks go back that night; choose "
             "another time") % {"time": f"{local:%Y-%m-%d %H:%M}", "zone": zone.key}


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def send_time_notes(local: datetime, config: Config) -> list[str]:
    """Soft problems with a planned local send time: window, weekend, non-working day."""
    settings = config.schedule
    notes = []
    start, end = (time.fromisoformat(settings.window_start),
                  time.fromisoformat(settings.window_end))
    if not start <= local.time() <= end:
        notes.append(_("%(time)s is outside the send window %(start)s–%(end)s") % {
            "time": f"{local:%H:%M}", "start": settings.window_start,
            "end": settings.window_end})
    if local.weekday() >= 5:
        notes.append((_("%(day)s is a Saturday") if local.weekday() == 5 else
                      _("%(day)s is a Sunday")) % {"day": f"{local:%Y-%m-%d}"})
    if name := non_working_days(local.year).get(local.date()):
        notes.append(_("%(day)s is %(name)s, a day off in Sweden") % {
            "day": f"{local:%Y-%m-%d}", "name": name})
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
