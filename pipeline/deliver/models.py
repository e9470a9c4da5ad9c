"""The deliver stage's tables: deliveries, the send ledger, provider events already applied.

A ``Delivery`` is one send of one issue's edition to a frozen audience; each recipient is one
``LedgerEntry``. States move by ``TRANSITIONS`` only (see ``deliveries.move``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.db import Base


class DeliveryState(StrEnum):
    """A delivery's life: draft → scheduled → running ⇄ paused → finished | cancelled."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.DRAFT: frozenset({DeliveryState.SCHEDULED, DeliveryState.RUNNING,
                                    DeliveryState.CANCELLED}),
    DeliveryState.SCHEDULED: frozenset({DeliveryState.DRAFT, DeliveryState.RUNNING,
                                        DeliveryState.CANCELLED}),
    DeliveryState.RUNNING: frozenset({DeliveryState.PAUSED, DeliveryState.FINISHED,
                                      DeliveryState.CANCELLED}),
    DeliveryState.PAUSED: frozenset({DeliveryState.RUNNING, DeliveryState.CANCELLED}),
    DeliveryState.FINISHED: frozenset(),
    DeliveryState.CANCELLED: frozenset(),
}


class EntryState(StrEnum):
    """One recipient's row in the send ledger."""

    PENDING = "pending"        # not yet handed to the provider
    IN_FLIGHT = "in_flight"    # handed over; the provider's answer is not recorded yet
    SENT = "sent"              # the provider accepted it
    FAILED = "failed"          # refused for good (bad address, rejected by the provider)
    UNCERTAIN = "uncertain"    # may or may not have gone out: resend or skip by hand
    SKIPPED = "skipped"        # not sent on purpose (suppressed since freezing, or skipped)


SETTLED = frozenset({EntryState.SENT, EntryState.FAILED, EntryState.SKIPPED})


class Delivery(Base):
    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue: Mapped[str] = mapped_column(String(20), index=True)
    state: Mapped[str] = mapped_column(String(20))
    transport: Mapped[str] = mapped_column(String(20))
    pause_reason: Mapped[str | None] = mapped_column(String(500))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id"))
    # the issue's slug while the delivery is neither finished nor cancelled: unique, so two
    # processes starting at once cannot both create one
    active_issue: Mapped[str | None] = mapped_column(String(20), unique=True)
    lease_owner: Mapped[str | None] = mapped_column(String(200))   # host:pid:random
    lease_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transport_log: Mapped[str | None] = mapped_column(String(1000))  # --switch-transport
    # paused by a temporary fault: the scheduler resumes it at retry_at (backoff), for as
    # long as [schedule] retry_hours after fault_since; None: a person resumes it
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fault_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("delivery_id", "subscriber_id"),
        Index("ix_ledger_delivery_state", "delivery_id", "state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(Integer, index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    segment: Mapped[str] = mapped_column(String(40))
    variant: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(20))
    batch: Mapped[str | None] = mapped_column(String(64))  # found by id, never alone
    provider_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(20))  # the provider's latest word
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProviderEvent(Base):
    """A provider event already applied: its id, so a repeat (common) changes nothing."""

    __tablename__ = "provider_events"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    event: Mapped[str] = mapped_column(String(30))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Alert(Base):
    """Something an operator must hear about, once per cause (``alerts.py``). ``sent_at`` is
    None while no channel has taken it: a pending alert. ``handling_until``: a dispatcher is
    handing it over until then, and no other one takes it."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cause: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    issue: Mapped[str | None] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))  # warning, critical
    message: Mapped[str] = mapped_column(String(1000))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    handling_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def state_word(state: str) -> str:
    """A delivery's or a recipient's state, in the language messages speak."""
    from pipeline.i18n import _

    words = {
        "draft": _("draft"), "scheduled": _("scheduled"), "running": _("running"),
        "paused": _("paused"), "finished": _("finished"), "cancelled": _("cancelled"),
        "pending": _("pending"), "in_flight": _("in flight"), "sent": _("sent"),
        "failed": _("failed"), "uncertain": _("uncertain"), "skipped": _("skipped"),
    }
    return words.get(str(state), str(state))
