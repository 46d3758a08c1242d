"""Compact memory of each record Interlink has seen: the vendor's updated time and a hash of
its content. It tells a new record from a changed one, and an unchanged re-read from both."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.storage.models import Fingerprint
from interlink.storage.types import utcnow

# Large IN lists are slow or refused (SQLite caps bound parameters); look up in chunks.
LOOKUP_CHUNK = 500


def content_hash(record: dict[str, Any]) -> str:
    """128 bits of BLAKE2b over the canonical JSON (sorted keys): same content, same hash."""
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Seen:
    vendor_updated: str | None
    content_hash: str
    deleted: bool
    scan_id: str | None = None


async def lookup(
    session: AsyncSession, instance_id: str, object_name: str, record_ids: Iterable[str]
) -> dict[str, Seen]:
    wanted = list(dict.fromkeys(record_ids))
    found: dict[str, Seen] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        rows = await session.execute(
            select(
                Fingerprint.record_id,
                Fingerprint.vendor_updated,
                Fingerprint.content_hash,
                Fingerprint.deleted,
                Fingerprint.scan_id,
            ).where(
                Fingerprint.instance_id == instance_id,
                Fingerprint.object_name == object_name,
                Fingerprint.record_id.in_(wanted[start : start + LOOKUP_CHUNK]),
            )
        )
        for record_id, vendor_updated, digest, deleted, scan_id in rows:
            found[record_id] = Seen(vendor_updated, digest, deleted, scan_id)
    return found


async def remember(
    session: AsyncSession,
    instance_id: str,
    object_name: str,
    record_id: str,
    *,
    vendor_updated: str | None,
    digest: str,
    deleted: bool = False,
    scan_id: str | None = None,
) -> None:
    """Insert or update one fingerprint (merge: works the same on SQLite and PostgreSQL)."""
    await session.merge(
        Fingerprint(
            instance_id=instance_id,
            object_name=object_name,
            record_id=record_id,
            vendor_updated=vendor_updated,
            content_hash=digest,
            deleted=deleted,
            scan_id=scan_id,
            seen_at=utcnow(),
        )
    )


def is_same(seen: Seen | None, vendor_updated: str | None, digest: str) -> bool:
    """Already emitted: same id (the caller's key), same vendor updated time, same content."""
    return (
        seen is not None
        and not seen.deleted
        and seen.vendor_updated == vendor_updated
        and seen.content_hash == digest
    )
