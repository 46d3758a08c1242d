"""The poll job: one poll of one instance object, run by the background workers.

Polls of one instance object share `poll_lock`, so they never overlap.
"""

from __future__ import annotations

from typing import Any

from interlink.eventing.polling.poll import run_poll
from interlink.eventing.task_names import POLL_TASK
from interlink.hub import Hub
from interlink.runtime import JobContext, RetryPolicy, TaskRegistry
from interlink.runtime.joblog import JobLogger

# A poll records its own failures in the stream and is scheduled again; job retries only
# cover what it could not record (the database away).
POLL_RETRY = RetryPolicy(max_attempts=5, base_delay=2.0, max_delay=60.0)


def register_polling(registry: TaskRegistry, hub: Hub) -> None:
    @registry.task(name=POLL_TASK, retry=POLL_RETRY)
    async def poll(context: JobContext, instance_id: str, object_name: str, **_: Any) -> None:
        log = JobLogger(
            context.log.logger,
            {**(context.log.extra or {}), "instance_id": instance_id, "object": object_name},
        )
        await run_poll(hub, instance_id, object_name, log=log)
