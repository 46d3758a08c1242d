"""A job runtime without a database, for unit tests of code that defers jobs.

It follows the same rules as the real runtimes (queueing locks, locks in id order,
schedules, retries, RetryLater) and runs jobs one at a time. Its clock can be moved
forward with `advance()`, so scheduled jobs and retries are testable without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, assert_never

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from interlink.errors import NotFound
from interlink.runtime.base import (
    FINISHED,
    AlreadyQueued,
    JobInfo,
    JobRuntime,
    JobStatus,
    checked_args,
    checked_schedule,
)
from interlink.runtime.execution import Failed, Outcome, Retry, Succeeded, execute
from interlink.runtime.joblog import job_logger
from interlink.runtime.tasks import JobContext, TaskRegistry
from interlink.storage.types import utcnow


@dataclass
class _Job:
    info: JobInfo
    committed: bool = True  # False while the session it was deferred in is still open


class InMemoryRuntime(JobRuntime):
    def __init__(self, registry: TaskRegistry | None = None, *, poll_interval: float = 0.05):
        self.registry = registry if registry is not None else TaskRegistry()
        self.poll_interval = poll_interval
        self._jobs: dict[int, _Job] = {}
        self._next_id = 1
        self._offset = timedelta(0)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._current: asyncio.Task[Outcome] | None = None
        self._stopping = False

    # -- helpers for tests ----------------------------------------------------------------

    def now(self) -> datetime:
        return utcnow() + self._offset

    def advance(self, seconds: float) -> None:
        """Move this runtime's clock forward, making scheduled jobs and retries due."""
        self._offset += timedelta(seconds=seconds)
        self._wake.set()

    def jobs(self, task_name: str | None = None, status: JobStatus | None = None) -> list[JobInfo]:
        """Committed jobs in id order, optionally only of one task or status."""
        return [
            job.info
            for job in self._jobs.values()
            if job.committed
            and (task_name is None or job.info.task_name == task_name)
            and (status is None or job.info.status == status)
        ]

    # -- the interface --------------------------------------------------------------------

    async def defer(
        self,
        task_name: str,
        args: dict[str, Any],
        *,
        lock: str | None = None,
        queueing_lock: str | None = None,
        schedule_at: datetime | None = None,
        session: AsyncSession | None = None,
    ) -> int:
        args = checked_args(args)
        now = self.now()
        # Like the database's unique index, uncommitted jobs hold their queueing lock too.
        if queueing_lock is not None and self._queued_with(queueing_lock):
            raise AlreadyQueued(queueing_lock)
        job_id, self._next_id = self._next_id, self._next_id + 1
        info = JobInfo(
            id=job_id,
            task_name=task_name,
            args=args,
            status=JobStatus.TODO,
            attempts=0,
            lock=lock,
            queueing_lock=queueing_lock,
            scheduled_at=checked_schedule(schedule_at) or now,
            created_at=now,
            started_at=None,
            finished_at=None,
            last_error=None,
        )
        self._jobs[job_id] = job = _Job(info, committed=session is None)
        if session is not None:
            self._follow(session, job)
        self._wake.set()
        return job_id

    async def start(self) -> None:
        if self._loop_task is not None:
            raise RuntimeError("the runtime is already started")
        self._stopping = False
        self._loop_task = asyncio.create_task(self._loop(), name="in-memory-jobs")

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - see JobRuntime
        if self._loop_task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait([self._loop_task], timeout=timeout)
        if not done and self._current is not None:
            self._current.cancel()
        await asyncio.wait([self._loop_task])
        self._loop_task = None

    async def run_until_idle(self) -> None:
        while (job := self._next_ready()) is not None:
            await self._run(job)

    async def get_job(self, job_id: int) -> JobInfo:
        job = self._jobs.get(job_id)
        if job is None or not job.committed:
            raise NotFound(f"job {job_id} not found")
        return job.info

    async def queue_counts(self) -> dict[tuple[str, JobStatus], int]:
        counts: dict[tuple[str, JobStatus], int] = {}
        for job in self._jobs.values():
            if job.committed and job.info.status in (JobStatus.TODO, JobStatus.DOING):
                key = (job.info.task_name, job.info.status)
                counts[key] = counts.get(key, 0) + 1
        return counts

    async def purge_finished(self, older_than: timedelta) -> int:
        cutoff = self.now() - older_than
        purged = [
            job_id
            for job_id, job in self._jobs.items()
            if job.info.status in FINISHED
            and job.info.finished_at is not None
            and job.info.finished_at < cutoff
        ]
        for job_id in purged:
            del self._jobs[job_id]
        return len(purged)

    # -- internals ------------------------------------------------------------------------

    def _follow(self, session: AsyncSession, job: _Job) -> None:
        """Publish the job when the session's transaction commits, drop it otherwise.

        Only the outermost transaction is followed: a job deferred inside a savepoint the
        caller later rolls back (but whose outer transaction commits) stays.
        """

        def committed(_session: Session) -> None:
            job.committed = True
            self._wake.set()

        def ended(_session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is None and not job.committed:
                self._jobs.pop(job.info.id, None)

        event.listen(session.sync_session, "after_commit", committed, once=True)
        event.listen(session.sync_session, "after_transaction_end", ended)

    def _queued_with(self, queueing_lock: str, *, besides: int | None = None) -> bool:
        return any(
            job.info.queueing_lock == queueing_lock
            and job.info.status == JobStatus.TODO
            and job.info.id != besides
            for job in self._jobs.values()
        )

    def _next_ready(self) -> JobInfo | None:
        now = self.now()
        visible = [job.info for job in self._jobs.values() if job.committed]
        ready = [
            job
            for job in visible
            if job.status == JobStatus.TODO
            and job.scheduled_at <= now
            and (job.lock is None or not self._lock_busy(job, visible))
        ]
        return min(ready, key=lambda job: (job.scheduled_at, job.id), default=None)

    @staticmethod
    def _lock_busy(job: JobInfo, visible: list[JobInfo]) -> bool:
        return any(
            other.lock == job.lock
            and (
                other.status == JobStatus.DOING
                or (other.status == JobStatus.TODO and other.id < job.id)
            )
            for other in visible
        )

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            job = self._next_ready()
            if job is not None:
                await self._run(job)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def _run(self, queued: JobInfo) -> None:
        job = replace(
            queued,
            status=JobStatus.DOING,
            attempts=queued.attempts + 1,
            started_at=self.now(),
            finished_at=None,
        )
        self._jobs[job.id].info = job
        context = JobContext(
            job_id=job.id,
            task_name=job.task_name,
            attempt=job.attempts,
            runtime=self,
            log=job_logger(job.id, job.task_name, attempt=job.attempts),
        )
        self._current = asyncio.create_task(execute(self.registry, context, job.args))
        try:
            await asyncio.wait([self._current])
        except asyncio.CancelledError:
            self._current.cancel()
            raise
        outcome: Outcome
        if self._current.cancelled():
            outcome = Retry(0.0, "cancelled: the worker stopped before the job ended", False)
        else:
            outcome = self._current.result()
        self._current = None
        self._apply(job, outcome)

    def _apply(self, job: JobInfo, outcome: Outcome) -> None:
        now = self.now()
        match outcome:
            case Succeeded():
                job = replace(job, status=JobStatus.SUCCEEDED, finished_at=now)
            case Failed(error=error):
                job = replace(job, status=JobStatus.FAILED, finished_at=now, last_error=error)
            case Retry(delay=delay, error=error, counts=counts):
                queueing_lock = job.queueing_lock
                if queueing_lock is not None and self._queued_with(queueing_lock, besides=job.id):
                    queueing_lock = None  # as the SQL runtime: give it up to the newer job
                job = replace(
                    job,
                    status=JobStatus.TODO,
                    scheduled_at=now + timedelta(seconds=delay),
                    attempts=job.attempts if counts else job.attempts - 1,
                    queueing_lock=queueing_lock,
                    last_error=error,
                )
            case _:
                assert_never(outcome)
        if job.id in self._jobs:  # the handler may have purged its own job
            self._jobs[job.id].info = job
        self._wake.set()
