"""`[delivery] smtp_connections = N`: a batch sent over N connections, exactly once.

Against a real aiosmtpd in this process that notes which connection each message came over
and can hold its answers. Each lane of a batch (entry id mod N) sends in ledger order and
commits a message only after the one before it is recorded, so after a crash the first
unrecorded entry of each lane is in doubt and the rest are safe to send again.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.audience.store import Store
from pipeline.config import Config, load_config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.engine import Engine
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.deliver.transports import PermanentError
from pipeline.deliver.transports.smtp import SmtpTransport, lanes_of
from tests.conftest import _free_port, addressee, sandbox, start_delivery
from tests.test_concurrency import ISSUE, Proc, prepare
from tests.test_deliver import populate, run

HANG = 60.0  # seconds: only a hang guard, never a pace
LEDGER = ledger.LEDGER


class Relay:
    """An aiosmtpd handler recording (connection, recipients, bytes) of every message, and
    the most messages it had in hand at once. ``gate``: hold the first answers until that
    many connections have a message in hand. ``hold_after``: from that many messages on,
    answer none until ``release()``; ``all_held`` is set when ``held_lanes`` are waiting."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, list[str], bytes]] = []  # (client's address, …)
        self.hang_up_after: set[str] = set()   # take the message, then drop the connection
        self.try_later: set[str] = set()       # answer 451 to this message, once
        self.gate = 0
        self.hold_after: int | None = None
        self.held_lanes = 0
        self.all_held = threading.Event()
        self.held: list[str] = []
        self.check: Any = None                 # called with the recipients before answering
        self.problems: list[str] = []
        self.in_hand: set[Any] = set()
        self.most_in_hand = 0
        self._gate_open: asyncio.Event | None = None
        self._release: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle_RCPT(self, server, session, envelope, address, options):
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.loop = asyncio.get_running_loop()
        recipients = list(envelope.rcpt_tos)
        self.messages.append((session.peer, recipients, envelope.content))
        if self.check is not None:
            self.check(recipients)
        self.in_hand.add(session.peer)
        self.most_in_hand = max(self.most_in_hand, len(self.in_hand))
        try:
            if self.gate:
                if self._gate_open is None:
                    self._gate_open = asyncio.Event()
                if len(self.in_hand) >= self.gate:
                    self._gate_open.set()
                try:
                    await asyncio.wait_for(self._gate_open.wait(), HANG)
                except TimeoutError:  # a hang guard: open it, and fail the test
                    self.problems.append(f"never {self.gate} connections with a message")
                    self._gate_open.set()
            if self.hold_after is not None and len(self.messages) > self.hold_after:
                if self._release is None:
                    self._release = asyncio.Event()
                self.held += recipients
                if len(self.held) == self.held_lanes:
                    self.all_held.set()
                await self._release.wait()
                return None  # the sender is gone by now
        finally:
            self.in_hand.discard(session.peer)
        if self.hang_up_after & set(recipients):
            self.hang_up_after -= set(recipients)
            server.transport.close()
            return None
        if self.try_later & set(recipients):
            self.try_later -= set(recipients)
            return "451 4.3.0 Try again later"
        return "250 Message accepted"

    def release(self) -> None:
        self.hold_after = None
        if self.loop is not None and self._release is not None:
            self.loop.call_soon_threadsafe(self._release.set)

    def received(self) -> Counter[str]:
        return Counter(r for _, recipients, _ in self.messages for r in recipients)


@pytest.fixture
def relay():
    from aiosmtpd.controller import Controller

    handler = Relay()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    handler.release()
    controller.stop()


def smtp(port: int, connections: int, config: Config) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, "none", None, None, HANG + 30,
                         config.sender.email, connections)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def lane_recorded_before(store: Store, relay: Relay, lanes: int):
    """A check for the server: when a message's dot arrives, every earlier entry of its lane
    in the same batch is already recorded (the invariant ``settle`` relies on). The register
    holds this one delivery."""

    def check(recipients: list[str]) -> None:
        with store.engine.connect() as connection:
            rows = connection.execute(select(LEDGER.c.id, LEDGER.c.email, LEDGER.c.batch,
                                             LEDGER.c.state)).all()
        mine = next(row for row in rows if row.email == recipients[0])
        waiting = [row.id for row in rows if row.batch == mine.batch and row.id < mine.id
                   and row.id % lanes == mine.id % lanes and row.state == EntryState.IN_FLIGHT]
        if waiting:
            relay.problems.append(f"{mine.id} arrived before {waiting} were recorded")

    return check


