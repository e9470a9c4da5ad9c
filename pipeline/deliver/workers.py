"""``newsletter send --workers N``: N processes share one delivery, on PostgreSQL.

The process that runs ``send`` holds the delivery's lease, freezes, publishes, settles what a
crash left in flight and reads the provider's suppressions, as a single sender does. Then it
starts N worker processes that only claim and send: each claim is ``FOR UPDATE SKIP LOCKED``,
so their batches are disjoint, and each claim checks and renews the one lease they share
(the parent's id). When they have ended, the parent settles whatever a dead worker left in
flight and finishes the delivery. SQLite takes one writer at a time, so it is refused there.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from pipeline.config import Config
from pipeline.deliver.deliveries import DeliveryError, get_delivery
from pipeline.deliver.engine import Engine
from pipeline.deliver.lease import Lease
from pipeline.deliver.ledger import counts
from pipeline.deliver.lifecycle import DeliveryReport
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.edition import Edition
from pipeline.i18n import _


def check_workers(workers: int, dialect: str) -> None:
    if workers < 1:
        raise DeliveryError(_("--workers must be at least 1"))
    if workers > 1 and dialect != "postgresql":
        raise DeliveryError(_("--workers needs PostgreSQL (NEWSLETTER_DATABASE_URL): SQLite "
                              "lets one process write at a time"))


def run_with_workers(engine: Engine, delivery_id: int, workers: int, config: Config,
                     url: str, transport: str, fence: bool) -> DeliveryReport:
    """Prepare as the lease holder, let ``workers`` processes send, then finish."""
    sent_before = counts(engine.store, delivery_id)[EntryState.SENT]
    report = engine._start(delivery_id)
    if report.state.value == "paused":
        return engine._finish(delivery_id, report)
    lease = engine.lease
    assert lease is not None
    context = multiprocessing.get_context("spawn")  # no database connection is inherited
    processes = [context.Process(target=work, name=f"sender-{n}", args=(
        config, url, delivery_id, engine.edition, lease.owner, lease.seconds, transport, fence,
        engine.secret)) for n in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        report.notes.append(f"worker(s) {', '.join(failed)} stopped early; this process "
                            "settles and sends what they left")
    if get_delivery(engine.store, delivery_id).state == DeliveryState.RUNNING:
        final = engine.run(delivery_id)  # the holder: settles leftovers, sends the rest
        final.notes[:0] = report.notes
    else:  # finished, or paused by a worker or by hand
        final = engine._finish(delivery_id, report)
    final.sent_now = final.counts[EntryState.SENT] - sent_before
    return final


def work(config: Config, url: str, delivery_id: int, edition: Edition, owner: str,
         seconds: float, transport_name: str, fence: bool, secret: bytes) -> None:
    """One worker process: claim and send until nothing is pending (or the lease is gone)."""
    from pipeline.audience.store import Store
    from pipeline.deliver.transports import open_transport

    store = Store.open(config, url)
    try:
        transport: Any = open_transport(transport_name, config, fence)
        lease = Lease(store, delivery_id, seconds, owner=owner)  # shared; not acquired here
        Engine(store, config, edition, transport, secret, lease=lease).run(delivery_id,
                                                                           worker=True)
    finally:
        store.close()
