"""Applying what one page showed, inside the transaction that also moves the marks.

Fingerprints are looked up in the same transaction that writes them and the events, so a
webhook or another writer between two pages can never make a change count twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from interlink.eventing import fingerprints
from interlink.eventing.polling import fingerprint_store
from interlink.eventing.polling.classify import Sighting, classify, time_format
from interlink.eventing.polling.outcome import problems_of, write_outcome
from interlink.eventing.polling.progress import Progress
from interlink.eventing.polling.run import PollRun
from interlink.eventing.recorder import NewEvent, record_events
from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow


async def apply_sightings(
    session: AsyncSession,
    run: PollRun,
    instance: Instance,
    stream: EventStream,
    sightings: Sequence[Sighting],
    *,
    emit: bool,
    scan_id: str | None,
) -> int:
    """Classify against the fingerprints, record the events, write the fingerprints."""
    if not sightings:
        return 0
    seen = await fingerprints.lookup(
        session, instance.id, run.object_name, (sighting.record_id for sighting in sightings)
    )
    outcome = classify(
        sightings,
        seen,
        object_name=run.object_name,
        time_format=time_format(run.obj),
        emit=emit,
        scan_id=scan_id,
    )
    await fingerprint_store.write(
        session, instance.id, run.object_name, outcome.fingerprints.values()
    )
    return await record(session, run, instance, stream, outcome.events)


async def record(
    session: AsyncSession,
    run: PollRun,
    instance: Instance,
    stream: EventStream,
    events: Sequence[NewEvent],
) -> int:
    if not events:
        return 0
    await record_events(session, instance, events, run.hub.runtime)
    stream.last_event_at = utcnow()
    run.events += len(events)
    return len(events)


def save(run: PollRun, stream: EventStream, instance: Instance, progress: Progress) -> None:
    """The checkpoint after a page; after the last page of the last step, the poll's
    outcome instead, in the same transaction."""
    if progress.step is not None:
        stream.checkpoint = progress.to_json()
        return
    run.outcome = write_outcome(run, stream, instance, progress, error=problems_of(run))
