"""One poll end to end: claim the stream, run its steps against the vendor, record the
outcome and when the next poll is due.

No database transaction is open while the vendor is called. A vendor that stops the poll
(429, 5xx, timeouts) leaves everything committed so far in place, including the
checkpoint the next poll resumes from; the mark never moves past a record not yet read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from interlink.errors import InvalidInput
from interlink.eventing.polling.deletes import run_deletes
from interlink.eventing.polling.listing import run_listing
from interlink.eventing.polling.outcome import ERROR, OK, problems_of, write_outcome
from interlink.eventing.polling.progress import DELETES, Progress
from interlink.eventing.polling.run import (
    PollLogger,
    PollRun,
    StreamGone,
    claim,
    lease_kept,
    locked_stream,
    take,
)
from interlink.hub import Hub
from interlink.services.connections import vendor_client
from interlink.storage.models import Instance
from interlink.storage.types import utcnow
from interlink.vendor import RetryableVendorError, VendorClient, VendorError

logger = logging.getLogger("interlink.eventing.polling")


@dataclass(frozen=True)
class PollResult:
    outcome: str
    events: int
    pages: int
    error: str | None


def poll_logger(instance_id: str, object_name: str) -> logging.LoggerAdapter[logging.Logger]:
    return logging.LoggerAdapter(logger, {"instance_id": instance_id, "object": object_name})


async def run_poll(
    hub: Hub, instance_id: str, object_name: str, *, log: PollLogger | None = None
) -> PollResult | None:
    """Poll one instance object now; None when it is not polled (deleted, paused, gone)."""
    log = log or poll_logger(instance_id, object_name)
    claimed = await claim(hub, instance_id, object_name, log)
    if claimed is None:
        log.info("nothing to poll: the instance object is not polled")
        return None
    run, progress = claimed
    clock = time.monotonic()
    error: str | None = None
    retry_at: datetime | None = None
    keep_progress = False
    try:
        async with vendor_client(hub, run.instance, run.element) as client, lease_kept(run):
            await run_steps(run, client, progress)
    except StreamGone as exc:
        log.info("poll stopped: %s", exc)
        return None
    except RetryableVendorError as exc:
        # The vendor may answer again soon: the next poll resumes where this one stopped.
        error, keep_progress = str(exc), True
        if exc.status == 429 and exc.retry_after is not None:
            retry_at = utcnow() + timedelta(seconds=exc.retry_after)
    except (VendorError, InvalidInput) as exc:
        # A refusal or a position the vendor no longer takes: the next poll starts over
        # from the mark (re-reading is harmless, the fingerprints drop what was emitted).
        error = str(exc)
    except Exception as exc:
        log.exception("poll failed")
        error = f"internal error: {type(exc).__name__}"
    if run.outcome is not None:
        outcome, error = run.outcome, problems_of(run)  # committed with the last page
    else:
        error = error or problems_of(run)
        outcome = OK if error is None else ERROR
        await finish(run, error=error, retry_at=retry_at, keep_progress=keep_progress)
    log.log(
        logging.INFO if outcome == OK else logging.WARNING,
        "poll finished: %s",
        outcome,
        extra={
            "outcome": outcome,
            "events": run.events,
            "pages": run.pages,
            "duration_seconds": round(time.monotonic() - clock, 3),
            "error": error,
        },
    )
    return PollResult(outcome, run.events, run.pages, error)


async def run_steps(run: PollRun, client: VendorClient, progress: Progress) -> Progress:
    while progress.step is not None:
        if progress.step == DELETES:
            progress = await run_deletes(run, client, progress)
        else:
            progress = await run_listing(run, client, progress)
    return progress


async def finish(
    run: PollRun,
    *,
    error: str | None,
    retry_at: datetime | None,
    keep_progress: bool,
) -> str | None:
    """The outcome of a poll that stopped before its last commit; None if the stream is
    another poll's (or gone) by now: its outcome is the one to show."""
    async with run.hub.database.transaction() as session:
        stream = await locked_stream(session, run.instance.id, run.object_name)
        if stream is None:
            return None
        try:
            take(run, stream)
        except StreamGone:
            return None
        saved = Progress.from_json(stream.checkpoint)
        instance = await session.get(Instance, run.instance.id)
        return write_outcome(
            run,
            stream,
            instance,
            saved,
            error=error,
            retry_at=retry_at,
            keep_progress=keep_progress,
        )
