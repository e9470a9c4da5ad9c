"""What a report is made of: tables of aggregate counts, masked where a count could single out
a person, and the labels they are read by (quarters, hours, numbers) in the active language.

A ``Table`` holds raw counts; ``cells`` is the one place they become text, so the terminal,
the CSV files, the HTML page and the charts' data tables all mask the same way: a count of
people from 1 to ``SMALLEST_SHOWN`` - 1 is "färre än 5", 0 stays 0. Counts of organisations
are not masked: which organisations joined the strategy is public, and an organisation is not
a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from pipeline.i18n import _, current_language

SMALLEST_SHOWN = 5
Cell = str | int | None  # text (a label), a count, or None: nothing to say


@dataclass(frozen=True)
class Table:
    """One table of a report: its file name (CSV), title, column headings and rows. Every
    ``int`` is a count; in a table of ``people`` a small count is masked when shown."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    people: bool = True
    note: str = ""

    def cells(self) -> list[list[str]]:
        """The rows as text, masked: what every output shows."""
        return [[show(cell, self.people) for cell in row] for row in self.rows]

    def column(self, index: int) -> list[int | None]:
        """A column's counts for a chart: None where the count is masked (not plotted)."""
        return [None if not isinstance(row[index], int) else
                None if self.people and masked(int(row[index] or 0)) else int(row[index] or 0)
                for row in self.rows]

    @property
    def has_masked(self) -> bool:
        return self.people and any(isinstance(c, int) and masked(c)
                                   for row in self.rows for c in row)


@dataclass(frozen=True)
class Chart:
    """A chart drawn from a table: ``kind`` bar (grouped), stacked or line; the series are
    the table's columns ``series`` (indexes), the categories its first column."""

    name: str
    title: str
    table: Table
    kind: str
    series: tuple[int, ...]
    summary: str = ""


@dataclass(frozen=True)
class Report:
    """A report: a title, a lead (paragraphs said first), tables and the charts drawn from
    some of them."""

    name: str
    title: str
    lead: tuple[str, ...]
    tables: tuple[Table, ...]
    charts: tuple[Chart, ...] = field(default_factory=tuple)


def masked(count: int) -> bool:
    return 0 < count < SMALLEST_SHOWN


def show(cell: Cell, people: bool = True) -> str:
    if cell is None:
        return ""
    if isinstance(cell, int):
        if people and masked(cell):
            return _("fewer than %(count)d") % {"count": SMALLEST_SHOWN}
        return number(cell)
    return cell


def number(value: float, decimals: int = 0) -> str:
    """A number as the active language writes it: 1 234 and 12,5 in Swedish."""
    text = f"{value:,.{decimals}f}"
    if current_language() == "sv":
        return text.replace(",", "\u00a0").replace(".", ",")
    return text


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def quarter_label(quarter: tuple[int, int]) -> str:
    """"2026 kv. 1" in Swedish, "2026 Q1" in English."""
    return _("%(year)d Q%(quarter)d") % {"year": quarter[0], "quarter": quarter[1]}


def quarter_start(quarter: tuple[int, int]) -> date:
    return date(quarter[0], 3 * quarter[1] - 2, 1)


def next_quarter(quarter: tuple[int, int]) -> tuple[int, int]:
    year, number_ = quarter
    return (year + 1, 1) if number_ == 4 else (year, number_ + 1)


def quarters(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    out = [first]
    while out[-1] < last:
        out.append(next_quarter(out[-1]))
    return out


def moment_label(moment: datetime, zone: ZoneInfo, hour: bool = True) -> str:
    """A moment in the board's time zone with the month's name: "16 feb. 2027 kl. 09"."""
    local = moment.astimezone(zone)
    language = current_language()
    if not hour:
        return format_datetime(local, "d MMM y", locale=language)
    return _("%(day)s at %(hour)s") % {"day": format_datetime(local, "d MMM y", locale=language),
                                       "hour": f"{local:%H}"}
