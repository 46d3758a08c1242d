"""The embedded runtime's own machinery, on SQLite and PostgreSQL: worker ids, heartbeats,
stalled-job recovery, a run taken from its worker, its settings. (procrastinate's are in
test_runtime_postgres.py; what both promise is in the other test modules.)"""

from __future__ import annotations

import asyncio
import socket
import sys
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from runtime_helpers import RuntimeFactory, has_status, wait_for_job
from sqlalchemy import select, update

from conftest import EMBEDDED
from interlink.errors import ConfigurationError
from interlink.runtime import EmbeddedRuntime, JobContext, JobStatus, TaskRegistry
from interlink.runtime.jobstore import Claim
from interlink.storage.database import Database
from interlink.storage.models import Job


@pytest.fixture(params=EMBEDDED)
def backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


async def test_jobs_survive_a_restart(
    make_runtime: RuntimeFactory, registry: TaskRegistry, database: Database
) -> None:
    ran: list[int] = []

    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        ran.append(context.job_id)

    before = await make_runtime()
    job_id = await before.defer("t", {})
    after = await make_runtime(own_engine=True)
    await after.run_until_idle()
    assert ran == [job_id]
    async with database.transaction() as session:
        row = (await session.execute(select(Job).where(Job.id == job_id))).scalar_one()
    assert row.worker_id == after.worker_id


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


async def test_a_job_of_a_process_gone_from_this_machine_is_taken_back_at_once_on_sqlite(
    make_runtime: RuntimeFactory, registry: TaskRegistry, database: Database, backend: str
) -> None:
    """`serve` killed and started again: its jobs do not wait out the heartbeat timeout."""
    ran: list[int] = []

    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        ran.append(context.attempt)

    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()  # a pid of this machine whose process is gone
    worker_id = f"{socket.gethostname()}:{child.pid}:0badc0de"
    # Slow heartbeats: only knowing the process is gone can free the job this soon.
    runtime = await make_runtime(heartbeat_interval=10, stalled_after=60)
    job_id = await runtime.defer("t", {})
    async with database.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status="doing", attempts=1, worker_id=worker_id, heartbeat_at=datetime.now(UTC))
        )
    await runtime.start()
    if backend == "embedded-sqlite":
        job = await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED), within=10)
        assert ran == [2]
        assert job.last_error is not None
        assert "is gone" in job.last_error
    else:  # PostgreSQL spans machines: a host name and a pid prove nothing there
        await asyncio.sleep(1)
        assert (await runtime.get_job(job_id)).status == JobStatus.DOING
        assert ran == []


async def test_a_slot_frees_when_the_handler_returns_not_once_its_outcome_is_recorded(
    make_runtime: RuntimeFactory, registry: TaskRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    second_started = asyncio.Event()

    @registry.task(name="t")
    async def task(context: JobContext, n: int) -> None:
        if n == 2:
            second_started.set()

    runtime = cast(EmbeddedRuntime, await make_runtime(concurrency=1))
    store = runtime._store
    succeed = store.succeed

    async def record_after_the_next_job_started(claim: Claim, now: datetime) -> bool:
        if claim.args["n"] == 1:  # the one slot must be free while this is recorded
            await asyncio.wait_for(second_started.wait(), 10)
        return await succeed(claim, now)

    monkeypatch.setattr(store, "succeed", record_after_the_next_job_started)
    first = await runtime.defer("t", {"n": 1})
    second = await runtime.defer("t", {"n": 2})
    await runtime.start()
    for job_id in (first, second):
        job = await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
        assert job.attempts == 1


async def test_a_lane_with_nothing_ready_is_not_asked_at_every_wake_up(
    make_runtime: RuntimeFactory, registry: TaskRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, released = asyncio.Event(), asyncio.Event()

    @registry.task(name="long")
    async def long(context: JobContext) -> None:
        started.set()
        await asyncio.wait_for(released.wait(), 10)

    @registry.task(name="quick")
    async def quick(context: JobContext) -> None:
        pass

    @registry.task(name="urgent", queue="urgent")
    async def urgent(context: JobContext) -> None:
        pass

    # A poll interval longer than the test: only defers and finished jobs wake the loop.
    runtime = cast(
        EmbeddedRuntime,
        await make_runtime(concurrency=1, queue_concurrency={"urgent": 1}, poll_interval=30),
    )
    claims = 0
    claim = runtime._store.claim

    async def counted(*args: object) -> Claim | None:
        nonlocal claims
        claims += 1
        return await claim(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime._store, "claim", counted)
    long_id = await runtime.defer("long", {})
    await runtime.start()
    await asyncio.wait_for(started.wait(), 10)
    before = claims
    # Each defer wakes the loop; the shared slot is taken and the urgent lane has nothing.
    queued = [await runtime.defer("quick", {}) for _ in range(10)]
    await asyncio.sleep(0.2)
    assert claims - before <= 1  # the urgent lane asked once, then left alone
    urgent_id = await runtime.defer("urgent", {})  # its own defer wakes it at once
    await wait_for_job(runtime, urgent_id, has_status(JobStatus.SUCCEEDED))
    released.set()
    for job_id in (long_id, *queued):
        await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))
