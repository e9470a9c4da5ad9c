"""The scheduler as a real process, left alone through faults: the mail server down at send
time (the delivery heals by itself once it is back, exactly once, with one alert per cause to
a local webhook), and PostgreSQL restarted in the middle of a send (the scheduler keeps its
lock and its jobs, and the delivery finishes, exactly once). Waits follow progress, never a
fixed time, so a busy machine is slow, not a failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.approval import approve_issue
from pipeline.audience.importer import import_audience
from pipeline.audience.models import LegalBasis
from pipeline.audience.store import Store
from pipeline.config import Config, load_config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.planning import schedule_issue
from tests.conftest import APPROVER, ROOT, _free_port, addressee
from tests.test_crash import fill
from tests.test_scheduler import project


def _until(what: Callable[[], object], progress: Callable[[], object], seconds: float = 90
           ) -> None:
    """Wait until ``what()`` is true; fail only after ``seconds`` without ``progress()``
    changing."""
    deadline, seen = time.monotonic() + seconds, None
    while not what():
        now = progress()
        if now != seen:
            deadline, seen = time.monotonic() + seconds, now
        assert time.monotonic() < deadline, f"no progress in {seconds} s: {now}"
        time.sleep(0.2)


def _state(store: Store) -> tuple[object, ...]:
    delivery = deliveries.current_delivery(store, "2027-1")
    if delivery is None:
        return (None,)
    return (delivery.state, delivery.retries, sorted(ledger.counts(store, delivery.id).items()))


def _site(tmp_path: Path, config: Config, url: str, seconds_ahead: int, settings: str
          ) -> Config:
    soon = datetime.now(UTC).astimezone(config.zone).replace(tzinfo=None) + \
        timedelta(seconds=seconds_ahead)
    site = project(tmp_path, config, f"{soon:%Y-%m-%d %H:%M:%S}", url)
    toml = site.root / "newsletter.toml"
    toml.write_text(toml.read_text() + settings)
    return load_config(toml)


def _scheduler(site: Config, url: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "scheduler", "--config",
         str(site.root / "newsletter.toml")],
        env={**os.environ, "NEWSLETTER_SECRET_KEY": "s" * 48, "NEWSLETTER_DATABASE_URL": url,
             "NEWSLETTER_SCHEDULER_SYNC_SECONDS": "0.5", **env},
        cwd=site.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    journal = out.decode(errors="replace")
    assert process.returncode == 0, journal[-3000:]
    return journal


def test_the_mail_server_down_at_send_time_heals_by_itself_exactly_once(
        config: Config, tmp_path: Path, alert_hook) -> None:
    from aiosmtpd.controller import Controller

    port = _free_port()  # nothing listens there until the test says so
    url = f"sqlite:///{tmp_path / 'project.db'}"
    site = _site(tmp_path, config, url, 8, "")
    toml = site.root / "newsletter.toml"
    toml.write_text(toml.read_text().replace('transport = "outbox"', 'transport = "smtp"')
                    .replace("port = 587", f"port = {port}")
                    .replace('security = "starttls"', 'security = "none"')
                    .replace("retry_backoff_seconds = 60", "retry_backoff_seconds = 0.5")
                    .replace("tries = 6 ", "tries = 2 "))
    site = load_config(toml)
    assert site.delivery.smtp.port == port and site.schedule.retry_backoff_seconds == 0.5
    assert site.delivery.tries == 2  # the scheduler heals: pause after two tries, not six
    store = Store.open(site, url)
    import_audience(store, site, ROOT / "examples/audience/connected.csv", "connected",
                    LegalBasis.PUBLIC_TASK)
    readers = 4
    schedule_issue(store, site, site.root / "issues" / "2027-1")
    approve_issue(store, site, site.root / "issues" / "2027-1", APPROVER)

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope.content)
            return "250 Message accepted"

    inbox = Inbox()
    process = _scheduler(site, url, NEWSLETTER_ALERT_WEBHOOK=alert_hook.url)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    try:
        def paused_for_a_retry() -> bool:
            delivery = deliveries.current_delivery(store, "2027-1")
            return delivery is not None and delivery.state == DeliveryState.PAUSED and \
                delivery.retry_at is not None

        _until(paused_for_a_retry, lambda: _state(store))
        _until(lambda: "retrying" in alert_hook.kinds(),  # said while the mail path is down
               lambda: len(alert_hook.alerts))
        controller.start()  # the mail server is back
        _until(lambda: _state(store)[0] == DeliveryState.FINISHED, lambda: _state(store))
        _until(lambda: "healed" in alert_hook.kinds(), lambda: len(alert_hook.alerts))
    finally:
        journal = _stop(process)
        controller.stop(no_assert=True)
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None
    assert ledger.counts(store, delivery.id)[EntryState.SENT] == readers
    to = Counter(addressee(m) for m in inbox.messages)
    reader_copies = {a: n for a, n in to.items() if "lansstyrelsen" not in a}
    assert len(reader_copies) == readers and set(reader_copies.values()) == {1}, to
    kinds = Counter(alert_hook.kinds())
    assert kinds["retrying"] == 1 and kinds["healed"] == 1, kinds  # once per cause
    assert set(kinds) <= {"retrying", "healed", "precheck-failed"}, kinds
    assert set(kinds.values()) == {1}, kinds
    assert "Traceback" not in journal, journal[-3000:]
    store.close()


def test_postgresql_restarted_mid_send_the_delivery_finishes_exactly_once(
        config: Config, tmp_path: Path, private_postgres) -> None:
    url = private_postgres.url
    recipients = 1500
    site = _site(tmp_path, config, url, 8, "")
    toml = site.root / "newsletter.toml"
    toml.write_text(toml.read_text().replace(
        "messages_per_second = 0 ", "messages_per_second = 300\nlease_seconds = 3 ")
        + "\n[approval]\nrequired = false\n")
    site = load_config(toml)
    assert site.delivery.lease_seconds == 3 and site.delivery.messages_per_second == 300
    store = Store.open(site, url)
    fill(store, recipients, "restart.example")
    schedule_issue(store, site, site.root / "issues" / "2027-1")
    process = _scheduler(site, url)
    outbox = site.root / "outbox"
    try:
        _until(lambda: len(list(outbox.glob("0*.eml"))) >= 100,
               lambda: (_state(store), len(list(outbox.glob("0*.eml")))))
        assert _state(store)[0] == DeliveryState.RUNNING
        private_postgres.ctl("restart", "-m", "fast")  # every connection dropped mid-send
        _until(lambda: _state(store)[0] == DeliveryState.FINISHED,
               lambda: (_state(store), len(list(outbox.glob("*.eml")))))
        assert process.poll() is None  # the scheduler lived through it
    finally:
        journal = _stop(process)
    files = [f for f in outbox.glob("*.eml") if not f.name.startswith("notice-")]
    assert len(files) == recipients, len(files)  # no .copy2: nobody got it twice
    assert len({addressee(f.read_bytes()) for f in files}) == recipients
    assert "database=unreachable" in journal or "database unreachable" in journal, journal
    assert "Traceback" not in journal, journal[-3000:]
    assert journal.count("action=started") == 1  # one scheduler all along, lock kept
    store.close()


def test_a_mistyped_webhook_url_is_one_journal_line_without_its_token(
        config: Config, tmp_path: Path) -> None:
    """NEWSLETTER_ALERT_WEBHOOK without its https:// (it happens when pasting): the alert
    still reaches the other channel, the scheduler keeps running, and neither the journal nor
    the register shows the URL, which holds the webhook's token."""
    from sqlalchemy import select

    from pipeline.deliver.models import Alert

    url = f"sqlite:///{tmp_path / 'project.db'}"
    got = tmp_path / "got.json"
    script = tmp_path / "alert.py"
    script.write_text(f"import sys\nopen({str(got)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    site = _site(tmp_path, config, url, 3600, "")
    toml = site.root / "newsletter.toml"
    toml.write_text(toml.read_text().replace(
        "command = []", f'command = ["{sys.executable}", "{script}"]'))
    site = load_config(toml)
    store = Store.open(site, url)
    schedule_issue(store, site, site.root / "issues" / "2027-1")  # not approved: an alert

    def handled() -> list[tuple[int, str | None]]:
        with store.session() as session:
            return [(a.attempts, a.last_error) for a in session.scalars(select(Alert))]

    process = _scheduler(site, url,
                         NEWSLETTER_ALERT_WEBHOOK="hooks.example.invalid/services/T0KEN-s3cret")
    try:
        _until(lambda: any(attempts for attempts, _ in handled()), handled)
        _until(lambda: got.exists(), handled)
    finally:
        journal = _stop(process)
    assert "Traceback" not in journal, journal[-3000:]
    assert "T0KEN" not in journal and "T0KEN" not in str(handled()), journal[-3000:]
    assert "NEWSLETTER_ALERT_WEBHOOK" in str(handled())  # says which setting to fix
    assert "not-approved" in got.read_text()  # the command still got it
    store.close()
