"""The reports against a register built by hand, with numbers known in advance: an issue's send
(ledger outcomes from the provider's events, unsubscribes within and after 30 days, per segment
and variant, the timeline, replays not counted twice) and the strategy (joins and departures
per quarter, organisations per focus area and kind, readers per segment), the masking of small
counts in every output, the CSV files and the command line."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pipeline.audience.models import Organisation, OrganisationFocus, Subscriber, Subscription
from pipeline.audience.store import Store
from pipeline.cli import main
from pipeline.config import Config
from pipeline.deliver.events import apply_events
from pipeline.deliver.models import Delivery, LedgerEntry
from pipeline.i18n import use_language
from pipeline.report.issue import issue_report
from pipeline.report.models import DeliveryEventCount, Snapshot
from pipeline.report.output import write_csv
from pipeline.report.snapshots import backfill, take_snapshot
from pipeline.report.strategy import strategy_report
from tests.conftest import ROOT

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)   # "now" for the strategy report: 2026 Q4
SENT = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)    # the issue's send (09:00 Swedish time)
T0 = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
NUMBERS = itertools.count(1)


class Builder:
    """Adds organisations, readers and a delivery to the register with given timestamps."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def reader(self, session, segment: str, confirmed: datetime | None, status: str = "confirmed",
               changed: datetime | None = None, organisation: int | None = None) -> Subscriber:
        email = f"person{next(NUMBERS)}@example.se"
        person = Subscriber(email=email, email_key=email, email_hash=self.store.email_hash(email),
                            organisation_id=organisation, created_at=confirmed or T0,
                            updated_at=confirmed or T0)
        session.add(person)
        session.flush()
        session.add(Subscription(subscriber_id=person.id, segment=segment, status=status,
                                 legal_basis="public_task", source="test",
                                 created_at=confirmed or T0, confirmed_at=confirmed,
                                 status_changed_at=changed or confirmed or T0))
        return person

    def organisation(self, session, name: str, kind: str | None, focus: list[str],
                     joined: date, contacts: list[tuple[str, datetime | None]]) -> None:
        """``contacts``: (status, when it changed) of each contact's connected subscription,
        confirmed on the day the organisation joined."""
        found = Organisation(name=name, name_key=name.lower(), kind=kind, joined_on=joined,
                             created_at=T0)
        session.add(found)
        session.flush()
        session.add_all(OrganisationFocus(organisation_id=found.id, focus=f) for f in focus)
        start = datetime.combine(joined, datetime.min.time(), UTC) + timedelta(hours=10)
        for status, changed in contacts:
            self.reader(session, "connected", None if status == "pending" else start, status,
                        changed, found.id)


def strategy_register(store: Store) -> None:
    """Six organisations: joins 2 in Q1, 1 in Q2, 2 in Q3 (one never confirmed); departures 1
    in Q2 and 1 in Q3. Readers of the general segment: 3 from Q1, 9 more from Q3."""
    build = Builder(store)
    with store.session() as session, session.begin():
        build.organisation(session, "Västerås stad", "kommun", ["makt", "halsa"],
                           date(2026, 1, 15), [("confirmed", None)])
        build.organisation(session, "Region Västmanland", "region", ["halsa"],
                           date(2026, 2, 10),
                           [("unsubscribed", datetime(2026, 5, 20, 8, tzinfo=UTC))])
        build.organisation(session, "Företaget AB", "foretag", ["vald"], date(2026, 4, 3),
                           [("unsubscribed", datetime(2026, 8, 1, 8, tzinfo=UTC)),
                            ("confirmed", None)])
        build.organisation(session, "Utan typ", None, ["makt"], date(2026, 7, 1),
                           [("confirmed", None)])
        build.organisation(session, "Föreningen", "forening", [], date(2026, 8, 15),
                           [("bounced", datetime(2026, 9, 30, 8, tzinfo=UTC))])
        build.organisation(session, "Aldrig bekräftad", "kommun", ["omsorg"],
                           date(2026, 8, 20), [("pending", None)])
        for n in range(12):
            build.reader(session, "general", datetime(2026, 2 if n < 3 else 8, 1, tzinfo=UTC))


