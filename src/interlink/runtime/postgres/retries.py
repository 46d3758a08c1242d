"""How a run's outcome reaches procrastinate, and how a job goes back to the queue.

The task wrapper turns our outcomes into exceptions (`RunAgain`, `JobFailed`); the retry
strategy turns those into procrastinate's retry decisions; `InterlinkJobManager.retry_job`
writes the retry itself, because two things of our contract differ from procrastinate's:

- a `RetryLater` (or a shutdown) gives its attempt back: procrastinate counts every retry;
- a job going back to the queue while a newer job holds its queueing lock gives the lock
  up (both have work to do); procrastinate's retry would fail on the unique index and
  leave the job 'doing' under a live worker, that is, stuck.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from procrastinate import exceptions
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from interlink.storage.types import utcnow

log = logging.getLogger("interlink.runtime")


class RunAgain(Exception):
    """The job goes back to the queue in `delay` seconds; `counts` False gives the attempt back."""

    def __init__(self, delay: float, error: str, *, counts: bool) -> None:
        super().__init__(error)
        self.delay = delay
        self.counts = counts


class JobFailed(Exception):
    """The job failed for good (its handler's error, or its last attempt)."""


@dataclass
class RunNotes:
    """What the retry strategy learnt of a run, for the manager that records its end.

    Both run in this process, one right after the other, for the same job: procrastinate
    hands the manager only a retry time, not the exception behind it.
    """

    uncounted: set[int] = field(default_factory=set)  # runs that give their attempt back
    errors: dict[int, str] = field(default_factory=dict)  # why the run did not succeed

    def take(self, job_id: int) -> tuple[bool, str | None]:
        counts = job_id not in self.uncounted
        self.uncounted.discard(job_id)
        return counts, self.errors.pop(job_id, None)


class Retries(BaseRetryStrategy):
    """Retry decisions from the task wrapper's exceptions; every other exception is final."""

    def __init__(self, notes: RunNotes) -> None:
        self.notes = notes

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        assert job.id is not None
        if isinstance(exception, RunAgain):
            self._note(job.id, str(exception), counts=exception.counts)
            return RetryDecision(retry_at=utcnow() + timedelta(seconds=exception.delay))
        if isinstance(exception, asyncio.CancelledError | exceptions.JobAborted):
            # The worker stopped before the job ended (procrastinate asks only then).
            error = "cancelled: the worker stopped before the job ended"
            self._note(job.id, error, counts=False)
            return RetryDecision(retry_at=utcnow())
        self._note(job.id, str(exception) or type(exception).__name__, counts=True)
        return None

    def _note(self, job_id: int, error: str, *, counts: bool) -> None:
        self.notes.errors[job_id] = error
        if not counts:
            self.notes.uncounted.add(job_id)


# Conditioned on the run (worker and attempts), not only on 'doing': a stalled job may be
# recovered by two workers at once, or taken by another worker since; only one retry of a
# run may win. The status trigger records procrastinate's `deferred_for_retry` event.
RETRY_JOB = """
WITH retried AS (
    UPDATE procrastinate_jobs AS job
       SET status = 'todo',
           attempts = job.attempts + %(counts)s,
           scheduled_at = %(retry_at)s,
           abort_requested = false,
           queueing_lock = CASE WHEN %(keep_queueing_lock)s THEN job.queueing_lock END
     WHERE job.id = %(job_id)s
       AND job.status = 'doing'
       AND job.attempts = %(attempts)s
       AND job.worker_id IS NOT DISTINCT FROM %(worker_id)s::bigint
    RETURNING job.id
)
INSERT INTO job_errors (job_id, error)
SELECT id, %(error)s FROM retried WHERE %(error)s::text IS NOT NULL
ON CONFLICT (job_id) DO UPDATE SET error = EXCLUDED.error
"""

RECORD_ERROR = """
INSERT INTO job_errors (job_id, error) VALUES (%(job_id)s, %(error)s)
ON CONFLICT (job_id) DO UPDATE SET error = EXCLUDED.error
"""

# last_error is for people reading job states; a whole traceback belongs in the logs.
_MAX_ERROR_LENGTH = 2000


class InterlinkJobManager(JobManager):
    """procrastinate's job manager with our retry (see the module) and each job's last error
    kept in `job_errors`, which procrastinate has no column for."""

    def __init__(self, connector: Any, notes: RunNotes, known_tasks: Container[str]) -> None:
        super().__init__(connector)
        self.notes = notes
        self.known_tasks = known_tasks

    async def retry_job(
        self,
        job: Job,
        retry_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        assert job.id is not None
        counts, error = self.notes.take(job.id)
        arguments: dict[str, Any] = {
            "job_id": job.id,
            "attempts": job.attempts,
            "worker_id": job.worker_id,
            "retry_at": retry_at or utcnow(),
            "counts": 1 if counts else 0,
            "error": error[:_MAX_ERROR_LENGTH] if error else None,
        }
        try:
            await self.connector.execute_query_async(
                query=RETRY_JOB, keep_queueing_lock=True, **arguments
            )
        except exceptions.UniqueViolation:
            log.info(
                "job %s goes back to the queue without its queueing lock %r: a newer job holds it",
                job.id,
                job.queueing_lock,
            )
            await self.connector.execute_query_async(
                query=RETRY_JOB, keep_queueing_lock=False, **arguments
            )

    async def finish_job(self, job: Job, status: Status, delete_job: bool) -> None:
        assert job.id is not None
        _, error = self.notes.take(job.id)
        if job.task_name not in self.known_tasks:  # procrastinate failed it before running
            error = f"unknown task {job.task_name!r}: no handler is registered under that name"
        # A success keeps the error that led to its retry; a failure says why. Written
        # before the status: whoever sees 'failed' must read this run's error, not the last.
        if error is not None and status != Status.SUCCEEDED and not delete_job:
            await self.connector.execute_query_async(
                query=RECORD_ERROR, job_id=job.id, error=error[:_MAX_ERROR_LENGTH]
            )
        await super().finish_job(job=job, status=status, delete_job=delete_job)
