"""Deletes by absence: what a complete scan no longer lists was deleted at the vendor.

Only for objects whose element has no other way to tell deletes. A scan that suddenly
misses most of the known records is far likelier a vendor answering wrongly (a filter,
a permission change, an outage returning empty pages) than a mass deletion: it emits no
deletes and reports an error instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from interlink.eventing.polling import fingerprint_store
from interlink.eventing.polling.commit import record
from interlink.eventing.polling.run import PollRun
from interlink.eventing.recorder import NewEvent
from interlink.storage.models import EventStream, Instance

# The guard: with at least this many known records, missing more than this share of them.
GUARD_MIN_KNOWN = 20
GUARD_MAX_MISSING_SHARE = 0.5


async def compare_scan(
    session: AsyncSession,
    run: PollRun,
    instance: Instance,
    stream: EventStream,
    scan_id: str,
    started: datetime,
) -> str | None:
    """Emit `deleted` for known records the scan did not see; a problem text if refused."""
    missing = await fingerprint_store.missing_from_scan(
        session, instance.id, run.object_name, scan_id, started
    )
    if not missing:
        return None
    known = await fingerprint_store.count_known(session, instance.id, run.object_name)
    if known >= GUARD_MIN_KNOWN and len(missing) > GUARD_MAX_MISSING_SHARE * known:
        run.log.warning(
            "full scan missed most records; no deletes emitted",
            extra={"missing": len(missing), "known": known},
        )
        return (
            f"the full scan missed {len(missing)} of {known} known records: "
            "no deletes were emitted (a vendor answering wrongly is likelier than a mass "
            "deletion)"
        )
    events = [
        NewEvent(
            object_name=run.object_name,
            record_id=record_id,
            change="deleted",
            record=None,
            vendor_time=None,
            source="poll",
        )
        for record_id in missing
    ]
    await record(session, run, instance, stream, events)
    await fingerprint_store.mark_deleted(session, instance.id, run.object_name, missing)
    return None
