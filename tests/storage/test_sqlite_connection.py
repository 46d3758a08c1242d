"""The one-trip SQLite connection under SQLAlchemy: rows, counts, ids and errors come back
as the DBAPI promises, and a failed transaction leaves nothing behind."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from interlink.ids import new_id
from interlink.storage.database import Database
from interlink.storage.migrate import migrate
from interlink.storage.models import Organization
from interlink.storage.sqlite_connection import OneTripConnection


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'one-trip.db'}")
    await migrate(db)
    yield db
    await db.dispose()


async def test_statements_return_rows_counts_and_ids(database: Database) -> None:
    async with database.transaction() as session:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, OneTripConnection)
        await session.execute(text("CREATE TABLE numbers (id INTEGER PRIMARY KEY, n INT)"))
        inserted = await session.execute(
            text("INSERT INTO numbers (n) VALUES (:n) RETURNING id"), {"n": 7}
        )
        assert inserted.scalar_one() == 1
        await session.execute(
            text("INSERT INTO numbers (n) VALUES (:n)"), [{"n": n} for n in range(5)]
        )
        changed = await session.execute(text("UPDATE numbers SET n = n + 1 WHERE n < 3"))
        assert changed.rowcount == 3
        rows = (await session.execute(text("SELECT n FROM numbers ORDER BY id"))).all()
        assert [row.n for row in rows] == [7, 1, 2, 3, 3, 4]
        assert (await session.execute(text("SELECT n FROM numbers WHERE n > 99"))).first() is None


async def test_executemany_updates_count_every_row(database: Database) -> None:
    ids = [new_id("org") for _ in range(4)]
    async with database.transaction() as session:
        await session.execute(insert(Organization), [{"id": i, "name": "old"} for i in ids])
    table = Organization.__table__
    async with database.transaction() as session:
        result = await session.execute(
            update(table).where(table.c.id == bindparam("key")).values(name="new"),
            [{"key": i} for i in ids[:3]],
        )
        assert result.rowcount == 3
    async with database.reading() as session:
        names = await session.scalars(select(Organization.name).order_by(Organization.name))
        assert sorted(names) == ["new", "new", "new", "old"]


async def test_a_failing_statement_raises_and_its_transaction_keeps_nothing(
    database: Database,
) -> None:
    taken = new_id("org")
    async with database.transaction() as session:
        session.add(Organization(id=taken, name="first"))

    async def add_one_then_the_duplicate() -> None:
        async with database.transaction() as session:
            session.add(Organization(id=new_id("org"), name="kept only if all commit"))
            await session.flush()
            session.add(Organization(id=taken, name="duplicate"))

    with pytest.raises(IntegrityError):
        await add_one_then_the_duplicate()
    async with database.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 1
    async with database.transaction() as session:  # the connection is usable again
        session.add(Organization(id=new_id("org"), name="after"))


async def test_freeing_a_large_value_does_not_rewrite_its_pages(
    database: Database, tmp_path: Path
) -> None:
    # A delivered body (tens of KiB in overflow pages) is set to NULL. With secure_delete
    # ON, the default of some builds, every freed page is zeroed: written to the WAL, then
    # to the file. FAST frees them without writing them.
    wal = tmp_path / "one-trip.db-wal"
    async with database.transaction() as session:
        assert (await session.execute(text("PRAGMA secure_delete"))).scalar_one() == 2  # FAST
        await session.execute(text("CREATE TABLE bodies (id INTEGER PRIMARY KEY, body BLOB)"))
        await session.execute(
            text("INSERT INTO bodies (body) VALUES (:body)"), {"body": b"x" * 200_000}
        )
    with contextlib.closing(sqlite3.connect(tmp_path / "one-trip.db")) as checkpointer:
        checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert wal.stat().st_size == 0
    async with database.transaction() as session:
        await session.execute(text("UPDATE bodies SET body = NULL"))
    page_frames = wal.stat().st_size / (4096 + 24)
    assert page_frames < 8  # the row's page and the free list's, not the 49 freed pages
