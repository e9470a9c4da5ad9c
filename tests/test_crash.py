"""Crash test: a 50,000-recipient send SIGKILLed at random points, restarted until finished.

Pass: every recipient got exactly one message (with SendGrid's fence and with the outbox: no
one uncertain). Each seed kills the sender many times, at random moments and right between the
provider's 202 and the ledger write. Seeds and size: NEWSLETTER_CRASH_SEEDS (20),
NEWSLETTER_CRASH_RECIPIENTS (50,000); bench/crash.py runs 100 seeds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from pipeline.audience.importer import SUBSCRIBERS, SUBSCRIPTIONS
from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.deliver import ledger
from pipeline.deliver.models import EntryState
from tests.conftest import ROOT

RECIPIENTS = int(os.environ.get("NEWSLETTER_CRASH_RECIPIENTS", "50000"))
SEEDS = int(os.environ.get("NEWSLETTER_CRASH_SEEDS", "20"))
CHILD = ROOT / "tests" / "crash_child.py"


def fill(store: Store, count: int, domain: str) -> None:
    moment = now()
    with store.engine.begin() as connection:
        connection.execute(insert(SUBSCRIBERS), [{
            "id": i, "email": f"r{i}@{domain}", "email_key": f"r{i}@{domain}",
            "email_hash": f"{i:064x}", "name": f"Läsare {i}", "organisation_id": None,
            "language": "sv", "created_at": moment, "updated_at": moment}
            for i in range(1, count + 1)])
        connection.execute(insert(SUBSCRIPTIONS), [{
            "subscriber_id": i, "segment": "general", "status": "confirmed",
            "legal_basis": "consent", "source": "crash test", "privacy_notice": "1",
            "created_at": moment, "confirmed_at": moment, "status_changed_at": moment}
            for i in range(1, count + 1)])


def crash_until_finished(url: str, kind: str, target: str, seed: int) -> tuple[int, int]:
    """Run the sender, killing it at random, until it finishes; (lives, kills)."""
    rng = random.Random(seed)
    kills = 0
    for life in range(1, 200):
        child = subprocess.Popen([sys.executable, str(CHILD), url, kind, target, str(seed)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        try:
            out, err = child.communicate(timeout=rng.uniform(1.0, 3.0))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.communicate()
            kills += 1
            continue
        if child.returncode == -signal.SIGKILL:
            kills += 1
            continue
        assert child.returncode == 0, (out + err).decode()[-2000:]
        return life, kills
    pytest.fail("the delivery did not finish in 200 lives")


def run_seed(config: Config, standin: Any, base: str, folder: Path, seed: int,
             recipients: int, setup: threading.Lock) -> Counter[str]:
    """One seed of the crash test: fill, crash until finished, count what arrived."""
    url = f"sqlite:///{folder / f'seed{seed}.db'}"
    domain = f"seed{seed}.example"
    with setup:  # Alembic's migration context is process-global
        store = Store.open(config, url)
        fill(store, recipients, domain)
    lives, kills = crash_until_finished(url, "sendgrid", base, seed)
    delivered = Counter({k: v for k, v in standin.delivered().items() if k.endswith(domain)})
    delivery = ledger.current_delivery(store, "2027-1")
    assert delivery is not None
    counts = ledger.counts(store, delivery.id)
    store.close()
    return Counter(seeds=1, lives=lives, kills=kills, sent=counts[EntryState.SENT],
                   duplicates=sum(1 for n in delivered.values() if n > 1),
                   missing=recipients - len(delivered),
                   uncertain=counts[EntryState.UNCERTAIN])


def test_sendgrid_with_fence_sends_each_exactly_once(tmp_path: Path, config: Config,
                                                     standin_behind_prism) -> None:
    """SEEDS independent deliveries, two at a time (the machine has two cores)."""
    standin, base = standin_behind_prism
    setup = threading.Lock()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda seed: run_seed(config, standin, base, tmp_path, seed,
                                                      RECIPIENTS, setup), range(SEEDS)))
    for seed, result in enumerate(results):
        assert (result["duplicates"], result["missing"], result["uncertain"],
                result["sent"]) == (0, 0, 0, RECIPIENTS), f"seed {seed}: {result}"
        assert result["kills"] > 0  # the test did crash the sender


@pytest.mark.parametrize("seed", range(3))
def test_outbox_sends_each_exactly_once(seed: int, tmp_path: Path, config: Config) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    store = Store.open(config, url)
    fill(store, 5000, f"outbox{seed}.example")
    outbox = tmp_path / "outbox"
    lives, kills = crash_until_finished(url, "outbox", str(outbox), 1000 + seed)
    files = list(outbox.glob("*.eml"))
    assert len(files) == 5000, f"{lives} lives, {kills} kills"
    to = Counter(line for f in files for line in f.read_bytes().split(b"\r\n")
                 if line.startswith(b"To: "))
    assert len(to) == 5000 and set(to.values()) == {1}
    store.close()
