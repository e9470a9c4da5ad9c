"""The scheduler: jobs at the right UTC instant across DST, restarts without duplicates,
misfires within grace run once, older ones are reported, one scheduler per database."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.approval import approve_issue
from pipeline.audience.importer import import_audience
from pipeline.audience.models import LegalBasis
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.errors import NewsletterError
from pipeline.planning import schedule_issue
from pipeline.schedule import plan_jobs, sync_jobs
from pipeline.scheduler import SchedulerLock, make_scheduler, routine, watch
from tests.conftest import APPROVER, ROOT


def scheduled(tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch,
              planned: str = "2027-05-11 09:00") -> tuple[Config, Store]:
    """A project with 2027-1 scheduled at ``planned``, its register in a file, a secret set."""
    url = f"sqlite:///{tmp_path / 'project.db'}"
    site = project(tmp_path, config, planned, url)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    store = Store.open(site, url)
    schedule_issue(store, site, tmp_path / "issues" / "2027-1",
                   now=datetime(2027, 5, 1, tzinfo=UTC))
    approve_issue(store, site, tmp_path / "issues" / "2027-1", APPROVER)
    return site, store


def project(tmp_path: Path, config: Config, send_at: str, url: str) -> Config:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "issues" / "2027-1", tmp_path / "issues" / "2027-1")
    meta = tmp_path / "issues" / "2027-1" / "issue.yaml"
    meta.write_text(meta.read_text().replace("2027-02-16 09:00", send_at))
    toml = (ROOT / "newsletter.toml").read_text().replace(
        'database_url = "sqlite:///newsletter.db"', f'database_url = "{url}"')
    (tmp_path / "newsletter.toml").write_text(toml)
    return config.model_copy(update={"root": tmp_path, "audience": config.audience.model_copy(
        update={"database_url": url})})


@pytest.mark.parametrize(("send_at", "utc"), [
    ("2027-03-26 09:00", "2027-03-26 08:00"),   # winter time, before the March change
    ("2027-03-29 09:00", "2027-03-29 07:00"),   # summer time, after it
    ("2027-10-29 09:00", "2027-10-29 07:00"),   # summer time, before the October change
    ("2027-11-02 09:00", "2027-11-02 08:00"),   # winter time again
])
def test_jobs_fire_at_the_right_utc_instant(store: Store, config: Config, tmp_path: Path,
                                            send_at: str, utc: str) -> None:
    site = project(tmp_path, config, send_at, "sqlite://")
    now = datetime(2026, 11, 26, tzinfo=UTC)
    schedule_issue(store, site, tmp_path / "issues" / "2027-1", now=now)
    [job] = [j for j in plan_jobs(store, site, now) if j.kind == "send:"]
    assert job.run_at == datetime.fromisoformat(utc).replace(tzinfo=UTC)
    fenced = site.model_copy(update={"delivery": site.delivery.model_copy(
        update={"transport": "sendgrid"})})
    # the fence earlier, so send_at lands on the planned minute
    [job] = [j for j in plan_jobs(store, fenced, now) if j.kind == "send:"]
    assert job.run_at == datetime.fromisoformat(utc).replace(tzinfo=UTC) - timedelta(minutes=15)


def test_restart_keeps_one_job_per_issue(config: Config, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'project.db'}"
    site = project(tmp_path, config, "2027-05-11 09:00", url)
    store = Store.open(site, url)
    schedule_issue(store, site, tmp_path / "issues" / "2027-1")
    for _ in range(3):  # three lives of the scheduler
        scheduler = make_scheduler(site)
        scheduler.start(paused=True)
        sync_jobs(scheduler, store, site, str(tmp_path / "newsletter.toml"))
        jobs = sorted(scheduler.get_jobs(), key=lambda j: j.id)
        assert [(j.id, j.next_run_time) for j in jobs] == [
            ("precheck:2027-1", datetime(2027, 5, 9, 7, 0, tzinfo=UTC)),
            ("send:2027-1", datetime(2027, 5, 11, 7, 0, tzinfo=UTC))]
        scheduler.shutdown(wait=False)
    store.close()


def test_an_idle_day_writes_a_handful_of_journal_lines(config: Config, tmp_path: Path,
                                                       monkeypatch, caplog) -> None:
    """A day of syncs with the issue waiting, one every 5 minutes (production syncs every
    minute; each sync used to repeat the whole plan, 4,300 lines a day): the plan is said
    once."""
    import logging

    import pipeline.schedule

    site, store = scheduled(tmp_path, config, monkeypatch)
    monkeypatch.setattr(pipeline.schedule, "_SAID", {}, raising=False)  # a fresh memory
    scheduler = make_scheduler(site)
    scheduler.start(paused=True)
    morning = datetime(2027, 5, 1, 6, 0, tzinfo=UTC)
    try:
        with caplog.at_level(logging.INFO):
            for minute in range(0, 24 * 60, 5):  # each look as the scheduler's loop does it
                now = morning + timedelta(minutes=minute)
                planned = sync_jobs(scheduler, store, site, str(tmp_path / "newsletter.toml"),
                                    now=now)
                watch(store, site, planned, now)
                routine(store, site, now)
    finally:
        scheduler.shutdown(wait=False)
        store.close()
    lines = [r for r in caplog.records if r.name.startswith(("newsletter", "alembic"))]
    assert 1 <= len(lines) < 50, [r.getMessage() for r in lines][:10]


def test_a_mail_server_down_at_the_precheck_is_one_line_not_a_traceback_a_minute(
        config: Config, tmp_path: Path, monkeypatch, caplog) -> None:
    import logging
    import socket

    import pipeline.schedule
    from pipeline.schedule import run_precheck

    _site, store = scheduled(tmp_path, config, monkeypatch)
    store.close()
    monkeypatch.setattr(pipeline.schedule, "_SAID", {}, raising=False)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    toml = tmp_path / "newsletter.toml"
    toml.write_text(toml.read_text().replace('transport = "outbox"', 'transport = "smtp"')
                    .replace("port = 587", f"port = {port}"))
    with caplog.at_level(logging.INFO):
        outcomes = [run_precheck("2027-1", str(toml)) for _ in range(3)]  # three minutes
    assert all(o.startswith("test copies not sent: ") for o in outcomes), outcomes
    said = [r for r in caplog.records if r.name == "newsletter.scheduler"]
    assert len(said) == 1 and "action=precheck-not-sent" in said[0].getMessage()
    assert said[0].exc_info is None  # no traceback


def test_missed_within_grace_runs_once_older_is_reported(config: Config, tmp_path: Path,
                                                         monkeypatch) -> None:
    site, store = scheduled(tmp_path, config, monkeypatch)
    import_audience(store, site, ROOT / "examples/audience/connected.csv", "connected",
                    LegalBasis.PUBLIC_TASK)
    late = datetime(2027, 5, 11, 17, 0, tzinfo=UTC)  # 10 h after the planned minute
    [job] = plan_jobs(store, site, late)
    assert job.run_at is None and job.note.startswith("missed: planned 2027-05-11 07:00 UTC")
    soon = datetime(2027, 5, 11, 8, 0, tzinfo=UTC)  # 1 h late: within the 6 h grace
    [job] = plan_jobs(store, site, soon)
    assert job.run_at == datetime(2027, 5, 11, 7, 0, tzinfo=UTC)
    scheduler = make_scheduler(site)
    scheduler.start()
    try:  # the real clock is far before 2027: give the job a run date in the past instead
        sync_jobs(scheduler, store, site, str(tmp_path / "newsletter.toml"), now=soon)
        scheduler.modify_job("send:2027-1", next_run_time=datetime.now(UTC)
                             - timedelta(hours=1))
        scheduler.wakeup()
        deadline = time.monotonic() + 60
        delivery = None
        while time.monotonic() < deadline:
            delivery = deliveries.current_delivery(store, "2027-1")
            if delivery is not None and delivery.state == DeliveryState.FINISHED:
                break
            time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
    assert delivery is not None and delivery.state == DeliveryState.FINISHED
    assert ledger.counts(store, delivery.id)[EntryState.SENT] == 4
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 4
    assert (tmp_path / "archive" / "2027" / "1" / "index.html").exists()
    assert plan_jobs(store, site, soon) == []  # finished: nothing left to schedule
    store.close()


def test_a_second_scheduler_is_refused(store: Store) -> None:
    first, second = SchedulerLock(store), SchedulerLock(store)
    second.me = "elsewhere:1"
    first.acquire()
    with pytest.raises(NewsletterError, match=r"another scheduler \(.*\) is running"):
        second.acquire()
    first.release()
    second.acquire()  # free again
    second.release()
    dead = SchedulerLock(store)
    dead.me = f"{dead.me.rsplit(':', 1)[0]}:999999999"  # this host, a process that is gone
    dead.acquire()
    first.acquire()  # a killed scheduler's lock is taken over at once
    first.release()


def test_precheck_sends_test_copies_then_is_not_planned_again(config: Config, tmp_path: Path,
                                                              monkeypatch) -> None:
    from pipeline.schedule import run_precheck

    site, store = scheduled(tmp_path, config, monkeypatch)
    now = datetime(2027, 5, 1, tzinfo=UTC)
    jobs = {(j.kind, j.run_at) for j in plan_jobs(store, site, now)}
    assert jobs == {("send:", datetime(2027, 5, 11, 7, 0, tzinfo=UTC)),
                    ("precheck:", datetime(2027, 5, 9, 7, 0, tzinfo=UTC))}
    assert run_precheck("2027-1", str(tmp_path / "newsletter.toml")) == "test copies sent"
    copies = list((tmp_path / "outbox").glob("*.eml"))
    assert len(copies) == 9  # every variant of the edition (with "no focus area"), to the editor
    assert b"vastmanland@lansstyrelsen.se" in copies[0].read_bytes()
    assert {j.kind for j in plan_jobs(store, site, now)} == {"send:"}
    store.close()


def test_an_edit_after_approval_voids_it_the_issue_stays_scheduled_and_editors_hear(
        config: Config, tmp_path: Path, monkeypatch) -> None:
    import email
    import email.policy

    from pipeline.schedule import run_scheduled_send

    _site, store = scheduled(tmp_path, config, monkeypatch)
    section = tmp_path / "issues" / "2027-1" / "06-halsa-och-vald.md"
    section.write_text(section.read_text().replace("[halsa, vald]", "[halsa, miljo]"))
    outcome = run_scheduled_send("2027-1", str(tmp_path / "newsletter.toml"))
    assert outcome.startswith("not sent: 2027-1: the approval no longer holds")
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.state == DeliveryState.SCHEDULED
    assert delivery.frozen_at is None  # nobody was sent anything
    [message] = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                 for p in (tmp_path / "outbox").glob("*.eml")]
    assert message["Subject"] == "2027-1 was not sent"  # the test run speaks English
    body = message.get_body(("plain",)).get_content()
    assert "issues/2027-1/06-halsa-och-vald.md:1: approval: changed since 2027-1 was " \
        "approved" in body
    # a real mail: the board's masthead and a list, not text in <pre>; no list to leave
    html = message.get_body(("html",)).get_content()
    assert "<pre" not in html and "material/logotyp.png" in html
    assert "<li" in html and "06-halsa-och-vald.md:1" in html
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert message["Date"].datetime.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    assert not (tmp_path / "archive" / "2027" / "1").exists()
    store.close()


def test_sendgrid_send_at_is_the_planned_minute(config: Config) -> None:
    from pipeline.deliver.transports.sendgrid import SendGridTransport

    sendgrid = SendGridTransport("SG.test", "http://127.0.0.1:9", config.delivery.sendgrid,
                                 config, 900)
    planned = int(time.time()) + 600
    sendgrid.planned_send_at = planned
    assert sendgrid._send_at(time.time()) == planned
    assert sendgrid._send_at(planned - 30) == planned - 30 + 900  # too close: the fence
