"""A poll's outcome in its stream: when it ran, how it went, and when the next one is due.

Written by the last page's transaction of a poll that got through its steps (one
transaction less per poll), or by a transaction of its own when the poll stopped early.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

from interlink.eventing.polling.progress import Progress
from interlink.eventing.polling.run import PollRun
from interlink.eventing.polling.streams import poll_interval
from interlink.hub import Hub
from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow

MAX_ERROR_LENGTH = 1000
OK = "ok"
ERROR = "error"


def write_outcome(
    run: PollRun,
    stream: EventStream,
    instance: Instance | None,
    progress: Progress,
    *,
    error: str | None,
    retry_at: datetime | None = None,
    keep_progress: bool = False,
) -> str:
    """Records the outcome on the stream (locked by the caller); returns it."""
    outcome = OK if error is None else ERROR
    # When this poll began: whatever changed before then, it has seen.
    stream.last_poll_at = run.started
    stream.last_poll_outcome = outcome
    stream.last_error = error[:MAX_ERROR_LENGTH] if error else None
    kept = replace(progress, run=None) if keep_progress else progress.idle()
    stream.checkpoint = kept.to_json()
    if stream.next_poll_at is not None:
        stream.next_poll_at = retry_at or next_poll(run.hub, instance, utcnow())
    return outcome


def problems_of(run: PollRun) -> str | None:
    return "; ".join(run.problems) or None


def next_poll(hub: Hub, instance: Instance | None, finished: datetime) -> datetime:
    interval = (poll_interval(instance) if instance is not None else None) or 300
    jitter = hub.settings.poll_jitter
    spread = random.uniform(-jitter, jitter) if jitter else 0.0
    return finished + timedelta(seconds=interval * (1 + spread))
