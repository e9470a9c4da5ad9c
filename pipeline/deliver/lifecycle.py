"""A delivery's start and end around the engine's batches.

    begin:  running; what a crash left in flight settled through the transport (sent, not
            sent, or uncertain); the provider's suppressions read (never send without them)
    finish: finished when nothing is pending or in flight; paused while a reader is uncertain

``send --workers N`` runs these once, in the process that holds the lease, around its workers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.audience.store import Store
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.deliver.suppressions import SuppressionSource, sync_suppressions
from pipeline.deliver.transports import PermanentError, Transport, TransportError
from pipeline.i18n import _

Pause = Callable[[int, str, bool], None]  # (delivery id, reason, temporary)


@dataclass
class DeliveryReport:
    delivery_id: int
    state: DeliveryState
    counts: dict[EntryState, int]
    reason: str | None = None
    frozen: int = 0
    sent_now: int = 0
    failed_now: int = 0
    notes: list[str] = field(default_factory=list)


def begin(store: Store, transport: Transport, delivery_id: int, pause: Pause,
          sleep: Callable[[float], None]) -> tuple[DeliveryReport, bool]:
    """(the report so far, whether a temporary fault had paused the delivery)."""
    delivery = deliveries.move(store, delivery_id, DeliveryState.RUNNING,
                           allowed_from={DeliveryState.DRAFT, DeliveryState.SCHEDULED,
                                         DeliveryState.RUNNING, DeliveryState.PAUSED})
    faulted = delivery.fault_since is not None
    report = DeliveryReport(delivery.id, DeliveryState.RUNNING, {})
    settle_in_flight(store, transport, delivery_id, report)
    if isinstance(transport, SuppressionSource):
        for attempt in range(3):
            try:
                synced = sync_suppressions(store, transport)
                break
            except TransportError as exc:  # never send without the provider's list
                if attempt == 2 or isinstance(exc, PermanentError):
                    pause(delivery_id, str(exc), not isinstance(exc, PermanentError))
                    report.state, report.reason = DeliveryState.PAUSED, str(exc)
                    transport.close()
                    return report, faulted
                sleep(2 ** attempt + random.random())
        report.notes.append(_("%(count)d suppression(s) read from %(transport)s") % {
            "count": synced, "transport": transport.name})
    return report, faulted


def settle_in_flight(store: Store, transport: Transport, delivery_id: int,
                     report: DeliveryReport) -> None:
    for batch_id, (ids, since) in ledger.in_flight(store, delivery_id).items():
        settled = transport.settle(batch_id, ids, since)
        ledger.record(store, [(i, EntryState.SENT, None, None)
                              for i, v in settled.items() if v is True], batch_id)
        ledger.release(store, [i for i, v in settled.items() if v is False],
                       "not sent before the interruption")
        unknown = [i for i, v in settled.items() if v is None]
        ledger.record(store, [(i, EntryState.UNCERTAIN, None,
                               "interrupted while the provider had it") for i in unknown],
                      batch_id)
        if unknown:
            report.notes.append(_("%(count)d recipient(s) of batch %(batch)s may have been "
                                  "sent before the interruption") % {
                                      "count": len(unknown), "batch": batch_id})


def finish(store: Store, delivery_id: int, report: DeliveryReport) -> DeliveryReport:
    counts = ledger.counts(store, delivery_id)
    report.counts = counts
    state = deliveries.delivery_state(store, delivery_id)
    if state is DeliveryState.RUNNING:
        if counts[EntryState.UNCERTAIN]:
            reason = _("%(count)d recipient(s) uncertain: see `newsletter status "
                       "--recipients uncertain`, then `newsletter resend --uncertain` or "
                       "`newsletter skip --uncertain`") % {
                           "count": counts[EntryState.UNCERTAIN]}
            deliveries.move(store, delivery_id, DeliveryState.PAUSED, reason)
            state, report.reason = DeliveryState.PAUSED, reason
        elif not counts[EntryState.PENDING] and not counts[EntryState.IN_FLIGHT]:
            deliveries.move(store, delivery_id, DeliveryState.FINISHED)
            state = DeliveryState.FINISHED
    report.state = state
    if state is DeliveryState.PAUSED and report.reason is None:
        report.reason = deliveries.get_delivery(store, delivery_id).pause_reason
    return report
