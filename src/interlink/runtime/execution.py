"""Running one job's handler and deciding what happens to the job next."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from interlink.runtime.tasks import JobContext, RetryLater, TaskRegistry

# last_error is for people reading job states; a whole traceback belongs in the logs.
_MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class Succeeded:
    pass


@dataclass(frozen=True)
class Retry:
    """Back to the queue after `delay` seconds; `counts` False gives the attempt back."""

    delay: float
    error: str
    counts: bool = True


@dataclass(frozen=True)
class Failed:
    error: str


Outcome = Succeeded | Retry | Failed


async def execute(registry: TaskRegistry, context: JobContext, args: dict[str, Any]) -> Outcome:
    """Run the handler; every exception becomes an outcome, cancellation propagates."""
    log = context.log
    task = registry.get(context.task_name)
    if task is None:
        error = f"unknown task {context.task_name!r}: no handler is registered under that name"
        log.error("job failed: %s", error)
        return Failed(error)

    log.info("job started (attempt %d)", context.attempt, extra={"attempt": context.attempt})
    started = time.monotonic()
    try:
        await task.handler(context, **args)
    except RetryLater as exc:
        log.info("job asked to run again in %.3gs: %s", exc.delay_seconds, exc)
        return Retry(exc.delay_seconds, describe(exc), counts=False)
    except Exception as exc:
        error = describe(exc)
        if context.attempt < task.retry.max_attempts:
            delay = task.retry.delay(context.attempt)
            log.warning(
                "job failed (attempt %d of %d), retrying in %.3gs",
                context.attempt,
                task.retry.max_attempts,
                delay,
                exc_info=True,
            )
            return Retry(delay, error)
        log.error("job failed for good after %d attempts", context.attempt, exc_info=True)
        return Failed(error)
    log.info("job succeeded", extra={"duration_seconds": round(time.monotonic() - started, 6)})
    return Succeeded()


def describe(exc: BaseException) -> str:
    text = str(exc)
    description = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return description[:_MAX_ERROR_LENGTH]
