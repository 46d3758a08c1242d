"""The deletes step: the element's deleted-records endpoint, read since its own mark.

A deleted id never seen (created and deleted between two polls) yields nothing; a known
one yields `deleted` once, and its fingerprint remembers it. After a changes listing of
one page, the feed is read before that page commits and applied in its transaction (one
commit a poll); either way it is read after the listing, so a record listed alive and
then deleted gets its `updated` before its `deleted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.definition import DeletedEndpoint
from interlink.eventing import fingerprints
from interlink.eventing.marks import later, latest, reach_back, vendor_text
from interlink.eventing.polling import fingerprint_store
from interlink.eventing.polling.commit import record, save
from interlink.eventing.polling.progress import Progress
from interlink.eventing.polling.run import PollRun, owned_stream
from interlink.eventing.recorder import NewEvent
from interlink.storage.models import EventStream, Instance
from interlink.vendor import VendorClient


@dataclass(frozen=True)
class DeletesRead:
    """What the deleted-records endpoint listed since the deletes mark; `since` None when
    the mark was unreadable (it is set again at the next listing's end)."""

    since: datetime | None
    gone: list[dict[str, Any]]


def reads_deletes(run: PollRun) -> bool:
    return isinstance(run.obj.deletes, DeletedEndpoint) and run.deletes_mark is not None


async def run_deletes(run: PollRun, client: VendorClient, progress: Progress) -> Progress:
    if not reads_deletes(run):
        return progress.step_done()
    read = await read_deletes(run, client)
    async with owned_stream(run) as (session, stream, instance):
        progress = await apply_deletes(session, run, instance, stream, read, progress)
        save(run, stream, instance, progress)
    return progress


async def read_deletes(run: PollRun, client: VendorClient) -> DeletesRead:
    """Every page of the deleted-records feed since the mark, less the overlap window."""
    deletes = run.obj.deletes
    assert isinstance(deletes, DeletedEndpoint)
    since = reach_back(run.deletes_mark, deletes.since_format, run.element.polling.overlap_seconds)
    if since is None:
        run.log.warning("unreadable deletes mark %r; starting it again", run.deletes_mark)
    gone: list[dict[str, Any]] = []
    page_state: dict[str, Any] | None = None
    while since is not None:
        page = await client.deleted_since(run.object_name, since, page_state)
        run.pages += 1
        gone += page.records
        if page.next_state is None:
            break
        page_state = page.next_state
    return DeletesRead(since, gone)


async def apply_deletes(
    session: AsyncSession,
    run: PollRun,
    instance: Instance,
    stream: EventStream,
    read: DeletesRead,
    progress: Progress,
) -> Progress:
    """The `deleted` events of what was read, the deletes mark, and the step done."""
    deletes = run.obj.deletes
    assert isinstance(deletes, DeletedEndpoint)
    gone = read.gone
    seen = await fingerprints.lookup(
        session, instance.id, run.object_name, (item["id"] for item in gone)
    )
    events: list[NewEvent] = []
    for item in gone:
        prior = seen.get(item["id"])
        if prior is None or prior.deleted:
            continue
        seen[item["id"]] = fingerprints.Seen(prior.vendor_updated, prior.content_hash, True)
        events.append(
            NewEvent(
                object_name=run.object_name,
                record_id=item["id"],
                change="deleted",
                record=None,
                vendor_time=vendor_text(item.get("deleted_at")),
                source="poll",
            )
        )
    await record(session, run, instance, stream, events)
    await fingerprint_store.mark_deleted(
        session, instance.id, run.object_name, [event.record_id for event in events]
    )
    fmt = deletes.since_format
    if read.since is None:
        stream.deletes_mark = None  # set again from the mark at the next listing's end
    else:
        newest = latest([vendor_text(item.get("deleted_at")) for item in gone], fmt)
        stream.deletes_mark = later(stream.deletes_mark, newest, fmt)
    return progress.step_done()
