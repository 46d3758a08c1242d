"""Retries with backoff, failure after the last attempt, and RetryLater, on every runtime."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from runtime_helpers import RuntimeFactory, has_status, wait_for_job

from conftest import JobStatusSetter
from interlink.runtime import JobContext, JobInfo, JobStatus, RetryLater, RetryPolicy, TaskRegistry


async def test_a_failed_attempt_is_retried_after_the_policy_delay(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    @registry.task(name="flaky", retry=RetryPolicy(max_attempts=3, base_delay=60, jitter=0))
    async def flaky(context: JobContext) -> None:
        raise ConnectionError("vendor unreachable")

    runtime = await make_runtime()
    job_id = await runtime.defer("flaky", {})
    before = datetime.now(UTC)
    await runtime.run_until_idle()  # one run; the retry is a minute away

    job = await runtime.get_job(job_id)
    assert job.status == JobStatus.TODO
    assert job.attempts == 1
    assert job.last_error == "ConnectionError: vendor unreachable"
    assert before + timedelta(seconds=59) <= job.scheduled_at
    assert job.scheduled_at <= datetime.now(UTC) + timedelta(seconds=61)


async def test_retries_with_backoff_then_succeeds(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    attempts: list[int] = []

    @registry.task(name="flaky", retry=RetryPolicy(max_attempts=5, base_delay=0.01))
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
    assert job.last_error == "ConnectionError: not yet"  # why it needed retries


async def test_fails_after_max_attempts_with_the_last_error(
    make_runtime: RuntimeFactory, registry: TaskRegistry
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
    assert job.finished_at is not None


async def test_retry_later_runs_again_without_using_an_attempt(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    calls: list[int] = []

    # A single attempt: only RetryLater can make this job run more than once.
    @registry.task(name="rate_limited")
    async def rate_limited(context: JobContext) -> None:
        calls.append(context.attempt)
        if len(calls) < 3:
            raise RetryLater(0.01, "vendor answered 429")

    runtime = await make_runtime()
    job_id = await runtime.defer("rate_limited", {})
    await runtime.start()
    job = await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert calls == [1, 1, 1]
    assert job.attempts == 1
    assert job.last_error == "RetryLater: vendor answered 429"


async def test_retry_later_waits_the_delay_it_asks_for(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    @registry.task(name="rate_limited")
    async def rate_limited(context: JobContext) -> None:
        raise RetryLater(3600)

    runtime = await make_runtime()
    job_id = await runtime.defer("rate_limited", {})
    await runtime.run_until_idle()
    job = await runtime.get_job(job_id)
    assert (job.status, job.attempts) == (JobStatus.TODO, 0)
    assert job.scheduled_at > datetime.now(UTC) + timedelta(minutes=59)


async def test_a_retry_gives_up_its_queueing_lock_to_a_newer_queued_job(
    make_runtime: RuntimeFactory, registry: TaskRegistry, set_job_status: JobStatusSetter
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @registry.task(name="poll", retry=RetryPolicy(max_attempts=2, base_delay=600, max_delay=600))
    async def poll(context: JobContext, *, n: int) -> None:
        if n == 1:
            started.set()
            await release.wait()
            raise ConnectionError("retry me")

    runtime = await make_runtime()
    first = await runtime.defer("poll", {"n": 1}, queueing_lock="q")
    await runtime.start()
    await asyncio.wait_for(started.wait(), 10)
    second = await runtime.defer("poll", {"n": 2}, queueing_lock="q", schedule_at=_in_an_hour())
    release.set()

    retried = await wait_for_job(runtime, first, lambda job: job.attempts == 1 and _queued(job))
    # Both jobs are queued: the newer keeps the lock, the retry goes on without it.
    assert retried.queueing_lock is None
    assert (await runtime.get_job(second)).queueing_lock == "q"

    # With no newer job in the way, a retry keeps its queueing lock.
    await set_job_status(second, "failed")
    third = await runtime.defer("poll", {"n": 1}, queueing_lock="q3")
    release.set()
    job = await wait_for_job(runtime, third, lambda job: job.attempts == 1 and _queued(job))
    assert job.queueing_lock == "q3"


def _queued(job: JobInfo) -> bool:
    return job.status == JobStatus.TODO


def _in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)
