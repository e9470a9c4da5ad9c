"""Delivery speed: recipients/s and peak RSS, each beside the ceiling of the same server.

    python bench/deliver.py [--sendgrid 100000] [--smtp 100000] [--null 1000000]

- SendGrid: N recipients through the real engine and transport to Prism (SendGrid's OpenAPI
  mock) and to the recording stand-in; ceiling: the same request bodies, pre-built, pushed
  by a bare keep-alive client to the same server.
- SMTP: N recipients to aiosmtpd (its own process); ceiling: pre-built message bytes in a
  bare smtplib loop to the same server.
- Null: N and N/10 recipients through a transport that discards what it is given (the
  pipeline's own cost: freezing, claiming, building, recording); the ratio should be <= 11.
Each run is a fresh process so its peak RSS is its own. Targets: 100,000 to the SendGrid mock
in < 20 s and < 250 MB; null 1,000,000 <= 11 x 100,000; SMTP >= 80 % of the bare ceiling.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SPEC = Path(os.environ.get("SENDGRID_OPENAPI_SPEC", ROOT.parent / "shared" / "sendgrid" /
                           "sendgrid-v3-newsletter-mock.json"))


class NullTransport:
    name = "null"
    batch_size = 1000
    uses_fence = False
    sequential = False

    def new_batch(self) -> str:
        return "null"

    def send(self, template: Any, batch_id: str, envelopes: Any, report: Any = None) -> Any:
        from pipeline.deliver.transports import Result

        for envelope in envelopes:
            template.build(envelope)  # the per-recipient work, then drop it
        return [Result(e.entry_id, True, None) for e in envelopes]

    def settle(self, batch_id: str, entry_ids: Any, since: Any) -> Any:
        return dict.fromkeys(entry_ids, False)

    def close(self) -> None:
        pass


def child(kind: str, url: str, target: str) -> None:
    """One measured run in this process: freeze, send; print seconds and peak RSS.

    The edition is made before the clock starts (approving is not part of delivering); the
    lease, the publishing and the archive build around a real send are not measured."""
    from pipeline.audience.select import select_recipients
    from pipeline.audience.store import Store
    from pipeline.config import load_config
    from pipeline.deliver import ledger
    from pipeline.deliver.engine import Engine
    from pipeline.edition import build_edition, store_edition
    from pipeline.issue import load_issue

    config = load_config(ROOT / "newsletter.toml")
    store = Store.open(config, url)
    if kind == "sendgrid":
        from pipeline.deliver.transports.sendgrid import SendGridTransport

        transport: Any = SendGridTransport("SG.bench", target, config.delivery.sendgrid, config,
                                           config.delivery.fence_minutes * 60)
    elif kind == "smtp":
        from pipeline.deliver.transports.smtp import SmtpTransport

        transport = SmtpTransport("127.0.0.1", int(target), "none", None, None, 30,
                                  config.sender.email)
    else:
        transport = NullTransport()
    edition = store_edition(store, build_edition(load_issue(ROOT / "issues" / "2027-1", config),
                                                 config))
    start = time.perf_counter()
    delivery, _ = ledger.create_delivery(store, "2027-1", transport.name, edition.id)
    ledger.freeze(store, delivery.id, select_recipients(store, config, edition.choose))
    report = Engine(store, config, edition, transport, b"k" * 48).run(delivery.id)
    seconds = time.perf_counter() - start
    assert report.state.value == "finished", report
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "sent": report.sent_now}))


def measure(kind: str, count: int, target: str) -> dict[str, float]:
    """Fill a fresh register (in another process), then time the delivery in its own."""
    work = Path(tempfile.mkdtemp())
    url = f"sqlite:///{work / 'bench.db'}"
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'bench'); "
                    f"from audience import fill; fill({url!r}, {count})"], check=True, cwd=ROOT)
    out = subprocess.run([sys.executable, __file__, "--child", kind, url, target],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bodies(count: int) -> list[bytes]:
    """The request bodies our transport sends, pre-built, for the bare-client ceiling."""
    from pipeline.config import load_config
    from pipeline.deliver.engine import links
    from pipeline.deliver.message import Envelope, MessageTemplate
    from pipeline.deliver.transports.sendgrid import SendGridTransport
    from pipeline.issue import load_issue
    from pipeline.render import VariantKey, render_issue
    from pipeline.render.personalise import Reader

    config = load_config(ROOT / "newsletter.toml")
    issue = load_issue(ROOT / "issues" / "2027-1", config)
    template = MessageTemplate(render_issue(issue, config, [VariantKey("general")])
                               .variants[VariantKey("general")], config, config.list_id)
    transport = SendGridTransport("SG.x", "http://x", config.delivery.sendgrid, config, 900)
    out = []
    for start in range(0, count, 1000):
        envelopes = []
        for i in range(start, min(start + 1000, count)):
            unsubscribe, preferences = links(config, b"k" * 48, i + 1)
            envelopes.append(Envelope(i + 1, f"r{i + 1}@example.se", None, "general",
                                      f"<{i}@x>", Reader("", unsubscribe, preferences), str(i)))
        out.append(json.dumps(transport.body(template, "batch", envelopes)).encode())
    return out


def bare_http(port: int, payloads: list[bytes]) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for payload in payloads:
        connection.request("POST", "/v3/mail/send", payload, {
            "Authorization": "Bearer SG.bench", "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 202, response.status
    return time.perf_counter() - start


def bare_smtp(port: int, count: int) -> float:
    """Our own general variant's bytes, built once, sent again and again."""
    from pipeline.config import load_config
    from pipeline.deliver.message import Envelope, MessageTemplate
    from pipeline.issue import load_issue
    from pipeline.render import VariantKey, render_issue
    from pipeline.render.personalise import Reader

    config = load_config(ROOT / "newsletter.toml")
    issue = load_issue(ROOT / "issues" / "2027-1", config)
    email = render_issue(issue, config, [VariantKey("general")]).variants[VariantKey("general")]
    data = MessageTemplate(email, config, config.list_id).build(Envelope(
        1, "b@example.se", None, "general", "<1@x>", Reader("", "https://u", "https://p"), "1"))
    connection = smtplib.SMTP("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for i in range(count):
        connection.sendmail("a@example.se", [f"r{i}@example.se"], data)
    connection.quit()
    return time.perf_counter() - start


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prism(args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    import urllib.request

    port = free_port()
    process = subprocess.Popen([str(ROOT / "node_modules" / ".bin" / "prism"), *args, "-h",
                                "127.0.0.1", "-p", str(port), "--errors", "-v", "warn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v3/mail/batch",
                                             method="POST",
                                             headers={"Authorization": "Bearer SG.x"})
            with urllib.request.urlopen(request, timeout=2):
                return process, port
        except OSError:
            time.sleep(0.5)
    raise SystemExit("Prism did not start")


def line(label: str, count: int, run: dict[str, float], ceiling: float | None) -> None:
    rate = count / run["seconds"]
    text = f"{label:34} {count:>9,} in {run['seconds']:7.2f} s = {rate:9,.0f}/s  " \
           f"peak RSS {run['peak_mb']:4.0f} MB"
    if ceiling:
        text += (f"  | bare client {count / ceiling:9,.0f}/s  "
                 f"ours/bare {ceiling / run['seconds']:.0%}")
    print(text)


def measure_workers(url: str, count: int, workers: int) -> float:
    """`newsletter send --workers N` as a process on PostgreSQL, into an outbox: seconds from
    start to finished (process start, freezing, publishing and sending included)."""
    import shutil

    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as connection:  # an empty database for each run
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    project = Path(tempfile.mkdtemp())
    shutil.copytree(ROOT / "templates", project / "templates")
    shutil.copytree(ROOT / "issues" / "2027-1", project / "issues" / "2027-1")
    shutil.copy(ROOT / "newsletter.toml", project / "newsletter.toml")
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'bench'); "
                    f"from audience import fill; fill({url!r}, {count})"], check=True, cwd=ROOT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSLETTER_DATABASE_URL": url,
           "NEWSLETTER_SECRET_KEY": "b" * 48}
    newsletter = [sys.executable, "-m", "pipeline"]
    subprocess.run([*newsletter, "approve", "issues/2027-1", "--by", "B <b@example.se>"],
                   check=True, cwd=project, env=env, capture_output=True)
    start = time.perf_counter()
    subprocess.run([*newsletter, "send", "issues/2027-1", "--workers", str(workers)],
                   check=True, cwd=project, env=env, capture_output=True)
    seconds = time.perf_counter() - start
    assert len(list((project / "outbox").glob("*.eml"))) == count
    shutil.rmtree(project)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sendgrid", type=int, default=100_000)
    parser.add_argument("--smtp", type=int, default=100_000)
    parser.add_argument("--null", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4,
                        help="with --postgres: `send --workers N` against `--workers 1`")
    parser.add_argument("--workers-count", type=int, default=50_000)
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="an empty PostgreSQL database it may wipe (the workers figure)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, target = args.child
        return child(kind, url, target)

    if args.sendgrid:
        from tests.sendgrid_standin import StandIn

        payloads = bodies(args.sendgrid)
        prism, port = start_prism(["mock", str(SPEC)])
        try:
            line("SendGrid → Prism mock", args.sendgrid,
                 measure("sendgrid", args.sendgrid, f"http://127.0.0.1:{port}"),
                 bare_http(port, payloads))
        finally:
            prism.terminate()
        standin = StandIn()
        line("SendGrid → stand-in (no Prism)", args.sendgrid,
             measure("sendgrid", args.sendgrid, f"http://127.0.0.1:{standin.port}"),
             bare_http(standin.port, payloads))
        standin.close()
    if args.smtp:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l",
                                   f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"])
        time.sleep(1.5)
        try:
            ceiling_count = min(args.smtp, 5000)
            ceiling = bare_smtp(port, ceiling_count) * args.smtp / ceiling_count
            line("SMTP → aiosmtpd", args.smtp, measure("smtp", args.smtp, str(port)), ceiling)
        finally:
            server.terminate()
    if args.null:
        small = measure("null", args.null // 10, "-")
        big = measure("null", args.null, "-")
        line("null transport", args.null // 10, small, None)
        line("null transport", args.null, big, None)
        print(f"{'':34} time ratio {args.null:,} / {args.null // 10:,}: "
              f"{big['seconds'] / small['seconds']:.1f} (target <= 11)")
    if args.postgres:
        count = args.workers_count
        runs = {n: sorted(measure_workers(args.postgres, count, n) for _ in range(3))[1]
                for n in (1, args.workers)}
        for n, seconds in runs.items():
            print(f"{f'outbox, PostgreSQL, --workers {n}':34} {count:>9,} in {seconds:7.2f} s "
                  f"= {count / seconds:9,.0f}/s  (median of 3, process start to finished)")
        print(f"{'':34} --workers {args.workers} / --workers 1: "
              f"{runs[1] / runs[args.workers]:.2f} x (this machine has {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
