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
        options = {"compare_type": False, "include_name": _ours}
        context = MigrationContext.configure(connection, opts=options)
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"organizations", "api_keys", "instances", "jobs"} <= tables
        assert await connection.run_sync(diff) == []


def _ours(name: str | None, type_: str, _parents: object) -> bool:
    """procrastinate's tables (and our `job_errors` beside them) have no models."""
    if type_ != "table" or name is None:
        return True
    return not (name.startswith("procrastinate_") or name == "job_errors")
