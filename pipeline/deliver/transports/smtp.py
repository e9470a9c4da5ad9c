"""SMTP: one message per recipient, over ``[delivery] smtp_connections`` reused connections
(STARTTLS, SSL or plain; one by default).

A batch is split into lanes, one per connection: entry ``e`` goes over lane ``e mod N``, and
each lane sends its entries in ledger order (``smtp_lane``). Every lane runs in its own
thread; their results come back through one queue to the caller's thread, which reports each
as it arrives (the engine records it in the ledger then), so the engine sees no concurrency.
A lane commits its next message only after the caller recorded everything the lane reported,
so after a crash only the first unrecorded entry of each lane can have been accepted. The
batch id ends in N, so ``settle`` knows the lanes even if the setting changed since.

A recipient the server refuses is a failed result. A connection lost while a message is on
the wire is an unknown outcome for that message alone; the other lanes stop before their next
message, and what they had not sent is released. A 4xx closes every connection and is a
temporary error; a refused login or sender is permanent. The password comes from
``NEWSLETTER_SMTP_PASSWORD`` only.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from pipeline.config import Config
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports.base import (
    PermanentError,
    Result,
    TemporaryError,
    UnknownOutcome,
)
from pipeline.deliver.transports.smtp_lane import Lane, Server

MAX_CONNECTIONS = 16
_BATCH = re.compile(r"[0-9a-f]{32}-(\d{1,2})")

Report = Callable[[Result], None]


def lanes_of(batch_id: str) -> int:
    """How many connections a batch was sent over: the number its id ends in. An id without
    one (written before ``smtp_connections``) was sent over one."""
    match = _BATCH.fullmatch(batch_id)
    return min(max(int(match[1]), 1), MAX_CONNECTIONS) if match else 1


class _Batch:
    """One batch's lanes as the caller's thread sees them: a queue of what they settle, and
    per lane how much of it the caller has recorded."""

    def __init__(self, lanes: int) -> None:
        self.settled: queue.SimpleQueue[tuple[int, Result | BaseException | None]] = \
            queue.SimpleQueue()
        self._reported = [0] * lanes   # written by the lane's thread only
        self._recorded = [0] * lanes   # written by the caller, under the condition
        self._stopping = False
        self._condition = threading.Condition()

    def report(self, lane: int, result: Result) -> None:
        self._reported[lane] += 1
        self.settled.put((lane, result))

    def recorded(self, lane: int) -> None:
        with self._condition:
            self._recorded[lane] += 1
            self._condition.notify_all()

    def may_commit(self, lane: int) -> bool:
        """Wait until the caller recorded all this lane reported; False: stop instead."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._stopping or self._recorded[lane] == self._reported[lane])
            return not self._stopping

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()


class SmtpTransport:
    name = "smtp"
    batch_size = 100
    uses_fence = False
    sequential = True

    def __init__(self, host: str, port: int, security: str, username: str | None,
                 password: str | None, timeout: float, envelope_from: str,
                 connections: int = 1) -> None:
        if not 1 <= connections <= MAX_CONNECTIONS:
            raise ValueError(f"connections must be 1 to {MAX_CONNECTIONS}")
        self.host, self.connections = host, connections
        self.server = Server(host, port, security, username, password, timeout)
        self.envelope_from = envelope_from
        self._lanes: list[Lane] = []

    @classmethod
    def from_config(cls, config: Config) -> SmtpTransport:
        smtp = config.delivery.smtp
        return cls(smtp.host, smtp.port, smtp.security, smtp.username,
                   os.environ.get("NEWSLETTER_SMTP_PASSWORD"), smtp.timeout_seconds,
                   config.sender.email, config.delivery.smtp_connections)

    def new_batch(self) -> str:
        return f"{uuid.uuid4().hex}-{self.connections}"

    def send(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope],
             report: Report | None = None) -> list[Result]:
        lanes = lanes_of(batch_id)
        while len(self._lanes) < lanes:
            self._lanes.append(Lane(self.server, self.envelope_from))
        shares: list[list[Envelope]] = [[] for _ in range(lanes)]
        for envelope in sorted(envelopes, key=lambda e: e.entry_id):
            shares[envelope.entry_id % lanes].append(envelope)
        batch = _Batch(lanes)
        threads = [threading.Thread(target=self._run_lane, name=f"smtp-lane-{number}",
                                    args=(number, template, share, batch), daemon=True)
                   for number, share in enumerate(shares) if share]
        results: list[Result] = []
        faults: list[BaseException] = []
        for thread in threads:
            thread.start()
        try:
            running = len(threads)
            while running:
                lane, item = batch.settled.get()
                if item is None:
                    running -= 1
                elif isinstance(item, Result):
                    results.append(item)
                    if report:
                        report(item)
                    batch.recorded(lane)
                else:
                    faults.append(item)
                    batch.stop()
        finally:
            batch.stop()  # the lanes stop before their next message (the caller may be dying)
            for thread in threads:
                thread.join()
        if faults:
            raise self._fault(faults)
        return results

    def _run_lane(self, number: int, template: MessageTemplate, share: list[Envelope],
                  batch: _Batch) -> None:
        lane = self._lanes[number]
        try:
            for envelope in share:
                if batch.stopping:
                    break
                data = lane.build(template, envelope)
                refused = lane.begin(envelope, data)
                if refused is not None:
                    batch.report(number, refused)
                elif batch.may_commit(number):
                    batch.report(number, lane.commit(envelope))
                else:  # stopped: end the connection, the message without its dot is lost
                    lane.drop()
                    break
        except BaseException as exc:  # raised on the caller's thread by send()
            batch.settled.put((number, exc))
        finally:
            batch.settled.put((number, None))

    def _fault(self, faults: list[BaseException]) -> BaseException:
        """What to raise for a batch whose lanes failed: messages in doubt first (the engine
        must mark them before anything else is released), then a refusal, then try later."""
        unknown = [f for f in faults if isinstance(f, UnknownOutcome)]
        if unknown:
            entries = [entry for fault in unknown for entry in fault.entries or []]
            return UnknownOutcome(str(unknown[0]), entries)
        for kind in (PermanentError, TemporaryError):
            for fault in faults:
                if isinstance(fault, kind):
                    if kind is TemporaryError:
                        self.close()
                    return fault
        return faults[0]

    def settle(self, batch_id: str, entry_ids: Sequence[int],
               since: datetime) -> dict[int, bool | None]:
        """Each lane sends its entries in ledger order, each recorded before the lane's next
        is handed over: of a lane's unrecorded entries only the first can have been sent."""
        lanes = lanes_of(batch_id)
        first: dict[int, int] = {}
        for entry in sorted(entry_ids):
            first.setdefault(entry % lanes, entry)
        doubtful = set(first.values())
        return {entry: (None if entry in doubtful else False) for entry in entry_ids}

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()
