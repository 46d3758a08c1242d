"""The listing steps of a poll: the baseline, the changes since the mark, and full scans.

Every page is committed on its own: its events, fingerprints and the checkpoint to resume
from, in one transaction (the last page's also applies the deletes feed read after it,
when that step comes next). Where the element lists changes in ascending updated order the
mark moves with every page; otherwise it moves only once the listing is complete, and the
next poll reaches back by the listing's duration as well as the overlap window.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.definition import DeletedEndpoint, NoDeletes
from interlink.eventing.marks import later, latest, reach_back, shifted_mark
from interlink.eventing.polling import fingerprint_store
from interlink.eventing.polling.classify import sight, time_format
from interlink.eventing.polling.commit import apply_sightings, save
from interlink.eventing.polling.deletes import apply_deletes, read_deletes, reads_deletes
from interlink.eventing.polling.full_scan import compare_scan
from interlink.eventing.polling.progress import (
    BASELINE,
    CHANGES,
    DELETES,
    SCAN,
    Progress,
    iso,
    now_iso,
)
from interlink.eventing.polling.run import PollRun, needs_periodic_scan, owned_stream
from interlink.eventing.polling.streams import LIVE
from interlink.ids import new_id
from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow
from interlink.vendor import VendorClient
from interlink.vendor.times import format_time


def changes_since(run: PollRun, progress: Progress) -> datetime | None:
    """The filter of a changes listing: the mark, less the overlap window and look-back."""
    reach = run.element.polling.overlap_seconds + progress.lookback_seconds
    return reach_back(run.high_water_mark, time_format(run.obj), reach)


def start_listing(run: PollRun, progress: Progress) -> Progress:
    step = progress.step
    since = changes_since(run, progress) if step == CHANGES else None
    scan_id = new_id("scan") if step in (BASELINE, SCAN) else None
    return replace(progress, since=iso(since), listing_started_at=now_iso(), scan_id=scan_id)


async def run_listing(run: PollRun, client: VendorClient, progress: Progress) -> Progress:
    """Read the listing of the current step to its end, committing page by page."""
    obj = run.obj
    step = progress.step
    fresh = progress.listing_started_at is None
    if fresh:
        progress = start_listing(run, progress)
    since = datetime.fromisoformat(progress.since) if progress.since else None
    ascending = bool(
        step == CHANGES and since is not None and obj.changed_since and obj.changed_since.ascending
    )
    emit = step != BASELINE or run.history
    fmt = time_format(obj)
    page_state = progress.page_state
    while True:
        page = await client.list_page(run.object_name, changed_since=since, page_state=page_state)
        run.pages += 1
        times = page.times or [None] * len(page.records)
        sightings = [sight(record, obj, at) for record, at in zip(page.records, times, strict=True)]
        newest = latest([sighting.vendor_updated for sighting in sightings], fmt)
        last = page.next_state is None
        # The deletes step that follows is read now and committed with this last page.
        deletes = await read_deletes(run, client) if last and deletes_next(run, progress) else None
        async with owned_stream(run) as (session, stream, instance):
            if fresh and step == BASELINE:
                await fingerprint_store.forget(session, instance.id, run.object_name)
            await apply_sightings(
                session, run, instance, stream, sightings, emit=emit, scan_id=progress.scan_id
            )
            if ascending:
                stream.high_water_mark = later(stream.high_water_mark, newest, fmt)
            else:
                progress = replace(progress, max_seen=later(progress.max_seen, newest, fmt))
            progress = progress.next_page(page.next_state)
            if last:
                progress = await complete_listing(
                    session, run, instance, stream, progress, ascending=ascending
                )
            if deletes is not None:
                progress = await apply_deletes(session, run, instance, stream, deletes, progress)
            save(run, stream, instance, progress)
        fresh = False
        if last:
            return progress
        page_state = page.next_state


def deletes_next(run: PollRun, progress: Progress) -> bool:
    return progress.steps[1:2] == (DELETES,) and reads_deletes(run)


async def complete_listing(
    session: AsyncSession,
    run: PollRun,
    instance: Instance,
    stream: EventStream,
    progress: Progress,
    *,
    ascending: bool,
) -> Progress:
    """The end of a listing, in its last page's transaction: marks, state, schedules."""
    obj, fmt, now = run.obj, time_format(run.obj), utcnow()
    started = progress.listing_started() or now
    duration = max((now - started).total_seconds(), 0.0)
    step = progress.step
    lookback = progress.lookback_seconds
    if step in (BASELINE, CHANGES) or obj.changed_since is None:
        if not ascending:
            stream.high_water_mark = later(stream.high_water_mark, progress.max_seen, fmt)
        # A scan of an object without changed-since reads everything: no look-back needed.
        lookback = 0.0 if ascending or step == SCAN else round(duration, 3)
    feed = obj.changed_since.request if obj.changed_since is not None else None
    if step == BASELINE and feed is not None and feed.updated_path is not None:
        # A change feed times changes by its items, not by the records a baseline reads
        # (Stripe's customers have no updated time): the baseline stands for the records
        # as they were when it began, so the changes to read are those from then on.
        stream.high_water_mark = later(stream.high_water_mark, format_time(started, fmt), fmt)
    full_scan_every = timedelta(seconds=run.element.polling.full_scan_interval_seconds)
    if step == BASELINE:
        stream.state = LIVE
        if needs_periodic_scan(obj):
            stream.next_full_scan_at = now + full_scan_every
    if step == SCAN:
        if isinstance(obj.deletes, NoDeletes) and progress.scan_id is not None:
            problem = await compare_scan(session, run, instance, stream, progress.scan_id, started)
            if problem:
                run.problems.append(problem)
        if needs_periodic_scan(obj):
            stream.next_full_scan_at = now + full_scan_every
    deletes = obj.deletes
    if isinstance(deletes, DeletedEndpoint) and stream.deletes_mark is None:
        # Deletes are read from here on: from before this listing began, as the mark stands
        # for the newest change it saw, and a record read early may have gone since.
        stream.deletes_mark = shifted_mark(
            stream.high_water_mark, fmt, deletes.since_format, duration
        )
    return replace(progress, lookback_seconds=lookback).step_done()
