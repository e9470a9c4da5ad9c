"""The report for the strategy's follow-up: organisations joined over time (joins and
departures per quarter), organisations per focus area and per kind, readers per segment over
time.

Joins and departures come from the register's timestamps (``snapshots.Register``: what
"connected" and "departed" mean is said there). Counts per quarter come from the last snapshot
taken in the quarter, live or back-filled, so a focus area chosen and later dropped still
counts where it was; a quarter without one is counted from the timestamps, and the current
quarter is the register as it is now.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pipeline.audience.models import KIND_LABELS, OrganisationKind
from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.i18n import _
from pipeline.report.issue import masking_note
from pipeline.report.snapshots import (
    CONNECTED,
    UNKNOWN_KIND,
    ZONE,
    Register,
    backfill,
    load_register,
    quarter_end,
    snapshots_by_quarter,
)
from pipeline.report.tables import Cell, Chart, Report, Table, quarter_label, quarter_of, quarters

Counts = dict[tuple[str, str], int]


def strategy_report(store: Store, config: Config, at: datetime | None = None) -> Report:
    """The strategy report as of ``at`` (now); back-fills the snapshots it lacks first."""
    moment = at or now()
    backfill(store, moment)
    with store.session() as session:
        register = load_register(session)
    by_quarter = snapshots_by_quarter(store)
    current = quarter_of(moment.astimezone(ZONE).date())
    starts = [q for q in by_quarter if q <= current]
    if register.first is not None:
        starts.append(quarter_of(register.first.astimezone(ZONE).date()))
    span = quarters(min(starts), current) if starts else []
    counts: dict[tuple[int, int], Counts] = {
        q: register.counts(moment) if q == current else
        by_quarter.get(q) or register.counts(quarter_end(q)) for q in span}
    labels = {q: _("%(quarter)s (so far)") % {"quarter": quarter_label(q)} if q == current
              else quarter_label(q) for q in span}
    joins = _joins(register, span, labels, counts)
    areas = Table("fokusomraden-per-kvartal",
                  _("Connected organisations per focus area and quarter"),
                  (_("Quarter"), *(a.short.capitalize() if a.short else a.name
                                   for a in config.focus_areas)),
                  tuple((labels[q], *(counts[q].get(("focus", a.slug), 0)
                                      for a in config.focus_areas)) for q in span),
                  people=False)
    live = counts[current] if span else {}
    focus_now = Table("fokusomraden", _("Connected organisations per focus area"),
                      (_("Focus area"), _("Organisations")),
                      tuple((a.name, live.get(("focus", a.slug), 0))
                            for a in config.focus_areas), people=False,
                      note=_("An organisation may choose several focus areas, so the sum is "
                             "larger than the number of organisations."))
    kinds = Table("typer", _("Connected organisations per kind"),
                  (_("Kind of organisation"), _("Organisations")),
                  tuple((_kind_label(kind), live.get(("kind", kind), 0))
                        for kind in [*OrganisationKind, UNKNOWN_KIND]), people=False)
    readers = Table("lasare-per-kvartal", _("Readers per segment and quarter"),
                    (_("Quarter"), *(s.name for s in config.segments)),
                    tuple((labels[q], *(counts[q].get(("readers", s.slug), 0)
                                        for s in config.segments)) for q in span),
                    note=_("Confirmed subscriptions at the end of each quarter."))
    connected = live.get(("organisations", CONNECTED), 0)
    lead = (
        _("%(count)d organisations are connected to the strategy now. An organisation is "
          "connected while at least one of its contact people has a confirmed subscription to "
          "the connected actors' newsletter; it departs when the last one ends.") % {
              "count": connected},
        _("Earlier quarters are counted from the snapshots of the register taken at each send "
          "and every day, and before those from the register's dates. Focus areas and kinds "
          "are the organisations' own choices at the time of each snapshot."),
        masking_note() + " " + _("Organisations are shown exactly: which organisations have "
                                 "joined the strategy is public."))
    charts = (
        Chart("diagram-anslutningar-per-kvartal", _("Joins and departures per quarter"), joins,
              "bar", (1, 2), _("Organisations that joined and departed in each quarter; the "
                               "numbers are in the table below.")),
        Chart("diagram-anslutna-over-tid", _("Connected organisations over time"), joins, "line",
              (3,), _("Connected organisations at the end of each quarter; the numbers are in "
                      "the table below.")),
        Chart("diagram-fokusomraden", _("Connected organisations per focus area"), focus_now,
              "barh", (1,), _("Connected organisations per focus area now; the numbers are in the "
                      "table below.")),
        Chart("diagram-typer", _("Connected organisations per kind"), kinds, "barh", (1,),
              _("Connected organisations per kind now; the numbers are in the table below.")),
        Chart("diagram-lasare-per-segment", _("Readers per segment over time"), readers, "line",
              tuple(range(1, len(readers.columns))),
              _("Confirmed readers per segment at the end of each quarter; the numbers are in "
                "the table below.")),
    )
    return Report("strategy", _("Follow-up of the strategy: %(name)s") % {"name": config.name},
                  lead, (joins, areas, focus_now, kinds, readers), charts)


def _joins(register: Register, span: list[tuple[int, int]],
           labels: dict[tuple[int, int], str], counts: dict[tuple[int, int], Counts]) -> Table:
    joined: Counter[tuple[int, int]] = Counter()
    departed: Counter[tuple[int, int]] = Counter()
    for member in register.memberships:
        joined[quarter_of(member.joined.astimezone(ZONE).date())] += 1
        if member.departed is not None:
            departed[quarter_of(member.departed.astimezone(ZONE).date())] += 1
    rows: tuple[tuple[Cell, ...], ...] = tuple(
        (labels[q], joined[q], departed[q], counts[q].get(("organisations", CONNECTED), 0))
        for q in span)
    return Table("anslutningar-per-kvartal", _("Organisations joined and departed per quarter"),
                 (_("Quarter"), _("Joined"), _("Departed"), _("Connected at the end")), rows,
                 people=False)


def _kind_label(kind: str) -> str:
    if kind == UNKNOWN_KIND:
        return _("Unknown or not given")
    label = next((v for k, v in KIND_LABELS.items() if k == kind), None)
    return _(label) if label else kind
