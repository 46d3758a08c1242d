"""Shared fixtures: databases on SQLite and, for real, on PostgreSQL.

PostgreSQL tests build the schema once into a template database and clone it per test
(CREATE DATABASE … TEMPLATE), which is far faster than migrating each time.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from interlink.storage.database import Database
from interlink.storage.migrate import migrate

pytest_plugins = ["tests.hub_fixtures"]

POSTGRES_ADMIN_URL = os.environ.get(
    "INTERLINK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
# One template per test session, so concurrent test runs on one server do not collide.
TEMPLATE_DB = f"interlink_test_template_{os.getpid()}"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}".strip()


def _admin_execute(*statements: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _database_url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """Migrated template database, built once per test session."""
    reason = _postgres_reachable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    _admin_execute(
        f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)", f"CREATE DATABASE {TEMPLATE_DB}"
    )

    async def build() -> None:
        database = Database(_database_url(TEMPLATE_DB))
        await migrate(database)
        await database.dispose()

    asyncio.run(build())
    yield TEMPLATE_DB
    _admin_execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'interlink.db'}"
        return
    yield from _cloned_database(request.getfixturevalue("postgres_template"))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A freshly migrated PostgreSQL database URL, for what exists on PostgreSQL only."""
    yield from _cloned_database(postgres_template)


def _cloned_database(template: str) -> Iterator[str]:
    name = f"interlink_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield _database_url(name)
    finally:
        _admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated `Database` on each backend (SQLite migrated here, PostgreSQL cloned)."""
    db = Database(database_url)
    if db.is_sqlite:
        await migrate(db)
    yield db
    await db.dispose()
