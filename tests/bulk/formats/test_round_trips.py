"""Records written as a download read back as the same records, where the format can say so."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from interlink.bulk.formats import (
    Kind,
    csv_download,
    json_array_chunks,
    ndjson_chunks,
    read_rows,
)
from tests.bulk.formats.support import field, gather, pieces, read, records, stream

TRICKY = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\r\nlf", " padded ", "Åse 😀", "#", "=1+2"]

SCHEMA = [
    field("id", "string"),
    field("age", "integer"),
    field("score", "number"),
    field("active", "boolean"),
    field("born", "datetime"),
    field("tags", "array"),
    field("address", "object"),
]


def _random_record(rng: random.Random, index: int) -> dict[str, Any]:
    """Text only, never empty or `#null` (CSV cannot tell those from absent / null)."""
    record: dict[str, Any] = {"id": str(index)}
    for name in ("note", "city"):
        if rng.random() < 0.7:
            record[name] = "".join(rng.choice(TRICKY) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.6:
        record["address"] = {"line": rng.choice(TRICKY)}
        if rng.random() < 0.5:
            record["address"]["geo"] = {"lat": rng.choice(TRICKY)}
    return record


async def _csv_of(items: list[dict[str, Any]]) -> bytes:
    return await gather(csv_download(lambda: stream(items)))


async def test_text_records_survive_csv() -> None:
    rng = random.Random(4180)
    originals = [_random_record(rng, index) for index in range(300)]
    data = await _csv_of(originals)
    assert records(await read(data, "csv")) == originals
    # and so they do whatever the chunks
    cuts = sorted(rng.sample(range(len(data)), 200))
    assert records(await read(pieces(data, cuts), "csv")) == originals


async def test_typed_records_survive_csv_through_the_schema() -> None:
    originals: list[dict[str, Any]] = [
        {
            "id": "1",
            "age": 42,
            "score": 1.5,
            "active": True,
            "born": "2024-01-02T03:04:05Z",
            "tags": ["a", 1, {"b": None}],
            "address": {"city": "Oslo", "geo": {"lat": "59.9"}},
        },
        {"id": "2", "age": -7, "score": 1e16, "active": False, "tags": []},
    ]
    data = await _csv_of(originals)
    assert records(await read(data, "csv", schema=SCHEMA)) == originals


async def test_what_csv_cannot_carry() -> None:
    # None and "" both become empty cells, which read back as absent; text that looks like
    # a number stays text without a schema; a list inside an object comes back as its JSON.
    data = await _csv_of(
        [{"id": "1", "a": None, "b": "", "n": 5, "address": {"lines": ["x"]}}, {"id": "2"}]
    )
    assert records(await read(data, "csv", schema=SCHEMA)) == [
        {"id": "1", "n": "5", "address": {"lines": '["x"]'}},
        {"id": "2"},
    ]


JSON_RECORDS: list[dict[str, Any]] = [
    {"id": "1", "none": None, "empty": "", "n": 1.5, "big": 2**63 - 1, "ok": False},
    {"id": "2", "nested": {"a": [1, {"b": []}], "c": {}}, "text": 'x"\n\u2028😀'},
]


@pytest.mark.parametrize(
    ("kind", "write"), [("ndjson", ndjson_chunks), ("json", json_array_chunks)]
)
async def test_json_records_survive_exactly(kind: Kind, write: Any) -> None:
    data = await gather(write(stream(JSON_RECORDS)))
    assert records(await read(data, kind)) == JSON_RECORDS
    for cut in range(len(data)):
        assert records(await read(pieces(data, [cut]), kind)) == JSON_RECORDS


async def _rows_of(chunks: AsyncIterator[bytes], kind: Kind) -> list[dict[str, Any] | None]:
    return [row.record async for row in read_rows(chunks, kind)]


async def test_each_format_reads_back_the_same_records() -> None:
    rng = random.Random(7)
    originals = [_random_record(rng, index) for index in range(200)]
    csv_data = await _csv_of(originals)
    ndjson_data = await gather(ndjson_chunks(stream(originals)))
    json_data = await gather(json_array_chunks(stream(originals)))
    assert (
        await _rows_of(pieces(csv_data), "csv")
        == await _rows_of(pieces(ndjson_data), "ndjson")
        == await _rows_of(pieces(json_data), "json")
        == originals
    )
