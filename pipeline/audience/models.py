"""The audience register: organisations, subscribers, subscriptions, suppressions.

A subscriber is one address. Each segment they receive (``connected``, ``general``) is a
``Subscription`` with its own status and consent evidence (legal basis, source, privacy-notice
version, timestamps). Organisations (connected actors) carry the focus areas they chose; their
contact people are subscribers linked to them. An organisation's kind (``OrganisationKind``:
kommun, region, myndighet…) is asked on the join form and may be given in an import; those
added before it was asked have none. ``Suppression`` rows outlive erasure: they hold
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline.db import Base
from pipeline.i18n import N_

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


class OrganisationKind(StrEnum):
    """What kind of organisation joined; the values are the stored slugs."""

    MUNICIPALITY = "kommun"
    REGION = "region"
    AGENCY = "myndighet"
    COMPANY = "foretag"
    ASSOCIATION = "forening"
    OTHER = "annan"


KIND_LABELS: dict[OrganisationKind, str] = {  # translated where they are shown
    OrganisationKind.MUNICIPALITY: N_("Municipality"),
    OrganisationKind.REGION: N_("Region"),
    OrganisationKind.AGENCY: N_("Government agency"),
    OrganisationKind.COMPANY: N_("Company"),
    OrganisationKind.ASSOCIATION: N_("Association"),
    OrganisationKind.OTHER: N_("Other"),
}


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
    kind: Mapped[str | None] = mapped_column(String(20))  # an OrganisationKind
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
