"""The PostgreSQL job runtime (procrastinate) against a real server: the `JobRuntime`
contract, transactional defer, locks across runtimes, retries, stop(), dead workers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from runtime_helpers import has_status, wait_for_job
from sqlalchemy import select, text

from interlink.errors import NotFound
from interlink.runtime import (
    AlreadyQueued,
    JobContext,
    JobStatus,
    RetryLater,
    RetryPolicy,
    TaskRegistry,
)
from interlink.runtime.postgres import PostgresRuntime
from interlink.runtime.postgres.connection import conninfo
from interlink.storage.database import Database
from interlink.storage.models import Organization

pytestmark = pytest.mark.postgres

# Short intervals for a quick suite, with margins a loaded CI machine keeps.
FAST: dict[str, Any] = {"poll_interval": 0.05, "heartbeat_interval": 0.2, "stalled_after": 1.5}

PostgresFactory = Callable[..., Awaitable[PostgresRuntime]]


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    db = Database(postgres_url)
    yield db
    await db.dispose()


@pytest.fixture
async def make_runtime(postgres_url: str, registry: TaskRegistry) -> AsyncIterator[PostgresFactory]:
    """Builds runtimes on the test's database, each with its own pool, like a process."""
    runtimes: list[PostgresRuntime] = []

    async def make(**options: Any) -> PostgresRuntime:
        runtime = PostgresRuntime(postgres_url, registry, **{**FAST, **options})
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        await runtime.stop(timeout=1)


