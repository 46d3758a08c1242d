"""Fixtures of the job runtime tests: every contract test runs on each runtime and database.

`backend` picks one of: the embedded runtime on SQLite, the embedded runtime on PostgreSQL,
and procrastinate (the PostgreSQL runtime of the distributed deployment). A module whose
tests are about one runtime's internals overrides `backend` with fewer params.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import FAST, POSTGRES_FAST, RuntimeFactory
from sqlalchemy import text

from interlink.runtime import EmbeddedRuntime, JobRuntime, TaskRegistry
from interlink.runtime.postgres import PostgresRuntime
from interlink.storage.database import Database

EMBEDDED = "embedded-sqlite", pytest.param("embedded-postgres", marks=pytest.mark.postgres)
PROCRASTINATE = pytest.param("procrastinate", marks=pytest.mark.postgres)


@pytest.fixture(params=[*EMBEDDED, PROCRASTINATE])
def backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The test's database, as its backend needs (overrides the suite-wide parametrization)."""
    if backend == "embedded-sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'interlink.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def registry() -> TaskRegistry:
    return TaskRegistry()


@pytest.fixture
async def make_runtime(
    backend: str, database: Database, registry: TaskRegistry
) -> AsyncIterator[RuntimeFactory]:
    """Builds runtimes; `own_engine=True` gives an embedded one its own engine, like another
    process (procrastinate runtimes always have their own connections)."""
    runtimes: list[JobRuntime] = []
    engines: list[Database] = []

    async def make(*, own_engine: bool = False, **options: Any) -> JobRuntime:
        runtime: JobRuntime
        if backend == "procrastinate":
            runtime = PostgresRuntime(database.url, registry, **{**POSTGRES_FAST, **options})
        else:
            db = database
            if own_engine:
                db = Database(database.url)
                engines.append(db)
            runtime = EmbeddedRuntime(db, registry, **{**FAST, **options})
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        await runtime.stop(timeout=1)
    for engine in engines:
        await engine.dispose()


JobStatusSetter = Callable[[int, str], Awaitable[None]]


@pytest.fixture
def set_job_status(backend: str, database: Database) -> JobStatusSetter:
    """Changes a job's status behind the runtime's back, in whichever table it keeps jobs."""
    table = "procrastinate_jobs" if backend == "procrastinate" else "jobs"
    kind = "procrastinate_job_status" if backend == "procrastinate" else "varchar"

    async def set_status(job_id: int, status: str) -> None:
        async with database.transaction() as session:
            await session.execute(
                text(f"UPDATE {table} SET status = CAST(:status AS {kind}) WHERE id = :id"),
                {"status": status, "id": job_id},
            )

    return set_status
