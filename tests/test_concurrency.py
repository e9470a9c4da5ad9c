"""One sender per delivery, through the real entry point: racing `newsletter` processes.

Each sender is its own ``python -m pipeline`` process on a temporary project (templates/,
issues/2027-1, newsletter.toml set to the outbox or to SMTP on an in-process aiosmtpd), with
a few hundred readers inserted directly and the issue approved. Scenarios, each on SQLite and
PostgreSQL, with the outbox and with SMTP:

1. two ``send`` processes started together;
2. ``send`` plus ``resume``: ``resume`` starts while ``send`` holds the lease (``send`` is held
   at its first line of output, "Froze the audience…", by a full stdout pipe, so the overlap
   does not depend on the machine's speed); without ``--wait`` it exits 3, with ``--wait`` it
   waits (seen sleeping in its poll loop) and then prints "Nothing to send";
3. the scheduler (the issue scheduled, approved, its send_at a few seconds past, so its job
   runs at once) plus a manual ``send`` started at the same moment; SIGTERM once finished.

Every run has a fresh register and a fresh outbox and asserts: each frozen reader got exactly
one message (outbox files' To: headers, or the SMTP server's recipients), the delivery is
finished, exactly one process sent it, every other one exited 0 ("Nothing to send") or 3
("another process is sending this delivery"), no output has a traceback or a reader's
address, and the archive page exists. Waits follow output, exit statuses and the ledger; the
time limits only catch hangs. NEWSLETTER_RACE_RUNS (3; more for a longer hunt) runs per combination,
NEWSLETTER_RACE_READERS (300) readers per run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.approval import approve_issue, approver
from pipeline.audience.store import Store
from pipeline.config import load_config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import Delivery, DeliveryState, EntryState
from pipeline.edition import Edition, store_edition
from pipeline.planning import schedule_issue
from tests.conftest import APPROVER, BACKENDS, ROOT, addressee, fresh_database_url
from tests.test_crash import fill

RUNS = int(os.environ.get("NEWSLETTER_RACE_RUNS", "3"))
READERS = int(os.environ.get("NEWSLETTER_RACE_READERS", "300"))
TRANSPORTS = ["outbox", "smtp"]
HANG = 300.0  # seconds: only a hang guard, never a pace
POLL = 0.02
ISSUE = "issues/2027-1"
HELD = "another process is sending this delivery: "
FINISHED = re.compile(r"2027-1: delivery \d+ is finished \(\d+ sent\); (\d+) sent now\.")
SCHEDULER_SENT = re.compile(r"issue=2027-1 delivery=\d+ state=(\S+) sent=(\d+)")


def _until(condition: Any, what: str, seconds: float = HANG, poll: float = POLL) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"hang guard: {what} not seen in {seconds:.0f} s")
        time.sleep(poll)


class Proc:
    """One `newsletter` process; stdout and stderr go to files (or stdout to ``stdout``)."""

    def __init__(self, run: Run, name: str, args: list[str], stdout: int | None = None) -> None:
        self.name = name
        self.out_path, self.err_path = run.site / f"{name}.out", run.site / f"{name}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "pipeline", *args, "--config", str(run.toml)],
                cwd=run.site, env=run.env, stdout=out if stdout is None else stdout,
                stderr=err)
        run.procs.append(self)
        self.piped: bytes | None = None  # stdout read from a pipe, if it had one

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait(self, seconds: float = HANG) -> int:
        try:
            return self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"hang guard: {self.name} did not exit in {seconds:.0f} s"
                                 ) from None

    @property
    def stdout(self) -> str:
        raw = self.piped if self.piped is not None else self.out_path.read_bytes()
        return raw.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_bytes().decode(errors="replace")

    def describe(self) -> str:
        return (f"--- {self.name} exit {self.popen.returncode}\nstdout:\n{self.stdout[-3000:]}"
                f"\nstderr:\n{self.stderr[-3000:]}")


@dataclass
class Run:
    number: int
    backend: str
    transport: str
    site: Path
    toml: Path
    url: str
    domain: str
    env: dict[str, str]
    store: Store
    recorder: Any
    procs: list[Proc] = field(default_factory=list)

    def describe(self) -> str:
        return (f"run {self.number} ({self.backend}, {self.transport})\n"
                + "\n".join(p.describe() for p in self.procs))


def _project(site: Path, transport: str, smtp_port: int, send_at: str | None) -> Path:
    shutil.copytree(ROOT / "templates", site / "templates")
    shutil.copytree(ROOT / "issues" / "2027-1", site / "issues" / "2027-1")
    if send_at is not None:
        meta = site / "issues" / "2027-1" / "issue.yaml"
        meta.write_text(meta.read_text().replace("2027-02-16 09:00", send_at))
    text = (ROOT / "newsletter.toml").read_text()
    for old, new in (('transport = "outbox"', f'transport = "{transport}"'),
                     ("port = 587", f"port = {smtp_port}"),
                     ('security = "starttls"', 'security = "none"')):
        assert old in text, old
        text = text.replace(old, new)
    toml = site / "newsletter.toml"
    toml.write_text(text)
    return toml


def prepare(tmp_path: Path, backend: str, transport: str, smtp: Any, number: int,
            approved: list[Edition], send_at: tuple[str, datetime] | None = None) -> Run:
    """A fresh project, register and outbox; READERS readers; the issue approved (and
    scheduled at ``send_at``, if given). The first run approves it with ``approve_issue``;
    later runs store that same edition, approved, in their fresh register (rendering it
    again would only cost time: the projects are identical)."""
    recorder, port = smtp
    site = tmp_path / f"run{number}"
    toml = _project(site, transport, port, send_at and send_at[0])
    url = fresh_database_url(backend, site)
    config = load_config(toml)
    store = Store.open(config, url)
    domain = f"run{number}.{backend}.{transport}.example"
    fill(store, READERS, domain)
    folder = site / ISSUE
    if send_at is not None:
        # scheduled as if a minute before its time: `schedule` refuses a time that passed
        schedule_issue(store, config, folder, now=send_at[1] - timedelta(minutes=1))
    if approved:
        store_edition(store, approved[0], approved_by=approver(APPROVER))
    else:
        approved.append(approve_issue(store, config, folder, APPROVER))
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": "s" * 48, "NEWSLETTER_DATABASE_URL": url,
           "PYTHONUNBUFFERED": "1", "NEWSLETTER_SCHEDULER_SYNC_SECONDS": "0.5"}
    env.pop("NEWSLETTER_CONFIG", None)
    return Run(number, backend, transport, site, toml, url, domain, env, store, recorder)


def received(run: Run) -> Counter[str]:
    """Messages per reader address of this run: To: headers in the outbox, or RCPT TO."""
    if run.transport == "outbox":
        found: Counter[str] = Counter()
        for path in (run.site / "outbox").glob("*.eml"):
            address = addressee(path.read_bytes())
            if address.endswith("@" + run.domain):
                found[address] += 1
        return found
    return Counter(address for recipients, _ in list(run.recorder.messages)
                   for address in recipients if address.endswith("@" + run.domain))


def sent_now(proc: Proc) -> int | None:
    """How many this process sent, if it is the one that finished the delivery."""
    if proc.name == "scheduler":
        match = SCHEDULER_SENT.search(proc.stderr)
        return int(match[2]) if match and match[1] == "finished" else None
    match = FINISHED.search(proc.stdout)
    return int(match[1]) if match else None


def check_run(run: Run) -> str:
    """The per-run assertions; returns how the race went (for the summary)."""
    context = run.describe()
    try:
        for proc in run.procs:
            assert proc.popen.returncode is not None, f"{proc.name} still running\n{context}"
            for text in (proc.stdout, proc.stderr):
                assert "Traceback" not in text, f"{proc.name}: a traceback\n{context}"
                assert "@" + run.domain not in text, f"{proc.name}: a reader's address\n{context}"
        got = received(run)
        expected = {f"r{i}@{run.domain}" for i in range(1, READERS + 1)}
        duplicates = sorted(a for a, n in got.items() if n > 1)
        missing = sorted(expected - set(got))
        extra = sorted(set(got) - expected)
        assert (len(duplicates), len(missing), extra) == (0, 0, []), (
            f"duplicates {duplicates[:5]}, missing {missing[:5]}\n{context}")
        with run.store.session() as session:
            deliveries = list(session.scalars(select(Delivery).where(Delivery.issue == "2027-1")))
        assert len(deliveries) == 1, f"{len(deliveries)} deliveries\n{context}"  # one per issue
        [delivery] = deliveries
        assert delivery.state == DeliveryState.FINISHED, context
        counts = ledger.counts(run.store, delivery.id)
        assert counts[EntryState.SENT] == READERS == sum(counts.values()), f"{counts}\n{context}"
        assert (run.site / "archive" / "2027" / "1" / "index.html").is_file(), context
        winners = [p for p in run.procs if sent_now(p)]
        assert [sent_now(p) for p in winners] == [READERS], f"not one sender\n{context}"
        outcome = []
        for proc in run.procs:
            if proc in winners:
                outcome.append(f"{proc.name}:sent")
            elif proc.name == "scheduler":
                assert proc.popen.returncode == 0, context
                assert "action=stopped" in proc.stderr, context
                outcome.append("scheduler:" + ("held" if "action=left-to-other-sender"
                                               in proc.stderr else "idle"))
            elif proc.popen.returncode == 3:
                assert HELD in proc.stderr and " holds it since " in proc.stderr, context
                outcome.append(f"{proc.name}:3")
            else:
                assert proc.popen.returncode == 0, f"{proc.name}: exit status\n{context}"
                assert proc.stdout.startswith("Nothing to send: "), context
                outcome.append(f"{proc.name}:nothing")
        return " ".join(outcome)
    finally:
        run.store.close()


def _cleanup(run: Run) -> None:
    for proc in run.procs:
        if proc.popen.poll() is None:
            proc.popen.kill()
        proc.popen.wait()


def race(tmp_path: Path, backend: str, transport: str, smtp: Any, scenario: Any,
         scheduled: bool = False) -> None:
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    approved: list[Edition] = []
    send_at = None
    if scheduled:  # a few seconds ago, well within [schedule] grace_hours for every run
        planned = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
        zone = load_config(ROOT / "newsletter.toml").zone
        send_at = (f"{planned.astimezone(zone):%Y-%m-%d %H:%M:%S}", planned)
    for number in range(1, RUNS + 1):  # the schema is dropped when the session ends
        run = prepare(tmp_path, backend, transport, smtp, number, approved, send_at)
        try:
            scenario(run)
        except BaseException:
            _cleanup(run)
            run.store.close()
            raise
        outcomes[check_run(run)] += 1
    print(f"\n{backend}/{transport}: {RUNS} runs in {time.monotonic() - started:.1f} s; "
          f"{dict(outcomes)}")


# --- scenario 1: two `send` started together -------------------------------------------------

def two_sends(run: Run) -> None:
    first = Proc(run, "send-a", ["send", ISSUE])
    second = Proc(run, "send-b", ["send", ISSUE])
    first.wait()
    second.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_sends_started_together(backend: str, transport: str, tmp_path: Path,
                                    smtp_server) -> None:
    race(tmp_path, backend, transport, smtp_server, two_sends)


# --- scenario 2: `send`, then `resume` while it holds the lease ------------------------------

def _blocked_pipe() -> tuple[int, int, int]:
    """A pipe whose buffer is full: a process writing to it blocks until it is read."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    filled = 0
    for chunk in (4096, 1):
        try:
            while True:
                filled += os.write(write_end, b"#" * chunk)
        except BlockingIOError:
            pass
    os.set_blocking(write_end, True)
    return read_end, write_end, filled


