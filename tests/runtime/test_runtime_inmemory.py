"""The in-memory fake follows the runtime's rules, so tests that use it can trust it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from interlink.errors import NotFound
from interlink.runtime import (
    AlreadyQueued,
    JobContext,
    JobRuntime,
    JobStatus,
    RetryLater,
    RetryPolicy,
    TaskRegistry,
)
from interlink.runtime.testing import InMemoryRuntime
from interlink.storage.database import Database


@pytest.fixture
async def runtime(registry: TaskRegistry) -> AsyncIterator[InMemoryRuntime]:
    fake = InMemoryRuntime(registry, poll_interval=0.01)
    yield fake
    await fake.stop(timeout=1)


@pytest.fixture
async def memory_database() -> AsyncIterator[Database]:
    """Only for sessions to defer in: the fake never touches the database itself."""
    database = Database("sqlite+aiosqlite:///:memory:")
    yield database
    await database.dispose()


def test_is_a_job_runtime(runtime: InMemoryRuntime) -> None:
    assert isinstance(runtime, JobRuntime)


async def test_defer_and_run(runtime: InMemoryRuntime, registry: TaskRegistry) -> None:
    seen: list[tuple[int, int, dict[str, object]]] = []

    @registry.task(name="greet")
    async def greet(context: JobContext, **args: object) -> None:
        seen.append((context.job_id, context.attempt, args))
        if args["name"] == "Ada":
            await context.runtime.defer("greet", {"name": "Grace"})

    job_id = await runtime.defer("greet", {"name": "Ada"})
    assert (await runtime.get_job(job_id)).status == JobStatus.TODO
    await runtime.run_until_idle()

    assert seen == [(1, 1, {"name": "Ada"}), (2, 1, {"name": "Grace"})]
    assert [job.status for job in runtime.jobs("greet")] == [JobStatus.SUCCEEDED] * 2
    with pytest.raises(NotFound):
        await runtime.get_job(99)


async def test_args_are_checked_and_copied_like_json(runtime: InMemoryRuntime) -> None:
    args = {"ids": (1, 2)}
    job_id = await runtime.defer("t", args)
    assert (await runtime.get_job(job_id)).args == {"ids": [1, 2]}
    with pytest.raises(TypeError, match="JSON"):
        await runtime.defer("t", {"bad": object()})


async def test_queueing_lock(runtime: InMemoryRuntime, registry: TaskRegistry) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @registry.task(name="poll")
    async def poll(context: JobContext) -> None:
        started.set()
        await release.wait()

    first = await runtime.defer("poll", {}, queueing_lock="q")
    with pytest.raises(AlreadyQueued):
        await runtime.defer("poll", {}, queueing_lock="q")
    await runtime.start()
    await asyncio.wait_for(started.wait(), 5)
    second = await runtime.defer("poll", {}, queueing_lock="q")  # freed once started
    release.set()
    await runtime.stop(timeout=5)  # lets the running job finish, starts no other
    assert (await runtime.get_job(second)).status == JobStatus.TODO
    await runtime.run_until_idle()
    assert (await runtime.get_job(first)).status == JobStatus.SUCCEEDED
    assert (await runtime.get_job(second)).status == JobStatus.SUCCEEDED


async def test_locks_keep_id_order_even_with_schedules(
    runtime: InMemoryRuntime, registry: TaskRegistry
) -> None:
    order: list[str] = []

    @registry.task(name="step")
    async def step(context: JobContext, *, name: str) -> None:
        order.append(name)

    await runtime.defer("step", {"name": "a1"}, lock="a", schedule_at=runtime.now() + _minutes(5))
    await runtime.defer("step", {"name": "a2"}, lock="a")
    await runtime.defer("step", {"name": "free"})
    await runtime.run_until_idle()
    assert order == ["free"]  # a2 waits for the older a1 of its lock
    runtime.advance(300)
    await runtime.run_until_idle()
    assert order == ["free", "a1", "a2"]


async def test_retries_then_fails(runtime: InMemoryRuntime, registry: TaskRegistry) -> None:
    @registry.task(name="broken", retry=RetryPolicy(max_attempts=3, base_delay=10, jitter=0))
    async def broken(context: JobContext) -> None:
        raise ValueError(f"attempt {context.attempt}")

    job_id = await runtime.defer("broken", {})
    await runtime.run_until_idle()
    job = await runtime.get_job(job_id)
    assert (job.status, job.attempts, job.last_error) == (
        JobStatus.TODO,
        1,
        "ValueError: attempt 1",
    )
    runtime.advance(10)
    await runtime.run_until_idle()
    assert (await runtime.get_job(job_id)).attempts == 2
    runtime.advance(19)  # the second wait is 20 s
    await runtime.run_until_idle()
    assert (await runtime.get_job(job_id)).attempts == 2
    runtime.advance(1)
    await runtime.run_until_idle()
    job = await runtime.get_job(job_id)
    assert (job.status, job.attempts, job.last_error) == (
        JobStatus.FAILED,
        3,
        "ValueError: attempt 3",
    )


async def test_retry_later_keeps_the_attempt(
    runtime: InMemoryRuntime, registry: TaskRegistry
) -> None:
    calls: list[int] = []

    @registry.task(name="limited")
    async def limited(context: JobContext) -> None:
        calls.append(context.attempt)
        if len(calls) == 1:
            raise RetryLater(30)

    job_id = await runtime.defer("limited", {})
    await runtime.run_until_idle()
    assert (await runtime.get_job(job_id)).attempts == 0
    runtime.advance(30)
    await runtime.run_until_idle()
    job = await runtime.get_job(job_id)
    assert (job.status, job.attempts, calls) == (JobStatus.SUCCEEDED, 1, [1, 1])


async def test_a_retry_gives_up_its_queueing_lock_to_a_newer_job(
    runtime: InMemoryRuntime, registry: TaskRegistry
) -> None:
    @registry.task(name="poll", retry=RetryPolicy(max_attempts=2))
    async def poll(context: JobContext) -> None:
        if context.job_id == 1:
            await context.runtime.defer("poll", {}, queueing_lock="q")
            raise ConnectionError("retry me")

    await runtime.defer("poll", {}, queueing_lock="q")
    await runtime.run_until_idle()
    first, second = runtime.jobs()
    assert (first.id, first.queueing_lock) == (1, None)
    assert (second.id, second.queueing_lock) == (2, "q")


async def test_unknown_task_fails(runtime: InMemoryRuntime) -> None:
    job_id = await runtime.defer("nope", {})
    await runtime.run_until_idle()
    job = await runtime.get_job(job_id)
    assert job.status == JobStatus.FAILED
    assert "unknown task 'nope'" in (job.last_error or "")


async def test_defer_follows_the_callers_transaction(
    runtime: InMemoryRuntime, memory_database: Database
) -> None:
    async with memory_database.transaction() as session:
        kept = await runtime.defer("t", {}, session=session)
        with pytest.raises(NotFound):
            await runtime.get_job(kept)  # invisible until the commit
    assert (await runtime.get_job(kept)).status == JobStatus.TODO

    async def defer_then_fail() -> None:
        async with memory_database.transaction() as session:
            await runtime.defer("t", {}, queueing_lock="q", session=session)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        await defer_then_fail()
    assert [job.id for job in runtime.jobs()] == [kept]
    await runtime.defer("t", {}, queueing_lock="q")  # the rolled-back job released it


async def test_stop_cancels_and_requeues_a_job_that_outlasts_it(
    runtime: InMemoryRuntime, registry: TaskRegistry
) -> None:
    started = asyncio.Event()

    @registry.task(name="endless")
    async def endless(context: JobContext) -> None:
        started.set()
        await asyncio.Event().wait()

    job_id = await runtime.defer("endless", {})
    await runtime.start()
    await asyncio.wait_for(started.wait(), 5)
    await runtime.stop(timeout=0.01)
    job = await runtime.get_job(job_id)
    assert (job.status, job.attempts) == (JobStatus.TODO, 0)
    assert "cancelled" in (job.last_error or "")


async def test_started_runtime_runs_jobs_deferred_later(
    runtime: InMemoryRuntime, registry: TaskRegistry
) -> None:
    done = asyncio.Event()

    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        done.set()

    await runtime.start()
    with pytest.raises(RuntimeError, match="already started"):
        await runtime.start()
    await runtime.defer("t", {})
    await asyncio.wait_for(done.wait(), 5)


async def test_purge_finished(runtime: InMemoryRuntime, registry: TaskRegistry) -> None:
    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        pass

    finished = await runtime.defer("t", {})
    await runtime.run_until_idle()
    queued = await runtime.defer("t", {}, schedule_at=runtime.now() + _minutes(60))
    assert await runtime.purge_finished(timedelta(days=1)) == 0
    runtime.advance(2 * 86400)
    assert await runtime.purge_finished(timedelta(days=1)) == 1
    assert [job.id for job in runtime.jobs()] == [queued]
    assert finished != queued


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
