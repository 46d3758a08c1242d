"""Feeding byte strings to the readers in chosen pieces, and gathering what comes out."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

from interlink.bulk.formats import InvalidFile, Kind, Row, read_rows
from interlink.elements.definition import SchemaField


async def pieces(data: bytes, cuts: Iterable[int] = ()) -> AsyncIterator[bytes]:
    """`data` as chunks split at the given offsets (none: one chunk)."""
    start = 0
    for cut in sorted(cuts):
        yield data[start:cut]
        start = cut
    yield data[start:]


async def bytewise(data: bytes) -> AsyncIterator[bytes]:
    for index in range(len(data)):
        yield data[index : index + 1]


async def read(
    data: bytes | AsyncIterable[bytes],
    kind: Kind,
    *,
    schema: Sequence[SchemaField] | None = None,
) -> list[Row]:
    chunks = pieces(data) if isinstance(data, bytes) else data
    return [row async for row in read_rows(chunks, kind, schema=schema)]


async def outcome(
    chunks: AsyncIterable[bytes], kind: Kind, *, schema: Sequence[SchemaField] | None = None
) -> tuple[list[Row], str | None]:
    """The rows read, and the InvalidFile message that ended the reading, if one did."""
    rows: list[Row] = []
    try:
        async for row in read_rows(chunks, kind, schema=schema):
            rows.append(row)
    except InvalidFile as exc:
        return rows, str(exc)
    return rows, None


def records(rows: Iterable[Row]) -> list[dict[str, Any] | None]:
    return [row.record for row in rows]


def errors(rows: Iterable[Row]) -> list[tuple[int, str | None]]:
    return [(row.number, row.error) for row in rows if not row.ok]


async def gather(chunks: AsyncIterable[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def stream(items: Iterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


def every_split(data: bytes) -> Iterator[list[int]]:
    """Every way to cut `data` in two, and three-way cuts around every offset."""
    for cut in range(len(data) + 1):
        yield [cut]
    for cut in range(1, len(data)):
        yield [cut - 1, cut, min(cut + 2, len(data))]


def field(name: str, type_: str) -> SchemaField:
    return SchemaField.model_validate({"name": name, "type": type_})
