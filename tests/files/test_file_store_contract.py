"""The contract every file store keeps, run against each implementation (local, in memory).

An S3-compatible store must pass the same tests: they only use the `FileStore` interface.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlink.errors import InvalidInput, NotFound
from interlink.files import CHUNK_SIZE, MAX_PART_INDEX, FileStore, InvalidKey, PartInfo
from tests.files.helpers import Subject, chunked, read_all, read_chunks

KEY = "bulk/bulk_1/data.ndjson"


def test_is_a_file_store(store: FileStore) -> None:
    assert isinstance(store, FileStore)


async def test_write_and_read_a_small_file(store: FileStore) -> None:
    await store.write(KEY, b'{"id": "1"}\n')

    assert await store.exists(KEY)
    assert await store.size(KEY) == 12
    assert await store.parts(KEY) == [PartInfo(index=1, size=12)]
    assert await read_all(store, KEY) == b'{"id": "1"}\n'


async def test_write_replaces_the_whole_file(store: FileStore) -> None:
    for index in (1, 2, 3):
        await store.write_part(KEY, index, b"page %d\n" % index)

    await store.write(KEY, b"small")

    assert await store.parts(KEY) == [PartInfo(1, 5)]
    assert await read_all(store, KEY) == b"small"


async def test_parts_written_out_of_order_read_in_order(store: FileStore) -> None:
    for index in (3, 1, 2):
        await store.write_part(KEY, index, b"<%d>" % index)

    assert [part.index for part in await store.parts(KEY)] == [1, 2, 3]
    assert await read_all(store, KEY) == b"<1><2><3>"


async def test_writing_a_part_again_replaces_it(store: FileStore) -> None:
    await store.write_part(KEY, 1, b"first page\n")
    await store.write_part(KEY, 2, b"second page, before the crash\n")

    await store.write_part(KEY, 2, b"second page\n")  # the job resumed from its checkpoint

    assert await store.parts(KEY) == [PartInfo(1, 11), PartInfo(2, 12)]
    assert await read_all(store, KEY) == b"first page\nsecond page\n"


async def test_delete_parts_after_a_checkpoint(store: FileStore) -> None:
    for index in range(1, 6):
        await store.write_part(KEY, index, b"%d" % index)

    await store.delete_parts_after(KEY, 3)
    assert [part.index for part in await store.parts(KEY)] == [1, 2, 3]
    assert await read_all(store, KEY) == b"123"

    await store.delete_parts_after(KEY, 3)  # again: nothing beyond, nothing happens
    assert await read_all(store, KEY) == b"123"

    await store.delete_parts_after(KEY, 0)
    assert not await store.exists(KEY)
    assert await store.parts(KEY) == []


async def test_many_parts_read_in_numeric_order(store: FileStore) -> None:
    indexes = [*range(1, 121), 999, 1000, 10_000, MAX_PART_INDEX]
    expected = b""
    # Written backwards, with sizes that vary (some empty, some beyond one chunk).
    for index in reversed(indexes):
        await store.write_part(KEY, index, _part_content(index))
    for index in indexes:
        expected += _part_content(index)

    parts = await store.parts(KEY)
    assert [part.index for part in parts] == indexes
    assert [part.size for part in parts] == [len(_part_content(index)) for index in indexes]
    assert await store.size(KEY) == len(expected)
    chunks = await read_chunks(store, KEY)
    assert b"".join(chunks) == expected
    assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in chunks)


def _part_content(index: int) -> bytes:
    if index % 7 == 0:
        return b""
    repeat = CHUNK_SIZE // 8 + 3 if index % 40 == 0 else index % 13
    return (b"[%06d]" % index) * repeat


async def test_a_large_file_streams_in_chunks(store: FileStore) -> None:
    total = 20 * 1024 * 1024
    piece = bytes(range(256)) * 391  # 100,096 bytes: chunks that do not align with reads
    written = hashlib.sha256()

    async def source() -> AsyncIterator[bytes]:
        sent, number = 0, 0
        while sent < total:
            chunk = (number.to_bytes(4, "big") + piece)[: total - sent]
            written.update(chunk)
            sent += len(chunk)
            number += 1
            yield chunk

    await store.write_part(KEY, 1, source())
    await store.write_part(KEY, 2, b"tail")

    assert await store.size(KEY) == total + 4
    read_back, count = hashlib.sha256(), 0
    async with aclosing(await store.read(KEY)) as stream:
        async for chunk in stream:
            assert 0 < len(chunk) <= CHUNK_SIZE
            read_back.update(chunk)
            count += 1
            last = chunk
    written.update(b"tail")
    assert read_back.hexdigest() == written.hexdigest()
    assert count >= total // CHUNK_SIZE
    assert last == b"tail"


async def test_a_part_from_chunks(store: FileStore) -> None:
    await store.write_part(KEY, 1, chunked([b"ab", b"", b"cd", b"ef"], pause=True))
    await store.write_part(KEY, 2, chunked([b"gh"]))

    assert await store.parts(KEY) == [PartInfo(1, 6), PartInfo(2, 2)]
    assert await read_all(store, KEY) == b"abcdefgh"


async def test_an_empty_file(store: FileStore) -> None:
    await store.write(KEY, b"")

    assert await store.exists(KEY)
    assert await store.size(KEY) == 0
    assert await store.parts(KEY) == [PartInfo(1, 0)]
    assert await read_chunks(store, KEY) == []


async def test_an_empty_part_from_an_empty_source(store: FileStore) -> None:
    await store.write_part(KEY, 1, b"a")
    await store.write_part(KEY, 2, chunked([]))
    await store.write_part(KEY, 3, b"b")

    assert await store.parts(KEY) == [PartInfo(1, 1), PartInfo(2, 0), PartInfo(3, 1)]
    assert await read_chunks(store, KEY) == [b"a", b"b"]


async def test_a_missing_file(store: FileStore) -> None:
    assert not await store.exists(KEY)
    assert await store.parts(KEY) == []
    with pytest.raises(NotFound, match=r"file 'bulk/bulk_1/data\.ndjson' not found"):
        await store.read(KEY)  # at once, before the first chunk is asked for
    with pytest.raises(NotFound, match="not found"):
        await store.size(KEY)
    # Deleting what is not there is not an error: retention and cancel may both try.
    await store.delete(KEY)
    await store.delete_parts_after(KEY, 2)
    assert not await store.exists(KEY)


async def test_a_part_deleted_while_reading(store: FileStore) -> None:
    await store.write_part(KEY, 1, b"first")
    await store.write_part(KEY, 2, b"second")

    async with aclosing(await store.read(KEY)) as stream:
        assert await anext(stream) == b"first"
        await store.delete(KEY)
        with pytest.raises(NotFound, match="part 2 is gone"):
            await anext(stream)


async def test_stopping_a_read_early(store: FileStore) -> None:
    await store.write_part(KEY, 1, b"x" * (3 * CHUNK_SIZE))

    async with aclosing(await store.read(KEY)) as stream:
        assert len(await anext(stream)) == CHUNK_SIZE
    # The store is still usable for that key.
    await store.write_part(KEY, 1, b"y")
    assert await read_all(store, KEY) == b"y"


async def test_a_failed_write_leaves_the_part_as_it_was(store: FileStore) -> None:
    await store.write_part(KEY, 1, b"kept")

    async def failing() -> AsyncIterator[bytes]:
        yield b"half of a new"
        raise ConnectionError("the upload broke off")

    with pytest.raises(ConnectionError):
        await store.write_part(KEY, 1, failing())
    with pytest.raises(ConnectionError):
        await store.write_part(KEY, 2, failing())

    assert await store.parts(KEY) == [PartInfo(1, 4)]
    assert await read_all(store, KEY) == b"kept"


async def test_a_part_being_written_is_invisible_until_complete(store: FileStore) -> None:
    await store.write_part(KEY, 1, b"old")
    halfway, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"new "
        halfway.set()
        await finish.wait()
        yield b"content"

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(store.write_part(KEY, 1, slow()))
        tasks.create_task(store.write_part(KEY, 2, slow()))
        await halfway.wait()
        assert await store.parts(KEY) == [PartInfo(1, 3)]
        assert await read_all(store, KEY) == b"old"
        finish.set()

    assert await read_all(store, KEY) == b"new contentnew content"


async def test_concurrent_writes_of_different_parts(store: FileStore) -> None:
    def content(index: int) -> list[bytes]:
        return [b"%d:%d," % (index, line) for line in range(50)]

    await asyncio.gather(
        *(
            store.write_part(KEY, index, chunked(content(index), pause=True))
            for index in range(16, 0, -1)
        )
    )

    assert [part.index for part in await store.parts(KEY)] == list(range(1, 17))
    assert await read_all(store, KEY) == b"".join(
        b"".join(content(index)) for index in range(1, 17)
    )


async def test_delete(store: FileStore) -> None:
    for index in (1, 2):
        await store.write_part(KEY, index, b"data")
    await store.write("bulk/bulk_1/errors.ndjson", b"sibling")
    await store.write(f"{KEY}/inside", b"a file under the key is another file")

    await store.delete(KEY)

    assert not await store.exists(KEY)
    assert await read_all(store, "bulk/bulk_1/errors.ndjson") == b"sibling"
    assert await store.exists(f"{KEY}/inside")
    await store.write(KEY, b"again")  # a deleted key can be written anew
    assert await read_all(store, KEY) == b"again"


async def test_keys_nested_in_each_other_are_separate_files(store: FileStore) -> None:
    await store.write("bulk/1", b"outer")
    await store.write("bulk/1/results", b"inner")

    assert not await store.exists("bulk")
    assert await read_all(store, "bulk/1") == b"outer"
    assert await read_all(store, "bulk/1/results") == b"inner"


@pytest.mark.parametrize(
    "key",
    ["bulk", "a/b/c/d/e/f", "bulk/bulk_01J/data.ndjson", "bulk/été/ü.csv", "part-x/partial"],
)
async def test_valid_keys(store: FileStore, key: str) -> None:
    await store.write(key, b"ok")
    assert await read_all(store, key) == b"ok"


BAD_KEYS = [
    ("", "empty"),
    ("/etc/passwd", "relative path, not an absolute"),
    ("bulk/../../etc", r"'\.' or '\.\.'"),
    ("..", r"'\.' or '\.\.'"),
    ("bulk/./x", r"'\.' or '\.\.'"),
    ("bulk\\x", "backslash"),
    ("bulk//x", "empty segments"),
    ("bulk/x/", "empty segments"),
    ("bulk/.hidden", "reserved for temporary files"),
    ("bulk/part-000001", "reserved for the parts"),
    ("bulk/part-7/x", "reserved for the parts"),
    ("bulk/a\x00b", "control characters"),
    ("bulk/a\nb", "control characters"),
    ("x" * 201, "at most 200 bytes"),
    ("/".join(["abcdefghi"] * 90), "at most 800 bytes"),
    (None, "string"),
]


@pytest.mark.parametrize(("key", "why"), BAD_KEYS)
async def test_invalid_keys_are_refused(store: FileStore, key: Any, why: str) -> None:
    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: store.write_part(key, 1, b"x"),
        lambda: store.write(key, b"x"),
        lambda: store.parts(key),
        lambda: store.delete_parts_after(key, 0),
        lambda: store.read(key),
        lambda: store.size(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidKey, match=why) as refused:
            await operation()
        assert isinstance(refused.value, InvalidInput)
        assert refused.value.field == "key"


async def test_invalid_prefixes_are_refused(store: FileStore) -> None:
    with pytest.raises(InvalidKey, match="absolute"):
        await store.delete_older_than("/bulk", datetime.now(UTC))
    with pytest.raises(InvalidKey, match=r"'\.\.'"):
        await store.delete_older_than("..", datetime.now(UTC))


@pytest.mark.parametrize("index", [0, -1, MAX_PART_INDEX + 1, True, 1.0, "1"])
async def test_invalid_part_indexes_are_refused(store: FileStore, index: Any) -> None:
    with pytest.raises(InvalidInput, match="part index") as refused:
        await store.write_part(KEY, index, b"x")
    assert refused.value.field == "index"


async def test_delete_parts_after_takes_zero_but_not_less(store: FileStore) -> None:
    await store.delete_parts_after(KEY, 0)
    with pytest.raises(InvalidInput, match="part index"):
        await store.delete_parts_after(KEY, -1)


async def test_retention_deletes_files_older_than_a_time(subject: Subject) -> None:
    store, now = subject.store, datetime.now(UTC)
    days_ago = [now - timedelta(days=days) for days in range(6)]
    await subject.write_part_at("bulk/old/data.ndjson", 1, b"a", days_ago[5])
    await subject.write_part_at("bulk/old/data.ndjson", 2, b"b", days_ago[4])
    await subject.write_part_at("bulk/old/errors.ndjson", 1, b"", days_ago[4])
    await subject.write_part_at("bulk/new/data.ndjson", 1, b"c", days_ago[1])
    # A file counts from its newest part: this one is still being written.
    await subject.write_part_at("bulk/running/data.ndjson", 1, b"d", days_ago[5])
    await subject.write_part_at("bulk/running/data.ndjson", 2, b"e", now)
    await subject.write_part_at("bulkier/old", 1, b"f", days_ago[5])  # not under bulk/
    await subject.write_part_at("other/old", 1, b"g", days_ago[5])

    assert await store.delete_older_than("bulk", days_ago[3]) == 2

    assert not await store.exists("bulk/old/data.ndjson")
    assert not await store.exists("bulk/old/errors.ndjson")
    for kept in ["bulk/new/data.ndjson", "bulk/running/data.ndjson", "bulkier/old", "other/old"]:
        assert await store.exists(kept), kept
    assert await store.delete_older_than("bulk", days_ago[3]) == 0

    assert await store.delete_older_than("", days_ago[3]) == 2  # the whole store
    assert not await store.exists("bulkier/old")
    assert not await store.exists("other/old")
    assert await store.exists("bulk/new/data.ndjson")


async def test_retention_matches_prefixes_segment_by_segment(subject: Subject) -> None:
    old = datetime.now(UTC) - timedelta(days=10)
    for key in ["bulk/1", "bulk/1/data", "bulk/12/data"]:
        await subject.write_part_at(key, 1, b"x", old)

    assert await subject.store.delete_older_than("bulk/1", datetime.now(UTC)) == 2

    assert await subject.store.exists("bulk/12/data")
    assert await subject.store.delete_older_than("nothing/here", datetime.now(UTC)) == 0


async def test_retention_needs_an_aware_time(store: FileStore) -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        await store.delete_older_than("bulk", datetime.now())  # naive, on purpose
