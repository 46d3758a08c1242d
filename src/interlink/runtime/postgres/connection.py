"""From the hub's SQLAlchemy database to what procrastinate talks to: psycopg directly."""

from __future__ import annotations

from typing import cast

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import ConfigurationError


def conninfo(database_url: str) -> str:
    """The libpq URL of a `postgresql+psycopg://…` SQLAlchemy URL (credentials kept)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError("the PostgreSQL job runtime needs a PostgreSQL database URL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[object]:
    """The psycopg connection under `session`, inside the session's open transaction.

    Statements run on it belong to the caller's transaction: procrastinate's defer
    commits or rolls back with the state it was deferred for.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        raise ConfigurationError(
            "the PostgreSQL job runtime needs the psycopg driver (postgresql+psycopg://)"
        )
    return cast(psycopg.AsyncConnection[object], driver)
