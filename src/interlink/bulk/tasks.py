"""The bulk jobs' background tasks, registered with the hub's runtime."""

from __future__ import annotations

from collections.abc import Awaitable

from interlink.bulk.callbacks import send_callback
from interlink.bulk.export.run import run_export
from interlink.bulk.jobs import FAILED
from interlink.bulk.lifecycle import finish
from interlink.bulk.task_names import CALLBACK_TASK, EXPORT_TASK, UPLOAD_TASK
from interlink.bulk.upload.run import run_upload
from interlink.hub import Hub
from interlink.runtime import JobContext, RetryLater, RetryPolicy, TaskRegistry

# A run that crashes on a bug (not a vendor error, which the run handles itself) is
# tried again a few times: it resumes from its checkpoint each time.
RUN_RETRY = RetryPolicy(max_attempts=3, base_delay=5.0, max_delay=60.0)
# A callback receiver that is down gets about a day of attempts.
CALLBACK_RETRY = RetryPolicy(max_attempts=10, base_delay=5.0, max_delay=3 * 3600.0)


def register_bulk(registry: TaskRegistry, hub: Hub) -> None:
    @registry.task(name=EXPORT_TASK, retry=RUN_RETRY)
    async def export(context: JobContext, job_id: str) -> None:
        await _last_attempt_fails(context, hub, job_id, run_export(hub, job_id))

    @registry.task(name=UPLOAD_TASK, retry=RUN_RETRY)
    async def upload(context: JobContext, job_id: str) -> None:
        await _last_attempt_fails(context, hub, job_id, run_upload(hub, job_id))

    @registry.task(name=CALLBACK_TASK, retry=CALLBACK_RETRY)
    async def callback(context: JobContext, job_id: str) -> None:
        await send_callback(hub, job_id)


async def _last_attempt_fails(
    context: JobContext, hub: Hub, job_id: str, run: Awaitable[None]
) -> None:
    """A run that keeps crashing must not leave its job `running` for ever."""
    try:
        await run
    except RetryLater:
        raise
    except Exception as exc:
        if context.attempt >= RUN_RETRY.max_attempts:
            context.log.exception("bulk job %s failed on its last attempt", job_id)
            await finish(hub, job_id, FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
        raise
