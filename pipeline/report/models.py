"""The report stage's tables: register snapshots, and the provider's events per delivery.

A ``Snapshot`` is the register counted at one moment (at each send, daily from the scheduler,
or back-filled from the register's timestamps); its ``SnapshotCount`` rows are aggregates only
(readers per segment, organisations per focus area and kind), never a person.

``DeliveryEventCount`` keeps how many of each provider event arrived for a delivery in each
hour: the report's timeline. The events themselves are kept only a week (for de-duplication).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.db import Base


class Snapshot(Base):
    __tablename__ = "snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(String(40))  # daily, send:<issue>, backfill


class SnapshotCount(Base):
    __tablename__ = "snapshot_counts"
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True)
    measure: Mapped[str] = mapped_column(String(40), primary_key=True)  # readers, focus, kind…
    key: Mapped[str] = mapped_column(String(60), primary_key=True)      # segment, area, kind…
    count: Mapped[int] = mapped_column(Integer)


class DeliveryEventCount(Base):
    __tablename__ = "delivery_event_counts"
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    event: Mapped[str] = mapped_column(String(30), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
