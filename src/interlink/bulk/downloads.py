"""Serving a download: the stored NDJSON, streamed as NDJSON, CSV or one JSON array.

The file is always stored as NDJSON; the other formats are written from it while the
answer streams, in constant memory (CSV reads it twice: the header, then the rows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from interlink.bulk.formats import csv_download, json_array_chunks, ndjson_records
from interlink.errors import InterlinkError
from interlink.files import FileStore

Format = Literal["ndjson", "csv", "json"]

MEDIA_TYPES: dict[str, str] = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
_BY_MEDIA_TYPE: dict[str, Format] = {
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/json-lines": "ndjson",
    "text/csv": "csv",
    "application/json": "json",
}


class NotAcceptable(InterlinkError):
    """The Accept header names only formats a download cannot be served in."""


def negotiate(accept: str | None, default: Format) -> Format:
    """The format `Accept` prefers (by q, then by order), `default` for */* or none."""
    if accept is None or not accept.strip():
        return default
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranges.append((-quality, position, media.lower()))
    for _, _, media in sorted(ranges):
        if media in ("*/*", "application/*") or (media == "text/*" and default == "csv"):
            return default
        if media in _BY_MEDIA_TYPE:
            return _BY_MEDIA_TYPE[media]
        if media == "text/*":
            return "csv"
    raise NotAcceptable(
        f"a download is served as {', '.join(sorted(_BY_MEDIA_TYPE))}; Accept named none of them"
    )


async def download_chunks(
    store: FileStore, key: str, fmt: Format, *, field_order: Sequence[str] = ()
) -> AsyncIterator[bytes]:
    """The file in `fmt`. A download with no records has no parts: it is an empty file."""
    if fmt == "ndjson":
        async for chunk in _stored(store, key):
            yield chunk
    elif fmt == "json":
        async for chunk in json_array_chunks(ndjson_records(_stored(store, key))):
            yield chunk
    else:

        def records() -> AsyncIterator[dict[str, Any]]:
            return ndjson_records(_stored(store, key))

        async for chunk in csv_download(records, field_order=field_order):
            yield chunk


async def _stored(store: FileStore, key: str) -> AsyncIterator[bytes]:
    if not await store.parts(key):
        return
    chunks = await store.read(key)
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await chunks.aclose()
