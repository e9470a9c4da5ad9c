"""The audience register: organisations, subscribers, subscriptions, suppressions.

A subscriber is one address. Each segment they receive (``connected``, ``general``) is a
``Subscription`` with its own status and consent evidence (legal basis, source, privacy-notice
version, timestamps). Organisations (connected actors) carry the focus areas they chose; their
contact people are subscribers linked to them. ``Suppression`` rows outlive erasure: they hold
only a salted hash of the address, per segment or ``*`` for every segment.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ALL_SEGMENTS = "*"


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"


class LegalBasis(StrEnum):
    """Why an address may be in the register (GDPR art. 6)."""

    CONSENT = "consent"          # the person asked for it: needs a confirmed opt-in
    PUBLIC_TASK = "public_task"  # contact people of connected organisations: the board's task


EXEMPT_BASES = frozenset({LegalBasis.PUBLIC_TASK})


class Base(DeclarativeBase):
    pass


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    org_number: Mapped[str | None] = mapped_column(String(20))
    joined_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    focus: Mapped[list[OrganisationFocus]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")


class OrganisationFocus(Base):
    __tablename__ = "organisation_focus"
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    focus: Mapped[str] = mapped_column(String(40), primary_key=True)


class ImportBatch(Base):
    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str] = mapped_column(String(40))
    basis: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Subscriber(Base):
    __tablename__ = "subscribers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320), unique=True)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="sv")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    subscriptions: Mapped[list[Subscription]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")
    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "segment"),
        Index("ix_subscriptions_segment_status", "segment", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    segment: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    legal_basis: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(500))
    privacy_notice: Mapped[str | None] = mapped_column(String(40))
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Suppression(Base):
    __tablename__ = "suppressions"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


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
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
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
