"""Fingerprints in bulk: one upsert per page instead of a merge per record, and the
queries of a full scan's comparison."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.eventing.polling.classify import FingerprintWrite
from interlink.storage.models import Fingerprint
from interlink.storage.types import utcnow

# 8 columns a row: far below SQLite's bound-parameter limit, and short statements.
UPSERT_CHUNK = 500
_KEY = ("instance_id", "object_name", "record_id")
_UPDATED = ("vendor_updated", "content_hash", "deleted", "scan_id", "seen_at")


async def write(
    session: AsyncSession, instance_id: str, object_name: str, writes: Iterable[FingerprintWrite]
) -> None:
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "instance_id": instance_id,
            "object_name": object_name,
            "record_id": item.record_id,
            "vendor_updated": item.vendor_updated,
            "content_hash": item.digest,
            "deleted": item.deleted,
            "scan_id": item.scan_id,
            "seen_at": now,
        }
        for item in writes
    ]
    dialect = session.get_bind().dialect.name
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = rows[start : start + UPSERT_CHUNK]
        if dialect == "postgresql":
            pg = postgresql.insert(Fingerprint).values(chunk)
            await session.execute(
                pg.on_conflict_do_update(
                    index_elements=list(_KEY), set_={name: pg.excluded[name] for name in _UPDATED}
                )
            )
        else:
            lite = sqlite.insert(Fingerprint).values(chunk)
            await session.execute(
                lite.on_conflict_do_update(
                    index_elements=list(_KEY),
                    set_={name: lite.excluded[name] for name in _UPDATED},
                )
            )


async def forget(session: AsyncSession, instance_id: str, object_name: str) -> None:
    """A new baseline replaces whatever was known of the object."""
    await session.execute(
        delete(Fingerprint).where(
            Fingerprint.instance_id == instance_id, Fingerprint.object_name == object_name
        )
    )


def _live(instance_id: str, object_name: str) -> Any:
    return (
        (Fingerprint.instance_id == instance_id)
        & (Fingerprint.object_name == object_name)
        & Fingerprint.deleted.is_(False)
    )


async def count_known(session: AsyncSession, instance_id: str, object_name: str) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Fingerprint).where(_live(instance_id, object_name))
    )
    return int(count or 0)


async def missing_from_scan(
    session: AsyncSession, instance_id: str, object_name: str, scan_id: str, started: datetime
) -> list[str]:
    """Known records the scan did not see, and that nothing else saw since it began."""
    rows = await session.scalars(
        select(Fingerprint.record_id)
        .where(
            _live(instance_id, object_name),
            or_(Fingerprint.scan_id.is_(None), Fingerprint.scan_id != scan_id),
            Fingerprint.seen_at < started,
        )
        .order_by(Fingerprint.record_id)
    )
    return list(rows)


async def mark_deleted(
    session: AsyncSession, instance_id: str, object_name: str, record_ids: list[str]
) -> None:
    now = utcnow()
    for start in range(0, len(record_ids), UPSERT_CHUNK):
        await session.execute(
            update(Fingerprint)
            .where(
                Fingerprint.instance_id == instance_id,
                Fingerprint.object_name == object_name,
                Fingerprint.record_id.in_(record_ids[start : start + UPSERT_CHUNK]),
            )
            .values(deleted=True, seen_at=now)
        )
