"""An aiosqlite connection that runs each statement in one trip to its thread.

SQLAlchemy's aiosqlite adapter makes four trips a statement (open a cursor, execute,
fetch the rows, close), each a hand-off to the connection's thread and back through the
event loop. On a busy loop every trip waits its turn, and a write transaction holds
SQLite's single write lock for all of them. Here a statement is one trip: the cursor is
opened, executed, read to the end and closed in the thread, and the rows come back
together. A tiny transaction costs a third of the CPU, and holds the lock far shorter.

Relies on `aiosqlite.Connection._execute` (run a function in the connection's thread),
whose shape has been the same since aiosqlite 0.17; the version range is pinned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]


def _run(connection: sqlite3.Connection, sql: str, parameters: Any) -> _Outcome:
    """In the connection's thread: the whole statement, rows included."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _run_many(connection: sqlite3.Connection, sql: str, rows: Iterable[Any]) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, rows)
        return cursor.description, cursor.rowcount, cursor.lastrowid, []
    finally:
        cursor.close()


class OneTripCursor:
    """What SQLAlchemy's adapter uses of an aiosqlite cursor, with the rows prefetched."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = ()) -> OneTripCursor:
        self._take(await self._connection.in_thread(_run, sql, parameters))
        return self

    async def executemany(self, sql: str, rows: Iterable[Any]) -> OneTripCursor:
        self._take(await self._connection.in_thread(_run_many, sql, rows))
        return self

    def _take(self, outcome: _Outcome) -> None:
        self.description, self.rowcount, self.lastrowid, self._rows = outcome

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = self.arraysize if size is None else size
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def in_thread(self, statement: Callable[..., _Outcome], *args: Any) -> _Outcome:
        """`statement(sqlite3_connection, *args)`, run in the connection's thread."""
        outcome: _Outcome = await self._execute(statement, self._conn, *args)  # type: ignore[no-untyped-call]
        return outcome

    # The pool rolls back every connection it gets back, most of them already committed:
    # with no transaction open there is nothing to send to the thread. (Reading the flag
    # from this thread is why connections are opened with check_same_thread=False; the
    # connection's thread is idle whenever this side awaits nothing of it.)

    async def commit(self) -> None:
        if self._in_transaction():
            await super().commit()

    async def rollback(self) -> None:
        if self._in_transaction():
            await super().rollback()

    def _in_transaction(self) -> bool:
        connection = self._connection
        return connection is not None and connection.in_transaction


def one_trip_connection(path: str, **connect_args: Any) -> OneTripConnection:
    """For `create_async_engine(async_creator=...)`: awaiting it opens the connection."""
    connector = partial(sqlite3.connect, path, check_same_thread=False, **connect_args)
    return OneTripConnection(connector, iter_chunk_size=64)
