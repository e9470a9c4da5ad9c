"""The engine: hand a frozen audience to a transport, batch by batch, exactly once.

    lifecycle.begin (settle what a crash left in flight) → loop:
        claim a batch (lease checked, rows in_flight, written first) → transport.send →
        record each result (only while the rows are still this batch's)
    → lifecycle.finish

Every message is the edition's: per reader only the placeholders are filled, nothing is
rendered. ``run.send_issue`` takes the lease, freezes and publishes before calling ``run``.

Another process may pause or cancel the delivery at any time; the loop checks before every
batch. Faults: a temporary error waits and retries the same rows; an unknown outcome is settled
through the transport (SendGrid cancels the fenced batch) or marks the rows ``uncertain``; a
permanent error pauses the delivery with the provider's message.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger, lifecycle
from pipeline.deliver.envelopes import Envelopes
from pipeline.deliver.lease import Lease, LeaseLost
from pipeline.deliver.lifecycle import DeliveryReport
from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.deliver.transports import (
    Overlapping,
    PermanentError,
    Result,
    TemporaryError,
    Transport,
    UnknownOutcome,
)
from pipeline.edition import Edition
from pipeline.i18n import _

Progress = Callable[[int, int], None]  # (settled, total)


@dataclass
class _Ahead:
    """A claimed batch, ready to send; ``sending``: its send under way in the background."""

    batch_id: str
    template: MessageTemplate
    envelopes: list[Envelope]
    rows: int  # claimed, the failed ones included
    claimed: datetime  # before it was sent: where a fence's deadline is counted from
    sending: Future[list[Result]] | None = None

    def start(self, pool: ThreadPoolExecutor, transport: Overlapping) -> _Ahead:
        """Built here, sent in the background (``Overlapping`` says why)."""
        self.sending = pool.submit(transport.start(self.template, self.batch_id,
                                                   self.envelopes))
        return self


class Engine:
    def __init__(self, store: Store, config: Config, edition: Edition, transport: Transport,
                 secret: bytes, sleep: Callable[[float], None] = time.sleep,
                 lease: Lease | None = None) -> None:
        self.store, self.edition = store, edition
        self.config = edition.config(config)  # the sender and List-Id the edition froze
        self.transport, self.secret, self.lease = transport, secret, lease
        self.sleep = sleep
        self.faulted = False  # resumed after a temporary fault, nothing sent since
        self.envelopes = Envelopes(self.config, edition, secret)

    def run(self, delivery_id: int, progress: Progress | None = None,
            worker: bool = False) -> DeliveryReport:
        """Send the delivery's pending rows. A ``worker`` (one of ``send --workers N``) only
        claims and sends: the process that holds the lease settled and synced already.

        What is alive when it starts (the code, the edition: ~100,000 objects) outlives the
        delivery, so the collector's full passes skip it until the end: each pass cost 50 ms,
        five of them in 100,000 readers."""
        gc.freeze()
        try:
            return self._deliver(delivery_id, progress, worker)
        finally:
            gc.unfreeze()

    def _deliver(self, delivery_id: int, progress: Progress | None, worker: bool
                 ) -> DeliveryReport:
        store = self.store
        if worker:
            report = DeliveryReport(delivery_id, DeliveryState.RUNNING, {})
        else:
            report = self._start(delivery_id)
            if report.state is DeliveryState.PAUSED:
                return self._finish(delivery_id, report)
        counts = ledger.counts(store, delivery_id)
        total = sum(counts.values())
        # the bar counts what this run settles: a count of the ledger per batch would scan
        # the whole delivery each time
        self._before = _done(counts)
        self._attempted, self._last = 0, time.monotonic()
        # a transport that waits on the network (SendGrid) sends batch N in the background
        # while batch N+1 is claimed and prepared here; results are recorded here, in order
        overlap = ThreadPoolExecutor(1) if getattr(self.transport, "overlaps", False) and \
            callable(getattr(self.transport, "start", None)) else None
        ahead: _Ahead | None = None
        upcoming: Future[str] | None = None  # the next batch's id, asked for in the background
        try:
            while True:
                state = deliveries.delivery_state(store, delivery_id)
                if state is not DeliveryState.RUNNING:
                    report.state, report.reason = state, "stopped by another command"
                    break
                try:
                    batch_id, upcoming = self._new_batch(upcoming), None
                except (UnknownOutcome, PermanentError) as exc:
                    self._pause(delivery_id, str(exc), isinstance(exc, UnknownOutcome))
                    report.reason = str(exc)
                    break
                if batch_id is None:
                    self._pause(delivery_id, "the provider kept answering 'try later'", True)
                    break
                try:
                    rows = ledger.claim(store, delivery_id, None, self.transport.batch_size,
                                        batch_id, *self._lease_args())
                except LeaseLost:
                    if ahead is not None:  # it went out: its outcome is still ours to record
                        self._settled(delivery_id, ahead, report, total, progress)
                    raise  # another process holds the delivery now
                if not rows:
                    break
                if overlap is not None and self.transport.uses_fence:  # one round trip less
                    upcoming = overlap.submit(self.transport.new_batch)
                batch = self._prepare(delivery_id, batch_id, rows, report)
                if ahead is not None:
                    stop, ahead = self._settled(delivery_id, ahead, report, total, progress), None
                    if stop:  # paused: this batch never went out
                        ledger.release(store, [e.entry_id for e in batch.envelopes])
                        break
                if overlap is not None and batch.envelopes:
                    ahead = batch.start(overlap, cast(Overlapping, self.transport))
                elif self._settled(delivery_id, batch, report, total, progress):
                    break
            if ahead is not None:
                self._settled(delivery_id, ahead, report, total, progress)
        finally:  # an error no one foresaw leaves no connection open either
            if overlap is not None:
                overlap.shutdown(wait=True)
            self.transport.close()
        if progress:  # exact at the end: rows skipped at a claim (readers who left) count too
            progress(_done(ledger.counts(store, delivery_id)), total)
        return self._finish(delivery_id, report)

    def _prepare(self, delivery_id: int, batch_id: str, rows: list[ledger.Claimed],
                 report: DeliveryReport) -> _Ahead:
        """A batch's envelopes; a reader whose name or address is unusable fails alone."""
        template = self.envelopes.template(rows[0].variant)
        make, envelopes = self.envelopes.envelope, []
        for row in rows:
            envelope = make(delivery_id, row)
            if (problem := template.problem(envelope)) is not None:
                ledger.record(self.store, [(row.id, EntryState.FAILED, None, problem)],
                              batch_id)
                report.failed_now += 1
            else:
                envelopes.append(envelope)
        return _Ahead(batch_id, template, envelopes, len(rows), now())

    def _settled(self, delivery_id: int, batch: _Ahead, report: DeliveryReport, total: int,
                 progress: Progress | None) -> bool:
        """A batch sent (or its background send awaited) and recorded; True: stop here."""
        stop = bool(batch.envelopes) and self._send(delivery_id, batch, report)
        self._attempted += batch.rows
        if progress:
            progress(min(self._before + self._attempted, total), total)
        if stop:
            return True
        if self._attempted >= 50 and \
                report.failed_now / self._attempted > self.config.delivery.error_threshold:
            deliveries.move(self.store, delivery_id, DeliveryState.PAUSED, _(
                "%(failed)d of %(attempted)d sends failed, over the error threshold") % {
                    "failed": report.failed_now, "attempted": self._attempted})
            return True
        rate = self.config.delivery.messages_per_second
        if rate:
            wait = batch.rows / rate - (time.monotonic() - self._last)
            if wait > 0:
                self.sleep(wait)
            self._last = time.monotonic()
        return False

    def _start(self, delivery_id: int) -> DeliveryReport:
        report, self.faulted = lifecycle.begin(self.store, self.transport, delivery_id,
                                               self._pause, self.sleep)
        return report

    def _finish(self, delivery_id: int, report: DeliveryReport) -> DeliveryReport:
        return lifecycle.finish(self.store, delivery_id, report)

    def _lease_args(self) -> tuple[str | None, float]:
        if self.lease is None:
            return None, 60.0
        return self.lease.owner, self.lease.seconds

    def _new_batch(self, upcoming: Future[str] | None = None) -> str | None:
        """A batch id, with the tries and waits a fault needs; the one asked for in the
        background (``upcoming``) is the first try, its error waited on like any other."""
        for attempt in range(self.config.delivery.tries):
            try:
                if upcoming is not None:
                    asked, upcoming = upcoming, None
                    return asked.result()
                return self.transport.new_batch()
            except TemporaryError as exc:
                self.sleep(min(exc.retry_after, 300))
            except (UnknownOutcome, PermanentError) as exc:
                if isinstance(exc, PermanentError) or attempt + 1 == self.config.delivery.tries:
                    raise
                self.sleep(min(2 ** attempt + random.random(), 60))
        return None

    def _send(self, delivery_id: int, batch: _Ahead, report: DeliveryReport) -> bool:
        """One batch; True when the delivery must stop (paused). A batch already sent in the
        background gives its outcome as the first try."""
        batch_id, template, envelopes = batch.batch_id, batch.template, batch.envelopes
        ids = [e.entry_id for e in envelopes]
        claimed = batch.claimed
        recorded: set[int] = set()

        def record_one(result: Result) -> None:  # sequential transports: each as it is sent
            ledger.record(self.store, [_outcome(result)], batch_id)
            recorded.add(result.entry_id)
            report.sent_now += result.accepted
            report.failed_now += not result.accepted

        report_each = record_one if self.transport.sequential else None
        last = ""
        for attempt in range(self.config.delivery.tries):
            try:
                if batch.sending is not None:
                    sending, batch.sending = batch.sending, None
                    results = sending.result()  # the background send's answer, or its error
                else:
                    results = self.transport.send(template, batch_id, envelopes, report_each)
            except TemporaryError as exc:
                ids = [i for i in ids if i not in recorded]
                envelopes = [e for e in envelopes if e.entry_id not in recorded]
                last = str(exc)
                if attempt + 1 < self.config.delivery.tries:  # not before the pause
                    self.sleep(min(exc.retry_after, 300))
                continue
            except UnknownOutcome as exc:
                last = str(exc)
                if exc.entries is not None:  # only these were on the wire; the rest untried
                    untried = [i for i in ids if i not in recorded and i not in exc.entries]
                    ledger.release(self.store, untried)
                    ids = exc.entries
                settled = self.transport.settle(batch_id, ids, claimed) \
                    if self.transport.uses_fence else dict.fromkeys(ids)
                if any(value is None for value in settled.values()):
                    ledger.record(self.store, [(i, EntryState.UNCERTAIN, None, str(exc))
                                               for i in ids], batch_id)
                    report.notes.append(str(exc))
                    return False
                # fenced and cancelled: certainly not sent; retry under a new batch id
                if attempt + 1 < self.config.delivery.tries:
                    self.sleep(min(2 ** attempt + random.random(), 60))
                    try:
                        fresh = self._new_batch()
                    except (UnknownOutcome, PermanentError):
                        fresh = None
                    if fresh is None:
                        break  # not sent (cancelled); pause below, resend on resume
                    batch_id = fresh
                    ledger.rebatch(self.store, ids, batch_id)
                    claimed = now()
                    continue
                break
            except PermanentError as exc:
                ledger.release(self.store, [i for i in ids if i not in recorded], str(exc))
                deliveries.move(self.store, delivery_id, DeliveryState.PAUSED, str(exc))
                report.reason = str(exc)
                return True
            late = [r for r in results if r.entry_id not in recorded]
            ledger.record(self.store, [_outcome(r) for r in late], batch_id)
            if self.faulted:  # went out after a fault: the scheduler's tries start afresh
                deliveries.mended(self.store, delivery_id)
                self.faulted = False
            report.sent_now += sum(r.accepted for r in late)
            report.failed_now += sum(not r.accepted for r in late)
            return False
        ledger.release(self.store, [i for i in ids if i not in recorded],
                       "provider kept failing")
        self._pause(delivery_id, _(  # the last fault: which server, and what it said
            "the provider kept failing (%(tries)d tries, the last: %(last)s); nothing of the "
            "last batch was sent; resume when it recovers") % {
                "tries": self.config.delivery.tries, "last": last[:300]}, True)
        return True

    def _pause(self, delivery_id: int, reason: str, temporary: bool) -> None:
        """Pause; a temporary fault (the provider down, refusing connections, 429, 5xx
        settled as not sent) is resumed by the scheduler for ``[schedule] retry_hours``."""
        schedule = self.config.schedule
        retry_in = schedule.retry_backoff_seconds if temporary and schedule.retry_hours else None
        deliveries.move(self.store, delivery_id, DeliveryState.PAUSED, reason, retry_in=retry_in)


def _done(counts: dict[EntryState, int]) -> int:
    """The delivery's rows that are neither pending nor in flight."""
    return sum(counts.values()) - counts[EntryState.PENDING] - counts[EntryState.IN_FLIGHT]


def _outcome(result: Result) -> tuple[int, EntryState, str | None, str | None]:
    state = EntryState.SENT if result.accepted else EntryState.FAILED
    return result.entry_id, state, result.provider_id, result.error
