"""Where the chunks of an upload break never changes what is read: property-style, every
split point of small files that hold every awkward feature (multi-byte characters, CRLF,
a byte-order mark, quoted line breaks, bad rows, broken JSON)."""

from __future__ import annotations

import pytest

from interlink.bulk.formats import Kind
from tests.bulk.formats.support import bytewise, every_split, field, outcome, pieces

CSV = (
    b"\xef\xbb\xbfid,note,address.city\r\n"
    b'1,"multi\r\nline, with ""quotes""",Oslo\r\n'
    b"\r\n"
    b"2,,#null\r\n"
    b'3,"x"y,z\r\n'
    b"4,caf\xc3\xa9 \xe2\x82\xac,\xff\r\n"
    b"5,a,b,c\r\n"
    b'6,"a\n\n""b""",\xf0\x9f\x98\x80\n'
    b'7,"open'
)
NDJSON = (
    b'\xef\xbb\xbf{"id": 1, "name": "caf\xc3\xa9"}\r\n'
    b"\r\n"
    b"[1]\n"
    b'{"id": \n'
    b'{"n": "\xe2\x82\xac", "bad": "\xc3"}\n'
    b"   \n"
    b'{"id": 3}'
)
JSON = (
    b'\xef\xbb\xbf [\n{"id": 1, "s": "\xe2\x82\xac\\"]}"}, 12345, -1.5e3, "x",\n'
    b' {"nested": {"a": [1, {"b": null}]}}, true, {"id": 1e2} ]\n'
)
SAMPLES: list[tuple[str, Kind, bytes]] = [
    ("csv", "csv", CSV),
    ("csv, no header", "csv", b"\r\n\xef\xbb\xbf"),
    ("csv, duplicate header", "csv", b"a,b,\xc3\xa9,a\r\n1,2,3,4\r\n"),
    ("ndjson", "ndjson", NDJSON),
    ("json", "json", JSON),
    ("json, broken on line 4", "json", b'[\n{"id": 1},\n{"id": 2},\n  {"id": x}]'),
    ("json, not utf-8", "json", b'[{"id": "\xe2\x82\xac"}, {"id": "\xe2\x82"}]'),
    ("json, not an array", "json", b'\n\n  {"id": 1}'),
    ("json, data after", "json", b'[{"id": 1}]\n\n  ]'),
]


@pytest.mark.parametrize(("kind", "data"), [s[1:] for s in SAMPLES], ids=[s[0] for s in SAMPLES])
async def test_every_split_reads_the_same(kind: Kind, data: bytes) -> None:
    expected = await outcome(pieces(data), kind)
    for cuts in every_split(data):
        assert await outcome(pieces(data, cuts), kind) == expected, cuts
    assert await outcome(bytewise(data), kind) == expected


async def test_the_samples_hold_what_they_claim() -> None:
    rows, failure = await outcome(pieces(CSV), "csv")
    assert failure is None
    assert [row.number for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [row.ok for row in rows] == [True, True, False, False, False, True, False]
    assert rows[0].record == {
        "id": "1",
        "note": 'multi\r\nline, with "quotes"',
        "address": {"city": "Oslo"},
    }
    assert rows[5].record == {"id": "6", "note": 'a\n\n"b"', "address": {"city": "😀"}}

    rows, failure = await outcome(pieces(NDJSON), "ndjson")
    assert failure is None
    assert [(row.number, row.ok) for row in rows] == [
        (1, True),
        (2, False),
        (3, False),
        (4, False),
        (5, True),
    ]
    assert rows[0].record == {"id": 1, "name": "café"}

    rows, failure = await outcome(pieces(JSON), "json")
    assert failure is None
    assert [row.record for row in rows if row.ok] == [
        {"id": 1, "s": '€"]}'},
        {"nested": {"a": [1, {"b": None}]}},
        {"id": 100.0},
    ]
    assert [row.raw for row in rows if not row.ok] == ["12345", "-1.5e3", '"x"', "true"]


async def test_positions_in_file_errors_do_not_depend_on_chunks() -> None:
    data = b'[\n{"id": 1},\n{"id": 2},\n  {"id": x}]'
    rows, failure = await outcome(bytewise(data), "json")
    assert len(rows) == 2
    assert failure == "line 4, column 10: element 3 is not valid JSON: Expecting value"
    _, failure = await outcome(pieces(b'[{"id": "\xe2\x82\xac"}, {"id": "\xe2\x82"}]'), "json")
    assert failure == "the file is not UTF-8 (byte 25)"


async def test_a_schema_converts_alike_whatever_the_chunks() -> None:
    schema = [field("n", "integer")]
    data = b'n,m\n1,"2\n3"\n  4 ,x\nfive,y\n'
    expected = await outcome(pieces(data), "csv", schema=schema)
    assert [row.record for row in expected[0]] == [
        {"n": 1, "m": "2\n3"},
        {"n": 4, "m": "x"},
        None,
    ]
    for cuts in every_split(data):
        assert await outcome(pieces(data, cuts), "csv", schema=schema) == expected