def test_strategy_counts_joins_departures_and_areas_per_quarter(store: Store,
                                                                config: Config) -> None:
    strategy_register(store)
    use_language("sv")
    report = strategy_report(store, config, AT)
    tables = {t.name: t for t in report.tables}
    assert tables["anslutningar-per-kvartal"].rows == (
        ("2026 kv. 1", 2, 0, 2), ("2026 kv. 2", 1, 1, 2), ("2026 kv. 3", 2, 1, 3),
        ("2026 kv. 4 (hittills)", 0, 0, 3))
    areas = tables["fokusomraden-per-kvartal"]
    assert areas.columns[:3] == ("Kvartal", "Makt", "Ekonomi")
    by_area = {row[0]: dict(zip(areas.columns[1:], row[1:], strict=True)) for row in areas.rows}
    assert by_area["2026 kv. 1"] == {"Makt": 1, "Ekonomi": 0, "Utbildning": 0, "Omsorg": 0,
                                     "Hälsa": 2, "Våld": 0}
    assert by_area["2026 kv. 2"] | {} == {"Makt": 1, "Ekonomi": 0, "Utbildning": 0,
                                          "Omsorg": 0, "Hälsa": 1, "Våld": 1}
    assert by_area["2026 kv. 3"]["Makt"] == 2 and by_area["2026 kv. 3"]["Omsorg"] == 0
    kinds = dict(tables["typer"].rows)
    assert kinds == {"Kommun": 1, "Region": 0, "Myndighet": 0, "Företag": 1, "Förening": 0,
                     "Annan": 0, "Okänd eller ej angiven": 1}
    # organisations are shown exactly; readers (people) are masked under 5
    assert tables["typer"].cells()[0] == ["Kommun", "1"]
    readers = tables["lasare-per-kvartal"]
    assert [row[2] for row in readers.cells()] == ["färre än 5", "färre än 5", "12", "12"]
    assert readers.cells()[0][1] == "färre än 5"  # 1 connected contact in Q1 … masked too
    # the back-filled history was stored once: quarter ends of Q1–Q3, not again on a rerun
    with store.session() as session:
        assert len(list(session.scalars(select(Snapshot)))) == 3
    strategy_report(store, config, AT)
    assert backfill(store, AT) == 0


def test_snapshots_keep_what_timestamps_cannot(store: Store, config: Config) -> None:
    """A live snapshot in Q3 keeps the focus areas then; the report uses it after a change."""
    strategy_register(store)
    take_snapshot(store, "daily", datetime(2026, 9, 15, tzinfo=UTC))
    with store.session() as session, session.begin():
        for row in session.scalars(select(OrganisationFocus).where(
                OrganisationFocus.focus == "makt")):
            row.focus = "ekonomi"  # both makt organisations changed their minds in Q4
    report = strategy_report(store, config, AT)
    areas = {row[0]: row for row in report.tables[1].rows}
    assert areas["2026 Q3"][1:3] == (2, 0)         # makt, ekonomi as the snapshot saw them
    assert areas["2026 Q4 (so far)"][1:3] == (0, 2)
    with store.session() as session:  # back-filled only before the first live snapshot
        reasons = sorted(s.reason for s in session.scalars(select(Snapshot)))
    assert reasons == ["backfill", "backfill", "daily"]


def sent_issue(store: Store) -> int:
    """Delivery of 2026-3 to 30 general readers and 6 connected contacts (two variants);
    returns its id. Unsubscribed: 6 general within 30 days, 2 after, 1 connected within."""
    build = Builder(store)
    with store.session() as session, session.begin():
        delivery = Delivery(issue="2026-3", state="finished", transport="sendgrid",
                            created_at=SENT, frozen_at=SENT, finished_at=SENT)
        session.add(delivery)
        session.flush()
        for n in range(36):
            segment = "general" if n < 30 else "connected"
            left = SENT + timedelta(days=5) if n < 6 or n == 35 else \
                SENT + timedelta(days=45) if n < 8 else None
            person = build.reader(session, segment, T0, "unsubscribed" if left else "confirmed",
                                  left)
            session.add(LedgerEntry(
                delivery_id=delivery.id, subscriber_id=person.id, email=person.email,
                segment=segment, variant="general" if segment == "general" else
                ("connected+02-bild" if n < 33 else "connected"),
                state="failed" if n in (28, 29) else "sent", attempts=1, updated_at=SENT))
        return delivery.id