async def test_defer_then_run_until_idle(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    seen: list[tuple[int, dict[str, Any]]] = []

    @registry.task(name="greet")
    async def greet(context: JobContext, *, name: str, tags: list[str]) -> None:
        seen.append((context.attempt, {"name": name, "tags": tags}))

    runtime = await make_runtime()
    job_id = await runtime.defer("greet", {"name": "ada", "tags": ["a", "b"]})
    assert (await runtime.get_job(job_id)).status == JobStatus.TODO
    await runtime.run_until_idle()

    job = await runtime.get_job(job_id)
    assert seen == [(1, {"name": "ada", "tags": ["a", "b"]})]
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.finished_at is not None
    assert job.started_at is not None
    assert job.last_error is None


async def test_unknown_job_id_is_not_found(make_runtime: PostgresFactory) -> None:
    runtime = await make_runtime()
    with pytest.raises(NotFound):
        await runtime.get_job(987_654)


async def test_defer_in_a_rolled_back_transaction_leaves_no_job(
    make_runtime: PostgresFactory, registry: TaskRegistry, database: Database
) -> None:
    runtime = await make_runtime()

    session = database.sessions()
    async with session:
        await session.begin()
        session.add(Organization(id="org_rolled_back", name="gone"))
        job_id = await runtime.defer("t", {"org": "org_rolled_back"}, session=session)
        await session.rollback()
    with pytest.raises(NotFound):
        await runtime.get_job(job_id)


async def test_defer_in_a_committed_transaction_makes_the_job_with_the_state(
    make_runtime: PostgresFactory, registry: TaskRegistry, database: Database
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


async def test_queueing_lock_refusal_keeps_the_callers_transaction_usable(
    make_runtime: PostgresFactory, database: Database
) -> None:
    runtime = await make_runtime()
    await runtime.defer("t", {}, queueing_lock="poll:i1:contacts")
    with pytest.raises(AlreadyQueued):
        await runtime.defer("t", {}, queueing_lock="poll:i1:contacts")
    async with database.transaction() as session:
        session.add(Organization(id="org_after_refusal", name="still fine"))
        with pytest.raises(AlreadyQueued):
            await runtime.defer("t", {}, queueing_lock="poll:i1:contacts", session=session)
        await session.flush()  # PostgreSQL would refuse this in an aborted transaction
    async with database.sessions() as session:
        assert await session.get(Organization, "org_after_refusal") is not None


async def test_jobs_sharing_a_lock_never_overlap_across_runtimes_and_run_in_id_order(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    running: Counter[str] = Counter()
    most_at_once: Counter[str] = Counter()
    order: list[int] = []

    @registry.task(name="step")
    async def step(context: JobContext, *, lock: str) -> None:
        running[lock] += 1
        most_at_once[lock] = max(most_at_once[lock], running[lock])
        order.append(context.job_id)
        await asyncio.sleep(0.01)
        running[lock] -= 1

    first, second = await make_runtime(), await make_runtime()
    ids = [await first.defer("step", {"lock": "L"}, lock="L") for _ in range(8)]
    await first.start()
    await second.start()
    for job_id in ids:
        await wait_for_job(first, job_id, has_status(JobStatus.SUCCEEDED))
    assert most_at_once["L"] == 1
    assert order == ids


async def test_two_runtimes_never_run_a_job_twice(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    runs: Counter[int] = Counter()

    @registry.task(name="count")
    async def count(context: JobContext) -> None:
        runs[context.job_id] += 1

    first, second = await make_runtime(concurrency=4), await make_runtime(concurrency=4)
    ids = [await first.defer("count", {}) for _ in range(40)]
    await first.start()
    await second.start()
    for job_id in ids:
        await wait_for_job(first, job_id, has_status(JobStatus.SUCCEEDED))
    assert runs == Counter(dict.fromkeys(ids, 1))


async def test_retries_by_the_policy_then_succeeds_keeping_the_error(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    attempts: list[int] = []

    @registry.task(name="flaky", retry=RetryPolicy(max_attempts=3, base_delay=0.01))
    async def flaky(context: JobContext) -> None:
        attempts.append(context.attempt)
        if context.attempt < 3:
            raise ConnectionError("not yet")

    runtime = await make_runtime()
    job_id = await runtime.defer("flaky", {})
    await runtime.start()
    job = await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert attempts == [1, 2, 3]
    assert job.attempts == 3
    assert job.last_error == "ConnectionError: not yet"


async def test_fails_after_max_attempts_with_the_last_error(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    @registry.task(name="broken", retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    async def broken(context: JobContext) -> None:
        raise ValueError(f"bad input on attempt {context.attempt}")

    runtime = await make_runtime()
    job_id = await runtime.defer("broken", {})
    await runtime.start()
    job = await wait_for_job(runtime, job_id, has_status(JobStatus.FAILED))
    assert job.attempts == 2
    assert job.last_error == "ValueError: bad input on attempt 2"


async def test_retry_later_runs_again_without_using_an_attempt(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    attempts: list[int] = []

    @registry.task(name="throttled")
    async def throttled(context: JobContext) -> None:
        attempts.append(context.attempt)
        if len(attempts) < 3:
            raise RetryLater(0.05, "vendor answered 429")

    runtime = await make_runtime()
    job_id = await runtime.defer("throttled", {})
    await runtime.start()
    job = await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert attempts == [1, 1, 1]
    assert job.attempts == 1
    assert job.last_error == "RetryLater: vendor answered 429"


async def test_a_retry_gives_up_its_queueing_lock_to_a_newer_queued_job(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[int] = []

    @registry.task(name="poll")
    async def poll(context: JobContext) -> None:
        runs.append(context.job_id)
        if len(runs) == 1:
            started.set()
            await release.wait()
            raise RetryLater(0.0, "again")

    runtime = await make_runtime(concurrency=1)
    first = await runtime.defer("poll", {}, queueing_lock="poll:x")
    await runtime.start()
    await asyncio.wait_for(started.wait(), 10)
    newer = await runtime.defer("poll", {}, queueing_lock="poll:x")  # the lock is free again
    release.set()
    for job_id in (first, newer):
        await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert sorted(runs) == sorted([first, first, newer])


async def test_stop_cancels_jobs_that_outlast_the_timeout_and_requeues_them(
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    cancelled = asyncio.Event()

    @registry.task(name="endless")
    async def endless(context: JobContext) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runtime = await make_runtime()
    job_id = await runtime.defer("endless", {})
    await runtime.start()
    await wait_for_job(runtime, job_id, has_status(JobStatus.DOING))
    await runtime.stop(timeout=0.05)

    assert cancelled.is_set()
    job = await runtime.get_job(job_id)
    assert job.status == JobStatus.TODO
    assert job.attempts == 0  # a shutdown does not use up an attempt
    assert job.last_error is not None
    assert "cancelled" in job.last_error


async def test_a_job_whose_worker_died_is_taken_over(
    make_runtime: PostgresFactory, registry: TaskRegistry, postgres_url: str
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
    make_runtime: PostgresFactory, registry: TaskRegistry
) -> None:
    runs: list[int] = []

    @registry.task(name="long")
    async def long(context: JobContext) -> None:
        runs.append(context.attempt)
        await asyncio.sleep(4)  # well past stalled_after: heartbeats keep it

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
    make_runtime: PostgresFactory, registry: TaskRegistry, postgres_url: str
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


async def test_unknown_task_fails(make_runtime: PostgresFactory) -> None:
    runtime = await make_runtime()
    job_id = await runtime.defer("no.such.task", {})
    await runtime.run_until_idle()
    assert (await runtime.get_job(job_id)).status == JobStatus.FAILED


async def test_purge_finished_removes_only_old_finished_jobs(
    make_runtime: PostgresFactory, registry: TaskRegistry, database: Database
) -> None:
    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        pass

    runtime = await make_runtime()
    old, recent = await runtime.defer("t", {}), await runtime.defer("t", {})
    await runtime.run_until_idle()
    waiting = await runtime.defer("t", {})
    async with database.transaction() as session:
        await session.execute(
            text("UPDATE procrastinate_events SET at = at - interval '10 days' WHERE job_id = :id"),
            {"id": old},
        )
    assert await runtime.purge_finished(timedelta(days=7)) == 1
    with pytest.raises(NotFound):
        await runtime.get_job(old)
    assert (await runtime.get_job(recent)).status == JobStatus.SUCCEEDED
    assert (await runtime.get_job(waiting)).status == JobStatus.TODO


async def _defer_retrying(runtime: PostgresRuntime) -> int:
    """A defer right after the connections were cut may meet a dead pooled connection."""
    for _ in range(20):
        try:
            return await runtime.defer("t", {})
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError("could not defer after the connections came back")