def test_four_connections_deliver_every_message_once_with_its_headers(
        store: Store, config: Config, tmp_path: Path, relay) -> None:
    server, port = relay
    server.gate = 4  # the first four messages are answered only once all four are in hand
    populate(store, config, tmp_path, extra=120)
    server.check = lane_recorded_before(store, server, 4)
    report, frozen = run(store, config, smtp(port, 4, config))
    assert report.state is DeliveryState.FINISHED
    assert report.counts[EntryState.SENT] == frozen > 100
    assert server.problems == []
    assert server.most_in_hand == 4
    assert len({connection for connection, _, _ in server.messages}) == 4
    received = server.received()
    assert len(received) == frozen and set(received.values()) == {1}
    entries = {e.email: e for e in ledger.entries(store, report.delivery_id, EntryState.SENT)}
    assert set(entries) == set(received)
    ids = set()
    for _, recipients, data in server.messages:
        message = parse(data)
        assert addressee(data) == recipients[0]
        assert message["Message-ID"] == entries[recipients[0]].provider_id
        ids.add(message["Message-ID"])
        assert message.get_content_type() == "multipart/alternative"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = message["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://") and ", <mailto:" in unsubscribe
        assert message["List-Id"] and message["Content-Language"] == "sv"
        assert message["From"] and message["Subject"] and message["MIME-Version"] == "1.0"
        sent = email.utils.parsedate_to_datetime(message["Date"])
        assert abs((datetime.now(UTC) - sent).total_seconds()) < 3600
        assert [p.get_content_type() for p in message.iter_parts()] == [
            "text/plain", "text/html"]
    assert len(ids) == frozen


def test_a_lane_losing_its_connection_leaves_only_its_message_in_doubt(
        store: Store, config: Config, tmp_path: Path, relay) -> None:
    server, port = relay
    server.hang_up_after |= {"reader5@org5.example", "reader26@org5.example"}
    populate(store, config, tmp_path, extra=120)
    report, frozen = run(store, config, smtp(port, 4, config))
    uncertain = ledger.entries(store, report.delivery_id, EntryState.UNCERTAIN)
    assert sorted(e.email for e in uncertain) == ["reader26@org5.example",
                                                  "reader5@org5.example"]
    assert report.counts[EntryState.SENT] == frozen - 2
    assert report.state is DeliveryState.PAUSED and "uncertain" in (report.reason or "")
    received = server.received()
    assert len(received) == frozen and set(received.values()) == {1}  # all once, these too


def test_try_later_closes_every_connection_and_the_batch_goes_again(
        store: Store, config: Config, tmp_path: Path, relay) -> None:
    server, port = relay
    server.try_later.add("reader7@org0.example")
    populate(store, config, tmp_path, extra=60)
    delivery_id, frozen, edition = start_delivery(store, sandbox(config, tmp_path),
                                                  transport="smtp")
    waits: list[float] = []
    retried_from: list[int] = []

    def wait(seconds: float) -> None:  # the engine's pause before it tries the rows again
        waits.append(seconds)
        retried_from.append(len(server.messages))

    transport = smtp(port, 4, config)
    report = Engine(store, config, edition, transport, b"k" * 48,
                    sleep=wait).run(delivery_id)
    assert report.state is DeliveryState.FINISHED
    assert report.counts[EntryState.SENT] == frozen
    assert waits == [30]
    received = server.received()
    assert len(received) == frozen and received["reader7@org0.example"] == 2  # 451, then 250
    assert set(received.values()) - {1} == {2} and sum(received.values()) == frozen + 1
    before = {connection for connection, _, _ in server.messages[:retried_from[0]]}
    after = {connection for connection, _, _ in server.messages[retried_from[0]:]}
    assert after and not before & after  # every connection closed, then opened again


def test_settle_marks_the_first_unrecorded_entry_of_each_lane_unknown() -> None:
    four = SmtpTransport("127.0.0.1", 25, "none", None, None, 5, "a@example.se", 4)
    batch = four.new_batch()
    assert lanes_of(batch) == 4 and lanes_of(batch[:-2] + "-1") == 1
    since = datetime.now(UTC)
    #      lane 2: 2, 6    lane 3: 7, 11    lane 0: 12, 16    lane 1: none
    assert four.settle(batch, [16, 6, 2, 7, 11, 12], since) == {
        2: None, 6: False, 7: None, 11: False, 12: None, 16: False}
    # a batch sent over one connection, or before the setting (no number): only the first
    one = SmtpTransport("127.0.0.1", 25, "none", None, None, 5, "a@example.se", 1)
    for old in (one.new_batch(), "0123456789abcdef0123456789abcdef"):
        assert four.settle(old, [9, 7, 8], since) == {7: None, 8: False, 9: False}
    # the setting changed since the batch was sent: the batch's own number counts
    assert one.settle(batch, [5, 6, 9], since) == {5: None, 6: None, 9: False}
    assert lanes_of("Zm9v-3") == 1 and lanes_of(batch[:-2] + "-99") == 16


