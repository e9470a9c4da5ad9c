"""Delivery speed: recipients/s and peak RSS, each beside the ceiling of the same server.

    python bench/deliver.py [--sendgrid 100000] [--smtp 5000] [--null 1000000] [--quick]

- SendGrid: N recipients through the real engine and transport to Prism (SendGrid's OpenAPI
  mock) and to the recording stand-in; ceiling: the same request bodies, pre-built, pushed
  by a bare keep-alive client to the same server.
- SMTP: N recipients to aiosmtpd over one connection and over ``--smtp-connections`` (4),
  against aiosmtpd in one process and in one process per connection (sharing the listening
  socket, each serving one connection at a time, as a relay serves connections in parallel);
  ceiling: pre-built message bytes sent by bare smtplib loops, over one connection and over as
  many, to the same server; aiosmtpd's own CPU time per message beside them. Then N/10 (at
  least 200) to an aiosmtpd that answers each message ``--smtp-relay-ms`` (5) late, as a relay
  writing its queue does.
- Null: N and N/10 recipients through a transport that discards what it is given (the
  pipeline's own cost: freezing, claiming, building, recording), and N through the code as
  issue 17 found it (``--baseline``, a ``git archive`` of that commit), in the same run.
Each run is a fresh process so its peak RSS is its own; the register and the approved edition
are made beforehand by another process, as ``newsletter approve`` makes them (a delivery
loads its edition, it renders nothing). Figures are medians of ``--repeat`` runs; the targets
of issue 17 are printed at the end, each beside what this run measured.
``--quick`` (small counts, one run each) is a smoke check in under a minute.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BASELINE = "96d82f6"  # main when issue 17 was taken: the code the null target is measured against
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

    The edition was approved by the process that filled the register; like ``send``, this one
    loads it. The lease, the publishing and the archive build around a real send are not
    measured. ``BENCH_TRACEMALLOC=1`` also prints the peak of Python's own allocations and
    where the largest live blocks were made at the end."""
    tracing = os.environ.get("BENCH_TRACEMALLOC") == "1"
    if tracing:
        import tracemalloc

        tracemalloc.start(8)
    from pipeline.audience.select import audience
    from pipeline.audience.store import Store
    from pipeline.config import load_config
    from pipeline.deliver import deliveries, ledger
    from pipeline.deliver.engine import Engine
    from pipeline.edition import latest_approved

    config = load_config(ROOT / "newsletter.toml")
    store = Store.open(config, url)
    if kind == "sendgrid":
        from pipeline.deliver.transports.sendgrid import SendGridTransport

        transport: Any = SendGridTransport("SG.bench", target, config.delivery.sendgrid, config,
                                           config.delivery.fence_minutes * 60)
    elif kind == "smtp":  # target: PORT or PORT:CONNECTIONS
        from pipeline.deliver.transports.smtp import SmtpTransport

        port, _, connections = target.partition(":")
        transport = SmtpTransport("127.0.0.1", int(port), "none", None, None, 30,
                                  config.sender.email, int(connections or 1))
    else:
        transport = NullTransport()
    edition = latest_approved(store, "2027-1")
    assert edition is not None, "the register was not prepared (--prepare)"
    start, cpu = time.perf_counter(), time.process_time()
    delivery, _ = deliveries.create_delivery(store, "2027-1", transport.name, edition.id)
    ledger.freeze(store, delivery.id, audience(store, config, edition.choose))
    bar: list[int] = []  # as `send` on a terminal: its progress bar is told after each batch
    report = Engine(store, config, edition, transport, b"k" * 48).run(
        delivery.id, lambda done, total: bar.append(done))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.state.value == "finished", report
    result: dict[str, Any] = {"seconds": seconds, "cpu_seconds": cpu,
                              "peak_mb": peak_rss_mb(), "sent": report.sent_now}
    if tracing:
        _, traced = tracemalloc.get_traced_memory()
        top = tracemalloc.take_snapshot().statistics("lineno")[:5]
        result["traced_peak_mb"] = traced / 2**20
        result["traced_top"] = [f"{stat.size / 2**20:.1f} MB {stat.traceback[0]}" for stat in top]
    print(json.dumps(result))


