"""One life of a sending process for the crash test: it may be SIGKILLed at any moment.

    python tests/crash_child.py DB_URL TRANSPORT TARGET SITE SEED

TRANSPORT is ``sendgrid`` (TARGET: base URL) or ``outbox`` (TARGET: folder); SITE is the
project root the archive is published under. It runs ``send_issue``, the code behind
``newsletter send``, and reports its progress on stdout, one line each, so the parent can
kill it at progress points instead of after a guessed time: ``ready`` once it runs, ``batch``
after each batch the ledger recorded. Besides the parent's kills it kills itself at points a
parent rarely hits: between freezing the audience and publishing, after the ledger marked a
batch in flight and before it is sent, and after the provider accepted a batch and before
the ledger recorded it.
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
from pipeline.deliver import deliveries, ledger  # noqa: E402
from pipeline.deliver import engine as engine_module  # noqa: E402
from pipeline.deliver import run as run_module  # noqa: E402
from pipeline.deliver.run import SendOptions, send_issue  # noqa: E402
from pipeline.settings import ApprovalSettings  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    url, kind, target, site, seed = sys.argv[1:6]
    chance = random.Random(f"{seed}-{os.getpid()}")
    config = load_config(ROOT / "newsletter.toml").model_copy(update={
        "root": Path(site), "templates_dir": str(ROOT / "templates"),
        "approval": ApprovalSettings(required=False)})
    store = Store.open(config, url)
    if kind == "sendgrid":
        from pipeline.deliver.transports.sendgrid import SendGridTransport

        transport = SendGridTransport("SG.test", target, config.delivery.sendgrid, config,
                                      config.delivery.fence_minutes * 60)
    else:
        from pipeline.deliver.transports.outbox import OutboxTransport

        transport = OutboxTransport(Path(target))  # type: ignore[assignment]
    real_record, real_send, real_publish = ledger.record, transport.send, run_module._publish

    # a sequential transport records every message: die per batch, not per message
    record_chance = 0.08 / (1 if kind == "sendgrid" else 100)

    def record(store_, outcomes, batch=None):  # the provider said yes; the ledger not yet
        if chance.random() < record_chance:
            die()
        return real_record(store_, outcomes, batch)

    def send(template, batch_id, envelopes, report=None):  # in flight, not yet sent
        if chance.random() < 0.04:
            die()
        return real_send(template, batch_id, envelopes, report)

    def publish(*args):  # frozen (or resumed), nothing sent, the archive not yet written
        if chance.random() < 0.1:
            die()
        return real_publish(*args)

    engine_module.ledger.record = record  # type: ignore[assignment]
    transport.send = send  # type: ignore[method-assign]
    run_module._publish = publish  # type: ignore[assignment]
    say("ready")
    try:
        report = send_issue(store, config, Path(site) / "issues" / "2027-1", b"k" * 48,
                            lambda name, edition: transport, SendOptions(transport=kind),
                            progress=lambda done, total: say("batch"))
    except deliveries.AlreadyDelivered:
        sys.exit(0)  # an earlier life finished just before it was killed
    say(f"{report.state.value} {report.counts}")
    sys.exit(0 if report.state.value == "finished" else 3)


if __name__ == "__main__":
    main()
