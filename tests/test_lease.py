"""The one-sender lease: refused while another process holds it, taken over once it lapsed
or its process is gone, and a holder that lost it stops before its next batch."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from pipeline.audience.store import Store, now
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.engine import Engine
from pipeline.deliver.lease import Lease, LeaseLost
from pipeline.deliver.models import Delivery, DeliveryState, EntryState
from pipeline.deliver.transports.outbox import OutboxTransport
from tests.conftest import start_delivery
from tests.test_crash import fill
from tests.test_editions import project  # noqa: F401  (the fixture)


def hold(store: Store, delivery_id: int, owner: str, seconds: float) -> None:
    """Another process's lease, as it would have written it."""
    with store.session() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            lease_owner=owner, lease_since=now() - timedelta(minutes=5),
            lease_expires=now() + timedelta(seconds=seconds)))


def test_send_refuses_while_held_and_takes_over_a_lapsed_lease(project: Path) -> None:  # noqa: F811
    config = load_config(project / "newsletter.toml")
    store = Store.open(config)
    fill(store, 1200, "lease.example")
    delivery_id, _, edition = start_delivery(store, config, project / "issues" / "2027-1")
    deliveries.move(store, delivery_id, DeliveryState.RUNNING)
    engine = Engine(store, config, edition, OutboxTransport(project / "outbox"), b"k" * 48)
    rows = ledger.claim(store, delivery_id, None, 500, "left-by-the-other")  # in flight there
    hold(store, delivery_id, "sender.elsewhere.se:4242:abcd", 60)
    result = CliRunner().invoke(main, ["send", "issues/2027-1"])
    assert result.exit_code == 3
    assert "another process is sending this delivery: sender.elsewhere.se:4242:abcd holds it " \
           "since" in result.output
    assert ledger.counts(store, delivery_id)[EntryState.IN_FLIGHT] == 500  # left alone
    assert "sending: sender.elsewhere.se:4242:abcd since" in \
        CliRunner().invoke(main, ["status"]).output

    hold(store, delivery_id, "sender.elsewhere.se:4242:abcd", -1)  # it stopped beating
    engine.transport.send(engine.envelopes.template(rows[0].variant), "left-by-the-other",
                          [engine.envelopes.envelope(delivery_id, r)
                           for r in rows[:3]])  # 3 were sent
    result = CliRunner().invoke(main, ["send", "issues/2027-1"])
    assert result.exit_code == 0, result.output
    assert "delivery 1 is finished (1200 sent)" in result.output
    assert len(list((project / "outbox").glob("*.eml"))) == 1200  # the 3 were not sent again
    delivery = deliveries.get_delivery(store, delivery_id)
    assert delivery.lease_owner is None
    store.close()


def test_a_holder_that_lost_its_lease_stops_before_its_next_batch(project: Path) -> None:  # noqa: F811
    config = load_config(project / "newsletter.toml")
    store = Store.open(config)
    fill(store, 1500, "lost.example")
    delivery_id, _, edition = start_delivery(store, config, project / "issues" / "2027-1")
    lease = Lease(store, delivery_id, 60)
    lease.acquire()
    outbox = OutboxTransport(project / "outbox")
    engine = Engine(store, config, edition, outbox, b"k" * 48, lease=lease)

    def taken_over(done: int, total: int) -> None:  # after the first batch: it lapsed
        hold(store, delivery_id, "sender.elsewhere.se:7:beef", 60)

    with pytest.raises(LeaseLost):
        engine.run(delivery_id, taken_over)
    lease.release()  # releases nothing: it is not ours any more
    counts = ledger.counts(store, delivery_id)
    assert counts[EntryState.SENT] == 500 and counts[EntryState.PENDING] == 1000
    assert len(list(outbox.folder.glob("*.eml"))) == 500
    assert deliveries.get_delivery(store, delivery_id).lease_owner == "sender.elsewhere.se:7:beef"
    store.close()


def test_a_dead_local_holder_is_taken_over_at_once(project: Path) -> None:  # noqa: F811
    import socket
    import subprocess
    import sys

    config = load_config(project / "newsletter.toml")
    store = Store.open(config)
    fill(store, 10, "dead.example")
    delivery_id, _, _ = start_delivery(store, config, project / "issues" / "2027-1")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    hold(store, delivery_id, f"{socket.gethostname()}:{gone}:dead", 600)  # a killed sender
    result = CliRunner().invoke(main, ["resume", "issues/2027-1"])
    assert result.exit_code == 0, result.output
    assert "is finished (10 sent)" in result.output
    store.close()
