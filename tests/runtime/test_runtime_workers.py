"""Workers of every runtime: locks, several runtimes on one database, stop()."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from runtime_helpers import RuntimeFactory, has_status, wait_for_job

from interlink.errors import ConfigurationError
from interlink.runtime import JobContext, JobStatus, TaskRegistry


async def test_jobs_sharing_a_lock_never_overlap_and_run_in_id_order(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    running: Counter[str] = Counter()
    most_at_once: Counter[str] = Counter()
    order: list[int] = []

    @registry.task(name="step")
    async def step(context: JobContext, *, lock: str) -> None:
        running[lock] += 1
        most_at_once[lock] = max(most_at_once[lock], running[lock])
        order.append(context.job_id)
        await asyncio.sleep(0.01)  # gives a second worker every chance to overlap
        running[lock] -= 1

    first, second = await make_runtime(), await make_runtime(own_engine=True)
    ids = [await first.defer("step", {"lock": "L"}, lock="L") for _ in range(8)]
    await first.start()
    await second.start()
    for job_id in ids:
        await wait_for_job(first, job_id, has_status(JobStatus.SUCCEEDED))
    assert most_at_once["L"] == 1
    assert order == ids


async def test_jobs_with_different_locks_run_concurrently(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    arrived: set[str] = set()
    both_arrived = asyncio.Event()

    @registry.task(name="meet")
    async def meet(context: JobContext, *, name: str) -> None:
        # Each job waits for the other: they can only finish if they run at the same time.
        arrived.add(name)
        if len(arrived) == 2:
            both_arrived.set()
        await asyncio.wait_for(both_arrived.wait(), 10)

    runtime = await make_runtime(concurrency=2)
    a = await runtime.defer("meet", {"name": "a"}, lock="instance:a")
    b = await runtime.defer("meet", {"name": "b"}, lock="instance:b")
    await runtime.start()
    for job_id in (a, b):
        await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))


async def test_two_runtimes_on_one_database_never_run_a_job_twice(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    executions: Counter[int] = Counter()

    @registry.task(name="count")
    async def count(context: JobContext) -> None:
        executions[context.job_id] += 1
        await asyncio.sleep(0)

    first = await make_runtime(concurrency=4)
    second = await make_runtime(concurrency=4, own_engine=True)
    await first.start()
    await second.start()
    ids = [await first.defer("count", {}) for _ in range(50)]
    for job_id in ids:
        job = await wait_for_job(first, job_id, has_status(JobStatus.SUCCEEDED))
        assert job.attempts == 1
    assert executions == Counter(dict.fromkeys(ids, 1))


async def test_stop_waits_for_running_jobs_to_finish(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    started = asyncio.Event()
    finished: list[int] = []

    @registry.task(name="short")
    async def short(context: JobContext) -> None:
        started.set()
        await asyncio.sleep(0.1)
        finished.append(context.job_id)

    runtime = await make_runtime()
    job_id = await runtime.defer("short", {})
    await runtime.start()
    await asyncio.wait_for(started.wait(), 10)
    await runtime.stop(timeout=10)
    assert finished == [job_id]
    assert (await runtime.get_job(job_id)).status == JobStatus.SUCCEEDED

    # Stopped workers take no new jobs.
    later = await runtime.defer("short", {})
    await asyncio.sleep(0.1)
    assert (await runtime.get_job(later)).status == JobStatus.TODO


async def test_stop_cancels_jobs_that_outlast_the_timeout_and_requeues_them(
    make_runtime: RuntimeFactory, registry: TaskRegistry
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


async def test_a_queue_with_slots_of_its_own_runs_while_every_other_slot_is_busy(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    started, released = asyncio.Event(), asyncio.Event()

    @registry.task(name="long")
    async def long(context: JobContext) -> None:
        started.set()
        await asyncio.wait_for(released.wait(), 10)  # only the other queue's job ends this

    @registry.task(name="urgent", queue="urgent")
    async def urgent(context: JobContext) -> None:
        released.set()

    runtime = await make_runtime(concurrency=1, queue_concurrency={"urgent": 1})
    long_id = await runtime.defer("long", {})
    await runtime.start()
    await asyncio.wait_for(started.wait(), 10)
    urgent_id = await runtime.defer("urgent", {})
    for job_id in (urgent_id, long_id):
        await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))


async def test_a_queues_own_slots_take_none_of_the_other_jobs(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    running = 0
    most_at_once = 0

    @registry.task(name="step")
    async def step(context: JobContext) -> None:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.05)  # every chance for an idle slot to take the next one
        running -= 1

    @registry.task(name="urgent", queue="urgent")
    async def urgent(context: JobContext) -> None:
        pass

    runtime = await make_runtime(concurrency=1, queue_concurrency={"urgent": 2})
    ids = [await runtime.defer("step", {}) for _ in range(4)]
    await runtime.start()
    for job_id in ids:
        await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert most_at_once == 1


async def test_a_queue_without_slots_of_its_own_runs_in_the_shared_ones(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    @registry.task(name="elsewhere", queue="elsewhere")
    async def elsewhere(context: JobContext) -> None:
        pass

    runtime = await make_runtime(concurrency=1, queue_concurrency={"urgent": 1})
    job_id = await runtime.defer("elsewhere", {})
    await runtime.start()
    await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))


async def test_a_negative_queue_concurrency_is_refused(make_runtime: RuntimeFactory) -> None:
    with pytest.raises(ConfigurationError, match="queue's concurrency cannot be negative"):
        await make_runtime(queue_concurrency={"urgent": -1})
