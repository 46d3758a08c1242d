"""Reading an upload of any kind into Rows."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Protocol

from interlink.bulk.formats.csv_rows import csv_rows
from interlink.bulk.formats.json_rows import json_rows
from interlink.bulk.formats.ndjson_rows import ndjson_rows
from interlink.bulk.formats.rows import Kind, Row
from interlink.elements.definition import SchemaField


class _Reader(Protocol):
    def __call__(
        self, chunks: AsyncIterable[bytes], *, schema: Sequence[SchemaField] | None = None
    ) -> AsyncIterator[Row]: ...


_READERS: dict[str, _Reader] = {
    "csv": csv_rows,
    "ndjson": ndjson_rows,
    "json": json_rows,
}


async def read_rows(
    chunks: AsyncIterable[bytes], kind: Kind, *, schema: Sequence[SchemaField] | None = None
) -> AsyncIterator[Row]:
    """One Row per record of the upload, numbered from 1, in constant memory.

    A bad record is a Row with `error` and reading goes on; InvalidFile (an InvalidInput)
    is raised only when the file as a whole cannot be read. With `schema` (the object's
    fields), values are converted by the field of their top-level name.
    """
    reader = _READERS.get(kind)
    if reader is None:
        raise ValueError(f"unknown upload format {kind!r}")
    async for row in reader(chunks, schema=schema):
        yield row
