"""bench/deliver.py's SMTP figures: aiosmtpd as its own process (its CPU time read), the bare
smtplib loop that is the ceiling, ours over one connection and over several.

``SlowSink`` takes every message after a fixed wait, as a relay answers that writes (and
syncs) each message to its queue, or one across a network::

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c deliver_smtp.SlowSink 0.005   (from bench/)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

Measure = Callable[[str, int, str], dict[str, Any]]
Line = Callable[[str, int, dict[str, Any], float | None], None]


class SlowSink:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @classmethod
    def from_cli(cls, parser: Any, seconds: str = "0.005") -> SlowSink:
        return cls(float(seconds))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.seconds)
        return "250 OK"


def start_aiosmtpd(wait_ms: float = 0) -> tuple[subprocess.Popen[bytes], int]:
    """aiosmtpd on a free port of 127.0.0.1, discarding what it takes (after ``wait_ms``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    handler = ["deliver_smtp.SlowSink", str(wait_ms / 1000)] if wait_ms else \
        ["aiosmtpd.handlers.Sink"]
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l",
                               f"127.0.0.1:{port}", "-c", *handler], cwd=BENCH)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.05)
    server.kill()
    raise SystemExit("aiosmtpd did not start")


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc; 0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_smtp(port: int, count: int) -> float:
    """Our own general variant's bytes, built once, sent again and again with smtplib."""
    sys.path.insert(0, str(ROOT))
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


def smtp_runs(measure: Measure, port: int, count: int, connections: int, repeat: int,
              bare: bool, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Medians of ``repeat`` rounds, each: the bare smtplib loop (if ``bare``), ours over one
    connection, ours over ``connections``, in turn, so that a change in the machine's load
    falls on all of them. The server's CPU time is read around each run of ours."""
    runs: dict[str, list[Any]] = {"bare": [], "one": [], "many": []}
    for _ in range(repeat):
        if bare:
            sample = min(count, 5000)
            runs["bare"].append(bare_smtp(port, sample) * count / sample)
        for key, n in (("one", 1), ("many", connections)):
            before = cpu_seconds(server.pid)
            run = measure("smtp", count, f"{port}:{n}")
            run["server_cpu"] = cpu_seconds(server.pid) - before
            runs[key].append(run)
    out: dict[str, Any] = {"bare": statistics.median(runs["bare"]) if bare else None}
    for key in ("one", "many"):
        ordered = sorted(runs[key], key=lambda run: float(run["seconds"]))
        out[key] = ordered[len(ordered) // 2]
        out[key]["peak_mb"] = max(float(run["peak_mb"]) for run in ordered)
    return out


def smtp_figures(args: argparse.Namespace, targets: Any, measure: Measure, line: Line) -> None:
    """Print the figures and add the targets of issue 17 (``deliver.py``'s ``measure`` runs
    one delivery in its own process, ``line`` prints one)."""
    count, n, repeat = args.smtp, args.smtp_connections, args.repeat
    server, port = start_aiosmtpd()
    try:
        runs = smtp_runs(measure, port, count, n, repeat, True, server)
    finally:
        server.terminate()
    one, many = runs["one"], runs["many"]
    line("SMTP → aiosmtpd, 1 connection", count, one, runs["bare"])
    line(f"SMTP → aiosmtpd, {n} connections", count, many, None)
    speedup = one["seconds"] / many["seconds"]
    busy = one["server_cpu"] / one["seconds"]
    print(f"{'':34} {n} connections / 1: {speedup:.2f} x; aiosmtpd's own CPU "
          f"{one['server_cpu'] / count * 1000:.2f} ms a message, busy {busy:.0%} of the "
          f"1-connection run (medians of {repeat}, this machine has {os.cpu_count()} cores)",
          flush=True)
    share = runs["bare"] / one["seconds"]
    targets.add(f"SMTP {count:,}: ours (1 connection) / bare smtplib", f"{share:.0%}",
                ">= 90 %", share >= 0.90)
    targets.add(f"SMTP {count:,} to aiosmtpd: {n} connections / 1", f"{speedup:.2f} x",
                ">= 1.6 x", speedup >= 1.6)
    if args.smtp_relay_ms:
        slow_count = max(count // 10, 200)
        server, port = start_aiosmtpd(args.smtp_relay_ms)
        try:
            runs = smtp_runs(measure, port, slow_count, n, repeat, False, server)
        finally:
            server.terminate()
        label = f"SMTP → aiosmtpd +{args.smtp_relay_ms:g} ms"
        line(f"{label}, 1 connection", slow_count, runs["one"], None)
        line(f"{label}, {n} connections", slow_count, runs["many"], None)
        print(f"{'':34} {n} connections / 1: "
              f"{runs['one']['seconds'] / runs['many']['seconds']:.2f} x", flush=True)
