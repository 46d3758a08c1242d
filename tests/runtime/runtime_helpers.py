"""Helpers shared by the runtime tests: short intervals and waiting for a job's state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from interlink.runtime import JobInfo, JobRuntime, JobStatus

# Short enough for a quick suite, long enough that a busy CI machine keeps up with the
# heartbeats (stalled_after is twenty heartbeats: a CI run once saw 0.5 s of silence).
FAST = {"poll_interval": 0.02, "heartbeat_interval": 0.1, "stalled_after": 2.0}
# procrastinate's workers are woken by NOTIFY; its heartbeats go through a connection pool,
# so they get wider margins (a stall would look like a dead worker and run a job twice).
POSTGRES_FAST = {"poll_interval": 0.05, "heartbeat_interval": 0.3, "stalled_after": 3.0}

# make_runtime(*, own_engine=False, **runtime options) -> the backend's JobRuntime
RuntimeFactory = Callable[..., Awaitable[JobRuntime]]


async def wait_for_job(
    runtime: JobRuntime,
    job_id: int,
    predicate: Callable[[JobInfo], bool],
    *,
    within: float = 10.0,
) -> JobInfo:
    """Polls the job until `predicate` holds; `within` only guards against hanging."""
    async with asyncio.timeout(within):
        while True:
            job = await runtime.get_job(job_id)
            if predicate(job):
                return job
            await asyncio.sleep(0.01)


def has_status(*statuses: JobStatus) -> Callable[[JobInfo], bool]:
    return lambda job: job.status in statuses
