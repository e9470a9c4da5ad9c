"""Delivery through the outbox and a real SMTP server: the ledger, headers, exactly once."""

from __future__ import annotations

import email
import email.policy
import re
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.audience.gdpr import unsubscribe
from pipeline.audience.importer import import_audience
from pipeline.audience.models import LegalBasis
from pipeline.audience.store import Store
from pipeline.audience.tokens import Purpose, read_token
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.engine import Engine
from pipeline.deliver.models import DeliveryState, EntryState, LedgerEntry
from pipeline.deliver.transports.outbox import OutboxTransport
from pipeline.deliver.transports.smtp import SmtpTransport
from tests.conftest import ROOT, sandbox, send, start_delivery

SECRET = b"k" * 48


def populate(store: Store, config: Config, tmp_path: Path, extra: int = 0) -> None:
    import_audience(store, config, ROOT / "examples/audience/connected.csv", "connected",
                    LegalBasis.PUBLIC_TASK)
    import_audience(store, config, ROOT / "examples/audience/general.csv", "general",
                    LegalBasis.CONSENT)
    if extra:
        path = tmp_path / "extra.csv"
        path.write_text("email;organisation;focus\n" + "".join(
            f"reader{i}@org{i % 7}.example;Org {i % 7};{['makt', 'halsa', 'vald'][i % 7 % 3]}\n"
            for i in range(extra)), encoding="utf-8")
        import_audience(store, config, path, "connected", LegalBasis.PUBLIC_TASK)


