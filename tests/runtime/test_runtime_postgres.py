"""procrastinate's own machinery against a real server: what a deferring transaction
shows its job, dead and slow workers, connections cut under a running worker. (What every
runtime promises is in the other test modules, procrastinate included.)"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from runtime_helpers import RuntimeFactory, has_status, wait_for_job
from sqlalchemy import select

from conftest import PROCRASTINATE
from interlink.runtime import JobContext, JobRuntime, JobStatus, TaskRegistry
from interlink.runtime.postgres.connection import conninfo
from interlink.storage.database import Database
from interlink.storage.models import Organization

pytestmark = pytest.mark.postgres


@pytest.fixture(params=[PROCRASTINATE])
def backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


async def test_defer_in_a_committed_transaction_makes_the_job_with_the_state(
    make_runtime: RuntimeFactory, registry: TaskRegistry, database: Database
) -> None:
    found: list[str | None] = []

    @registry.task(name="look")
    async def look(context: JobContext, *, org: str) -> None:
        async with database.sessions() as session:
            found.append(await session.scalar(select(Organization.name).filter_by(id=org)))

    runtime = await make_runtime()
    await runtime.start()
    async with database.transaction() as session:
        session.add(Organization(id="org_kept", name="kept"))
        job_id = await runtime.defer("look", {"org": "org_kept"}, session=session)
        await asyncio.sleep(0.3)  # workers are running, yet cannot see the job before commit
        assert found == []
    await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert found == ["kept"]  # the job saw the state it was deferred with


async def test_a_job_whose_worker_died_is_taken_over(
    make_runtime: RuntimeFactory, registry: TaskRegistry, postgres_url: str
) -> None:
    attempts: list[int] = []
    first_run_started = asyncio.Event()

    @registry.task(name="long")
    async def long(context: JobContext) -> None:
        attempts.append(context.attempt)
        if len(attempts) == 1:
            first_run_started.set()
            await asyncio.Event().wait()

    runtime = await make_runtime()
    job_id = await runtime.defer("long", {})
    # A worker that died mid-job: it took the job, then its heartbeat stopped for good.
    async with await psycopg.AsyncConnection.connect(conninfo(postgres_url)) as connection:
        worker_id = (
            await (
                await connection.execute(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '5 minutes') RETURNING id"
                )
            ).fetchone()
        )[0]  # type: ignore[index]
        await connection.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s",
            (worker_id, job_id),
        )
        await connection.commit()

    await runtime.start()  # its recovery finds the job, its worker runs it
    job = await wait_for_job(runtime, job_id, has_status(JobStatus.DOING, JobStatus.SUCCEEDED))
    await asyncio.wait_for(first_run_started.wait(), 15)
    assert attempts == [2]  # the interrupted run counted as an attempt
    job = await runtime.get_job(job_id)
    assert job.last_error is not None
    assert job.last_error.startswith("stalled: ")


async def test_a_long_job_with_a_live_worker_is_not_taken(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    runs: list[int] = []

    @registry.task(name="long")
    async def long(context: JobContext) -> None:
        runs.append(context.attempt)
        await asyncio.sleep(5)  # well past stalled_after: heartbeats keep it

    owner = await make_runtime()
    job_id = await owner.defer("long", {})
    await owner.start()
    await wait_for_job(owner, job_id, has_status(JobStatus.DOING))
    watcher = await make_runtime()
    await watcher.start()  # recovers stalled jobs, and would run this one if it could
    job = await wait_for_job(owner, job_id, has_status(JobStatus.SUCCEEDED))
    assert runs == [1]
    assert job.attempts == 1


async def test_the_worker_comes_back_after_its_connections_are_cut(
    make_runtime: RuntimeFactory, registry: TaskRegistry, postgres_url: str
) -> None:
    """What a PostgreSQL restart does to a worker: every connection dropped at once."""
    done: list[int] = []

    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        done.append(context.job_id)

    runtime = await make_runtime()
    await runtime.start()
    before = await runtime.defer("t", {})
    await wait_for_job(runtime, before, has_status(JobStatus.SUCCEEDED))

    async with await psycopg.AsyncConnection.connect(conninfo(postgres_url)) as connection:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    after = await _defer_retrying(runtime)
    await wait_for_job(runtime, after, has_status(JobStatus.SUCCEEDED), within=30)
    assert done == [before, after]


async def _defer_retrying(runtime: JobRuntime) -> int:
    """A defer right after the connections were cut may meet a dead pooled connection."""
    for _ in range(20):
        try:
            return await runtime.defer("t", {})
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError("could not defer after the connections came back")
