"""Helpers for the file store tests: the stores under test, reading back, feeding chunks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from interlink.files import FileStore, InMemoryFileStore, LocalFileStore, PartData
from interlink.files.keys import part_name


async def read_chunks(store: FileStore, key: str) -> list[bytes]:
    async with aclosing(await store.read(key)) as stream:
        return [chunk async for chunk in stream]


async def read_all(store: FileStore, key: str) -> bytes:
    return b"".join(await read_chunks(store, key))


async def chunked(chunks: Iterable[bytes], *, pause: bool = False) -> AsyncIterator[bytes]:
    """Yield `chunks` one by one, letting other tasks run between them with `pause`."""
    for chunk in chunks:
        if pause:
            await asyncio.sleep(0)
        yield chunk


@dataclass
class Subject:
    """A store, and `write_part_at`: write a part as if at `when` (for retention tests)."""

    store: FileStore
    write_part_at: Callable[[str, int, PartData, datetime], Awaitable[None]]


class Clock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


def local_subject(root: Path) -> Subject:
    store = LocalFileStore(root)

    async def write_part_at(key: str, index: int, data: PartData, when: datetime) -> None:
        await store.write_part(key, index, data)
        stamp = when.timestamp()
        os.utime(store.folder(key) / part_name(index), (stamp, stamp))

    return Subject(store, write_part_at)


def memory_subject() -> Subject:
    clock = Clock()
    store = InMemoryFileStore(clock=clock)

    async def write_part_at(key: str, index: int, data: PartData, when: datetime) -> None:
        clock.now = when
        try:
            await store.write_part(key, index, data)
        finally:
            clock.now = None

    return Subject(store, write_part_at)
