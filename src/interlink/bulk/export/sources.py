"""The two ways a download reads its records: the API's pages, or the vendor's native export.

Both resume from the sink's checkpoint position and evaluate the whole query locally
(what was pushed down only made the vendor's answer smaller).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from interlink.bulk.export.prefetch import prefetched
from interlink.bulk.export.sink import ExportSink
from interlink.bulk.plan import QueryPlan
from interlink.ceql import matches, project
from interlink.vendor import VendorClient
from interlink.vendor.errors import FatalVendorError

# Pages read ahead while a flush writes its part. A flush waits ~20 ms (more on a busy
# disk) for its fsyncs and its commit, and a page takes ~1.3 ms to read: with fewer pages
# ahead, reading stopped for most of each flush (~0.3 s per 100,000 records). 32 pages of
# 100 records are a few MB, whatever the export's size.
PREFETCH_PAGES = 32
# With a `limit` the records wanted may all be on the first pages: pages read ahead past
# them are vendor calls (and rate budget) spent for nothing, so fewer are.
LIMITED_PREFETCH_PAGES = 4
# A native export whose file is not ready after this long is given up.
NATIVE_WAIT_SECONDS = 6 * 3600.0


def _selects_all(plan: QueryPlan) -> bool:
    """No condition and every field: each record goes to the sink as it is."""
    return plan.predicate is None and plan.query.fields is None


def _selector(plan: QueryPlan) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    predicate, fields = plan.predicate, plan.query.fields
    if fields is not None and plan.query.order_by:
        # Sorting happens on the written file: it keeps the keys; the sort projects them out.
        keys = [key.field for key in plan.query.order_by if key.field not in fields]
        fields = (*fields, *keys)

    def select(record: dict[str, Any]) -> dict[str, Any] | None:
        if predicate is not None and not matches(predicate, record):
            return None
        return project(record, fields) if fields is not None else record

    return select


async def export_pages(client: VendorClient, plan: QueryPlan, sink: ExportSink) -> None:
    """Page through the vendor's list, flushing at page boundaries."""
    position = sink.checkpoint.position
    if position.get("done"):
        return
    select = _selector(plan)
    everything = _selects_all(plan)
    pages = client.iterate_pages(
        plan.object_name,
        filters=plan.filters,
        changed_since=plan.changed_since,
        page_state=position.get("pages"),
    )
    depth = PREFETCH_PAGES if sink.limit is None else LIMITED_PREFETCH_PAGES
    async for page in prefetched(pages, depth=depth):
        if everything:  # `select * ...`, the usual export: no call per record to choose it
            sink.add_all(page.records)
        else:
            sink.add_all(chosen for chosen in map(select, page.records) if chosen is not None)
        sink.page_done()
        last = page.next_state is None
        if last or sink.due or sink.satisfied:
            await sink.flush({"pages": page.next_state, "done": last})
            if last or sink.full:
                return


async def export_native(
    client: VendorClient,
    plan: QueryPlan,
    sink: ExportSink,
    *,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> None:
    """Start (or find again) the vendor's export, wait for it, then stream its file."""
    position = sink.checkpoint.position
    if position.get("done"):
        return
    export_id = position.get("native")
    if export_id is None:
        export_id = await client.start_export(plan.object_name, updated_since=plan.changed_since)
        # Remembered at once: a resumed job waits for this export instead of starting another.
        await sink.flush({"native": export_id, "consumed": 0})
    assert plan.obj.bulk_export is not None  # chosen only where the object has one
    interval = plan.obj.bulk_export.poll_interval_seconds
    waited = 0.0
    while True:
        state = await client.export_state(plan.object_name, export_id)
        if state.status == "complete":
            break
        if state.status == "failed":
            raise FatalVendorError(
                f"the vendor's export {export_id} failed: {state.error or 'no reason given'}"
            )
        if waited >= NATIVE_WAIT_SECONDS:
            raise FatalVendorError(
                f"the vendor's export {export_id} was not ready "
                f"after {NATIVE_WAIT_SECONDS / 3600:g} h"
            )
        await sink.flush(sink.checkpoint.position)  # notices a cancel while waiting
        await sleep(interval)
        waited += interval
    consumed = int(position.get("consumed", 0))
    select = _selector(plan)
    line = 0
    async for record in client.export_records(plan.object_name, export_id):
        line += 1
        if line <= consumed:
            continue
        chosen = select(record)
        if chosen is not None:
            sink.add(chosen)
        if sink.due or sink.satisfied:
            await sink.flush({"native": export_id, "consumed": line})
            if sink.full:
                return
    await sink.flush({"native": export_id, "consumed": line, "done": True})
