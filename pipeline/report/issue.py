"""The report on one issue's send: what became of its messages, per segment and per variant,
and the provider's events over time. ``issue_report_letter`` is the same report as a letter to
the editors, mailed ``[reports] days_after_send`` days after the send.

Sources are the send ledger (the provider's strongest word about each message, ``outcome``),
the provider's events per hour (``DeliveryEventCount``) and the subscriptions of the issue's
recipients: an unsubscribe is the issue's when the recipient's subscription to the segment the
issue went to ended as unsubscribed within ``UNSUBSCRIBE_DAYS`` after the send started.
There is no open or click tracking, and the report says so.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from pipeline.audience.models import Status, Subscription
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver.models import Delivery, EntryState, LedgerEntry
from pipeline.edition import EditionRow
from pipeline.errors import NewsletterError
from pipeline.i18n import N_, _
from pipeline.render.letters import Letter
from pipeline.report.models import DeliveryEventCount
from pipeline.report.snapshots import aware
from pipeline.report.tables import Cell, Chart, Report, Table, moment_label, show

UNSUBSCRIBE_DAYS = 30
ISSUE_SLUG = re.compile(r"^\d{4}-\d{1,2}$")
# the columns of the outcome tables: (heading, what counts)
MEASURES = (N_("Recipients"), N_("Handed over"), N_("Delivered"), N_("Deferred"),
            N_("Bounced"), N_("Dropped"), N_("Spam reports"), N_("Unsubscribed"))
EVENTS = {"processed": N_("Received by the provider"), "delivered": N_("Delivered"),
          "deferred": N_("Deferred"), "bounce": N_("Bounced"), "blocked": N_("Blocked"),
          "dropped": N_("Dropped"), "spamreport": N_("Spam reports"),
          "unsubscribe": N_("Unsubscribed"), "group_unsubscribe": N_("Unsubscribed")}
HOURS_SHOWN = 72  # a longer timeline is counted per day


def no_tracking() -> str:
    return _("This report has no opens or clicks: the newsletter is sent without open or "
             "click tracking, because the board does not track its readers. Opens would "
             "mislead anyway: Apple Mail's privacy protection fetches every image in advance, "
             "so an \"opened\" message says nothing about whether anyone read it.")


def masking_note() -> str:
    return _("Counts of people from 1 to 4 are shown as \"fewer than 5\", so that no reader "
             "can be singled out; 0 is shown as 0.")


@dataclass(frozen=True)
class Sent:
    """One recipient's row, as the report counts it: no address, no name."""

    segment: str
    variant: str
    state: str
    outcome: str | None
    unsubscribed: bool

    def measures(self) -> tuple[int, ...]:
        handed = self.state == EntryState.SENT
        return (1, int(handed), int(self.outcome in ("delivered", "spamreport")),
                int(self.outcome == "deferred"), int(self.outcome in ("bounce", "blocked")),
                int(self.outcome == "dropped"), int(self.outcome == "spamreport"),
                int(handed and self.unsubscribed))


def issue_slug(text: str) -> str:
    """The slug of ``2027-1`` or ``issues/2027-1``; a clear error for anything else."""
    slug = text.rstrip("/").rsplit("/", 1)[-1]
    if not ISSUE_SLUG.match(slug):
        raise NewsletterError(_("'%(issue)s' is not an issue: give one as YEAR-NUMBER, e.g. "
                                "2027-1, or 'strategy'") % {"issue": text})
    return slug


def issue_report(store: Store, config: Config, slug: str) -> Report:
    """The report on every delivery of the issue that has been sent (its first send and any
    sends to readers confirmed since)."""
    with store.session() as session:
        deliveries = list(session.scalars(select(Delivery).where(
            Delivery.issue == slug, Delivery.frozen_at.is_not(None)).order_by(Delivery.id)))
        if not deliveries:
            raise NewsletterError(_("%(issue)s has not been sent, so there is nothing to report "
                                    "on yet") % {"issue": slug})
        starts = {d.id: aware(d.frozen_at) for d in deliveries if d.frozen_at is not None}
        rows = _recipients(session, starts)
        events = [(d, aware(h), e, n) for d, h, e, n in session.execute(select(
            DeliveryEventCount.delivery_id, DeliveryEventCount.hour, DeliveryEventCount.event,
            DeliveryEventCount.count).where(DeliveryEventCount.delivery_id.in_(list(starts))))]
        manifest = _manifest(session, deliveries[-1].edition_id)
    title = str(manifest.get("meta", {}).get("title", ""))
    segments = _table("utfall-per-segment", _("Outcome per segment"), rows,
                      lambda r: config_segment_name(config, r.segment), total=True)
    variants = _table("utfall-per-variant", _("Outcome per variant"), rows,
                      lambda r: _variant_label(config, manifest, r.variant))
    timeline = _timeline(events, config, min(starts.values()))
    totals = segments.rows[-1]
    lead = (
        _("Sent %(when)s: %(recipients)s recipients, %(handed)s handed over to the provider, "
          "%(delivered)s delivered, %(bounced)s bounced and %(unsubscribed)s unsubscribed within "
          "%(days)d days.") % {
              "when": moment_label(min(starts.values()), config.zone, hour=False),
              "recipients": show(totals[1]), "handed": show(totals[2]),
              "delivered": show(totals[3]), "bounced": show(totals[5]),
              "unsubscribed": show(totals[8]), "days": UNSUBSCRIBE_DAYS},
        no_tracking(), masking_note())
    charts = [Chart("diagram-utfall-per-segment", _("Outcome per segment"), segments, "bar",
                    (3, 4, 5, 6), _("Delivered, deferred, bounced and dropped messages per "
                                    "segment; the numbers are in the table below."))]
    if timeline.rows:
        charts.append(Chart("diagram-handelser-over-tid", _("The provider's events over time"),
                            timeline, "line", tuple(range(1, len(timeline.columns))),
                            _("The provider's events per hour (or per day) after the send; "
                              "the numbers are in the table below.")))
    heading = _("Report on issue %(issue)s") % {"issue": slug}
    return Report(f"report-{slug}", f"{heading}: {title}" if title else heading, lead,
                  (segments, variants, timeline), tuple(charts))