def test_refused_login_is_permanent_and_never_shows_the_password(config: Config) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def refuse(server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=False, handled=False)

    controller = Controller(Relay(), hostname="127.0.0.1", port=_free_port(),
                            authenticator=refuse, auth_require_tls=False)
    controller.start()
    try:
        envelopes = [_envelope(i) for i in range(1, 9)]
        for password, error in (("hemligt-losen-42", "SMTP login refused by 127.0.0.1: 535"),
                                ("hemligt-lösen-42", "characters outside ASCII")):
            transport = SmtpTransport("127.0.0.1", controller.port, "none", "redaktion",
                                      password, 10, config.sender.email, 4)
            with pytest.raises(PermanentError) as caught:
                transport.send(_template(config), transport.new_batch(), envelopes)
            assert error in str(caught.value)
            assert "hemligt" not in str(caught.value) + repr(transport.server)
            transport.close()
    finally:
        controller.stop()


@dataclass(frozen=True)
class Mail:
    subject: str
    html: str
    text: str


def _template(config: Config):
    from pipeline.deliver.message import MessageTemplate

    return MessageTemplate(Mail("Ämne", "<p>Hej</p>", "Hej"), config, config.list_id)


def _envelope(number: int):
    from pipeline.deliver.message import Envelope
    from pipeline.render.personalise import Reader

    return Envelope(number, f"r{number}@example.se", None, "general", f"<{number}@x>",
                    Reader("", "https://example.se/u", "https://example.se/p"), str(number))


def lane_frames(name: str) -> list[str]:
    """The functions the thread called ``name`` is in, innermost first."""
    thread = next((t for t in threading.enumerate() if t.name == name), None)
    frame = sys._current_frames().get(thread.ident) if thread and thread.ident else None
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, f"hang guard: {what} not seen in {HANG:.0f} s"
        time.sleep(0.005)


def test_a_lane_sends_its_next_dot_only_after_its_last_message_is_recorded(
        config: Config, relay) -> None:
    """While the caller records entry 1, lane 1 begins entry 3 but holds back the final dot
    that would let the server accept it: were both accepted and unrecorded at a crash,
    ``settle`` would send 3 again. The report of 1 returns only once lane 1 waits (or, wrongly,
    once 3 has arrived)."""
    server, port = relay
    transport = smtp(port, 2, config)
    envelopes = [_envelope(n) for n in range(1, 9)]  # lane 0: 2, 4, 6, 8; lane 1: 1, 3, 5, 7
    recorded: list[int] = []

    def check(recipients: list[str]) -> None:  # in the server, when a message's dot arrives
        number = int(recipients[0].removeprefix("r").split("@")[0])
        earlier = [n for n in range(2 - number % 2, number, 2) if n not in recorded]
        if earlier:
            server.problems.append(f"{number} arrived before {earlier} were recorded")

    def report(result: Any) -> None:
        if result.entry_id == 1:
            def waiting() -> bool:
                frames = lane_frames("smtp-lane-1")
                return "may_commit" in frames and frames[0] == "wait"

            until(lambda: waiting() or "r3@example.se" in server.received(),
                  "lane 1 waiting for entry 1's record")
        recorded.append(result.entry_id)

    server.check = check
    results = transport.send(_template(config), transport.new_batch(), envelopes, report)
    transport.close()
    assert server.problems == []
    assert sorted(r.entry_id for r in results if r.accepted) == list(range(1, 9))
    assert recorded == [r.entry_id for r in results]  # each reported as it came


def test_killed_with_four_lanes_in_flight_each_lane_leaves_one_in_doubt(
        tmp_path: Path, relay) -> None:
    """`newsletter send` over four connections is SIGKILLed while each lane has a message
    whose answer the server holds; `send` again settles the batch: those four uncertain,
    the rest of the batch sent, no one twice."""
    server, _ = relay
    approved: list[Any] = []
    job = prepare(tmp_path, "sqlite", "smtp", relay, 1, approved)
    text = job.toml.read_text()
    job.toml.write_text(text.replace("smtp_connections = 1", "smtp_connections = 4"))
    assert load_config(job.toml).delivery.smtp_connections == 4
    server.hold_after, server.held_lanes = 105, 4  # in the second batch of 100
    try:
        sender = Proc(job, "send", ["send", ISSUE])
        assert server.all_held.wait(HANG), sender.describe()
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
        held = list(server.held)
        server.release()
        again = Proc(job, "resend", ["send", ISSUE])
        assert again.wait() == 1, again.describe()  # paused: four uncertain
        assert "4 recipient(s) uncertain" in again.stdout, again.describe()
        delivery = deliveries.current_delivery(job.store, "2027-1")
        assert delivery is not None
        uncertain = ledger.entries(job.store, delivery.id, EntryState.UNCERTAIN)
        assert sorted(e.email for e in uncertain) == sorted(held)
        assert len({e.id % 4 for e in uncertain}) == 4  # one per lane
        counts = ledger.counts(job.store, delivery.id)
        assert counts[EntryState.SENT] == sum(counts.values()) - 4
        received = server.received()
        assert set(received.values()) == {1}, [a for a, n in received.items() if n > 1]
        assert set(received) == {e.email for e in ledger.entries(
            job.store, delivery.id, EntryState.SENT)} | set(held)
    finally:
        for proc in job.procs:
            if proc.popen.poll() is None:
                proc.popen.kill()
            proc.popen.wait()
        job.store.close()
