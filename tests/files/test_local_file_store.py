"""What only the local store promises: its layout on disk, atomic parts, crash leftovers,
permissions, durability, and files that outlive the store object."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.files import CHUNK_SIZE, LocalFileStore, PartInfo
from tests.files.helpers import read_all

KEY = "bulk/bulk_1/data.ndjson"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data" / "files"


@pytest.fixture
def store(root: Path) -> LocalFileStore:
    return LocalFileStore(root)


def temporaries(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


async def test_each_key_is_a_folder_of_part_files(store: LocalFileStore, root: Path) -> None:
    await store.write_part(KEY, 2, b"two")
    await store.write_part(KEY, 1, b"one")

    folder = root / "bulk" / "bulk_1" / "data.ndjson"
    assert store.folder(KEY) == folder
    assert sorted(os.listdir(folder)) == ["part-000001", "part-000002"]
    assert (folder / "part-000002").read_bytes() == b"two"


def test_nothing_is_created_before_the_first_write(root: Path) -> None:
    LocalFileStore(root)
    assert not root.exists()


def test_a_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert LocalFileStore(Path("files")).root == tmp_path / "files"


async def test_folders_are_private_and_files_too(store: LocalFileStore, root: Path) -> None:
    await store.write(KEY, b"customer records")

    for folder in [root.parent, root, root / "bulk", root / "bulk" / "bulk_1", store.folder(KEY)]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((store.folder(KEY) / "part-000001").stat().st_mode) == 0o600


async def test_files_survive_a_new_store_on_the_same_root(root: Path) -> None:
    await LocalFileStore(root).write_part(KEY, 1, b"kept ")
    await LocalFileStore(root).write_part(KEY, 2, b"on disk")

    again = LocalFileStore(root)
    assert await again.parts(KEY) == [PartInfo(1, 5), PartInfo(2, 7)]
    assert await read_all(again, KEY) == b"kept on disk"


async def test_a_part_is_written_beside_and_renamed_into_place(store: LocalFileStore) -> None:
    await store.write_part(KEY, 1, b"old")
    halfway, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"new"
        halfway.set()
        await finish.wait()

    writing = asyncio.create_task(store.write_part(KEY, 1, slow()))
    await halfway.wait()
    folder = store.folder(KEY)
    [temporary] = temporaries(folder)
    assert temporary.startswith(".part-000001.")
    assert temporary.endswith(".tmp")
    assert await store.parts(KEY) == [PartInfo(1, 3)]
    assert (folder / "part-000001").read_bytes() == b"old"

    finish.set()
    await writing
    assert temporaries(folder) == []
    assert (folder / "part-000001").read_bytes() == b"new"


async def test_failed_and_cancelled_writes_leave_no_temporary_file(store: LocalFileStore) -> None:
    await store.write_part(KEY, 1, b"old")
    halfway = asyncio.Event()

    async def stuck() -> AsyncIterator[bytes]:
        yield b"x" * (3 * 1024 * 1024)  # past the write buffer: bytes reach the file
        halfway.set()
        await asyncio.Event().wait()
        yield b"never"

    async def broken() -> AsyncIterator[bytes]:
        yield b"x"
        raise OSError("disk full")

    writing = asyncio.create_task(store.write_part(KEY, 1, stuck()))
    await halfway.wait()
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    with pytest.raises(OSError, match="disk full"):
        await store.write_part(KEY, 2, broken())

    assert temporaries(store.folder(KEY)) == []
    assert await read_all(store, KEY) == b"old"


async def test_leftovers_of_a_crash_are_ignored_then_cleaned(store: LocalFileStore) -> None:
    await store.write_part(KEY, 1, b"one")
    folder = store.folder(KEY)
    # A process killed mid-write leaves its temporary files behind.
    (folder / ".part-000001.crash1.tmp").write_bytes(b"half of a rewrite")
    (folder / ".part-000002.crash2.tmp").write_bytes(b"half of a new part")

    assert await store.parts(KEY) == [PartInfo(1, 3)]
    assert await store.size(KEY) == 3
    assert await read_all(store, KEY) == b"one"

    # Resuming from the checkpoint after part 1 drops what lies beyond it, leftovers included.
    await store.delete_parts_after(KEY, 1)
    assert temporaries(folder) == [".part-000001.crash1.tmp"]

    await store.delete(KEY)
    assert not folder.exists()


async def test_retention_cleans_old_leftovers_of_files_it_keeps(store: LocalFileStore) -> None:
    await store.write(KEY, b"recent")
    folder = store.folder(KEY)
    stale, fresh = folder / ".part-000002.a.tmp", folder / ".part-000003.b.tmp"
    stale.write_bytes(b"from a crash long ago")
    fresh.write_bytes(b"a write in progress")
    long_ago = time.time() - 10 * 86400
    os.utime(stale, (long_ago, long_ago))
    # An abandoned key folder holding nothing but a leftover goes too.
    orphan = store.folder("bulk/bulk_2/data.ndjson")
    orphan.mkdir(parents=True)
    (orphan / ".part-000001.c.tmp").write_bytes(b"")
    os.utime(orphan / ".part-000001.c.tmp", (long_ago, long_ago))

    assert await store.delete_older_than("bulk", datetime.now(UTC) - timedelta(days=3)) == 0

    assert temporaries(folder) == [fresh.name]
    assert await read_all(store, KEY) == b"recent"
    assert not (store.root / "bulk" / "bulk_2").exists()


async def test_delete_prunes_empty_folders_but_keeps_the_root(
    store: LocalFileStore, root: Path
) -> None:
    await store.write(KEY, b"a")
    await store.write("bulk/bulk_1/errors.ndjson", b"b")
    await store.write("bulk/bulk_2/data.ndjson", b"c")

    await store.delete(KEY)
    assert sorted(os.listdir(root / "bulk" / "bulk_1")) == ["errors.ndjson"]

    await store.delete("bulk/bulk_1/errors.ndjson")
    await store.delete("bulk/bulk_2/data.ndjson")
    assert os.listdir(root) == []  # empty, but there


async def test_parts_are_flushed_to_disk_off_the_event_loop(
    store: LocalFileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[bool, int]] = []
    fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append((threading.current_thread() is threading.main_thread(), descriptor))
        fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    await store.write_part(KEY, 1, b"durable")

    assert len(synced) == 2  # the part's file, then its folder (the rename)
    assert not any(on_loop for on_loop, _ in synced)


async def test_large_files_go_through_in_constant_memory(store: LocalFileStore) -> None:
    total, piece = 20 * 1024 * 1024, os.urandom(100_000)

    async def source() -> AsyncIterator[bytes]:
        for start in range(0, total, len(piece)):
            yield piece[: total - start]

    tracemalloc.start()
    try:
        await store.write_part(KEY, 1, source())
        async with aclosing(await store.read(KEY)) as stream:
            size = 0
            async for chunk in stream:
                assert len(chunk) <= CHUNK_SIZE
                size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert size == total
    assert peak < 6 * 1024 * 1024  # a few write buffers, never the 20 MB
