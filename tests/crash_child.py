"""One life of a sending process for the crash test: it may be SIGKILLed at any moment.

    python tests/crash_child.py DB_URL TRANSPORT TARGET SEED

TRANSPORT is ``sendgrid`` (TARGET: base URL) or ``outbox`` (TARGET: folder). Besides the
parent's kills at random times, this process kills itself at random points that a timer rarely
hits: right after the provider accepted a batch and before the ledger records it, and right
after the ledger marked a batch in flight and before it is sent.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.audience.store import Store  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.deliver import engine as engine_module  # noqa: E402
from pipeline.deliver import ledger  # noqa: E402
from pipeline.deliver.engine import Engine, start_delivery  # noqa: E402
from pipeline.issue import load_issue  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    url, kind, target, seed = sys.argv[1:5]
    chance = random.Random(f"{seed}-{os.getpid()}")
    config = load_config(ROOT / "newsletter.toml")
    store = Store.open(config, url)
    if kind == "sendgrid":
        from pipeline.deliver.transports.sendgrid import SendGridTransport

        transport = SendGridTransport("SG.test", target, config.delivery.sendgrid, config,
                                      config.delivery.fence_minutes * 60)
    else:
        from pipeline.deliver.transports.outbox import OutboxTransport

        transport = OutboxTransport(Path(target))  # type: ignore[assignment]
    real_record, real_send = ledger.record, transport.send

    # a sequential transport records every message: die per batch, not per message
    record_chance = 0.08 / (1 if kind == "sendgrid" else 100)

    def record(store_, outcomes):  # the provider said yes; the ledger has not heard yet
        if chance.random() < record_chance:
            die()
        return real_record(store_, outcomes)

    def send(template, batch_id, envelopes, report=None):  # in flight, not yet sent
        if chance.random() < 0.04:
            die()
        return real_send(template, batch_id, envelopes, report)

    engine_module.ledger.record = record  # type: ignore[assignment]
    transport.send = send  # type: ignore[method-assign]
    issue = load_issue(ROOT / "issues" / "2027-1", config)
    current = ledger.current_delivery(store, issue.slug)
    if current is not None and current.state == "finished":
        sys.exit(0)  # an earlier life finished just before it was killed
    delivery_id, _ = start_delivery(store, config, issue, transport)
    report = Engine(store, config, issue, transport, b"k" * 48).run(delivery_id)
    print(report.state.value, report.counts)
    sys.exit(0 if report.state.value == "finished" else 3)


if __name__ == "__main__":
    main()