def peak_rss_mb() -> float:
    """This process's peak RSS: the kernel's high-water mark of its own memory (VmHWM).

    Not ``getrusage``'s ``ru_maxrss``: Linux keeps that across ``exec``, so a child started
    by a big parent reports the parent's size (how this benchmark once read 220 MB)."""
    try:
        for row in Path("/proc/self/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(url: str, count: int) -> None:
    """A register of ``count`` confirmed readers and the example issue's approved edition."""
    from audience import fill

    from pipeline.audience.store import Store
    from pipeline.config import load_config
    from pipeline.edition import build_edition, store_edition
    from pipeline.issue import load_issue

    fill(url, count)
    config = load_config(ROOT / "newsletter.toml")
    store = Store.open(config, url)
    store_edition(store, build_edition(load_issue(ROOT / "issues" / "2027-1", config), config),
                  approved_by="Bench <bench@example.se>")
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


_PREPARED: dict[int, Path] = {}


def register(count: int) -> str:
    """A fresh SQLite register of ``count`` readers: prepared once per count, then copied."""
    if count not in _PREPARED:
        folder = Path(tempfile.mkdtemp())
        subprocess.run([sys.executable, __file__, "--prepare", f"sqlite:///{folder / 'r.db'}",
                        str(count)], check=True, cwd=ROOT)
        _PREPARED[count] = folder / "r.db"
    work = Path(tempfile.mkdtemp())
    shutil.copy(_PREPARED[count], work / "bench.db")
    return f"sqlite:///{work / 'bench.db'}"


def measure(kind: str, count: int, target: str, code: Path = ROOT,
            trace: bool = False) -> dict[str, Any]:
    """Time one delivery in its own process, with ``code``'s pipeline (a baseline's too)."""
    env = {**os.environ, "BENCH_TRACEMALLOC": "1" if trace else "0"}
    if code == ROOT:
        url = register(count)
    else:  # a register of that code's own schema (ours may have migrations it cannot read),
        # its log checkpointed as ``prepare`` leaves ours
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
        subprocess.run([sys.executable, "-c", "import sqlite3, sys; sys.path.insert(0, 'bench'); "
                        f"from audience import fill; fill({url!r}, {count}); "
                        f"sqlite3.connect({url[len('sqlite:///'):]!r}).execute("
                        "'PRAGMA wal_checkpoint(TRUNCATE)')"], check=True, cwd=code)
    try:
        out = subprocess.run([sys.executable, str(code / "bench" / "deliver.py"), "--child",
                              kind, url, target],
                             check=True, capture_output=True, text=True, cwd=code, env=env)
    finally:
        shutil.rmtree(Path(url[len("sqlite:///"):]).parent, ignore_errors=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def median_run(kind: str, count: int, target: str, repeat: int) -> dict[str, Any]:
    runs = sorted((measure(kind, count, target) for _ in range(repeat)),
                  key=lambda run: float(run["seconds"]))
    middle = runs[len(runs) // 2]
    middle["peak_mb"] = max(float(run["peak_mb"]) for run in runs)
    return middle


def baseline_tree(ref: str) -> Path:
    """The pipeline at ``ref``, unpacked from git (not a worktree: nothing to clean up in the
    repository)."""
    folder = Path(tempfile.mkdtemp(prefix="baseline-"))
    archive = subprocess.run(["git", "archive", ref], check=True, capture_output=True,
                             cwd=ROOT).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def bodies(count: int) -> list[bytes]:
    """The request bodies our transport sends, pre-built, for the bare-client ceiling."""
    from pipeline.config import load_config
    from pipeline.deliver.envelopes import links
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


def bare_http(port: int, payloads: list[bytes], repeat: int = 1) -> float:
    return statistics.median(_bare_http(port, payloads) for _ in range(repeat))


def _bare_http(port: int, payloads: list[bytes]) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for payload in payloads:
        connection.request("POST", "/v3/mail/send", payload, {
            "Authorization": "Bearer SG.bench", "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 202, response.status
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


def line(label: str, count: int, run: dict[str, Any], ceiling: float | None) -> None:
    rate = count / run["seconds"]
    text = f"{label:34} {count:>9,} in {run['seconds']:7.2f} s = {rate:9,.0f}/s  " \
           f"peak RSS {run['peak_mb']:4.0f} MB"
    if ceiling:
        text += (f"  | bare client {count / ceiling:9,.0f}/s  "
                 f"ours/bare {ceiling / run['seconds']:.0%}")
    print(text, flush=True)


class Targets:
    """Issue 17's targets, each with what this run measured, printed at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, bool]] = []

    def add(self, what: str, measured: str, target: str, met: bool) -> None:
        self.rows.append((what, measured, target, met))

    def print(self) -> None:
        if not self.rows:
            return
        print(f"\n{'target (issue 17)':44} {'measured':>22}  {'target':>10}")
        for what, measured, target, met in self.rows:
            print(f"{what:44} {measured:>22}  {target:>10}  {'met' if met else 'NOT MET'}")


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
    parser.add_argument("--smtp", type=int, default=5_000)
    parser.add_argument("--smtp-connections", type=int, default=4,
                        help="SMTP: connections of the parallel figure, against one")
    parser.add_argument("--smtp-relay-ms", type=float, default=5,
                        help="SMTP: the slow relay's wait per message (0: no such figure)")
    parser.add_argument("--null", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per SendGrid and null N/10 figure (the median is shown)")
    parser.add_argument("--baseline", default=BASELINE, metavar="REF",
                        help="the commit the null target is measured against ('none': skip)")
    parser.add_argument("--quick", action="store_true",
                        help="small counts, one run each: a smoke check in under a minute")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python's allocations in the null runs (slower)")
    parser.add_argument("--workers", type=int, default=4,
                        help="with --postgres: `send --workers N` against `--workers 1`")
    parser.add_argument("--workers-count", type=int, default=50_000)
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="an empty PostgreSQL database it may wipe (the workers figure)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, target = args.child
        return child(kind, url, target)
    if args.prepare:
        return prepare(args.prepare[0], int(args.prepare[1]))
    if args.quick:
        args.sendgrid, args.smtp, args.null, args.repeat = 5_000, 500, 20_000, 1
    targets = Targets()

    if args.sendgrid:
        from tests.sendgrid_standin import StandIn

        count = args.sendgrid
        payloads = bodies(count)
        from deliver_smtp import cpu_seconds

        prism, port = start_prism(["mock", str(SPEC)])
        try:
            before = cpu_seconds(prism.pid)
            ceiling = bare_http(port, payloads, args.repeat)
            prism_bare, before = (cpu_seconds(prism.pid) - before) / args.repeat, \
                cpu_seconds(prism.pid)
            run = median_run("sendgrid", count, f"http://127.0.0.1:{port}", args.repeat)
            prism_ours = (cpu_seconds(prism.pid) - before) / args.repeat
            line("SendGrid → Prism mock", count, run, ceiling)
            print(f"{'':34} CPU seconds a run: ours {run['cpu_seconds']:.2f} (one process), "
                  f"Prism {prism_ours:.2f}; Prism behind the bare client {prism_bare:.2f}; "
                  f"{os.cpu_count()} cores")
        finally:
            prism.terminate()
        share = ceiling / run["seconds"]
        targets.add(f"SendGrid → Prism {count:,}: ours / bare client", f"{share:.0%}",
                    ">= 30 %", share >= 0.30)
        targets.add(f"peak RSS, SendGrid {count:,}", f"{run['peak_mb']:.0f} MB", "<= 100 MB",
                    run["peak_mb"] <= 100)
        standin = StandIn()
        line("SendGrid → stand-in (no Prism)", count,
             median_run("sendgrid", count, f"http://127.0.0.1:{standin.port}", args.repeat),
             bare_http(standin.port, payloads, args.repeat))
        standin.close()
    if args.smtp:
        from deliver_smtp import smtp_figures

        smtp_figures(args, targets, measure, line)
    if args.null:
        big_count, small_count = args.null, args.null // 10
        small = median_run("null", small_count, "-", args.repeat)
        big = measure("null", big_count, "-", trace=True) if args.tracemalloc else \
            median_run("null", big_count, "-", args.repeat)
        line("null transport", small_count, small, None)
        line("null transport", big_count, big, None)
        ratio = big["seconds"] / small["seconds"]
        print(f"{'':34} time ratio {big_count:,} / {small_count:,}: {ratio:.1f}")
        for traced in big.get("traced_top", []):
            print(f"{'':34} tracemalloc: {traced}")
        targets.add(f"null: time {big_count:,} / {small_count:,}", f"{ratio:.1f}", "<= 10.5",
                    ratio <= 10.5)
        targets.add(f"peak RSS, null {big_count:,}", f"{big['peak_mb']:.0f} MB", "<= 100 MB",
                    big["peak_mb"] <= 100)
        if args.baseline != "none":
            old = baseline_tree(args.baseline)
            try:
                then = measure("null", big_count, "-", code=old)
            finally:
                shutil.rmtree(old)
            line(f"null, the code at {args.baseline}", big_count, then, None)
            speedup = then["seconds"] / big["seconds"]
            targets.add(f"null {big_count:,}: recipients/s vs {args.baseline}",
                        f"{speedup:.1f} x", ">= 3 x", speedup >= 3)
    if args.postgres:
        count = args.workers_count
        runs = {n: sorted(measure_workers(args.postgres, count, n) for _ in range(3))[1]
                for n in (1, args.workers)}
        for n, seconds in runs.items():
            print(f"{f'outbox, PostgreSQL, --workers {n}':34} {count:>9,} in {seconds:7.2f} s "
                  f"= {count / seconds:9,.0f}/s  (median of 3, process start to finished)")
        print(f"{'':34} --workers {args.workers} / --workers 1: "
              f"{runs[1] / runs[args.workers]:.2f} x (this machine has {os.cpu_count()} cores)")
    targets.print()
    for folder in _PREPARED.values():
        shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
