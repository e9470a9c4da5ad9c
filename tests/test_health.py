"""`newsletter health` through the CLI: one line and an exit status a monitoring system reads
(0 ok, 1 warning, 2 critical), or JSON, for each state the unattended pipeline can be in."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.alerts import Raised, raise_alert
from pipeline.cli import main
from pipeline.config import Config
from pipeline.deliver import deliveries
from pipeline.deliver.models import Delivery, DeliveryState
from pipeline.scheduler import SchedulerLock
from tests.test_scheduler import scheduled


def health(tmp_path: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["health", *options, "--config",
                                       str(tmp_path / "newsletter.toml")])
    return result.exit_code, result.output.strip()


def test_each_state_has_its_exit_status(config: Config, tmp_path: Path, monkeypatch) -> None:
    _site, store = scheduled(tmp_path, config, monkeypatch)  # approved, planned 2027-05-11
    code, out = health(tmp_path)
    assert (code, out) == (2, "CRITICAL: the scheduler is not running")

    lock = SchedulerLock(store)
    lock.acquire()  # a live scheduler's heartbeat
    code, out = health(tmp_path)
    assert (code, out) == (0, "OK: next send 2027-1 at 2027-05-11 07:00 UTC")
    code, out = health(tmp_path, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "ok" and answer["findings"] == []

    section = tmp_path / "issues" / "2027-1" / "01-ledare.md"
    section.write_text(section.read_text() + "\nEn ändring efter godkännandet.\n")
    code, out = health(tmp_path)
    assert (code, out) == (1, "WARNING: 2027-1 is planned for 2027-05-11 07:00 UTC but its "
                              "approval no longer holds: issues/2027-1/01-ledare.md changed "
                              "since; approve it again")

    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None
    deliveries.move(store, delivery.id, DeliveryState.RUNNING)
    deliveries.move(store, delivery.id, DeliveryState.PAUSED, "the provider kept failing",
                retry_in=60)  # a temporary fault: the scheduler tries again by itself
    code, out = health(tmp_path, "--json")
    answer = json.loads(out)
    assert code == 1 and answer["status"] == "warning"
    assert answer["summary"].startswith(f"WARNING: 2027-1: delivery {delivery.id} is paused by "
                                        "a temporary fault (the provider kept failing); the "
                                        "scheduler tries again by itself until ")
    with store.session() as session, session.begin():  # six hours of tries later
        row = session.get(Delivery, delivery.id)
        assert row is not None and row.fault_since is not None
        row.fault_since -= timedelta(hours=6, minutes=1)
    code, out = health(tmp_path)
    assert code == 2 and out == (f"CRITICAL: 2027-1: delivery {delivery.id} is still paused "
                                 "after 6 hours of tries (the provider kept failing); resume it "
                                 "by hand when the fault is mended")

    deliveries.move(store, delivery.id, DeliveryState.RUNNING)
    deliveries.move(store, delivery.id, DeliveryState.PAUSED, "HTTP 401: bad API key")  # permanent
    code, out = health(tmp_path, "--json")
    answer = json.loads(out)
    assert code == 2 and answer["status"] == "critical"
    assert answer["summary"] == (f"CRITICAL: 2027-1: delivery {delivery.id} is paused: HTTP "
                                 "401: bad API key")
    assert answer["findings"][-1]["kind"] == "paused"

    raise_alert(store, Raised("test:1", "paused", "an alert no channel took"))
    code, out = health(tmp_path, "--json")
    assert "1 alert(s) not delivered: see the scheduler's journal" in [
        f["what"] for f in json.loads(out)["findings"]]
    lock.release()
    store.close()


@pytest.mark.parametrize(("url", "unusable"), [
    ("postgresql://u@127.0.0.1:1/db?password=S3CRET", False),  # libpq reads it there too
    ("postgresql://user:S3C@RET@127.0.0.1:1/db", True),        # its "@" not escaped
    ("postgresql://u:S3CRET@127.0.0.1:abc/db", True),
    ("postgresql://u:S3CRET@[::1:1/db", True),
    ("postgres://u:S3CRET@127.0.0.1:1/db", True),
    ("mysql://u:S3CRET@127.0.0.1/db", True),                  # no driver installed
    ("foo://u:S3CRET@x", True),
    ("sqlite:///%00", True),
    ("sqlite:///register.db?foo=bar", True),
    ("sqlite:////etc/passwd", False),                         # not a register
])
def test_an_unusable_register_url_is_one_line_critical_and_keeps_its_secret(
        config: Config, tmp_path: Path, monkeypatch, url: str, unusable: bool) -> None:
    """What an operator can mistype into NEWSLETTER_DATABASE_URL: each ended in a traceback,
    a "this is a bug" or a message showing the password, and `health` said "warning"."""
    scheduled(tmp_path, config, monkeypatch)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    status = CliRunner().invoke(main, ["status", "--config", str(tmp_path / "newsletter.toml")])
    assert status.exit_code == 1, status.output
    assert status.output.startswith("Error: ") and status.output.count("\n") == 1, \
        status.output
    code, out = health(tmp_path, "--json")
    found = json.loads(out)
    assert code == 2 and found["status"] == "critical", out
    assert found["findings"][0]["kind"] == "register-unreadable"
    for text in (status.output, out):
        assert "S3C" not in text and "RET@" not in text and "Traceback" not in text, text
        assert "bug" not in text, text
        assert ("NEWSLETTER_DATABASE_URL" in text) == unusable, text


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_an_endless_number_of_hours_is_refused_with_its_line(
        config: Config, tmp_path: Path, monkeypatch, value: str) -> None:
    """`grace_hours = inf` passed the settings and ended `health` in an OverflowError."""
    scheduled(tmp_path, config, monkeypatch)
    toml = tmp_path / "newsletter.toml"
    toml.write_text(toml.read_text().replace("grace_hours = 6 ", f"grace_hours = {value} "))
    line = next(n for n, text in enumerate(toml.read_text().splitlines(), start=1)
                if text.startswith("grace_hours"))
    code, out = health(tmp_path)
    assert code == 1 and "Traceback" not in out, out
    assert f"{toml}:{line}: schedule.grace_hours: input should be a finite number" in out, out
