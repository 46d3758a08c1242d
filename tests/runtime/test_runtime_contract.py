"""What every job runtime promises (embedded on SQLite and PostgreSQL, procrastinate): defer,
run, transactions, queueing locks, scheduling, purging, logging."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from runtime_helpers import RuntimeFactory, has_status, wait_for_job
from sqlalchemy import text

from interlink.errors import Conflict, NotFound
from interlink.runtime import AlreadyQueued, JobContext, JobStatus, TaskRegistry
from interlink.storage.database import Database


async def test_defer_then_run_until_idle(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    seen: list[tuple[int, str, int, dict[str, Any]]] = []

    @registry.task(name="greet")
    async def greet(context: JobContext, **args: Any) -> None:
        seen.append((context.job_id, context.task_name, context.attempt, args))

    runtime = await make_runtime()
    job_id = await runtime.defer("greet", {"name": "Ada", "tags": ["a"], "n": 1})
    queued = await runtime.get_job(job_id)
    assert queued.status == JobStatus.TODO
    assert queued.attempts == 0

    await runtime.run_until_idle()

    assert seen == [(job_id, "greet", 1, {"name": "Ada", "tags": ["a"], "n": 1})]
    done = await runtime.get_job(job_id)
    assert done.status == JobStatus.SUCCEEDED
    assert done.attempts == 1
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.finished_at >= done.started_at


async def test_handlers_defer_follow_up_jobs_through_the_context(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    order: list[str] = []

    @registry.task(name="first")
    async def first(context: JobContext) -> None:
        order.append("first")
        await context.runtime.defer("second", {})

    @registry.task(name="second")
    async def second(context: JobContext) -> None:
        order.append("second")

    runtime = await make_runtime()
    await runtime.defer("first", {})
    await runtime.run_until_idle()
    assert order == ["first", "second"]


async def test_args_must_be_json(make_runtime: RuntimeFactory) -> None:
    runtime = await make_runtime()
    with pytest.raises(TypeError, match="JSON"):
        await runtime.defer("t", {"when": datetime.now(UTC)})
    with pytest.raises(ValueError, match="timezone"):
        await runtime.defer("t", {}, schedule_at=datetime(2030, 1, 1))


async def test_unknown_job_id_is_not_found(make_runtime: RuntimeFactory) -> None:
    runtime = await make_runtime()
    with pytest.raises(NotFound):
        await runtime.get_job(123456)


async def test_defer_in_a_rolled_back_transaction_leaves_no_job(
    make_runtime: RuntimeFactory, database: Database
) -> None:
    runtime = await make_runtime()
    deferred: list[int] = []

    async def defer_then_fail() -> None:
        async with database.transaction() as session:
            deferred.append(await runtime.defer("t", {}, session=session))
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        await defer_then_fail()
    with pytest.raises(NotFound):
        await runtime.get_job(deferred[0])


async def test_defer_in_a_committed_transaction_makes_the_job(
    make_runtime: RuntimeFactory, database: Database
) -> None:
    runtime = await make_runtime()
    async with database.transaction() as session:
        job_id = await runtime.defer("t", {"a": 1}, session=session)
    job = await runtime.get_job(job_id)
    assert (job.task_name, job.args, job.status) == ("t", {"a": 1}, JobStatus.TODO)


async def test_queueing_lock_refuses_a_second_queued_job(make_runtime: RuntimeFactory) -> None:
    runtime = await make_runtime()
    await runtime.defer("poll", {}, queueing_lock="poll:inst_1")
    with pytest.raises(AlreadyQueued) as refused:
        await runtime.defer("poll", {}, queueing_lock="poll:inst_1")
    assert isinstance(refused.value, Conflict)
    assert refused.value.queueing_lock == "poll:inst_1"
    await runtime.defer("poll", {}, queueing_lock="poll:inst_2")  # another value is free


async def test_queueing_lock_refusal_keeps_the_callers_transaction_usable(
    make_runtime: RuntimeFactory, database: Database
) -> None:
    runtime = await make_runtime()
    await runtime.defer("poll", {}, queueing_lock="q")
    async with database.transaction() as session:
        with pytest.raises(AlreadyQueued):
            await runtime.defer("poll", {}, queueing_lock="q", session=session)
        # After the refusal the transaction still works and commits what follows.
        other = await runtime.defer("other", {}, session=session)
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    assert (await runtime.get_job(other)).status == JobStatus.TODO


async def test_queueing_lock_frees_once_the_job_starts(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    release = asyncio.Event()

    @registry.task(name="poll")
    async def poll(context: JobContext) -> None:
        await release.wait()

    # The usual pairing: the lock keeps polls from overlapping, so the second one stays
    # queued while the first runs; the queueing lock keeps a third from piling up.
    runtime = await make_runtime()
    first = await runtime.defer("poll", {}, lock="inst", queueing_lock="q")
    await runtime.start()
    await wait_for_job(runtime, first, has_status(JobStatus.DOING))

    second = await runtime.defer("poll", {}, lock="inst", queueing_lock="q")
    with pytest.raises(AlreadyQueued):
        await runtime.defer("poll", {}, lock="inst", queueing_lock="q")
    release.set()
    for job_id in (first, second):
        await wait_for_job(runtime, job_id, has_status(JobStatus.SUCCEEDED))


async def test_jobs_scheduled_in_the_future_wait(
    make_runtime: RuntimeFactory, registry: TaskRegistry
) -> None:
    ran: list[str] = []

    @registry.task(name="later")
    async def later(context: JobContext, *, label: str) -> None:
        ran.append(label)

    runtime = await make_runtime()
    future = await runtime.defer(
        "later", {"label": "future"}, schedule_at=datetime.now(UTC) + timedelta(hours=1)
    )
    await runtime.defer(
        "later", {"label": "past"}, schedule_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    await runtime.run_until_idle()
    assert ran == ["past"]
    assert (await runtime.get_job(future)).status == JobStatus.TODO


async def test_deferring_wakes_started_workers_without_waiting_for_a_poll(
    make_runtime: RuntimeFactory, registry: TaskRegistry, database: Database
) -> None:
    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        pass

    # A poll interval far longer than the waits below: only the wake-up can start the jobs.
    runtime = await make_runtime(poll_interval=60)
    await runtime.start()
    await asyncio.sleep(0.05)  # the worker is now waiting
    direct = await runtime.defer("t", {})
    await wait_for_job(runtime, direct, has_status(JobStatus.SUCCEEDED), within=5)
    async with database.transaction() as session:
        in_transaction = await runtime.defer("t", {}, session=session)
    await wait_for_job(runtime, in_transaction, has_status(JobStatus.SUCCEEDED), within=5)


async def test_unknown_task_fails_with_a_clear_error(make_runtime: RuntimeFactory) -> None:
    runtime = await make_runtime()
    job_id = await runtime.defer("no.such.task", {})
    await runtime.run_until_idle()
    job = await runtime.get_job(job_id)
    assert job.status == JobStatus.FAILED
    assert job.last_error is not None
    assert "unknown task 'no.such.task'" in job.last_error


async def test_purge_finished_removes_only_old_finished_jobs(
    make_runtime: RuntimeFactory, registry: TaskRegistry, database: Database
) -> None:
    @registry.task(name="t")
    async def task(context: JobContext) -> None:
        pass

    runtime = await make_runtime()
    finished = await runtime.defer("t", {})
    await runtime.run_until_idle()
    queued = await runtime.defer("t", {}, schedule_at=datetime.now(UTC) + timedelta(hours=1))

    assert await runtime.purge_finished(timedelta(days=1)) == 0
    await asyncio.sleep(0.01)
    assert await runtime.purge_finished(timedelta(0)) == 1
    with pytest.raises(NotFound):
        await runtime.get_job(finished)
    assert (await runtime.get_job(queued)).status == JobStatus.TODO


async def test_every_log_line_of_a_job_names_it(
    make_runtime: RuntimeFactory, registry: TaskRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    @registry.task(name="noisy")
    async def noisy(context: JobContext) -> None:
        context.log.info("working", extra={"step": 1})
        raise ValueError("boom")

    caplog.set_level(logging.DEBUG, logger="interlink.runtime")
    runtime = await make_runtime()
    job_id = await runtime.defer("noisy", {})
    await runtime.run_until_idle()

    records = [r for r in caplog.records if r.name == "interlink.runtime"]
    assert len(records) >= 4  # deferred, started, working, failed
    for record in records:
        assert record.job_id == job_id  # type: ignore[attr-defined]
        assert record.task_name == "noisy"  # type: ignore[attr-defined]
    working = next(r for r in records if r.getMessage() == "working")
    assert working.step == 1  # type: ignore[attr-defined]
    assert any(r.exc_info for r in records)
