"""Migrations apply on both backends, twice without harm, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from interlink.storage.database import Database
from interlink.storage.migrate import migrate
from interlink.storage.models import Base


async def test_migrate_is_idempotent_and_matches_models(database: Database) -> None:
    await migrate(database)

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"organizations", "api_keys", "instances", "jobs"} <= tables
        assert await connection.run_sync(diff) == []
