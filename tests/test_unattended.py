"""Running unattended: alerts through a webhook and a command, once per cause, that do not
depend on the mail path; a voided approval found before the send and at it, alerted once and
never sent; the journal of a day of looking stays short."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from pipeline.alerts import Raised, dispatch, pending, raise_alert
from pipeline.config import Config, load_config
from pipeline.deliver import deliveries
from pipeline.deliver.models import Alert, DeliveryState
from pipeline.schedule import JOB_PREFIX, run_precheck, run_scheduled_send, sync_jobs
from pipeline.scheduler import make_scheduler, watch
from tests.test_scheduler import scheduled


def test_an_alert_goes_out_once_per_cause_and_waits_while_the_webhook_is_down(
        config: Config, tmp_path: Path, monkeypatch, alert_hook, caplog) -> None:
    site, store = scheduled(tmp_path, config, monkeypatch)
    alert = Raised("paused:7:abc", "paused", "leveransen är pausad", "critical", "2027-1")
    alert_hook.down = True
    with caplog.at_level(logging.INFO):
        assert raise_alert(store, alert)
        assert not raise_alert(store, alert)  # the same cause: nothing new
        assert dispatch(store, site) == 1 and pending(store) == 1
        assert dispatch(store, site) == 1  # still down: tried again, said once
        alert_hook.down = False
        assert dispatch(store, site) == 0 and pending(store) == 0
        assert dispatch(store, site) == 0
    [posted] = alert_hook.alerts
    assert posted["kind"] == "paused" and posted["issue"] == "2027-1"
    assert posted["severity"] == "critical" and "leveransen är pausad" in str(posted["text"])
    journal = "\n".join(r.getMessage() for r in caplog.records)
    assert journal.count("action=not-delivered") == 1
    assert "T0KEN" not in journal  # the webhook's URL holds its token: never in the journal
    store.close()


def test_two_dispatchers_at_once_hand_an_alert_over_once(config: Config, store,
                                                          alert_hook) -> None:
    """The scheduler's look and a send job that healed dispatch at the same moment (it
    happened: "healed" reached the chat twice). The one that took the alert hands it over;
    the other leaves it alone while the first is still posting it."""
    raise_alert(store, Raised("healed:3:x", "healed", "levererad", "resolved", "2027-1"))
    alert_hook.hold = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(dispatch, store, config)
        assert alert_hook.arrived.wait(60), "the first dispatcher never posted"
        assert dispatch(store, config) == 1  # still pending, but in the other one's hands
        alert_hook.hold.set()
        assert first.result() == 0
    assert alert_hook.kinds() == ["healed"] and pending(store) == 0
    assert dispatch(store, config) == 0 and alert_hook.kinds() == ["healed"]
    # a dispatcher that died holding an alert holds it only until its time is up
    raise_alert(store, Raised("paused:4:y", "paused", "pausad", "critical", "2027-1"))
    for until, posted in ((datetime.now(UTC) + timedelta(minutes=5), ["healed"]),
                          (datetime.now(UTC) - timedelta(seconds=1), ["healed", "paused"])):
        with store.session() as session, session.begin():
            session.execute(update(Alert).values(handling_until=until))
        dispatch(store, config)
        assert alert_hook.kinds() == posted


def test_a_dispatcher_whose_hold_ran_out_leaves_what_the_next_one_did(
        config: Config, store, alert_hook, monkeypatch) -> None:
    """A slow dispatcher's hold ran out and another one sent the alert: the slow one's
    failure neither makes it pending again nor frees the other's hold; a dispatcher stopped
    by an error frees its hold at once."""
    from pipeline import alerts

    raise_alert(store, Raised("paused:5:z", "paused", "pausad", "critical", "2027-1"))
    with store.session() as session:
        alert_id = session.scalars(select(Alert.id)).one()
    slow = alerts._take(store, alert_id, timedelta(seconds=-1))  # its time is already up
    fast = alerts._take(store, alert_id, timedelta(minutes=5))
    assert slow is not None and fast is not None
    alerts._settle(store, alert_id, fast, [])
    alerts._settle(store, alert_id, slow, ["webhook: timed out"])
    assert pending(store) == 0 and dispatch(store, config) == 0 and alert_hook.kinds() == []

    raise_alert(store, Raised("paused:6:w", "paused", "pausad", "critical", "2027-1"))

    def broken(*args: object) -> list[str]:
        raise RuntimeError("a channel broke")

    working = alerts._post
    monkeypatch.setattr(alerts, "_post", broken)
    with pytest.raises(RuntimeError):
        dispatch(store, config)
    monkeypatch.setattr(alerts, "_post", working)
    assert dispatch(store, config) == 0 and alert_hook.kinds() == ["paused"]  # not held


def test_an_alert_command_gets_the_alert_as_json_on_stdin(config: Config, tmp_path: Path,
                                                          monkeypatch) -> None:
    site, store = scheduled(tmp_path, config, monkeypatch)
    monkeypatch.delenv("NEWSLETTER_ALERT_WEBHOOK", raising=False)
    script = tmp_path / "alert.py"
    script.write_text("import os, sys\nopen('got.json', 'a').write(sys.stdin.read() + '\\n')\n"
                      "sys.exit(0 if os.environ['NEWSLETTER_ALERT_KIND'] == 'missed' else 3)\n")
    toml = tmp_path / "newsletter.toml"
    toml.write_text(toml.read_text().replace(
        "command = []", f'command = ["{sys.executable}", "{script}"]'))
    site = load_config(toml)
    raise_alert(store, Raised("missed:2027-1:x", "missed", "2027-1 skickades inte"))
    raise_alert(store, Raised("paused:1:y", "paused", "pausad"))
    assert dispatch(store, site) == 1  # the command failed for the second: it stays pending
    lines = (tmp_path / "got.json").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["missed", "paused"]
    store.close()


def test_a_voided_approval_is_one_alert_and_no_send(config: Config, tmp_path: Path,
                                                    monkeypatch, alert_hook, caplog) -> None:
    """The last hours before the send, looked at every five minutes: the approval voided by
    an edit is one alert (and one mail saying it was not sent), the send is refused once and
    not tried again every minute, and no reader gets anything."""
    site, store = scheduled(tmp_path, config, monkeypatch)  # planned 2027-05-11 07:00 UTC
    section = tmp_path / "issues" / "2027-1" / "01-ledare.md"
    section.write_text(section.read_text() + "\nEn ändring efter godkännandet.\n")
    toml = str(tmp_path / "newsletter.toml")
    scheduler = make_scheduler(site)
    scheduler.start(paused=True)
    ran = []
    try:
        with caplog.at_level(logging.INFO):
            for minute in range(0, 4 * 60, 5):
                now = datetime(2027, 5, 11, 5, 0, tzinfo=UTC) + timedelta(minutes=minute)
                planned = sync_jobs(scheduler, store, site, toml, now=now)
                for job in planned:  # what APScheduler would run now
                    if job.run_at and job.run_at <= now and not job.held:
                        if job.kind == JOB_PREFIX:
                            ran.append(run_scheduled_send(job.slug, toml))
                        else:
                            assert run_precheck(job.slug, toml) == "test copies sent"
                watch(store, site, planned, now)
    finally:
        scheduler.shutdown(wait=False)
    assert len(ran) == 1 and ran[0].startswith("not sent: 2027-1: the approval no longer holds")
    assert alert_hook.kinds() == ["approval-voided"]
    assert alert_hook.alerts[0]["severity"] == "critical"  # hours before the send
    assert "01-ledare.md changed since" in str(alert_hook.alerts[0]["text"])
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.state == DeliveryState.SCHEDULED
    assert delivery.frozen_at is None
    subjects = [str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)[
        "Subject"]) for p in (tmp_path / "outbox").glob("*.eml")]
    assert subjects.count("2027-1 was not sent") == 1, subjects
    alerted = [s for s in subjects if s.startswith("Needs attention")]
    assert alerted == ["Needs attention: Newsletter 2027-1"], subjects  # to the editor too
    lines = [r for r in caplog.records if r.name.startswith("newsletter")]
    assert len(lines) < 20, [r.getMessage() for r in lines]
    store.close()


def sent(tmp_path: Path, config: Config, monkeypatch) -> tuple[Config, Any, Any]:
    """2027-1 sent by the scheduler's job to the example's four connected readers."""
    from pipeline.audience.importer import import_audience
    from pipeline.audience.models import LegalBasis
    from tests.conftest import ROOT

    site, store = scheduled(tmp_path, config, monkeypatch)
    import_audience(store, site, ROOT / "examples/audience/connected.csv", "connected",
                    LegalBasis.PUBLIC_TASK)
    assert run_scheduled_send("2027-1", str(tmp_path / "newsletter.toml")) == "finished"
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.finished_at is not None
    return site, store, delivery


def test_the_register_is_counted_daily_and_each_report_mailed_once_when_due(
        config: Config, tmp_path: Path, monkeypatch) -> None:
    from sqlalchemy import func, select

    from pipeline.report.models import Snapshot
    from pipeline.scheduler import routine

    site, store, delivery = sent(tmp_path, config, monkeypatch)
    done = delivery.finished_at.replace(tzinfo=UTC)
    outbox = tmp_path / "outbox"
    before = set(outbox.glob("notice-*.eml"))
    for minute in range(0, 9 * 24 * 60, 30):  # nine days, looked at every half hour
        routine(store, site, done + timedelta(minutes=minute))
    with store.session() as session:
        daily = session.scalar(select(func.count()).select_from(Snapshot).where(
            Snapshot.reason == "daily"))
    assert daily in (9, 10)  # one per Swedish calendar day the nine days touch
    mailed = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
              for p in set(outbox.glob("notice-*.eml")) - before]
    assert len(mailed) == 1, [m["Subject"] for m in mailed]  # seven days after, once
    assert "2027-1" in str(mailed[0]["Subject"])
    assert "vastmanland@lansstyrelsen.se" in str(mailed[0]["To"])
    store.close()


def test_bounces_over_the_threshold_are_one_alert(config: Config, tmp_path: Path,
                                                  monkeypatch, alert_hook) -> None:
    from sqlalchemy import update

    from pipeline.deliver.models import LedgerEntry

    site, store, delivery = sent(tmp_path, config, monkeypatch)
    site = site.model_copy(update={"alerts": site.alerts.model_copy(update={"min_sent": 4})})
    later = delivery.finished_at.replace(tzinfo=UTC) + timedelta(hours=2)
    watch(store, site, [], later)
    assert alert_hook.kinds() == []  # nothing bounced yet
    with store.session() as session, session.begin():  # the provider's events: one bounce
        first = session.scalar(select(LedgerEntry.id).where(
            LedgerEntry.delivery_id == delivery.id).limit(1))
        session.execute(update(LedgerEntry).where(LedgerEntry.id == first)
                        .values(outcome="bounce"))
    for minute in range(3):
        watch(store, site, [], later + timedelta(minutes=minute))
    assert alert_hook.kinds() == ["bounces"]
    assert alert_hook.alerts[0]["message"] == (
        f"2027-1: 1 of 4 messages of delivery {delivery.id} bounced, more than 5 %")
    store.close()


def test_a_start_after_a_dead_scheduler_is_an_alert(config: Config, tmp_path: Path,
                                                    monkeypatch, alert_hook) -> None:
    import signal
    import socket
    import threading
    import time

    from pipeline.audience.models import Setting
    from pipeline.scheduler import LOCK_KEY, SchedulerLock, run_scheduler

    _site, store = scheduled(tmp_path, config, monkeypatch)
    dead = f"{socket.gethostname()}:{2 ** 22 + 7}"  # no such process: killed with -9
    with store.session() as session, session.begin():
        session.add(Setting(key=LOCK_KEY, value=f"{dead}|{int(time.time()) - 300}"))
    stop = threading.Event()
    stop.set()  # start, take over the lock, stop
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_scheduler(tmp_path / "newsletter.toml", stop=stop)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    assert alert_hook.kinds() == ["scheduler-restarted"]
    assert dead in str(alert_hook.alerts[0]["message"])
    assert SchedulerLock.heartbeat(store) is None  # released on the way out
    store.close()


def test_status_says_when_the_recipients_are_chosen_and_when_it_tries_again(
        config: Config, tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    _site, store = scheduled(tmp_path, config, monkeypatch)
    toml = str(tmp_path / "newsletter.toml")

    def status() -> str:
        result = CliRunner().invoke(main, ["status", "--config", toml])
        assert result.exit_code == 0, result.output
        return result.output

    assert "(the recipients are chosen when it is sent)" in status()  # was "(empty)"
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None
    deliveries.move(store, delivery.id, DeliveryState.RUNNING)
    deliveries.move(store, delivery.id, DeliveryState.PAUSED, "SMTP 421: try later", retry_in=60)
    assert "  the scheduler tries again at " in status()
    assert "(try 2; it keeps trying until " in status()
    store.close()
