"""Where a download's records go: NDJSON parts in the file store, each id once.

Records are buffered and written as one part per flush (about 4 MiB, or a couple of
seconds of paging): a part per vendor page would cost an fsync and a commit per hundred
records. A flush checkpoints at a page boundary: the part is written first, then one
transaction records its ids and the position to resume from. A crash between the two
leaves a part beyond the checkpoint, which the resumed job drops and writes again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import delete, insert, select

from interlink.bulk.lifecycle import running_job
from interlink.files import FileStore
from interlink.hub import Hub
from interlink.storage.models import BulkExportedId
from interlink.storage.types import utcnow

# 4 MiB rather than 1: each flush costs two fsyncs, a commit and a few thread hops, and
# fewer of them took 6-9% off the hub's CPU per exported record (docs/benchmarks.md).
# The buffer (and so the hub's memory) stays bounded by this, whatever the export's size.
FLUSH_BYTES = 4 << 20
FLUSH_SECONDS = 2.0
# Ids per statement: well under SQLite's and PostgreSQL's bound-parameter limits.
IDS_PER_QUERY = 1000


@dataclass
class ExportCheckpoint:
    """How far a download has got; stored as the job's `checkpoint`."""

    # Where the source resumes: {"pages": state} or {"native": export id, "consumed": lines}.
    position: dict[str, Any] = field(default_factory=dict)
    parts: int = 0
    records: int = 0
    pages: int = 0
    bytes: int = 0
    retries: int = 0

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> ExportCheckpoint:
        return cls(**stored) if stored else cls()

    def stored(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "parts": self.parts,
            "records": self.records,
            "pages": self.pages,
            "bytes": self.bytes,
            "retries": self.retries,
        }


class ExportSink:
    def __init__(
        self,
        hub: Hub,
        store: FileStore,
        job_id: str,
        key: str,
        checkpoint: ExportCheckpoint,
        *,
        limit: int | None,
        remember_ids: bool = True,
    ) -> None:
        self._hub = hub
        # Off where the source cannot return a record twice (see ObjectDefinition.stable_order).
        self._remember_ids = remember_ids
        self._store = store
        self._job_id = job_id
        self._key = key
        self.checkpoint = checkpoint
        self._limit = limit
        self._lines: list[bytes] = []
        self._ids: dict[str, None] = {}  # ordered: the buffer's ids, first seen wins
        self._size = 0
        self._pages = 0
        self._since = time.monotonic()

    def add(self, record: dict[str, Any]) -> None:
        self.add_all((record,))

    def add_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Buffer `records` (a page), each id once. One call per page, not per record: the
        loop runs for every record of an export, so its lookups are kept local."""
        ids, lines, dumps = self._ids, self._lines, orjson.dumps
        size = 0
        for record in records:
            record_id = record["id"]
            if type(record_id) is not str:  # normalized records have a string id already
                record_id = str(record_id)
            if record_id in ids:
                continue
            ids[record_id] = None
            # Not orjson's OPT_APPEND_NEWLINE, nor its bytes as they are: those keep the
            # buffer they were written in (4 KB a line here), which made a buffered MiB
            # cost several in memory. The concatenation is a copy of the right size.
            line = dumps(record) + b"\n"
            lines.append(line)
            size += len(line)
        self._size += size

    def page_done(self) -> None:
        self._pages += 1

    @property
    def due(self) -> bool:
        """Time to flush: the buffer is big enough, or old enough."""
        return self._size >= FLUSH_BYTES or time.monotonic() - self._since >= FLUSH_SECONDS

    @property
    def satisfied(self) -> bool:
        """The query's `limit` is met, counting what the buffer holds (some of it may still
        turn out to be duplicates, which the flush finds; the caller then pages on)."""
        return self._limit is not None and self.checkpoint.records + len(self._lines) >= self._limit

    @property
    def limit(self) -> int | None:
        """At most this many records are written (the query's `limit`), or None."""
        return self._limit

    @property
    def full(self) -> bool:
        """The limit is met by what is written."""
        return self._limit is not None and self.checkpoint.records >= self._limit

    async def flush(self, position: dict[str, Any]) -> None:
        """Write what is buffered and checkpoint at `position` (JobStopped if cancelled)."""
        ids = list(self._ids)
        lines = self._lines
        already = await self._written_before(ids)
        if already or self._limit is not None:
            kept = [
                (record_id, line)
                for record_id, line in zip(ids, lines, strict=True)
                if record_id not in already
            ]
            if self._limit is not None:
                kept = kept[: max(self._limit - self.checkpoint.records, 0)]
            ids, lines = [record_id for record_id, _ in kept], [line for _, line in kept]
            size = sum(len(line) for line in lines)
        else:
            size = self._size  # everything buffered is kept: no pairing and re-summing
        count, data = len(lines), b"".join(lines)
        # The joined copy is all there is left to write: the lines go now rather than after
        # the commit, which takes most of a buffer off the hub's peak memory. (A flush that
        # fails ends the run; the next one starts from the checkpoint with a new sink.)
        self._lines = lines = []
        point = self.checkpoint
        parts = point.parts
        if count:
            parts += 1
            await self._store.write_part(self._key, parts, data)
        del data
        async with self._hub.database.transaction() as session:
            job = await running_job(session, self._job_id)
            if count and self._remember_ids:
                await session.execute(
                    insert(BulkExportedId),
                    [{"job_id": self._job_id, "record_id": record_id} for record_id in ids],
                )
            point.position = position
            point.parts = parts
            point.records += count
            point.pages += self._pages
            point.bytes += size
            job.checkpoint = point.stored()
            job.records, job.pages, job.bytes = point.records, point.pages, point.bytes
            job.progressed_at = utcnow()
        self._lines = []
        self._ids = {}
        self._size = 0
        self._pages = 0
        self._since = time.monotonic()

    async def _written_before(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        if not ids or self.checkpoint.records == 0 or not self._remember_ids:
            return found
        async with self._hub.database.transaction() as session:
            for start in range(0, len(ids), IDS_PER_QUERY):
                chunk = ids[start : start + IDS_PER_QUERY]
                rows = await session.scalars(
                    select(BulkExportedId.record_id).where(
                        BulkExportedId.job_id == self._job_id,
                        BulkExportedId.record_id.in_(chunk),
                    )
                )
                found.update(rows)
        return found


async def restart(hub: Hub, store: FileStore, job_id: str, key: str) -> None:
    """Forget everything a download wrote: its parts and its ids (the source restarts)."""
    await store.delete(key)
    await forget_ids(hub, job_id)


async def forget_ids(hub: Hub, job_id: str) -> None:
    """Drop a download's ids (needed only while it runs), in slices: one statement over a
    million rows would hold SQLite's single write lock for seconds."""
    while True:
        async with hub.database.transaction() as session:
            chunk = (
                select(BulkExportedId.record_id)
                .where(BulkExportedId.job_id == job_id)
                .limit(10_000)
                .scalar_subquery()
            )
            result = await session.execute(
                delete(BulkExportedId).where(
                    BulkExportedId.job_id == job_id, BulkExportedId.record_id.in_(chunk)
                )
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            return
