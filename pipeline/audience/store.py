"""The audience database: open it (creating and migrating it on first use) and hash addresses.

SQLite file by default (``[audience] database_url`` in newsletter.toml, relative paths from the
project folder), or any SQLAlchemy URL in ``NEWSLETTER_DATABASE_URL``, e.g. PostgreSQL
``postgresql+psycopg://user:pass@127.0.0.1/newsletter``. Migrations (Alembic, in
``migrations/``) run on open, so the schema always matches the code.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from pipeline.audience.models import Setting
from pipeline.config import Config
from pipeline.errors import NewsletterError
from pipeline.i18n import _

MIGRATIONS = Path(__file__).parent / "migrations"


DATABASE_ENV = "NEWSLETTER_DATABASE_URL"


class StoreError(NewsletterError):
    """The audience database cannot be opened or used."""


def now() -> datetime:
    return datetime.now(UTC)


def database_url(config: Config) -> str:
    url = os.environ.get(DATABASE_ENV) or config.audience.database_url
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (":abc" raises only when the port is read)
    except (ArgumentError, ValueError):
        raise StoreError(_("%(setting)s is not a database URL: write it as sqlite:///path/"
                           "register.db or postgresql+psycopg://user@host/database") % {
                               "setting": _setting(url)}) from None
    if parsed.host and not _SHOWN_HOST.fullmatch(parsed.host):  # "user:pa@ss@host"
        raise StoreError(_("%(setting)s: the part after the last \"@\" is not a host name; "
                           "write an \"@\" or \":\" in the user name or password as %%40 or "
                           "%%3A") % {"setting": _setting(url)})
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and (parsed.query or "\0" in (parsed.database or "")):
        raise StoreError(_("%(setting)s: a SQLite register is a path and nothing else, e.g. "
                           "sqlite:///register.db") % {"setting": _setting(url)})
    if sqlite and parsed.database and \
            parsed.database != ":memory:" and not Path(parsed.database).is_absolute():
        parsed = parsed.set(database=str((config.root / parsed.database).resolve()))
    return parsed.render_as_string(hide_password=False)


def database_reason(exc: BaseException) -> str:
    """The first line of the database's own message (never the statement or its values)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def _setting(url: str) -> str:
    """Where the URL in effect came from, for an error to name."""
    return DATABASE_ENV if os.environ.get(DATABASE_ENV) == url else "[audience] database_url"


_SHOWN_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,255}")


def _redacted(url: str) -> str:
    """The URL as an error may show it: the kind, host, port and database, never the user,
    the password (even one whose "@" was not escaped) or the query (libpq reads a password
    there too)."""
    try:
        parsed = make_url(url)
        port = f":{parsed.port}" if parsed.port else ""
    except (ArgumentError, ValueError):
        return "(unreadable)"
    host = parsed.host or ""
    if host and not _SHOWN_HOST.fullmatch(host):
        host = "(host hidden)"
    return f"{parsed.drivername}://{host}{port}/{parsed.database or ''}"


_MIGRATING = threading.Lock()


@dataclass
class Store:
    engine: Engine

    @classmethod
    def open(cls, config: Config, url: str | None = None) -> Store:
        """Connect and bring the schema up to date."""
        url = url or database_url(config)

        def unusable() -> StoreError:
            return StoreError(_(
                "%(setting)s names no database this program can use (%(url)s): write it as "
                "sqlite:///path/register.db or postgresql+psycopg://user@host/database") % {
                    "setting": _setting(url), "url": _redacted(url)})

        try:
            sqlite = make_url(url).get_backend_name() == "sqlite"
            # hide_parameters: a database error must never print a reader's address or name;
            # pre-ping: a connection a restarted server dropped is replaced, not used
            engine = create_engine(url, future=True, hide_parameters=True,
                                   pool_pre_ping=not sqlite,
                                   connect_args={"timeout": 60} if sqlite else {})
        except (ArgumentError, ValueError, ImportError):  # an unknown kind, or its driver
            raise unusable() from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        try:
            try:  # the first connection: what the URL asks for is tried
                engine.connect().close()
            except (ValueError, TypeError) as exc:  # a NUL in the path, an unknown option
                raise unusable() from exc
            store.migrate()
        except DBAPIError as exc:  # unreachable, refused, or not a register (another file)
            raise StoreError(_("cannot open the audience database %(url)s: %(why)s") % {
                "url": _redacted(url), "why": database_reason(exc)}) from None
        return store

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config as AlembicConfig

        alembic = AlembicConfig()
        alembic.set_main_option("script_location", str(MIGRATIONS))
        # Alembic keeps its running context in module state: two threads migrating at once
        # (the scheduler's jobs open the register in parallel) close each other's connection.
        with _MIGRATING, self.engine.begin() as connection:
            alembic.attributes["connection"] = connection
            command.upgrade(alembic, "head")

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction that takes the write lock before it reads (check-then-act).

        SQLite: ``BEGIN IMMEDIATE``, so two processes cannot both read a row as free and
        then both take it. PostgreSQL: an ordinary transaction; callers lock the rows they
        read (``FOR UPDATE [SKIP LOCKED]``).
        """
        with self.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield connection
                except BaseException:
                    connection.rollback()
                    raise
                connection.commit()
            else:
                with connection.begin():
                    yield connection

    @cached_property
    def salt(self) -> str:
        with self.session() as session:
            value = session.scalar(select(Setting.value).where(Setting.key == "salt"))
        if value is None:
            raise StoreError("the database has no salt: it was not created by this program")
        return value

    def email_hash(self, email_key: str) -> str:
        """Salted hash of a normalised address: what suppressions and lookups use."""
        return hashlib.sha256(f"{self.salt}:{email_key}".encode()).hexdigest()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