def _proc_state(pid: int) -> tuple[str, str]:
    """(wchan, syscall) of a process's main thread; ("", "") once it is gone."""
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        syscall = Path(f"/proc/{pid}/syscall").read_text()
    except OSError:
        return "", ""
    return wchan, syscall


def writing_stdout(pid: int) -> bool:
    wchan, syscall = _proc_state(pid)
    return "pipe_write" in wchan or syscall.startswith("1 0x1 ")  # x86-64 write(1, …)


def sleeping(pid: int) -> bool:
    wchan, syscall = _proc_state(pid)
    return "nanosleep" in wchan or syscall.split(" ")[0] in {"35", "230"}


def send_then_resume(run: Run) -> None:
    wait = run.number % 2 == 0  # odd runs: `resume` (exit 3); even: `resume --wait`
    read_end, write_end, junk = _blocked_pipe()
    try:
        sender = Proc(run, "send", ["send", ISSUE], stdout=write_end)
    finally:
        os.close(write_end)
    chunks: list[bytes] = []

    def drain() -> None:
        with os.fdopen(read_end, "rb") as stream:
            while data := stream.read(65536):
                chunks.append(data)

    try:
        # `send` took the lease, froze the audience and is held at printing so
        _until(lambda: writing_stdout(sender.pid) or sender.popen.poll() is not None,
               "send blocked at its first line of output")
        assert sender.popen.poll() is None, sender.describe()
        if not wait:
            resumer = Proc(run, "resume", ["resume", ISSUE])
            resumer.wait()
            assert resumer.popen.returncode == 3, run.describe()
        else:
            resumer = Proc(run, "resume-wait", ["resume", ISSUE, "--wait"])
            _until(lambda: sleeping(resumer.pid) or resumer.popen.poll() is not None,
                   "resume --wait polling for the lease")
            assert resumer.popen.poll() is None, run.describe()
    finally:
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()  # let `send` go on
    sender.wait()
    resumer.wait()
    reader.join(HANG)
    output = b"".join(chunks)
    assert output[:junk] == b"#" * junk
    sender.piped = output[junk:]
    assert sender.stdout.startswith("Froze the audience of 2027-1"), run.describe()
    if wait:
        assert resumer.popen.returncode == 0, run.describe()
        assert "(by another process while this one waited)" in resumer.stdout, run.describe()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_while_send_holds_the_lease(backend: str, transport: str, tmp_path: Path,
                                           smtp_server) -> None:
    race(tmp_path, backend, transport, smtp_server, send_then_resume)


# --- scenario 3: the scheduler's job and a manual `send` at once -----------------------------

def scheduler_and_send(run: Run) -> None:
    scheduler = Proc(run, "scheduler", ["scheduler"])
    manual = Proc(run, "send", ["send", ISSUE])
    manual.wait()

    def finished() -> bool:
        delivery = deliveries.current_delivery(run.store, "2027-1")
        return delivery is not None and delivery.state == DeliveryState.FINISHED

    try:
        _until(lambda: finished() or scheduler.popen.poll() is not None, "delivery finished",
               poll=0.1)
        _until(lambda: "action=started" in scheduler.stderr or scheduler.popen.poll()
               is not None, "the scheduler started")
    finally:
        if scheduler.popen.poll() is None:
            scheduler.popen.send_signal(signal.SIGTERM)
    scheduler.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_scheduler_and_manual_send(backend: str, transport: str, tmp_path: Path,
                                   smtp_server) -> None:
    race(tmp_path, backend, transport, smtp_server, scheduler_and_send, scheduled=True)
