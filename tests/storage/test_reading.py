"""`Database.reading()`: a read-only transaction that, on SQLite, neither waits for nor
holds up the single writer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from interlink.ids import new_id
from interlink.storage.database import Database
from interlink.storage.models import Organization

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def count_organizations(database: Database) -> int:
    async with database.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(Organization)) or 0)


@sqlite_only
async def test_a_reader_does_not_wait_for_the_writer_on_sqlite(database: Database) -> None:
    before = await count_organizations(database)
    async with database.transaction() as writing:
        writing.add(Organization(id=new_id("org"), name="Pending"))
        await writing.flush()  # the write lock is held from here to the commit
        async with asyncio.timeout(5):  # BEGIN IMMEDIATE would wait the busy timeout (30 s)
            assert await count_organizations(database) == before  # the committed snapshot
    assert await count_organizations(database) == before + 1


async def test_a_write_in_a_reading_transaction_fails_and_keeps_nothing(
    database: Database,
) -> None:
    before = await count_organizations(database)
    async with database.reading() as session:
        session.add(Organization(id=new_id("org"), name="Sneaky"))
        with pytest.raises(DBAPIError, match=r"(?i)read.only|readonly"):
            await session.flush()
    assert await count_organizations(database) == before


async def test_transactions_after_a_reading_one_write_again(database: Database) -> None:
    for _ in range(3):  # the same pooled connection goes back and forth
        await count_organizations(database)
        async with database.transaction() as session:
            session.add(Organization(id=new_id("org"), name="Next"))
    assert await count_organizations(database) >= 3
