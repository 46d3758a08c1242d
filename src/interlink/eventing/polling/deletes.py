"""The deletes step: the element's deleted-records endpoint, read since its own mark.

A deleted id never seen (created and deleted between two polls) yields nothing; a known
one yields `deleted` once, and its fingerprint remembers it.
"""

from __future__ import annotations

from typing import Any

from interlink.elements.definition import DeletedEndpoint
from interlink.eventing import fingerprints
from interlink.eventing.marks import later, latest, reach_back, vendor_text
from interlink.eventing.polling import fingerprint_store
from interlink.eventing.polling.commit import record, save
from interlink.eventing.polling.progress import Progress
from interlink.eventing.polling.run import PollRun, owned_stream
from interlink.eventing.recorder import NewEvent
from interlink.vendor import VendorClient


async def run_deletes(run: PollRun, client: VendorClient, progress: Progress) -> Progress:
    deletes = run.obj.deletes
    if not isinstance(deletes, DeletedEndpoint) or run.deletes_mark is None:
        return progress.step_done()
    fmt = deletes.since_format
    since = reach_back(run.deletes_mark, fmt, run.element.polling.overlap_seconds)
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
    async with owned_stream(run) as (session, stream, instance):
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
        if since is None:
            stream.deletes_mark = None  # set again from the mark at the next listing's end
        else:
            newest = latest([vendor_text(item.get("deleted_at")) for item in gone], fmt)
            stream.deletes_mark = later(stream.deletes_mark, newest, fmt)
        progress = progress.step_done()
        save(run, stream, instance, progress)
    return progress
