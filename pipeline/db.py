"""The register's one declarative base and clock; it imports no stage.

Each stage owns its tables (``audience/models.py``, ``deliver/models.py``, ``edition.py``) on
this shared base, so the migrations see one schema.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def now() -> datetime:
    return datetime.now(UTC)
