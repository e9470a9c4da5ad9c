"""The scheduler as a real process: two issues delivered through Prism-validated SendGrid and
published, a second scheduler refused, SIGTERM stops it cleanly; SIGKILL during a send and a
restart deliver exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.approval import approve_issue
from pipeline.audience.importer import import_audience
from pipeline.audience.models import LegalBasis
from pipeline.audience.store import Store
from pipeline.config import Config, load_config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import DeliveryState
from pipeline.planning import schedule_issue
from tests.conftest import APPROVER, ROOT
from tests.test_crash import fill
from tests.test_scheduler import project


def _second_issue(site: Config, when: str) -> None:
    import shutil

    folder = site.root / "issues" / "2027-2"
    shutil.copytree(site.root / "issues" / "2027-1", folder)
    meta = folder / "issue.yaml"
    text = meta.read_text().replace("number: 1", "number: 2")
    meta.write_text(text.replace(text.split("send_at: ")[1].split("\n")[0], when))


def _start(site: Config, url: str, base: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": "s" * 48, "SENDGRID_API_KEY": "SG.test",
           "SENDGRID_API_HOST": base, "NEWSLETTER_DATABASE_URL": url,
           "NEWSLETTER_SCHEDULER_SYNC_SECONDS": "0.5"}
    return subprocess.Popen([sys.executable, "-m", "pipeline", "scheduler", "--config",
                             str(site.root / "newsletter.toml")], env=env, cwd=site.root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_finished(store: Store, slugs: list[str], seconds: float = 60) -> None:
    """Until every delivery is finished; fails only after ``seconds`` without progress (a
    state or a ledger count changing), so a busy machine is slow, not a failure."""
    deadline, seen = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        current = [deliveries.current_delivery(store, s) for s in slugs]
        states = [getattr(d, "state", None) for d in current]
        if all(state == DeliveryState.FINISHED for state in states):
            return
        progress = (states, [sorted(ledger.counts(store, d.id).items()) if d else None
                             for d in current])
        if progress != seen:
            deadline, seen = time.monotonic() + seconds, progress
        time.sleep(0.3)
    raise AssertionError(f"no progress in {seconds} s: {states}")


def _sendgrid_site(tmp_path: Path, config: Config, when: str, url: str) -> Config:
    site = project(tmp_path, config, when, url)
    toml = site.root / "newsletter.toml"
    toml.write_text(toml.read_text().replace('transport = "outbox"', 'transport = "sendgrid"'))
    return load_config(toml)


def test_two_issues_sent_published_and_sigterm(config: Config, tmp_path: Path,
                                              standin_behind_prism) -> None:
    standin, base = standin_behind_prism
    url = f"sqlite:///{tmp_path / 'project.db'}"
    soon = datetime.now(UTC).astimezone(config.zone).replace(tzinfo=None)
    first, second = soon + timedelta(seconds=20), soon + timedelta(seconds=25)
    site = _sendgrid_site(tmp_path, config, f"{first:%Y-%m-%d %H:%M:%S}", url)
    _second_issue(site, f"{second:%Y-%m-%d %H:%M:%S}")
    store = Store.open(site, url)
    import_audience(store, site, ROOT / "examples/audience/connected.csv", "connected",
                    LegalBasis.PUBLIC_TASK)
    for slug in ("2027-1", "2027-2"):
        schedule_issue(store, site, site.root / "issues" / slug)
        approve_issue(store, site, site.root / "issues" / slug, APPROVER)
    before = standin.delivered()
    process = _start(site, url, base)
    try:
        _wait_finished(store, ["2027-1", "2027-2"])
        rival = _start(site, url, base)
        out, _ = rival.communicate(timeout=60)
        assert rival.returncode == 1
        assert b"another scheduler" in out and b"is running against this database" in out
    finally:
        process.send_signal(signal.SIGTERM)
        log, _ = process.communicate(timeout=60)
    assert process.returncode == 0, log.decode()[-2000:]
    assert b"action=stopped" in log
    # a quiet journal: a plan line when the plan changes, not at every sync (twice a second
    # here; every minute in production made 4,300 lines a day), and no Alembic chatter
    journal = log.decode()
    for slug in ("2027-1", "2027-2"):
        assert 1 <= journal.count(f"issue={slug} run_at=") <= 4, journal[-3000:]
    assert "alembic" not in journal and "Traceback" not in journal, journal[-3000:]
    sent = standin.delivered() - before
    assert sorted(sent.values()) == [2, 2, 2, 2]  # four readers, two issues, once each
    for slug in ("1", "2"):
        assert (site.root / "archive" / "2027" / slug / "index.html").exists()
    store.close()


def test_sigkill_during_a_send_then_restart_delivers_exactly_once(
        config: Config, tmp_path: Path, standin_behind_prism) -> None:
    standin, base = standin_behind_prism
    url = f"sqlite:///{tmp_path / 'project.db'}"
    soon = datetime.now(UTC).astimezone(config.zone).replace(tzinfo=None) + timedelta(seconds=30)
    site = _sendgrid_site(tmp_path, config, f"{soon:%Y-%m-%d %H:%M:%S}", url)
    store = Store.open(site, url)
    fill(store, 20_000, "scheduled.example")
    schedule_issue(store, site, site.root / "issues" / "2027-1")
    approve_issue(store, site, site.root / "issues" / "2027-1", APPROVER)
    process = _start(site, url, base)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it once sending has begun
        delivery = deliveries.current_delivery(store, "2027-1")
        if delivery is not None and ledger.counts(store, delivery.id)["sent"]:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.state == DeliveryState.RUNNING  # interrupted
    process = _start(site, url, base)
    try:
        _wait_finished(store, ["2027-1"])
    finally:
        process.send_signal(signal.SIGTERM)
        log, _ = process.communicate(timeout=60)
    assert b"resuming an interrupted delivery" in log, log.decode()[-3000:]
    delivered = Counter({k: v for k, v in standin.delivered().items()
                         if k.endswith("scheduled.example")})
    assert len(delivered) == 20_000 and set(delivered.values()) == {1}
    store.close()


@pytest.mark.parametrize(("unset", "sync", "said"), [
    ("NEWSLETTER_SECRET_KEY", "0.5", "Fel: NEWSLETTER_SECRET_KEY måste vara"),
    (None, "abc", "Fel: NEWSLETTER_SCHEDULER_SYNC_SECONDS måste vara"),
    (None, "0", "Fel: NEWSLETTER_SCHEDULER_SYNC_SECONDS måste vara"),
    (None, "nan", "Fel: NEWSLETTER_SCHEDULER_SYNC_SECONDS måste vara"),
])
def test_a_scheduler_that_could_not_send_refuses_to_start_in_one_line(
        config: Config, tmp_path: Path, unset: str | None, sync: str, said: str) -> None:
    """Without the secret it ran, and every job's turn ended in a traceback; a sync interval
    of "abc" was a traceback, "0" or "nan" a loop at full CPU."""
    url = f"sqlite:///{tmp_path / 'project.db'}"
    site = project(tmp_path, config, "2027-05-11 09:00", url)
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": "s" * 48, "NEWSLETTER_DATABASE_URL": url,
           "NEWSLETTER_SCHEDULER_SYNC_SECONDS": sync}
    if unset:
        env.pop(unset)
    done = subprocess.run([sys.executable, "-m", "pipeline", "scheduler", "--config",
                           str(site.root / "newsletter.toml")], env=env, cwd=site.root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and said in done.stderr, done.stderr