def events_for(store: Store, delivery: int) -> list[dict[str, object]]:
    with store.session() as session:
        rows = list(session.execute(select(LedgerEntry.id, LedgerEntry.email).where(
            LedgerEntry.delivery_id == delivery).order_by(LedgerEntry.id)))
    hour = int(SENT.timestamp())

    def event(n: int, kind: str, later: int = 0) -> dict[str, object]:
        entry, email = rows[n]
        return {"event": kind, "email": email, "timestamp": hour + 600 + later,
                "sg_event_id": f"{kind}-{n}", "delivery": str(delivery), "entry": str(entry)}

    out = [event(n, "processed") for n in range(28)] + \
        [event(n, "delivered", 3600) for n in [*range(22), *range(30, 36)]]
    out += [event(n, "bounce", 3600) for n in (22, 23, 24)]
    out += [event(25, "deferred", 7200), event(26, "dropped", 7200)]
    out += [event(27, "delivered", 7200), event(27, "spamreport", 7300)]
    return out


def test_issue_report_counts_outcomes_and_unsubscribes(store: Store, config: Config) -> None:
    delivery = sent_issue(store)
    apply_events(store, events_for(store, delivery))
    report = issue_report(store, config, "2026-3")
    segments = {row[0]: row[1:] for row in report.tables[0].rows}
    # recipients, handed over, delivered, deferred, bounced, dropped, spam, unsubscribed
    assert segments["Prenumeranter"] == (30, 28, 23, 1, 3, 1, 1, 6)
    assert segments["Anslutna aktörer"] == (6, 6, 6, 0, 0, 0, 0, 1)
    assert segments["Total"] == (36, 34, 29, 1, 3, 1, 1, 7)
    variants = {row[0]: row[1] for row in report.tables[1].rows}
    assert variants == {"Prenumeranter": 30, "Anslutna aktörer": 3,
                        "Anslutna aktörer · 02-bild": 3}
    timeline = report.tables[2]
    assert timeline.columns == ("Hour", "Received by the provider", "Delivered", "Deferred",
                                "Bounced", "Dropped", "Spam reports")
    assert [row[1:] for row in timeline.rows] == [(28, 0, 0, 0, 0, 0), (0, 28, 0, 3, 0, 0),
                                                  (0, 1, 1, 0, 1, 1)]
    assert timeline.rows[0][0] == "1 Sep 2026 at 09"  # the board's time zone
    use_language("sv")
    cells = issue_report(store, config, "2026-3").tables[0].cells()
    assert cells[0] == ["Anslutna aktörer", "6", "6", "6", "0", "0", "0", "0", "färre än 5"]
    assert "inga öppningar" in " ".join(issue_report(store, config, "2026-3").lead).lower()


def test_events_posted_twice_do_not_double_the_timeline(store: Store, config: Config) -> None:
    delivery = sent_issue(store)
    events = events_for(store, delivery)
    apply_events(store, events[:40])
    apply_events(store, events)          # SendGrid retries: the first 40 again, with the rest
    apply_events(store, events[::-1])    # and everything once more, in another order
    with store.session() as session:
        total = sum(session.scalars(select(DeliveryEventCount.count)))
    assert total == len(events)


def test_masking_reaches_the_csv_files(store: Store, config: Config, tmp_path: Path) -> None:
    delivery = sent_issue(store)
    apply_events(store, events_for(store, delivery))
    use_language("sv")
    files = write_csv(issue_report(store, config, "2026-3"), tmp_path)
    assert [f.name for f in files] == ["utfall-per-segment.csv", "utfall-per-variant.csv",
                                       "handelser-over-tid.csv"]
    raw = files[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # what Swedish Excel opens
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:3] == ["Segment", "Mottagare", "Överlämnade"]
    assert rows[1] == ["Anslutna aktörer", "6", "6", "6", "0", "0", "0", "0", "färre än 5"]


