"""Workers on both databases: locks, several runtimes at once, stop(), stalled-job recovery."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from runtime_helpers import RuntimeFactory, has_status, wait_for_job
from sqlalchemy import update

from interlink.errors import ConfigurationError
from interlink.runtime import EmbeddedRuntime, JobContext, JobStatus, TaskRegistry
from interlink.storage.database import Database
from interlink.storage.models import Job


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


async def test_a_stalled_job_is_run_again(
    make_runtime: RuntimeFactory, registry: TaskRegistry, database: Database
) -> None:
    ran: list[int] = []

    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        ran.append(context.attempt)

    runtime = await make_runtime()
    job_id = await runtime.defer("t", {})
    # What a process that died mid-job leaves behind.
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    async with database.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status="doing",
                attempts=1,
                worker_id="dead-host:1:0",
                started_at=long_ago,
                heartbeat_at=long_ago,
            )
        )
    await runtime.start()
    job = await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert ran == [2]  # the interrupted run counted as an attempt
    assert job.last_error is not None
    assert "dead-host:1:0" in job.last_error


async def test_a_job_whose_worker_died_is_taken_over(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    runs: list[str] = []
    first_run_started = asyncio.Event()

    @registry.task(name="long")
    async def long(context: JobContext) -> None:
        runs.append(cast(EmbeddedRuntime, context.runtime).worker_id)
        if len(runs) == 1:
            first_run_started.set()
            await asyncio.Event().wait()

    doomed = await make_runtime()
    job_id = await doomed.defer("long", {})
    await doomed.start()
    await asyncio.wait_for(first_run_started.wait(), 10)
    _kill(doomed)

    rescuer = await make_runtime(own_engine=True)
    await rescuer.start()
    job = await wait_for_job(rescuer, job_id, has_status(JobStatus.SUCCEEDED))
    assert runs == [doomed.worker_id, rescuer.worker_id]
    assert job.attempts == 2


async def test_heartbeats_keep_a_long_job_from_being_taken(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    executions: list[str] = []

    @registry.task(name="long")
    async def long(context: JobContext) -> None:
        executions.append(cast(EmbeddedRuntime, context.runtime).worker_id)
        await asyncio.sleep(4.5)  # well past stalled_after

    # Wider margins than FAST: on a loaded CI machine a 0.5 s stall of the heartbeat loop
    # happened, and the job was (rightly) taken back. 2 s of silence is a real stall.
    margins = {"heartbeat_interval": 0.2, "stalled_after": 2.0}
    owner = await make_runtime(**margins)
    job_id = await owner.defer("long", {})
    await owner.start()
    await wait_for_job(owner, job_id, has_status(JobStatus.DOING))
    watcher = await make_runtime(own_engine=True, **margins)
    await watcher.start()  # recovers stalled jobs, and would run this one if it could
    job = await wait_for_job(owner, job_id, has_status(JobStatus.SUCCEEDED))
    assert executions == [owner.worker_id]
    assert job.attempts == 1


async def test_a_job_taken_from_its_worker_is_cancelled_there(
    make_runtime: RuntimeFactory, registry: TaskRegistry, database: Database
) -> None:
    cancelled = asyncio.Event()
    runs: list[int] = []

    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        runs.append(context.attempt)
        if context.attempt == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

    runtime = await make_runtime()
    job_id = await runtime.defer("t", {})
    await runtime.start()
    await wait_for_job(runtime, job_id, has_status(JobStatus.DOING))
    # As if recovery elsewhere had judged this run dead and requeued it.
    async with database.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(status="todo", worker_id=None)
        )
    await asyncio.wait_for(cancelled.wait(), 10)
    job = await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
    assert runs == [1, 2]
    assert job.attempts == 2


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 0},
        {"poll_interval": 0},
        {"heartbeat_interval": 5, "stalled_after": 5},
    ],
)
async def test_invalid_settings_are_refused(
    database: Database, registry: TaskRegistry, options: dict[str, float]
) -> None:
    with pytest.raises(ConfigurationError):
        EmbeddedRuntime(database, registry, **options)  # type: ignore[arg-type]


def _kill(runtime: EmbeddedRuntime) -> None:
    """Stops a runtime the way a killed process does: no heartbeat, nothing recorded."""
    tasks = [runtime._claim_loop_task, *runtime._background, *runtime._supervisors]
    for task in tasks:
        if task is not None:
            task.cancel()
    runtime._claim_loop_task, runtime._background = None, []
