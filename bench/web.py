"""One-click unsubscribe under load: `newsletter serve` (uvicorn) on 127.0.0.1, SQLite.

    python bench/web.py [--requests 2000] [--concurrency 20] [--rounds 3]

A separate server process, as in production, over a register of `--requests` subscribers.
A bounded load generator (threads with keep-alive connections, loopback only) sends each
subscriber's RFC 8058 POST once, then the same load against GET /style.css: the framework
and server with no database work, the ceiling this machine gives the endpoint. Prints p50,
p95, p99 latency and throughput, medians over rounds. Target: p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from pipeline.audience.importer import import_audience  # noqa: E402
from pipeline.audience.models import LegalBasis, Status, Subscriber, Subscription  # noqa: E402
from pipeline.audience.store import Store  # noqa: E402
from pipeline.audience.tokens import Purpose, make_token  # noqa: E402
from pipeline.config import load_config  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load(port: int, requests: list[tuple[str, str, bytes | None]], concurrency: int
         ) -> tuple[list[float], float, int]:
    """(latencies in seconds, wall time, non-2xx answers) for the given requests."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    queue = iter(requests)

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                break
            method, path, body = item
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            start = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            mine.append(time.perf_counter() - start)
            if answer.status >= 300:
                with lock:
                    failures[0] += 1
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - start, failures[0]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def one_round(count: int, concurrency: int, work: Path) -> dict[str, tuple[float, ...]]:
    config = load_config(ROOT / "newsletter.toml")
    url = f"sqlite:///{work / 'web.db'}"
    store = Store.open(config, url)
    path = work / "readers.csv"
    path.write_text("email;consent_source;consented_at;confirmed_at;privacy_notice\n" + "".join(
        f"reader{i}@example.se;bench;2026-11-01;2026-11-01;2026-1\n" for i in range(count)),
        encoding="utf-8")
    import_audience(store, config, path, "general", LegalBasis.CONSENT)
    secret = secrets.token_urlsafe(48)
    with store.session() as session:
        ids = list(session.scalars(select(Subscriber.id)))
    tokens = [make_token(secret.encode(), Purpose.UNSUBSCRIBE, i) for i in ids]
    port = free_port()
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": url, "NEWSLETTER_SECRET_KEY": secret}
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--port", str(port),
                               "--config", str(ROOT / "newsletter.toml")], env=env, cwd=work)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        body = b"List-Unsubscribe=One-Click"
        results = {}
        results["one-click POST"] = load(port, [("POST", f"/avregistrera/{t}", body)
                                                for t in tokens], concurrency)
        results["GET /style.css"] = load(port, [("GET", "/style.css", None)] * count,
                                         concurrency)
    finally:
        server.terminate()
        server.wait(10)
    with store.session() as session:
        left = session.scalar(select(Subscription.id).where(
            Subscription.status != Status.UNSUBSCRIBED).limit(1))
    store.close()
    assert left is None, "a one-click request did not unsubscribe its reader"
    figures = {}
    for name, (latencies, wall, failures) in results.items():
        assert failures == 0, f"{name}: {failures} requests failed"
        figures[name] = (percentile(latencies, 0.50) * 1000, percentile(latencies, 0.95) * 1000,
                         percentile(latencies, 0.99) * 1000, len(latencies) / wall)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory() as work:
            rounds.append(one_round(args.requests, args.concurrency, Path(work)))
        print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{args.requests:,} requests, {args.concurrency} concurrent, loopback, "
          f"medians of {args.rounds} rounds")
    medians = {}
    for name in rounds[0]:
        p50, p95, p99, rate = (statistics.median(r[name][i] for r in rounds) for i in range(4))
        medians[name] = (p50, p95, rate)
        print(f"  {name:15} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  "
              f"{rate:7,.0f} requests/s")
    post, ceiling = medians["one-click POST"], medians["GET /style.css"]
    print(f"one-click p95 {post[1]:.1f} ms (target < 100 ms); throughput "
          f"{post[2] / ceiling[2]:.0%} of the static-file ceiling on this machine")


if __name__ == "__main__":
    main()
