"""read_rows: one entry for every kind, and the errors it raises."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.bulk.formats import InvalidFile, Row, read_rows
from interlink.errors import InvalidInput
from tests.bulk.formats.support import pieces, read


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("csv", b"id,n\n1,2\n"),
        ("ndjson", b'{"id": "1", "n": "2"}\n'),
        ("json", b'[{"id": "1", "n": "2"}]'),
    ],
)
async def test_every_kind_reads_to_the_same_rows(kind: Any, data: bytes) -> None:
    assert await read(data, kind) == [Row(1, {"id": "1", "n": "2"})]


async def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown upload format 'xml'"):
        [row async for row in read_rows(pieces(b"<a/>"), "xml")]  # type: ignore[arg-type]


async def test_an_unreadable_file_is_invalid_input_about_the_file_part() -> None:
    with pytest.raises(InvalidInput) as caught:
        await read(b"", "json")
    assert isinstance(caught.value, InvalidFile)
    assert caught.value.field == "file"
    assert caught.value.detail == "the file is empty: a JSON upload is an array of objects"


def test_a_row_says_whether_it_is_ok() -> None:
    assert Row(1, {"a": 1}).ok
    assert not Row(2, None, "bad", "raw").ok
