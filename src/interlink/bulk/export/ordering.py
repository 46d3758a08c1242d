"""`order by` for downloads: an external merge sort of the written file, in bounded memory.

The records are written in the vendor's order first. Sorting then reads them back in runs
of RUN_RECORDS, sorts each in memory and stores it, and merges the runs into the ordered
file, applying the query's `limit` as it goes. The step keeps no state of its own: a run
killed while sorting sorts again from the unsorted file, which it never changes.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import orjson

from interlink.bulk.formats import ndjson_records
from interlink.ceql import OrderBy, lookup, project, sort_key
from interlink.files import FileStore

RUN_RECORDS = 20_000
PART_BYTES = 1 << 20


def compare(order_by: Sequence[OrderBy], left: dict[str, Any], right: dict[str, Any]) -> int:
    """CEQL's order (see ceql.order): by each key in turn, nulls and missing values last
    in either direction."""
    for key in order_by:
        a, b = lookup(left, key.field), lookup(right, key.field)
        if a is None or b is None:
            if a is None and b is None:
                continue
            return 1 if a is None else -1
        ka, kb = sort_key(a), sort_key(b)
        if ka != kb:
            below = ka < kb
            return (-1 if below else 1) * (-1 if key.descending else 1)
    return 0


async def sort_file(
    store: FileStore,
    source: str,
    target: str,
    runs: str,
    order_by: Sequence[OrderBy],
    *,
    limit: int | None,
    fields: Sequence[str] | None,
) -> int:
    """Write `source`'s records to `target` in order (at most `limit`), projected to
    `fields` (the source also holds the sort keys); how many written."""
    key = functools.cmp_to_key(functools.partial(compare, order_by))
    count = await _write_runs(store, source, runs, key)
    written = 0
    part = 0
    buffer = bytearray()
    async for record in _merged(store, runs, count, key):
        if limit is not None and written >= limit:
            break
        buffer += orjson.dumps(project(record, fields) if fields is not None else record)
        buffer += b"\n"
        written += 1
        if len(buffer) >= PART_BYTES:
            part += 1
            await store.write_part(target, part, bytes(buffer))
            buffer.clear()
    if buffer:
        part += 1
        await store.write_part(target, part, bytes(buffer))
    await store.delete_parts_after(target, part)
    for index in range(1, count + 1):
        await store.delete(f"{runs}/{index}")
    return written


async def _write_runs(store: FileStore, source: str, runs: str, key: Any) -> int:
    count = 0
    chunk: list[dict[str, Any]] = []

    async def flush() -> None:
        nonlocal count
        count += 1
        chunk.sort(key=key)  # stable: equal records keep the vendor's order
        await store.write(f"{runs}/{count}", b"".join(orjson.dumps(r) + b"\n" for r in chunk))
        chunk.clear()

    if await store.parts(source):
        async for record in _records(store, source):
            chunk.append(record)
            if len(chunk) >= RUN_RECORDS:
                await flush()
    if chunk:
        await flush()
    return count


async def _merged(
    store: FileStore, runs: str, count: int, key: Any
) -> AsyncIterator[dict[str, Any]]:
    """The runs' records in order; equal ones by run, then by place in the run (stable)."""
    readers: list[AsyncGenerator[dict[str, Any], None]] = []
    heap: list[tuple[Any, int, dict[str, Any]]] = []
    try:
        for index in range(1, count + 1):
            reader = _records(store, f"{runs}/{index}")
            readers.append(reader)
            first = await anext(reader, None)
            if first is not None:
                heap.append((key(first), index, first))
        heapq.heapify(heap)
        while heap:
            _, index, record = heap[0]
            yield record
            following = await anext(readers[index - 1], None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (key(following), index, following))
    finally:
        for reader in readers:
            await reader.aclose()


async def _records(store: FileStore, key: str) -> AsyncGenerator[dict[str, Any], None]:
    stream = await store.read(key)
    try:
        async for record in ndjson_records(stream):
            yield record
    finally:
        await stream.aclose()
