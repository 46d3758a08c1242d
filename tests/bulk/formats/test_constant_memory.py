"""Large files in constant memory: tracemalloc's peak stays far below the file's size.

Each test writes records generated on the fly and reads the bytes straight back as they are
produced, so neither the records nor the file ever exist whole; what is measured is the
most the writer and reader hold at once.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from interlink.bulk.formats import (
    Kind,
    csv_chunks,
    csv_header,
    json_array_chunks,
    ndjson_chunks,
    read_rows,
)
from tests.bulk.formats.support import field

ROWS = 40_000
PEAK_LIMIT = 1 << 20  # the files below are 10 MiB and more
HEADER = ["id", "email", "age", "note", "bio", "address.city", "address.zip"]
SCHEMA = [field("age", "integer"), field("address", "object")]


async def generated_records(count: int = ROWS) -> AsyncIterator[dict[str, Any]]:
    for index in range(count):
        yield {
            "id": f"c{index:08d}",
            "email": f"person{index}@example.com",
            "age": index % 90,
            # every seventh note spans lines and holds quotes, as real exports do
            "note": 'said "hello"\nand left, twice' if index % 7 == 0 else "x" * (index % 50),
            "bio": f"{index:06d} " * 40,
            "address": {"city": "Oslo", "zip": f"{index % 10_000:04d}"},
        }


class Counted:
    """Passes chunks through, adding up their size."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


async def peak_while(run: Callable[[], Awaitable[None]]) -> int:
    tracemalloc.start()
    try:
        await run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


WRITERS: dict[Kind, Callable[[AsyncIterator[dict[str, Any]]], AsyncIterator[bytes]]] = {
    "csv": lambda records: csv_chunks(records, HEADER),
    "ndjson": ndjson_chunks,
    "json": json_array_chunks,
}


@pytest.mark.parametrize("kind", ["csv", "ndjson", "json"])
async def test_writing_then_reading_a_large_file_holds_little(kind: Kind) -> None:
    file = Counted(WRITERS[kind](generated_records()))
    seen = 0

    async def run() -> None:
        nonlocal seen
        async for row in read_rows(file, kind, schema=SCHEMA):
            assert row.ok, row
            seen += 1
            if seen == ROWS:
                assert row.record is not None
                assert row.record["age"] == (ROWS - 1) % 90

    peak = await peak_while(run)
    assert seen == ROWS
    assert file.size > 10 * PEAK_LIMIT
    assert peak < PEAK_LIMIT, f"peak {peak} bytes for a {file.size}-byte file"


async def test_the_header_pass_holds_columns_not_records() -> None:
    header: list[str] = []

    async def run() -> None:
        nonlocal header
        header = await csv_header(generated_records)

    peak = await peak_while(run)
    assert header == HEADER
    assert peak < PEAK_LIMIT // 4


async def test_bad_rows_cost_no_more_than_good_ones() -> None:
    async def broken_csv() -> AsyncIterator[bytes]:
        yield b"id,name\n"
        block = b'1,ok\n2,too,many\n3,"bad"quote\n4,caf\xe9\n' * 250
        for _ in range(20):
            yield block

    errors = 0

    async def run() -> None:
        nonlocal errors
        async for row in read_rows(broken_csv(), "csv"):
            errors += not row.ok

    peak = await peak_while(run)
    assert errors == 15_000
    assert peak < PEAK_LIMIT


async def test_an_endless_line_is_not_held() -> None:
    async def one_long_line() -> AsyncIterator[bytes]:
        yield b'{"id": 1}\n{"blob": "'
        for _ in range(200):
            yield b"x" * 65536
        yield b'"}\n{"id": 2}\n'

    rows: list[Any] = []

    async def run() -> None:
        rows.extend([row async for row in read_rows(one_long_line(), "ndjson")])

    peak = await peak_while(run)
    assert [row.ok for row in rows] == [True, False, True]
    assert peak < 3 * PEAK_LIMIT  # the limit itself, plus a chunk
