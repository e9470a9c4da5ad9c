"""bench/deliver.py's SMTP figures: aiosmtpd in processes of its own (their CPU time read),
the bare smtplib loop that is the ceiling, ours over one connection and over several.

aiosmtpd runs in one process, and in one process per connection sharing the listening socket,
each serving one connection at a time (as a relay, Postfix's smtpd, serves connections in
parallel). ``SlowSink`` takes every message after a fixed wait, as a relay answers that writes
(and syncs) each message to its queue, or one across a network.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

Measure = Callable[[str, int, str], dict[str, Any]]
Line = Callable[[str, int, dict[str, Any], float | None], None]


class SlowSink:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.seconds)
        return "250 OK"


class Server(NamedTuple):
    """aiosmtpd in one or more processes sharing one listening socket on ``port``."""
    processes: list[subprocess.Popen[bytes]]
    port: int

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(process.pid) for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait()


def start_aiosmtpd(wait_ms: float = 0, prefork: int = 0) -> Server:
    """aiosmtpd on a free port of 127.0.0.1, discarding what it takes (after ``wait_ms``):
    one process serving every connection in its event loop, or with ``prefork``, that many
    processes each serving one connection at a time, as a relay (Postfix's smtpd) does. One
    process works on one core."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = int(listener.getsockname()[1])
    started = [subprocess.Popen([sys.executable, __file__, "--serve", str(listener.fileno()),
                                 str(wait_ms / 1000), "1" if prefork else "0"],
                                pass_fds=(listener.fileno(),), cwd=BENCH)
               for _ in range(prefork or 1)]
    listener.close()
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                if probe.recv(1024).startswith(b"220"):
                    return Server(started, port)
        except OSError:
            if any(process.poll() is not None for process in started):
                break
            time.sleep(0.05)
    Server(started, port).stop()
    raise SystemExit("aiosmtpd did not start")


def serve(fd: int, wait: float, one_at_a_time: bool) -> None:
    """One aiosmtpd process on an inherited listening socket (``start_aiosmtpd``). One at a
    time: a blocking ``accept`` between connections, so the kernel hands each new connection
    to a process that is waiting, never to a busy one."""
    from aiosmtpd.handlers import Sink
    from aiosmtpd.smtp import SMTP

    handler: Any = SlowSink(wait) if wait else Sink()
    loop = asyncio.new_event_loop()
    sock = socket.socket(fileno=fd)
    if not one_at_a_time:
        sock.setblocking(False)
        loop.run_until_complete(loop.create_server(lambda: SMTP(handler), sock=sock))
        loop.run_forever()
        return  # never reached: it serves until killed

    class Session(SMTP):
        def connection_lost(self, error: Exception | None) -> None:
            super().connection_lost(error)
            if not ended.done():
                ended.set_result(None)

    async def one(connection: socket.socket) -> None:
        await loop.connect_accepted_socket(lambda: Session(handler), sock=connection)
        await ended

    sock.setblocking(True)
    while True:
        connection, _ = sock.accept()
        ended: asyncio.Future[None] = loop.create_future()
        loop.run_until_complete(one(connection))


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc; 0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def message_bytes() -> bytes:
    """Our own general variant's message, built once (what the bare loop sends)."""
    sys.path.insert(0, str(ROOT))
    from pipeline.config import load_config
    from pipeline.deliver.message import Envelope, MessageTemplate
    from pipeline.issue import load_issue
    from pipeline.render import VariantKey, render_issue
    from pipeline.render.personalise import Reader

    config = load_config(ROOT / "newsletter.toml")
    issue = load_issue(ROOT / "issues" / "2027-1", config)
    email = render_issue(issue, config, [VariantKey("general")]).variants[VariantKey("general")]
    return MessageTemplate(email, config, config.list_id).build(Envelope(
        1, "b@example.se", None, "general", "<1@x>", Reader("", "https://u", "https://p"), "1"))


def bare_smtp(port: int, count: int, data: bytes, connections: int = 1) -> float:
    """Seconds for ``count`` messages of ``data`` sent with smtplib over ``connections``
    connections, one thread each: the ceiling of the server as a client that does nothing
    else sees it."""
    def send(share: int) -> None:
        connection = smtplib.SMTP("127.0.0.1", port, timeout=30)
        for i in range(share):
            connection.sendmail("a@example.se", [f"r{i}@example.se"], data)
        connection.quit()

    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(send, [count // connections] * connections))
    return time.perf_counter() - start


def smtp_runs(measure: Measure, server: Server, count: int, connections: int, repeat: int,
              data: bytes | None) -> dict[str, Any]:
    """Medians of ``repeat`` rounds, each in turn (so that a change in the machine's load
    falls on all of them): with ``data``, the bare smtplib loop over one connection and over
    ``connections``; ours over one connection and over ``connections``. The server's CPU time
    is read around each run of ours."""
    runs: dict[str, list[Any]] = {"bare": [], "bare_many": [], "one": [], "many": []}
    sample = min(count, 5000)
    for _ in range(repeat):
        if data is not None:
            runs["bare"].append(bare_smtp(server.port, sample, data) * count / sample)
            runs["bare_many"].append(bare_smtp(server.port, sample, data, connections)
                                     * count / sample)
        for key, n in (("one", 1), ("many", connections)):
            before = server.cpu_seconds()
            run = measure("smtp", count, f"{server.port}:{n}")
            run["server_cpu"] = server.cpu_seconds() - before
            runs[key].append(run)
    out: dict[str, Any] = {key: statistics.median(runs[key]) if data is not None else None
                           for key in ("bare", "bare_many")}
    for key in ("one", "many"):
        ordered = sorted(runs[key], key=lambda run: float(run["seconds"]))
        out[key] = ordered[len(ordered) // 2]
        out[key]["peak_mb"] = max(float(run["peak_mb"]) for run in ordered)
    return out


def smtp_figures(args: argparse.Namespace, targets: Any, measure: Measure, line: Line) -> None:
    """Print the figures and add the targets of issue 17 (``deliver.py``'s ``measure`` runs
    one delivery in its own process, ``line`` prints one).

    Against one aiosmtpd process, the server's own core is the ceiling of any number of
    connections (the bare loop over N connections shows it). So the N-connection target is
    read against aiosmtpd in N processes, each serving one connection at a time, as a relay
    serves connections in parallel.
    """
    count, n, repeat = args.smtp, args.smtp_connections, args.repeat
    data = message_bytes()
    speedups = {}
    for prefork in (0, n):
        server = start_aiosmtpd(prefork=prefork)
        try:
            runs = smtp_runs(measure, server, count, n, repeat, data)
        finally:
            server.stop()
        one, many = runs["one"], runs["many"]
        label = f"SMTP → aiosmtpd ×{prefork or 1}"
        line(f"{label}, 1 connection", count, one, runs["bare"])
        line(f"{label}, {n} connections", count, many, runs["bare_many"])
        speedups[prefork] = one["seconds"] / many["seconds"]
        busy = one["server_cpu"] / one["seconds"]
        kind = f"{prefork} processes, one connection each" if prefork else "one process"
        print(f"{'':34} {n} connections / 1: ours {speedups[prefork]:.2f} x, bare "
              f"{runs['bare'] / runs['bare_many']:.2f} x; aiosmtpd's CPU "
              f"{one['server_cpu'] / count * 1000:.2f} ms a message, busy {busy:.0%} of the "
              f"1-connection run ({kind}; medians of {repeat}, {os.cpu_count()} cores)",
              flush=True)
        if not prefork:
            share = runs["bare"] / one["seconds"]
            targets.add(f"SMTP {count:,}: ours (1 connection) / bare smtplib", f"{share:.0%}",
                        ">= 90 %", share >= 0.90)
    targets.add(f"SMTP {count:,} to aiosmtpd ×{n}: {n} connections / 1",
                f"{speedups[n]:.2f} x", ">= 1.6 x", speedups[n] >= 1.6)
    if args.smtp_relay_ms:
        slow_count = max(count // 10, 200)
        server = start_aiosmtpd(args.smtp_relay_ms)
        try:
            runs = smtp_runs(measure, server, slow_count, n, repeat, None)
        finally:
            server.stop()
        label = f"SMTP → aiosmtpd +{args.smtp_relay_ms:g} ms"
        line(f"{label}, 1 connection", slow_count, runs["one"], None)
        line(f"{label}, {n} connections", slow_count, runs["many"], None)
        print(f"{'':34} {n} connections / 1: "
              f"{runs['one']['seconds'] / runs['many']['seconds']:.2f} x", flush=True)

if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1")
