"""The async engine and sessions, tuned for SQLite (WAL) and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from interlink.storage.sqlite_connection import one_trip_connection

# Set on a connection whose transaction only reads (see `Database.reading`).
_READ_ONLY = "interlink_read_only"


class Database:
    """One engine and a session factory. `transaction()` is the unit of work."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_folder(url)
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **_engine_options(url))
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction that only reads: one consistent snapshot.

        On SQLite it begins DEFERRED, so it never waits for (nor holds up) the single
        writer the way `transaction()`'s BEGIN IMMEDIATE does. A write in it fails, on
        both databases.
        """
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options={_READ_ONLY: True})
            if not self.is_sqlite:
                await session.execute(text("SET TRANSACTION READ ONLY"))
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        path = make_url(url).database or ":memory:"
        return {"async_creator": partial(one_trip_connection, path, timeout=30)}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}


def _ensure_sqlite_folder(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so writers queue instead of failing.

    pysqlite's own transaction handling defers BEGIN and cannot upgrade a read snapshot
    to a write lock under contention (SQLITE_BUSY without waiting), so we take it over.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Some builds (Debian's among them) default to secure_delete=ON, which overwrites
        # every freed page: a delivered body's ~15 overflow pages each, written to the WAL
        # and again to the file. FAST still zeroes what is deleted within a page, at no
        # extra I/O; freed overflow pages are reused rather than rewritten.
        cursor.execute("PRAGMA secure_delete=FAST")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(_READ_ONLY))
        # query_only is the connection's, kept across checkouts: switched only on change.
        if connection.info.get(_READ_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            connection.info[_READ_ONLY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
