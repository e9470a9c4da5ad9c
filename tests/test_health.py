"""`newsletter health` through the CLI: one line and an exit status a monitoring system reads
(0 ok, 1 warning, 2 critical), or JSON, for each state the unattended pipeline can be in."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import Config
from pipeline.deliver import ledger
from pipeline.deliver.models import DeliveryState
from pipeline.schedule import SchedulerLock
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
    assert (code, out) == (1, "WARNING: 2027-1 is planned for 2027-05-11 07:00 UTC but not "
                              "approved")

    delivery = ledger.current_delivery(store, "2027-1")
    assert delivery is not None
    ledger.move(store, delivery.id, DeliveryState.RUNNING)
    ledger.move(store, delivery.id, DeliveryState.PAUSED, "the provider kept failing")
    code, out = health(tmp_path, "--json")
    answer = json.loads(out)
    assert code == 2 and answer["status"] == "critical"
    assert answer["summary"] == (f"CRITICAL: 2027-1: delivery {delivery.id} is paused: the "
                                 "provider kept failing")
    lock.release()
    store.close()
