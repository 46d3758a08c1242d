"""Apply the Alembic migrations that ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from interlink.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every process of one deployment.
_MIGRATION_LOCK_KEY = 7_105_301_420_417_331_826


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(database: Database) -> None:
    """Bring the schema to the newest revision; a no-op when it already is."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")

    async with database.engine.begin() as connection:
        if not database.is_sqlite:
            # API and worker processes all migrate at start; on PostgreSQL they take turns
            # (the lock ends with this transaction). SQLite's BEGIN IMMEDIATE does the same.
            await connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
        await connection.run_sync(upgrade)
