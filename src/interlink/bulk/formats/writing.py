"""Writing downloads: records to NDJSON, one JSON array, or CSV, as a stream of byte chunks."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import orjson

from interlink.bulk.formats.flattening import csv_header
from interlink.bulk.formats.lines import physical_lines
from interlink.errors import InterlinkError

CHUNK_BYTES = 64 * 1024
"""About how much each yielded chunk holds (a record never straddles two)."""

STORED_LINE_LIMIT = 64 << 20
"""The longest line read back from a stored NDJSON file (the hub's own, so generous)."""


async def ndjson_chunks(records: AsyncIterable[dict[str, Any]]) -> AsyncIterator[bytes]:
    """One JSON object per line, each line ending in `\\n`."""
    buffer = bytearray()
    async for record in records:
        buffer += _json(record)
        buffer += b"\n"
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


async def json_array_chunks(records: AsyncIterable[dict[str, Any]]) -> AsyncIterator[bytes]:
    """One JSON array, a record to a line: `[\\n{…},\\n{…}\\n]\\n` (`[]\\n` when empty)."""
    buffer = bytearray(b"[")
    separator = b"\n"
    async for record in records:
        buffer += separator
        buffer += _json(record)
        separator = b",\n"
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"]\n" if separator == b"\n" else b"\n]\n"
    yield bytes(buffer)


async def csv_chunks(
    records: AsyncIterable[dict[str, Any]], header: Sequence[str]
) -> AsyncIterator[bytes]:
    """RFC 4180 CSV in UTF-8 (no byte-order mark), CRLF line ends, cells quoted only where
    needed: the header row, then one row per record.

    A dotted column (`address.city`) takes the value at that path. A list, or an object
    whose parts have no columns of their own, is written as JSON in its cell; None and
    missing values are empty cells; booleans and numbers are written as in JSON. Values at
    paths the header lacks are not written: take the header from `csv_header` over the
    same records. No header, no file (zero bytes).
    """
    if not header:
        return
    paths = [tuple(column.split(".")) for column in header]
    parents = {path[:depth] for path in paths for depth in range(1, len(path))}
    columns = [(path, path in parents) for path in paths]
    out = _Lines()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    async for record in records:
        writer.writerow([_cell(_at(record, path), has_columns) for path, has_columns in columns])
        if out.size >= CHUNK_BYTES:
            yield out.flush()
    if out.size:
        yield out.flush()


async def csv_download(
    open_records: Callable[[], AsyncIterable[dict[str, Any]]],
    *,
    field_order: Iterable[str] = (),
) -> AsyncIterator[bytes]:
    """A whole CSV download in two passes over the source: the header, then the rows."""
    header = await csv_header(open_records, field_order=field_order)
    async for chunk in csv_chunks(open_records(), header):
        yield chunk


async def ndjson_records(chunks: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The records of a stored NDJSON file, to write out in another format.

    The file is the hub's own, so a line that is not a JSON object is a fault, raised as
    InterlinkError rather than skipped: a download must never quietly lose records.
    """
    line_number = 0
    async for line in physical_lines(chunks, max_bytes=STORED_LINE_LIMIT):
        line_number += 1
        if line is None:
            raise InterlinkError(f"stored NDJSON line {line_number} is over the size limit")
        if line.isspace():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InterlinkError(f"stored NDJSON line {line_number} is not JSON") from exc
        if not isinstance(record, dict):
            raise InterlinkError(f"stored NDJSON line {line_number} is not a JSON object")
        yield record


class _Lines:
    """Where csv.writer writes: its lines, kept until flushed as one UTF-8 chunk.

    (io.StringIO, reset after each chunk, holds several times as much.)"""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.size = 0

    def write(self, line: str) -> None:
        self._parts.append(line)
        self.size += len(line)

    def flush(self) -> bytes:
        chunk = "".join(self._parts).encode()
        self._parts.clear()
        self.size = 0
        return chunk


def _json(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson stops at 64-bit integers, which a JSON upload may hold; json does not.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _at(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _cell(value: Any, has_columns: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if has_columns and isinstance(value, dict):
        return ""  # its parts are in their own columns
    text = _json(value).decode()
    # Values JSON writes as strings (datetimes, UUIDs) go in the cell without the quotes.
    if text.startswith('"'):
        unquoted: str = orjson.loads(text)
        return unquoted
    return text