def test_a_formula_like_label_is_neutralised(tmp_path: Path) -> None:
    from pipeline.report.tables import Report, Table

    table = Table("t", "T", ("=cmd", "n"), (("@SUM(A1)", 7),), people=False)
    write_csv(Report("r", "R", (), (table,)), tmp_path)
    text = (tmp_path / "t.csv").read_bytes().decode("utf-8-sig")
    assert text == "'=cmd;n\r\n'@SUM(A1);7\r\n"


@pytest.fixture
def cli_store(tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch) -> Store:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    store = Store.open(config, url)
    yield store
    store.close()


def test_the_command_prints_tables_and_writes_csv(cli_store: Store, tmp_path: Path) -> None:
    delivery = sent_issue(cli_store)
    apply_events(cli_store, events_for(cli_store, delivery))
    args = ["--config", str(ROOT / "newsletter.toml"), "--lang", "sv"]
    result = CliRunner().invoke(main, ["report", "2026-3", "--csv", str(tmp_path / "csv"),
                                       *args])
    assert result.exit_code == 0, result.output
    assert "Utfall per segment" in result.output and "färre än 5" in result.output
    assert "3 fil(er) skrevs till" in result.output
    strategy = CliRunner().invoke(main, ["report", "strategy", *args])
    assert strategy.exit_code == 0, strategy.output
    assert "Anslutna organisationer per fokusområde" in strategy.output


@pytest.mark.parametrize(("subject", "message"), [
    ("2031-4", "Error: 2031-4 has not been sent, so there is nothing to report on yet\n"),
    ("strategi", "Error: 'strategi' is not an issue: give one as YEAR-NUMBER, e.g. 2027-1, "
                 "or 'strategy'\n")])
def test_an_unknown_issue_is_one_line(cli_store: Store, subject: str, message: str) -> None:
    result = CliRunner().invoke(main, ["report", subject, "--config",
                                       str(ROOT / "newsletter.toml")])
    assert result.exit_code == 1 and result.output == message


def test_a_send_keeps_the_registers_counts_and_survives_a_failing_snapshot(
        config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from pipeline.deliver.transports.outbox import OutboxTransport
    from pipeline.report.models import SnapshotCount
    from tests.test_deliver import populate, run

    store = Store.open(config, f"sqlite:///{tmp_path / 'register.db'}")
    try:
        populate(store, config, tmp_path)
        report, frozen = run(store, config, OutboxTransport(tmp_path / "outbox"))
        assert frozen == 6
        with store.session() as session:
            [snapshot] = session.scalars(select(Snapshot))
            counts = {(c.measure, c.key): c.count for c in session.scalars(select(SnapshotCount))}
        assert snapshot.reason == "send:2027-1"
        assert counts[("readers", "connected")] + counts[("readers", "general")] == 6
        sent = issue_report(store, config, "2027-1")
        assert sent.title.startswith("Report on issue 2027-1: ")  # the edition's title
        variants = {row[0] for row in sent.tables[1].rows}
        assert "Prenumeranter" in variants and any(  # focus areas named from the edition
            v.startswith("Anslutna aktörer · ") and "hälsa" in v for v in variants), variants
        assert sent.tables[2].note.startswith("No events from the provider")
        monkeypatch.setattr("pipeline.report.snapshots.load_register",
                            lambda session: 1 / 0)
        report, frozen = run(store, config, OutboxTransport(tmp_path / "outbox2"),
                             new_delivery=True)
        assert report.state == "finished" and frozen == 6
        assert "could not record the register's snapshot for 2027-1" in caplog.text
    finally:
        store.close()


def test_the_report_letter_to_the_editors(store: Store, config: Config) -> None:
    from pipeline.render.letters import lint_letter, render_letter
    from pipeline.report.issue import issue_report_letter

    delivery = sent_issue(store)
    apply_events(store, events_for(store, delivery))
    use_language("sv")
    letter = issue_report_letter(config, store, "2026-3")
    email = render_letter(config, letter)
    assert letter.subject == "Rapport för nummer 2026-3"
    assert "Prenumeranter: mottagare 30, överlämnade 28" in email.text
    assert "inga öppningar eller klick" in email.text
    assert lint_letter(config, email, "sv") == []
