"""Crash test: a delivery SIGKILLed at progress points, restarted until finished.

Pass: every recipient got exactly one message (with SendGrid's fence and with the outbox: no
one uncertain), and no message went out before the archive showed the edition it links to.
Each life is killed by the parent after it reported 1–3 recorded batches (plus a random
short offset), or kills itself at a random point the parent rarely hits (between freezing
and publishing, between the in-flight mark and the send, between the provider's yes and the
ledger write). Every parent kill follows recorded progress, so the test finishes however
slow the machine is. Seeds and size: NEWSLETTER_CRASH_SEEDS (4), NEWSLETTER_CRASH_RECIPIENTS
(12,000); bench/crash.py runs 100 seeds of 50,000.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import insert

from pipeline.audience.importer import SUBSCRIBERS, SUBSCRIPTIONS
from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import EntryState
from pipeline.edition import load_edition
from tests.conftest import EXAMPLE, ROOT, addressee

RECIPIENTS = int(os.environ.get("NEWSLETTER_CRASH_RECIPIENTS", "12000"))
SEEDS = int(os.environ.get("NEWSLETTER_CRASH_SEEDS", "4"))
CHILD = ROOT / "tests" / "crash_child.py"
STUCK = 600  # seconds without a line from a child: a hung child fails the test, not CI


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


def make_site(folder: Path) -> Path:
    """A project root with the example issue; the archive is published under it."""
    shutil.copytree(EXAMPLE, folder / "issues" / "2027-1")
    return folder


def _lines(stream: IO[bytes], into: queue.Queue[str | None]) -> None:
    for raw in stream:
        into.put(raw.decode(errors="replace").strip())
    into.put(None)


def crash_until_finished(url: str, kind: str, target: str, site: Path, seed: int,
                         sent: Any = None) -> tuple[int, int]:
    """Run the sender, killing it at progress points, until it finishes: (lives, kills).

    ``sent()`` (if given) counts what the provider has; after every death, if anything was
    sent, the archive must already show the issue."""
    rng = random.Random(seed)
    kills = 0
    page = site / "archive" / "2027" / "1" / "index.html"
    for life in range(1, 2000):
        errors = site / "child-stderr.txt"
        with errors.open("wb") as stderr:
            child = subprocess.Popen([sys.executable, str(CHILD), url, kind, target, str(site),
                                      str(seed)], stdout=subprocess.PIPE, stderr=stderr,
                                     cwd=ROOT)
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(child.stdout, lines), daemon=True)
        reader.start()
        kill_after = rng.choice([1, 1, 2, 3])  # recorded batches
        seen, output = 0, []
        while True:
            try:
                line = lines.get(timeout=STUCK)
            except queue.Empty:
                child.kill()
                pytest.fail(f"life {life}: no progress from the sender in {STUCK} s")
            if line is None:
                break
            output.append(line)
            seen += line == "batch"
            if seen >= kill_after:
                time.sleep(rng.uniform(0, 0.05))  # a random point in the next batch
                child.send_signal(signal.SIGKILL)
                break
        child.wait()
        reader.join()
        assert child.stdout is not None
        child.stdout.close()
        err = errors.read_text(errors="replace")
        if sent is not None and sent():
            assert page.is_file(), f"life {life}: mail went out before the archive page"
        if child.returncode == -signal.SIGKILL:
            kills += 1
            continue
        assert child.returncode == 0, "\n".join(output)[-1000:] + err[-2000:]
        return life, kills
    pytest.fail("the delivery did not finish in 2000 lives")


def run_seed(config: Config, standin: Any, base: str, folder: Path, seed: int,
             recipients: int, setup: threading.Lock) -> Counter[str]:
    """One seed of the crash test: fill, crash until finished, count what arrived."""
    url = f"sqlite:///{folder / f'seed{seed}.db'}"
    domain = f"seed{seed}.example"
    site = make_site(folder / f"site{seed}")
    with setup:  # Alembic's migration context is process-global
        store = Store.open(config, url)
        fill(store, recipients, domain)

    def mine() -> Counter[str]:
        return Counter({k: v for k, v in standin.delivered().items() if k.endswith(domain)})

    lives, kills = crash_until_finished(url, "sendgrid", base, site, seed,
                                        lambda: sum(mine().values()))
    delivered = mine()
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.edition_id is not None
    counts = ledger.counts(store, delivery.id)
    edition = load_edition(store, delivery.edition_id)
    page = site / "archive" / "2027" / "1" / "index.html"
    assert page.read_text(encoding="utf-8") == edition.web_page
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
    site = make_site(tmp_path / "site")
    lives, kills = crash_until_finished(url, "outbox", str(outbox), site, 1000 + seed,
                                        lambda: any(outbox.glob("*.eml")))
    files = list(outbox.glob("*.eml"))
    assert len(files) == 5000, f"{lives} lives, {kills} kills"
    to = Counter(addressee(f.read_bytes()) for f in files)
    assert len(to) == 5000 and set(to.values()) == {1}
    assert kills > 0  # the test did crash the sender
    store.close()
