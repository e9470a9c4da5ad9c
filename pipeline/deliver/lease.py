"""One sender per delivery: a lease on the delivery row, taken atomically, kept by heartbeat.

A process takes the lease before it freezes, publishes, settles or sends: one conditional
UPDATE (free, lapsed, ours, or held by a process of this host that is gone), so two processes
can never both hold it. The holder renews it from a background thread every quarter of
``[delivery] lease_seconds``; the engine's batch claim re-checks it in the same transaction,
so a holder that lost its lease stops before its next batch. Rows left in flight are settled
only by the holder: the earlier holder's only once its lease lapsed or its process is gone.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update

from pipeline.audience.store import Store, now
from pipeline.deliver.models import Delivery
from pipeline.errors import NewsletterError
from pipeline.i18n import _

LEASE_HELD_EXIT = 3
DELIVERIES = cast(Table, Delivery.__table__)


class LeaseHeld(NewsletterError):
    """Another process is sending this delivery; exit status 3."""

    exit_code = LEASE_HELD_EXIT


class LeaseLost(NewsletterError):
    """This process no longer holds the delivery's lease (it lapsed and was taken over);
    exit status 3, like LeaseHeld: another process is sending."""

    exit_code = LEASE_HELD_EXIT


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def process_gone(owner: str) -> bool:
    """True only when the owner ran on this host and its process no longer exists."""
    host, pid, *_ = [*owner.split(":"), "", ""]
    if host != socket.gethostname() or not pid.isdecimal():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """This process's lease on one delivery."""

    def __init__(self, store: Store, delivery_id: int, seconds: float,
                 owner: str | None = None) -> None:
        self.store, self.delivery_id, self.seconds = store, delivery_id, seconds
        self.owner = owner or owner_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = threading.Event()

    def try_acquire(self) -> tuple[str, datetime] | None:
        """Take the lease; None if taken, else (holder, since) of whoever has it."""
        moment = now()
        table = DELIVERIES
        with self.store.writing() as connection:
            row = connection.execute(select(table.c.lease_owner, table.c.lease_since,
                                            table.c.lease_expires)
                                     .where(table.c.id == self.delivery_id)
                                     .with_for_update()).first()
            if row is None:
                raise NewsletterError(f"no delivery {self.delivery_id}")
            holder, since, expires = row
            free = holder is None or holder == self.owner or process_gone(holder) or \
                (expires is not None and _aware(expires) <= moment)
            if not free:
                return holder, _aware(since or moment)
            connection.execute(update(table).where(and_(
                table.c.id == self.delivery_id,
                or_(table.c.lease_owner.is_(None), table.c.lease_owner == holder)))
                .values(lease_owner=self.owner, lease_since=moment,
                        lease_expires=moment + timedelta(seconds=self.seconds)))
        return None

    def acquire(self, wait: bool = False, poll: float = 1.0,
                sleep: Callable[[float], None] = time.sleep) -> None:
        """Take the lease and start the heartbeat; LeaseHeld if taken (unless ``wait``)."""
        while (held := self.try_acquire()) is not None:
            if not wait:
                holder, since = held
                raise LeaseHeld(_(
                    "another process is sending this delivery: %(holder)s holds it since "
                    "%(since)s UTC; wait for it (`--wait`), or stop that process first") % {
                        "holder": holder, "since": f"{since:%Y-%m-%d %H:%M:%S}"})
            sleep(poll)
        self._thread = threading.Thread(target=self._beat_loop, name="lease-heartbeat",
                                        daemon=True)
        self._thread.start()

    def beat(self) -> bool:
        """Renew; False (and ``lost`` set) if another process holds it now."""
        table = DELIVERIES
        with self.store.engine.begin() as connection:
            result = connection.execute(update(table).where(
                table.c.id == self.delivery_id, table.c.lease_owner == self.owner)
                .values(lease_expires=now() + timedelta(seconds=self.seconds)))
        if not cast(Any, result).rowcount:
            self.lost.set()
            return False
        return True

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            try:
                if not self.beat():
                    return
            except Exception:
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        table = DELIVERIES
        with self.store.engine.begin() as connection:
            connection.execute(update(table).where(
                table.c.id == self.delivery_id, table.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_since=None, lease_expires=None))

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_lease(connection: Any, delivery_id: int, owner: str, seconds: float) -> None:
    """Inside a claim's transaction: raise LeaseLost unless ``owner`` holds the lease; renew it."""
    table = DELIVERIES
    result = connection.execute(update(table).where(
        table.c.id == delivery_id, table.c.lease_owner == owner)
        .values(lease_expires=now() + timedelta(seconds=seconds)))
    if not cast(Any, result).rowcount:
        raise LeaseLost(_("this process lost its lease on the delivery (it lapsed and another "
                          "process took over); it sent nothing more"))
