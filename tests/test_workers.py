"""``newsletter send --workers N``: processes sharing one delivery on PostgreSQL, each reader
once; refused on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.audience.store import Store
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import DeliveryState, EntryState
from tests.conftest import ROOT, addressee, fresh_database_url
from tests.test_crash import fill
from tests.test_editions import APPROVE, SECRET, project  # noqa: F401  (the fixture)


def test_four_workers_share_a_delivery_exactly_once(project: Path, tmp_path: Path,  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_database_url("postgresql", tmp_path)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    store = Store.open(load_config(project / "newsletter.toml"), url)
    fill(store, 4000, "workers.example")
    assert CliRunner().invoke(main, APPROVE).exit_code == 0
    done = subprocess.run([sys.executable, "-m", "pipeline", "send", "issues/2027-1",
                           "--workers", "4"], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "NEWSLETTER_DATABASE_URL": url,
                               "NEWSLETTER_SECRET_KEY": SECRET}, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delivery 1 is finished (4000 sent); 4000 sent now." in done.stdout
    files = list((project / "outbox").glob("*.eml"))
    to = Counter(addressee(f.read_bytes()) for f in files)
    assert len(files) == 4000 and len(to) == 4000 and set(to.values()) == {1}
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.state == DeliveryState.FINISHED
    assert delivery.lease_owner is None  # released
    assert ledger.counts(store, delivery.id)[EntryState.SENT] == 4000
    store.close()


def test_workers_are_refused_on_sqlite(project: Path) -> None:  # noqa: F811
    assert CliRunner().invoke(main, APPROVE).exit_code == 0
    result = CliRunner().invoke(main, ["send", "issues/2027-1", "--workers", "2"])
    assert result.exit_code == 1 and "--workers needs PostgreSQL" in result.output
    assert not (project / "outbox").exists()