def config_segment_name(config: Config, slug: str) -> str:
    return next((s.name for s in config.segments if s.slug == slug), slug)


def _recipients(session: Any, starts: dict[int, datetime]) -> list[Sent]:
    entries = session.execute(select(
        LedgerEntry.delivery_id, LedgerEntry.subscriber_id, LedgerEntry.segment,
        LedgerEntry.variant, LedgerEntry.state, LedgerEntry.outcome).where(
        LedgerEntry.delivery_id.in_(list(starts)))).all()
    left: dict[tuple[int, str], datetime] = {
        (subscriber, segment): aware(when) for subscriber, segment, when in session.execute(
            select(Subscription.subscriber_id, Subscription.segment,
                   Subscription.status_changed_at).where(
                Subscription.status == Status.UNSUBSCRIBED,
                Subscription.status_changed_at >= min(starts.values())))}
    window = timedelta(days=UNSUBSCRIBE_DAYS)
    out = []
    for delivery, subscriber, segment, variant, state, outcome in entries:
        when = left.get((subscriber, segment))
        start = starts[delivery]
        out.append(Sent(segment, variant, state, outcome,
                        when is not None and start <= when <= start + window))
    return out


def _table(name: str, title: str, rows: list[Sent], label: Any, total: bool = False) -> Table:
    sums: dict[str, list[int]] = {}
    for row in rows:
        counts = sums.setdefault(label(row), [0] * len(MEASURES))
        for index, value in enumerate(row.measures()):
            counts[index] += value
    body: list[tuple[str | int | None, ...]] = [(key, *values) for key, values in sums.items()]
    body.sort(key=lambda r: str(r[0]))
    if total:
        body.append((_("Total"), *[sum(r.measures()[i] for r in rows)
                                   for i in range(len(MEASURES))]))
    heading = _("Segment") if name.endswith("segment") else _("Variant")
    return Table(name, title, (heading, *(_(m) for m in MEASURES)), tuple(body))


def _timeline(events: list[tuple[int, datetime, str, int]], config: Config,
              start: datetime) -> Table:
    kinds = [kind for kind in EVENTS if any(e == kind for _d, _h, e, _n in events)]
    labels = list(dict.fromkeys(_(EVENTS[kind]) for kind in kinds))
    span = max((h for _d, h, _e, _n in events), default=start) - \
        min((h for _d, h, _e, _n in events), default=start)
    daily = span > timedelta(hours=HOURS_SHOWN)
    buckets: dict[datetime, Counter[str]] = {}
    for _delivery, hour, event, count in events:
        local = hour.astimezone(config.zone)
        key = local.replace(hour=0) if daily else local
        buckets.setdefault(key, Counter())[_(EVENTS.get(event, event))] += count
    rows: tuple[tuple[Cell, ...], ...] = tuple((moment_label(moment, config.zone,
                                                            hour=not daily),
                  *(buckets[moment][label] for label in labels))
                 for moment in sorted(buckets))
    return Table("handelser-over-tid", _("The provider's events per day") if daily
                 else _("The provider's events per hour"),
                 (_("Day") if daily else _("Hour"), *labels), rows,
                 note=_("No events from the provider: the issue was sent through a transport "
                        "that reports none (SMTP or the outbox).") if not rows else "")


def _manifest(session: Any, edition_id: int | None) -> dict[str, Any]:
    text = session.scalar(select(EditionRow.manifest).where(EditionRow.id == edition_id)) \
        if edition_id is not None else None
    return dict(json.loads(text)) if text else {}


def _variant_label(config: Config, manifest: dict[str, Any], variant: str) -> str:
    """The variant as editors name it: "Anslutna aktörer · hälsa, våld"."""
    segment, *sections = variant.split("+")
    name = config_segment_name(config, segment)
    focus = manifest.get("focus", {}).get(segment)
    if focus is None:  # no edition to read the focus areas from: the sections' ids
        return " · ".join([name, ", ".join(sections)]) if sections else name
    covered = {area for section, areas in focus if section in sections for area in areas}
    areas = [a.short or a.name for a in config.focus_areas if a.slug in covered]
    return f"{name} · " + (", ".join(areas) if areas else _("no focus of its own"))


def issue_report_letter(config: Config, store: Store, slug: str) -> Letter:
    """The issue's report as a letter to the editors (what the scheduler mails)."""
    from pipeline.deliver.notify import editors_letter

    report = issue_report(store, config, slug)
    segments = report.tables[0]
    lines = [f"{row[0]}: " + ", ".join(f"{heading.lower()} {cell}" for heading, cell in
                                       zip(segments.columns[1:], row[1:], strict=True))
             for row in segments.cells()]
    return editors_letter(config, report.title, [
        *report.lead,
        _("Per segment (the whole report, with charts: newsletter report %(issue)s --html "
          "DIR):") % {"issue": slug}], lines)
