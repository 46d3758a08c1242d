"""Tasks: handlers registered by name, their retry policy, and what a running job sees."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, TypeVar

from interlink.errors import ConfigurationError, InterlinkError

if TYPE_CHECKING:
    from interlink.runtime.base import JobRuntime
    from interlink.runtime.joblog import JobLogger

# `async def handler(context: JobContext, **args) -> None`: the args are the JSON object
# given to `defer`, passed as keyword arguments.
Handler = Callable[Concatenate["JobContext", ...], Awaitable[None]]
HandlerT = TypeVar("HandlerT", bound=Handler)

# The queue of every task registered without one. A runtime may give other queues slots of
# their own (`queue_concurrency`), so that one kind of work never waits behind another.
DEFAULT_QUEUE = "default"

# 2**64 seconds is already far past any max_delay; capping the exponent keeps floats finite.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing job runs and how long it waits in between.

    `max_attempts` counts every run, the first included: 1 means never retried.
    The wait after failed attempt n is `base_delay * 2**(n-1)`, spread by ±`jitter`
    (a fraction) so that jobs failing together do not come back together, then capped
    at `max_delay`.
    """

    max_attempts: int = 1
    base_delay: float = 1.0
    max_delay: float = 300.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be at least 1")
        if not (0 <= self.base_delay <= self.max_delay) or not math.isfinite(self.max_delay):
            raise ConfigurationError("RetryPolicy needs 0 <= base_delay <= max_delay < inf")
        if not 0 <= self.jitter < 1:
            raise ConfigurationError("RetryPolicy.jitter must be a fraction in [0, 1)")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first run)."""
        exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
        nominal = min(self.base_delay * 2.0**exponent, self.max_delay)
        spread = nominal * self.jitter
        return min(max(nominal + random.uniform(-spread, spread), 0.0), self.max_delay)


class RetryLater(InterlinkError):
    """Raised by a handler to run again after `delay_seconds`, without using up an attempt.

    Meant for "not now" answers such as a vendor's 429 with Retry-After. The runtime
    does not cap how often a handler may ask; the handler owns that decision.
    """

    def __init__(self, delay_seconds: float, reason: str = "") -> None:
        if not (math.isfinite(delay_seconds) and delay_seconds >= 0):
            raise ValueError("RetryLater needs a finite, non-negative delay")
        super().__init__(reason or f"retry in {delay_seconds:g}s")
        self.delay_seconds = delay_seconds


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the job it runs, and the runtime to defer follow-ups."""

    job_id: int
    task_name: str
    attempt: int  # 1 on the first run; runs ended by RetryLater or a shutdown do not count
    runtime: JobRuntime
    log: JobLogger  # every line it writes carries job_id and task_name


@dataclass(frozen=True)
class Task:
    name: str
    handler: Handler
    retry: RetryPolicy
    queue: str = DEFAULT_QUEUE


class TaskRegistry:
    """Handlers by task name. Names are stored in job rows, so they must stay stable."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def task(
        self, *, name: str, retry: RetryPolicy | None = None, queue: str = DEFAULT_QUEUE
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator registering `async def handler(context, **args)` under `name`."""

        def register(handler: HandlerT) -> HandlerT:
            self.add(Task(name=name, handler=handler, retry=retry or RetryPolicy(), queue=queue))
            return handler

        return register

    def add(self, task: Task) -> None:
        if not task.name:
            raise ConfigurationError("a task needs a non-empty name")
        if not task.queue:
            raise ConfigurationError(f"task {task.name!r} needs a non-empty queue")
        if task.name in self._tasks:
            raise ConfigurationError(f"task {task.name!r} is registered twice")
        self._tasks[task.name] = task

    def include(self, other: TaskRegistry) -> None:
        """Adds every task of `other`, so each feature can keep its own registry."""
        for task in other:
            self.add(task)

    def get(self, name: str) -> Task | None:
        return self._tasks.get(name)

    def queue_of(self, name: str) -> str:
        """The task's queue; an unknown task's job is the default queue's (it fails there)."""
        task = self._tasks.get(name)
        return DEFAULT_QUEUE if task is None else task.queue

    def names_in(self, queues: Iterable[str]) -> list[str]:
        """The names of the tasks of these queues, sorted."""
        wanted = set(queues)
        return sorted(name for name, task in self._tasks.items() if task.queue in wanted)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)