def run(store: Store, config: Config, transport, **options):
    """`send` through ``transport``, publishing into a temporary archive: (report, frozen)."""
    site = sandbox(config, Path(tempfile.mkdtemp(prefix="site-")))
    report = send(store, site, transport, **options)
    return report, sum(report.counts.values())


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def test_outbox_delivers_each_recipient_once_with_full_headers(store: Store, config: Config,
                                                               tmp_path: Path) -> None:
    populate(store, config, tmp_path)
    outbox = tmp_path / "outbox"
    report, frozen = run(store, config, OutboxTransport(outbox))
    assert frozen == 6 and report.state is DeliveryState.FINISHED
    assert report.counts[EntryState.SENT] == 6
    messages = [parse(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]
    recipients = sorted(str(m["To"].addresses[0].addr_spec) for m in messages)
    assert recipients == ["ali.hassan@folkhogskola.example", "anna.lindqvist@vasteras.example",
                          "jonas.berg@vasteras.example", "maria.nilsson@koping.example",
                          "per.holm@example.se", "sara.ek@example.se"]
    assert len({m["Message-ID"] for m in messages}) == 6
    anna = next(m for m in messages if "anna" in str(m["To"]))
    assert anna["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert anna["List-Id"] == "Ett jämställt Västmanland <ett-jamstallt-vastmanland." \
                              "lansstyrelsen.se>"
    assert anna["Content-Language"] == "sv" and anna["Date"] is not None
    url, mailto = [part.strip(" <>") for part in str(anna["List-Unsubscribe"]).split(",")]
    assert url.startswith(f"{config.web_url}/avregistrera/")
    assert mailto == "mailto:vastmanland@lansstyrelsen.se?subject=avregistrera"
    claims = read_token(SECRET, url.rsplit("/", 1)[1], Purpose.UNSUBSCRIBE)
    with store.session() as session:  # the token names Anna's subscriber id, not her address
        assert session.scalar(select(LedgerEntry.email).where(
            LedgerEntry.subscriber_id == claims.subscriber_id)) == \
            "anna.lindqvist@vasteras.example"
    text, html = anna.iter_parts()
    assert "Hej Anna!" in text.get_content()
    assert "Hej Anna!" in html.get_content() and url in html.get_content()
    assert "Ert fokus" in html.get_content()  # Västerås stad focuses on makt and ekonomi
    with pytest.raises(deliveries.DeliveryError, match="already delivered"):
        run(store, config, OutboxTransport(outbox))


def test_crash_leftovers_are_settled_from_the_outbox(store: Store, config: Config,
                                                     tmp_path: Path) -> None:
    """A crash after writing some files of a batch: those count as sent, never twice."""
    populate(store, config, tmp_path, extra=30)
    outbox = OutboxTransport(tmp_path / "outbox")
    delivery_id, frozen, edition = start_delivery(store, config)
    deliveries.move(store, delivery_id, DeliveryState.RUNNING)
    engine = Engine(store, config, edition, outbox, SECRET)
    rows = ledger.claim(store, delivery_id, None, 10, "crashed-batch")
    template = engine.envelopes.template(rows[0].variant)
    outbox.send(template, "crashed-batch",
                [engine.envelopes.envelope(delivery_id, r) for r in rows[:4]])
    report = engine.run(delivery_id)  # the restart
    assert report.state is DeliveryState.FINISHED
    files = sorted(outbox.folder.glob("*.eml"))
    assert len(files) == frozen == 36
    with store.session() as session:
        attempts = dict(session.execute(select(LedgerEntry.id, LedgerEntry.attempts)).all())
    assert all(attempts[r.id] == 1 for r in rows[:4])  # settled from disk, not resent


def test_departed_readers_are_skipped_and_states_are_enforced(store: Store, config: Config,
                                                              tmp_path: Path) -> None:
    populate(store, config, tmp_path)
    outbox = OutboxTransport(tmp_path / "outbox")
    delivery_id, _, edition = start_delivery(store, config)
    with store.session() as session:
        sara = session.scalar(select(LedgerEntry.subscriber_id).where(
            LedgerEntry.email == "sara.ek@example.se"))
    assert sara is not None
    unsubscribe(store, sara)  # after the audience was frozen
    with pytest.raises(deliveries.DeliveryError, match="is draft; it cannot become finished"):
        deliveries.move(store, delivery_id, DeliveryState.FINISHED)
    report = Engine(store, config, edition, outbox, SECRET).run(delivery_id)
    assert report.counts[EntryState.SKIPPED] == 1 and report.counts[EntryState.SENT] == 5
    assert report.state is DeliveryState.FINISHED
    with pytest.raises(deliveries.DeliveryError, match="is finished; it cannot become paused"):
        deliveries.move(store, delivery_id, DeliveryState.PAUSED)


def test_pause_from_another_process_stops_after_the_batch(store: Store, config: Config,
                                                          tmp_path: Path) -> None:
    populate(store, config, tmp_path, extra=1200)
    outbox = OutboxTransport(tmp_path / "outbox")
    delivery_id, frozen, edition = start_delivery(store, config)
    engine = Engine(store, config, edition, outbox, SECRET)
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 1:
            deliveries.move(store, delivery_id, DeliveryState.PAUSED, "paused by hand")

    report = engine.run(delivery_id, progress)
    assert report.state is DeliveryState.PAUSED and report.reason == "stopped by another command"
    assert 0 < report.counts[EntryState.SENT] < frozen
    report = Engine(store, config, edition, outbox, SECRET).run(delivery_id)  # resume
    assert report.state is DeliveryState.FINISHED
    assert len(list(outbox.folder.glob("*.eml"))) == frozen


def test_the_progress_bar_counts_the_ledger_once_not_per_batch(
        store: Store, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`send` on a terminal reports progress after every batch. Counting the delivery's rows
    for it cost a scan of the whole delivery per batch: quadratic, a million readers took
    2.5 times as long on a terminal as in a log."""
    populate(store, config, tmp_path, extra=2600)
    delivery_id, frozen, edition = start_delivery(store, config)
    counted = []
    real = ledger.counts
    monkeypatch.setattr(ledger, "counts", lambda *args: counted.append(args) or real(*args))
    seen: list[tuple[int, int]] = []
    report = Engine(store, config, edition, OutboxTransport(tmp_path / "outbox"), SECRET).run(
        delivery_id, lambda done, total: seen.append((done, total)))
    assert report.state is DeliveryState.FINISHED
    assert len(seen) > frozen // 500 and seen[-1] == (frozen, frozen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert len(counted) <= 3  # at the start, for the report, for the bar's last step


def test_an_unforeseen_error_mid_delivery_still_closes_the_transport(
        store: Store, config: Config, tmp_path: Path) -> None:
    populate(store, config, tmp_path, extra=1200)
    delivery_id, _frozen, edition = start_delivery(store, config)

    class Breaks(OutboxTransport):
        closed = 0

        def send(self, template, batch_id, envelopes, report=None):  # type: ignore[no-untyped-def]
            if self.sent:
                raise RuntimeError("a bug in a transport")
            self.sent = True
            return super().send(template, batch_id, envelopes, report)

        def close(self) -> None:
            self.closed += 1
            super().close()

    transport = Breaks(tmp_path / "outbox")
    transport.sent = False
    with pytest.raises(RuntimeError, match="a bug in a transport"):
        Engine(store, config, edition, transport, SECRET).run(delivery_id)
    assert transport.closed == 1


def test_new_subscribers_get_a_finished_issue_once(store: Store, config: Config,
                                                   tmp_path: Path) -> None:
    populate(store, config, tmp_path)
    outbox = OutboxTransport(tmp_path / "outbox")
    run(store, config, outbox)
    late = tmp_path / "late.csv"
    late.write_text("email;organisation;focus\nsen@example.se;Sen AB;vald\n", encoding="utf-8")
    import_audience(store, config, late, "connected", LegalBasis.PUBLIC_TASK)
    report, frozen = run(store, config, outbox, new_subscribers=True)
    assert frozen == 1 and report.counts[EntryState.SENT] == 1
    report, frozen = run(store, config, outbox, new_subscribers=True)
    assert frozen == 0
    assert len(list(outbox.folder.glob("*.eml"))) == 7


def test_smtp_delivers_once_and_reports_refusals(store: Store, config: Config, tmp_path: Path,
                                                 smtp_server) -> None:
    recorder, port = smtp_server
    recorder.refuse.add("per.holm@example.se")
    populate(store, config, tmp_path, extra=20)
    transport = SmtpTransport("127.0.0.1", port, "none", None, None, 10,
                              config.sender.email)
    report, frozen = run(store, config, transport)
    assert report.counts[EntryState.SENT] == frozen - 1
    assert report.counts[EntryState.FAILED] == 1
    failed = ledger.entries(store, report.delivery_id, EntryState.FAILED)
    assert failed[0].email == "per.holm@example.se"
    assert failed[0].last_error == "550 5.1.1 No such user here"
    assert report.state is DeliveryState.FINISHED
    rcpts = [r for rcpt, _ in recorder.messages for r in rcpt]
    assert len(rcpts) == len(set(rcpts)) == frozen - 1
    message = parse(recorder.messages[0][1])
    assert message.get_content_type() == "multipart/alternative"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_smtp_connection_lost_mid_message_leaves_exactly_that_one_uncertain(
        store: Store, config: Config, tmp_path: Path, smtp_server) -> None:
    recorder, port = smtp_server
    recorder.hang_up_after.add("reader5@org5.example")
    populate(store, config, tmp_path, extra=40)
    transport = SmtpTransport("127.0.0.1", port, "none", None, None, 10, config.sender.email)
    report, frozen = run(store, config, transport)
    uncertain = ledger.entries(store, report.delivery_id, EntryState.UNCERTAIN)
    assert [e.email for e in uncertain] == ["reader5@org5.example"]
    assert report.counts[EntryState.SENT] == frozen - 1
    assert report.state is DeliveryState.PAUSED and "uncertain" in (report.reason or "")
    received = [r for rcpt, _ in recorder.messages for r in rcpt]
    assert len(received) == len(set(received)) == frozen  # it did arrive, once


def test_export_lists_send_history_and_erase_scrubs_the_ledger(store: Store, config: Config,
                                                               tmp_path: Path) -> None:
    from pipeline.audience import gdpr

    populate(store, config, tmp_path)
    run(store, config, OutboxTransport(tmp_path / "outbox"))
    history = gdpr.export_person(store, "sara.ek@example.se")["deliveries"]
    assert [(h["issue"], h["variant"], h["state"]) for h in history] == [
        ("2027-1", "general", "sent")]
    gdpr.erase_person(store, "sara.ek@example.se")
    with store.session() as session:
        assert session.scalar(select(LedgerEntry.email).where(
            LedgerEntry.email == "sara.ek@example.se")) is None


def test_two_deliveries_syncing_suppressions_at_once_both_go_on(store) -> None:
    """The scheduler sends two issues at the same minute: both deliveries read "never synced"
    and record the sync; the second used to hit the unique key and leave its delivery stuck
    as running. A barrier holds both inside the sync until each has read."""
    import threading

    from pipeline.audience.models import Setting
    from pipeline.deliver.suppressions import SYNCED_AT, sync_suppressions

    both_read = threading.Barrier(2, timeout=60)

    class Source:
        def suppressions(self, since: int):
            both_read.wait()  # each has looked for the last sync before either records one
            yield from [("studs@example.se", "bounces")]

    failures: list[BaseException] = []

    def sync() -> None:
        try:
            sync_suppressions(store, Source())
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    with store.session() as session:
        assert session.get(Setting, SYNCED_AT) is not None


def test_frozen_rows_store_their_time_as_every_other_write_does(store: Store, config: Config,
                                                                  tmp_path: Path) -> None:
    """Freezing writes rows with sqlite3 itself (for speed), but its timestamps in the text
    form SQLAlchemy writes everywhere else: text compared with text must order by time."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("the stored text form is SQLite's")
    populate(store, config, tmp_path)
    delivery_id, frozen, _ = start_delivery(store, config)
    assert frozen > 0
    with store.engine.connect() as connection:
        stamps = connection.exec_driver_sql(
            "SELECT DISTINCT updated_at FROM ledger WHERE delivery_id = ?", (delivery_id,)).all()
        created = connection.exec_driver_sql(
            "SELECT created_at FROM deliveries WHERE id = ?", (delivery_id,)).scalar_one()
    form = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"
    assert re.fullmatch(form, str(created))
    assert [row[0] for row in stamps if not re.fullmatch(form, str(row[0]))] == []
