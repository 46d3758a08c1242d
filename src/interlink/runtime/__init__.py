"""Background jobs: tasks registered by name, deferred, and run by workers at least once.

`JobRuntime` is the interface; `EmbeddedRuntime` runs jobs from the `jobs` table (SQLite
or PostgreSQL); `InMemoryRuntime` (in `interlink.runtime.testing`) is the fake for tests.
"""

from interlink.runtime.base import AlreadyQueued, JobInfo, JobRuntime, JobStatus
from interlink.runtime.embedded import EmbeddedRuntime
from interlink.runtime.tasks import (
    DEFAULT_QUEUE,
    Handler,
    JobContext,
    RetryLater,
    RetryPolicy,
    Task,
    TaskRegistry,
)

__all__ = [
    "DEFAULT_QUEUE",
    "AlreadyQueued",
    "EmbeddedRuntime",
    "Handler",
    "JobContext",
    "JobInfo",
    "JobRuntime",
    "JobStatus",
    "RetryLater",
    "RetryPolicy",
    "Task",
    "TaskRegistry",
]
