"""The job runtime interface: defer jobs by task name, run them in workers, read their state.

Shaped after procrastinate, which will implement it on PostgreSQL: tasks by name,
`lock` (jobs sharing one run one at a time, in id order), `queueing_lock` (at most one
*queued* job per value), scheduled jobs, retries, statuses todo/doing/succeeded/failed.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import ConfigurationError, Conflict
from interlink.runtime.tasks import DEFAULT_QUEUE


class JobStatus(StrEnum):
    TODO = "todo"
    DOING = "doing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass(frozen=True)
class JobInfo:
    """A job's state as last recorded. `attempts` counts the runs that used up an attempt."""

    id: int
    task_name: str
    args: dict[str, Any]
    status: JobStatus
    attempts: int
    lock: str | None
    queueing_lock: str | None
    scheduled_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None


class AlreadyQueued(Conflict):
    """A job with this queueing lock is already waiting to run (procrastinate: AlreadyEnqueued)."""

    def __init__(self, queueing_lock: str) -> None:
        super().__init__(f"a job with queueing lock {queueing_lock!r} is already queued")
        self.queueing_lock = queueing_lock


class JobRuntime(ABC):
    """Background jobs: deferred by task name, run by workers, at least once."""

    @abstractmethod
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
        """Queue a job and return its id.

        `args` is a JSON object handed to the handler as keyword arguments. With `session`
        (a session of the runtime's database, in an open transaction) the job is written in
        that transaction: it exists only if the caller commits, and a refusal does not
        spoil the caller's transaction. Raises `AlreadyQueued` when `queueing_lock` is
        held by a job still waiting to run.
        """

    @abstractmethod
    async def start(self) -> None:
        """Start the workers in the background; they run jobs until `stop`."""

    @abstractmethod
    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - not a deadline
        """Stop taking jobs, wait up to `timeout` seconds for running ones, then cancel them.

        Cancelled jobs go back to the queue without using up an attempt. `timeout` is a
        grace period for the jobs, not for this call: wrapping stop() in asyncio.timeout
        would cancel the stopping itself and leave the jobs running.
        """

    @abstractmethod
    async def run_until_idle(self) -> None:
        """Run jobs, one at a time in this task, until none is ready (a test helper)."""

    @abstractmethod
    async def get_job(self, job_id: int) -> JobInfo:
        """The job's state; raises `NotFound` for an unknown id."""

    @abstractmethod
    async def purge_finished(self, older_than: timedelta) -> int:
        """Delete succeeded and failed jobs finished more than `older_than` ago; return how many."""

    @abstractmethod
    async def queue_counts(self) -> dict[tuple[str, JobStatus], int]:
        """Jobs waiting or running, by (task name, status): the queue's depth, for metrics."""


def checked_args(args: dict[str, Any]) -> dict[str, Any]:
    """The args as a worker will see them: a JSON object with string keys, round-tripped.

    Refusing here, at defer time, points at the caller instead of at a failed job later.
    """
    if not isinstance(args, dict) or not all(isinstance(key, str) for key in args):
        raise TypeError("job args must be a dict with string keys")
    try:
        decoded: dict[str, Any] = json.loads(json.dumps(args, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"job args must be JSON-serializable: {exc}") from exc
    return decoded


def own_slots(queue_concurrency: Mapping[str, int] | None) -> dict[str, int]:
    """The queues given slots of their own (a runtime's `queue_concurrency`): those with
    at least one, the default queue aside (its slots are the runtime's `concurrency`)."""
    given = dict(queue_concurrency or {})
    if any(slots < 0 for slots in given.values()):
        raise ConfigurationError("a queue's concurrency cannot be negative")
    return {queue: slots for queue, slots in given.items() if slots > 0 and queue != DEFAULT_QUEUE}


def checked_schedule(schedule_at: datetime | None) -> datetime | None:
    if schedule_at is not None and schedule_at.tzinfo is None:
        raise ValueError("schedule_at must be timezone-aware")
    return schedule_at
